/* lspawn_sbx: the filters of sandmail-lspawn and of its forker.
 *
 * A seccomp filter is inherited by fork(2) and outlives execve(2), and
 * stacked filters only narrow: whatever a delivery child needs before
 * its own filter, its parent must allow as well.  So lspawn, which reads
 * send's jobs, forks nothing: its filter (own_rules) has its sockets and
 * pipes, waits and SIGKILL for its children, and no file call, no uid
 * change, no fork, no exec.  The forker (lfork.c), which reads only
 * lspawn's requests and runs as user_lspawn with CAP_SETUID and
 * CAP_SETGID alone, holds what the children need (fork_rules and
 * chain_rules): CLONE_PARENT, the recipient's ids (setresuid and
 * setresgid pinned at or above local_uid_min and local_gid_min, so not
 * even the forker can become root or a system user), and the maildir
 * set-up (and with lspawn_exec, the exec of sandmail-local's one
 * descriptor).  Whatever it opens, it opens as user_lspawn.
 *
 * With local_allow_programs on, the commands run by sandmail-local (any
 * shell pipeline) inherit the forker's filter, so no allow-list can fit
 * them: the forker then installs a deny-list of the calls no mail
 * delivery has any business making (the kernel and namespace
 * administration calls, and ids below the local minimums); lspawn keeps
 * its own allow-list in either case. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llock.h"
#include "lspawn.h"
#include "maildir.h"
#include "sbx.h"

static const struct sbx_rule own_rules[] = {
	/* jobs and results; requests to the forker and its answers */
	SBX_ALLOW(recvmsg),
	SBX_ALLOW(sendmsg),
	SBX_ALLOW(recvfrom),
	/* children; a worker's socket pair, its EOF, its end when it
	 * overruns (XXX: seccomp cannot tell our children's pids from
	 * others: lspawn, root, may SIGKILL any one process, or its own
	 * process group (pid 0); never -1, "every process", nor another
	 * group: pid_t's sign bit must be clear, compared on the low 32
	 * bits the kernel reads) */
	SBX_ALLOW1(socketpair, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
	SBX_ALLOW(shutdown),
	SBX_ALLOW2(kill, SCMP_A0(SCMP_CMP_MASKED_EQ, 0x80000000u, 0),
	    SCMP_A1(SCMP_CMP_EQ, SIGKILL)),
	SBX_ALLOW(wait4),
	SBX_ALLOW(pipe2),
	SBX_LAST
};

/* the forker: clone a child of lspawn's, and what lfork_become needs;
 * the uid and gid rules are added by fork_ids() */
static const struct sbx_rule fork_rules[] = {
	SBX_ALLOW(recvmsg),
	SBX_ALLOW(sendmsg),
	SBX_ALLOW(sendto),
	SBX_ALLOW1(clone, SCMP_A0(SCMP_CMP_EQ, CLONE_PARENT | SIGCHLD)),
	SBX_ALLOW(set_robust_list),	/* libc's start after an exec */
	SBX_ALLOW1(prctl, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME)),
	SBX_ALLOW(dup2),
	SBX_ALLOW(dup3),
	SBX_ALLOW(umask),
	SBX_ALLOW(close_range),	/* the child keeps fds 0-2 only */
	SBX_ALLOW1(setgroups, SCMP_A0(SCMP_CMP_EQ, 0)),
	SBX_ALLOW(capset),
	SBX_ALLOW(capget),
	SBX_ALLOW(getuid),
	SBX_ALLOW(geteuid),
	SBX_ALLOW(getgid),
	SBX_ALLOW(getegid),
	SBX_ALLOW(getresuid),
	SBX_ALLOW(getresgid),
	SBX_LAST
};

/* what the delivery child needs before its own filter (and
 * sandmail-local between execve and its own filter) */
