/* lspawn_sbx: sandmail-lspawn's seccomp filter.
 *
 * A seccomp filter is inherited by fork(2) and outlives execve(2): every
 * delivery child runs under this filter too, until it adds its own
 * (tighter) one.  So the list below is lspawn's own calls plus what the
 * maildir set-up in a worker needs (lwork.c, lrun.c), and, with
 * lspawn_exec on, what the dynamic loader and libc's start-up need in
 * sandmail-local.
 * XXX: that means lspawn, though root, keeps openat/mkdir; what it loses
 * is every socket but AF_UNIX pairs, every exec (with lspawn_exec: all
 * but execveat of sandmail-local's one descriptor), ptrace, mount, module
 * and key calls.
 *
 * With local_allow_programs on, the commands run by sandmail-local (any
 * shell pipeline) inherit the filter as well, so no allow-list can fit
 * them: lspawn then installs a deny-list of the calls no mail delivery
 * has any business making (the kernel and namespace administration calls
 * root could otherwise use), and says so in its man page. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "lspawn.h"
#include "maildir.h"
#include "sbx.h"

/* fork() in glibc: clone(CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD) */
#define FORK_FLAGS	(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD)

static const struct sbx_rule own_rules[] = {
	/* jobs and results */
	SBX_ALLOW(recvmsg),
	SBX_ALLOW(sendmsg),
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
	SBX_ALLOW1(clone, SCMP_A0(SCMP_CMP_EQ, FORK_FLAGS)),
	SBX_ALLOW(set_robust_list),
	SBX_ALLOW(wait4),
	SBX_ALLOW(pipe2),
	SBX_ALLOW(dup2),
	SBX_ALLOW(dup3),
	SBX_ALLOW(umask),
	SBX_ALLOW(close_range),	/* the child keeps fds 0-2 only */
	/* becoming the recipient (priv_drop), and checking it */
	SBX_ALLOW(setgroups),
	SBX_ALLOW(setresgid),
	SBX_ALLOW(setresuid),
	SBX_ALLOW(setuid),
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
	/* the filter's own descendants: fsync, link, rename, unlink */
	SBX_ALLOW(fsync),
	SBX_ALLOW(fdatasync),
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

/* allow_list - lspawn's calls, the chain's, and with lspawn_exec the one
 * exec */
static int
allow_list(const struct lspawn_cfg *c)
{
	scmp_filter_ctx ctx;
	int r;

#ifdef SBX_DEBUG
	ctx = seccomp_init(SCMP_ACT_LOG);
#else
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
#endif
	if (ctx == NULL)
		return errno = ENOMEM, -1;
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (add(ctx, SCMP_ACT_ALLOW, sbx_base) == -1 ||
	    add(ctx, SCMP_ACT_ALLOW, own_rules) == -1 ||
	    add(ctx, SCMP_ACT_ALLOW, chain_rules) == -1 ||
	    (c->exec && exec_rule(ctx, c->progfd) < 0)) {
		seccomp_release(ctx);
		return errno = EINVAL, -1;
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r < 0 ? (errno = -r, -1) : 0;
}

/* with programs: what neither lspawn nor any delivery may ever do; each
 * entry fails with EPERM (the table reuses sbx_rule) */
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
	SBX_LAST
};

/* deny_list - everything but deny_rules (local_allow_programs yes) */
static int
deny_list(void)
{
	scmp_filter_ctx ctx;
	int r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
		return errno = ENOMEM, -1;
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (add(ctx, SCMP_ACT_ERRNO(EPERM), deny_rules) == -1) {
		seccomp_release(ctx);
		return errno = EINVAL, -1;
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r < 0 ? (errno = -r, -1) : 0;
}

/* lspawn_sandbox - NO_NEW_PRIVS and the filter that fits the config */
int
lspawn_sandbox(const struct lspawn_cfg *c)
{
	if (c->programs)
		return deny_list();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return allow_list(c);
}