static const struct sbx_rule chain_rules[] = {
	/* the dynamic loader and libc start-up */
	SBX_ALLOW(arch_prctl),
	SBX_ALLOW(set_tid_address),
	SBX_ALLOW(rseq),
	SBX_ALLOW(prlimit64),
	SBX_ALLOW1(mmap, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)),
	SBX_ALLOW1(mprotect, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC,
	    PROT_EXEC)),
	/* opening: read-only (libraries, directories), or one of the two
	 * ways sandmail-local creates files; never O_TRUNC or O_RDWR, so
	 * not even lspawn (root) can rewrite a file that exists */
	SBX_ALLOW1(openat, SCMP_A2(SCMP_CMP_MASKED_EQ,
	    O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY)),
	SBX_ALLOW1(openat, SCMP_A2(SCMP_CMP_EQ, MAILDIR_OFLAGS)),
	SBX_ALLOW1(openat, SCMP_A2(SCMP_CMP_EQ, MAILDIR_FOLDER_OFLAGS)),
	SBX_ALLOW(pread64),
	SBX_ALLOW(access),
	SBX_ALLOW(faccessat),
	SBX_ALLOW(faccessat2),
	SBX_ALLOW(futex),
	/* the maildir, its parents, and the file name */
	SBX_ALLOW(mkdir),
	SBX_ALLOW(mkdirat),
	SBX_ALLOW(getrandom),
	/* sandmail-local's own Landlock ruleset and filter */
	SBX_ALLOW(landlock_create_ruleset),
	SBX_ALLOW(landlock_add_rule),
	SBX_ALLOW(landlock_restrict_self),
	SBX_ALLOW1(prctl, SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS)),
	SBX_ALLOW(seccomp),
	/* the filter's own descendants: fsync (AIO too), link, rename, unlink */
	SBX_ALLOW(fsync),
	SBX_ALLOW(fdatasync),
	SBX_ALLOW(sync_file_range),
	SBX_ALLOW(io_setup),
	SBX_ALLOW(io_submit),
	SBX_ALLOW(io_getevents),
	SBX_ALLOW(linkat),
	SBX_ALLOW(renameat2),
	SBX_ALLOW(unlinkat),
	SBX_LAST
};

static int
exec_rule(scmp_filter_ctx ctx, int progfd)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execveat), 2,
	    SCMP_A0(SCMP_CMP_EQ, (unsigned)progfd),
	    SCMP_A4(SCMP_CMP_EQ, AT_EMPTY_PATH));
}

static int
add(scmp_filter_ctx ctx, uint32_t act, const struct sbx_rule *r)
{
	for (; r->nr != SBX_END; r++)
		if (seccomp_rule_add_array(ctx, act, r->nr, r->nargs,
		    r->args) < 0)
			return -1;
	return 0;
}

static scmp_filter_ctx
ctx_new(uint32_t def)
{
	scmp_filter_ctx ctx;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return NULL;
	if ((ctx = seccomp_init(def)) != NULL)
		(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	return ctx;
}

static int
ctx_load(scmp_filter_ctx ctx, int bad)
{
	int r;

	if (bad) {
		seccomp_release(ctx);
		return errno = EINVAL, -1;
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r < 0 ? (errno = -r, -1) : 0;
}

#ifdef SBX_DEBUG
#define DEFAULT_ACTION	SCMP_ACT_LOG
#else
#define DEFAULT_ACTION	SCMP_ACT_KILL_PROCESS
#endif

/* confine - Landlock: by any path, only the tables, read-only (its own
 * tables may be mapped again when they change); signals stay allowed:
 * lspawn kills workers that confined themselves.  1 if confined. */
static int
confine(const struct lspawn_cfg *c)
{
	const struct ll_rule r = { c->tables_fd, LL_READ };
	int k;

	if ((k = ll_confine_flags(&r, c->tables_fd >= 0 ? 1 : 0, NULL, 0,
	    LL_KEEP_SIGNALS)) == -1)
		return -1;
	if (k == 1)
		ll_missing();
	if (c->tables_fd >= 0)
		close(c->tables_fd);
	return k == 0;
}

/* lspawn_sandbox - lspawn's own calls, nothing a delivery needs */
int
lspawn_sandbox(const struct lspawn_cfg *c)
{
	const struct sbx_rule to_forker[] = {
		SBX_ALLOW1(sendto, SCMP_A0(SCMP_CMP_EQ, (unsigned)c->forker)),
		SBX_LAST
	};
	scmp_filter_ctx ctx;
	int ll;

	/* root no more: user_lspawn with CAP_KILL (its workers run as
	 * other users) and CAP_DAC_READ_SEARCH (its tables, which Landlock
	 * below is the only thing it may read) */
	if (c->root && priv_keep_caps(c->fuid, c->fgid, 1ull << CAP_KILL |
	    1ull << CAP_DAC_READ_SEARCH) == -1)
		return -1;
	if ((ll = confine(c)) == -1)
		return -1;
	if ((ctx = ctx_new(DEFAULT_ACTION)) == NULL)
		return errno = errno ? errno : ENOMEM, -1;
	/* opening read-only, for a table mapped again: under Landlock it
	 * reaches only the tables; without Landlock it fails (EACCES)
	 * rather than let root read any file */
	return ctx_load(ctx, add(ctx, SCMP_ACT_ALLOW, sbx_base) == -1 ||
	    add(ctx, SCMP_ACT_ALLOW, own_rules) == -1 ||
	    add(ctx, SCMP_ACT_ALLOW, to_forker) == -1 ||
	    seccomp_rule_add(ctx, ll ? SCMP_ACT_ALLOW :
	    SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC |
	    O_APPEND | O_PATH, O_RDONLY)) < 0);
}

/* fork_ids - the recipient's ids, never below the local minimums (so
 * never 0): for uids the lowest of local_uid_min and the uids of
 * user_vmail and user_alias (system users, often below it), whose exact
 * values the forker's own check then enforces; (uid_t)-1, "unchanged",
 * passes, but leaves nothing gained.
 * Not root: no id changes at all. */
static int
fork_ids(scmp_filter_ctx ctx, const struct lspawn_cfg *c, uint32_t act,
    enum scmp_compare op)
{
	const scmp_datum_t u = c->uid_floor, g = c->gid_min;

	if (!c->root)
		return 0;
	if (op == SCMP_CMP_GE)	/* allow: each id at or above */
		return seccomp_rule_add(ctx, act, SCMP_SYS(setresuid), 3,
		    SCMP_A0(op, u), SCMP_A1(op, u), SCMP_A2(op, u)) < 0 ||
		    seccomp_rule_add(ctx, act, SCMP_SYS(setresgid), 3,
		    SCMP_A0(op, g), SCMP_A1(op, g), SCMP_A2(op, g)) < 0 ?
		    -1 : 0;
	/* deny: any id below */
	for (unsigned i = 0; i < 3; i++)
		if (seccomp_rule_add(ctx, act, SCMP_SYS(setresuid), 1,
		    SCMP_CMP(i, op, u)) < 0 ||
		    seccomp_rule_add(ctx, act, SCMP_SYS(setresgid), 1,
		    SCMP_CMP(i, op, g)) < 0)
			return -1;
	return 0;
}

/* with programs: what neither the forker nor any delivery may ever do;
 * each entry fails with EPERM (the table reuses sbx_rule) */
#define DENY(name)	SBX_ALLOW(name)
static const struct sbx_rule deny_rules[] = {
	/* the kernel itself */
	DENY(init_module), DENY(finit_module),
	DENY(delete_module), DENY(kexec_load),
	DENY(kexec_file_load), DENY(reboot), DENY(bpf),
	DENY(perf_event_open), DENY(iopl), DENY(ioperm),
	DENY(syslog), DENY(acct), DENY(swapon),
	DENY(swapoff), DENY(quotactl),
	/* mounts and namespaces */
	DENY(mount), DENY(umount2), DENY(pivot_root),
	DENY(unshare), DENY(setns), DENY(chroot),
	DENY(open_tree), DENY(move_mount), DENY(fsopen),
	DENY(fsmount), DENY(fsconfig), DENY(fspick),
	DENY(mount_setattr), DENY(open_by_handle_at),
	DENY(name_to_handle_at),
	/* other processes, keys, clocks, names */
	DENY(ptrace), DENY(process_vm_readv),
	DENY(process_vm_writev), DENY(kcmp),
	DENY(add_key), DENY(request_key), DENY(keyctl),
	DENY(settimeofday), DENY(clock_settime),
	DENY(clock_adjtime), DENY(adjtimex),
	DENY(sethostname), DENY(setdomainname),
	DENY(userfaultfd), DENY(fanotify_init),
	DENY(lookup_dcookie), DENY(vhangup),
	/* ids other than through setresuid and setresgid (the forker has
	 * CAP_SETUID: setuid(0) would make it root) */
	DENY(setuid), DENY(setreuid), DENY(setfsuid),
	DENY(setgid), DENY(setregid), DENY(setfsgid),
	SBX_LAST
};

/* lfork_sandbox - the forker's filter (and its children's, inherited) */
int
lfork_sandbox(const struct lspawn_cfg *c)
{
	scmp_filter_ctx ctx;

	if (c->programs) {
		if ((ctx = ctx_new(SCMP_ACT_ALLOW)) == NULL)
			return errno = errno ? errno : ENOMEM, -1;
		return ctx_load(ctx, add(ctx, SCMP_ACT_ERRNO(EPERM),
		    deny_rules) == -1 || fork_ids(ctx, c,
		    SCMP_ACT_ERRNO(EPERM), SCMP_CMP_LT) == -1);
	}
	if ((ctx = ctx_new(DEFAULT_ACTION)) == NULL)
		return errno = errno ? errno : ENOMEM, -1;
	return ctx_load(ctx, add(ctx, SCMP_ACT_ALLOW, sbx_base) == -1 ||
	    add(ctx, SCMP_ACT_ALLOW, fork_rules) == -1 ||
	    add(ctx, SCMP_ACT_ALLOW, chain_rules) == -1 ||
	    fork_ids(ctx, c, SCMP_ACT_ALLOW, SCMP_CMP_GE) == -1 ||
	    (c->exec && exec_rule(ctx, c->progfd) < 0));
}
