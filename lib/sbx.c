/* sbx: seccomp allow-lists over libseccomp, and the privilege drop. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "sbx.h"

#ifdef SBX_DEBUG
#define SBX_DEFAULT_ACTION	SCMP_ACT_LOG
#else
#define SBX_DEFAULT_ACTION	SCMP_ACT_KILL_PROCESS
#endif

const struct sbx_rule sbx_base[] = {
	/* memory: never executable (mmap/mprotect without PROT_EXEC) */
	SBX_ALLOW(brk),
	SBX_ALLOW1(mmap, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
	SBX_ALLOW1(mprotect, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
	SBX_ALLOW(munmap),
	SBX_ALLOW(mremap),
	SBX_ALLOW(madvise),
	/* I/O on descriptors already open */
	SBX_ALLOW(read),
	SBX_ALLOW(write),
	SBX_ALLOW(readv),
	SBX_ALLOW(writev),
	SBX_ALLOW(close),
	SBX_ALLOW(fstat),
	SBX_ALLOW(newfstatat),
	SBX_ALLOW(lseek),
	SBX_ALLOW(poll),
	SBX_ALLOW(ppoll),
	SBX_ALLOW1(fcntl, SCMP_A1(SCMP_CMP_EQ, F_GETFL)),
	SBX_ALLOW1(fcntl, SCMP_A1(SCMP_CMP_EQ, F_SETFL)),
	SBX_ALLOW1(fcntl, SCMP_A1(SCMP_CMP_EQ, F_GETFD)),
	SBX_ALLOW1(fcntl, SCMP_A1(SCMP_CMP_EQ, F_SETFD)),
	/* time */
	SBX_ALLOW(clock_gettime),
	SBX_ALLOW(gettimeofday),
	SBX_ALLOW(time),
	SBX_ALLOW(nanosleep),
	SBX_ALLOW(clock_nanosleep),
	SBX_ALLOW(alarm),
	SBX_ALLOW(setitimer),
	/* signals */
	SBX_ALLOW(rt_sigaction),
	SBX_ALLOW(rt_sigprocmask),
	SBX_ALLOW(rt_sigreturn),
	/* the kernel's resumption of a poll, nanosleep or read that a stop
	 * interrupted: SIGSTOP and SIGCONT (`sv pause`, `sv cont`) or a
	 * ptrace attach (strace -p); a stopped process must come back */
	SBX_ALLOW(restart_syscall),
	/* randomness (libsodium) */
	SBX_ALLOW(getrandom),
	/* identity, for log lines */
	SBX_ALLOW(getpid),
	/* exit */
	SBX_ALLOW(exit),
	SBX_ALLOW(exit_group),
#if defined(__SANITIZE_ADDRESS__)
	/* the sanitizers' runtime, in SANITIZE=1 builds only */
	SBX_ALLOW(sigaltstack),
	SBX_ALLOW(gettid),
	SBX_ALLOW(tgkill),
	SBX_ALLOW(sched_yield),
	SBX_ALLOW(prctl),
	SBX_ALLOW(openat),
	SBX_ALLOW(readlink),
	SBX_ALLOW(getppid),
	SBX_ALLOW(futex),
	SBX_ALLOW1(mmap, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)),
	SBX_ALLOW(pipe2),
	SBX_ALLOW(clone),
	SBX_ALLOW(wait4),
	SBX_ALLOW(ptrace),
	SBX_ALLOW(kill),
	SBX_ALLOW(getrlimit),
	SBX_ALLOW(prlimit64),
	SBX_ALLOW(uname),
	SBX_ALLOW(ioctl),
	/* LeakSanitizer's exit-time tracer (a clone) lists /proc/self/task */
	SBX_ALLOW(open),
	SBX_ALLOW(dup),
	SBX_ALLOW(getdents),
	SBX_ALLOW(getdents64),
#endif
	SBX_LAST
};

/* What the sanitizers' runtime needs of a process confined by a
 * deny-list and Landlock (the listeners: smtpd/lsbx.c, pop3d/lsbx.c), in
 * SANITIZE=1 builds only, next to what it needs of sbx_base above:
 * LeakSanitizer's exit-time tracer attaches to the process's own threads
 * (ptrace) and reads /proc/self (maps, task/).  Release builds: none. */
#if defined(__SANITIZE_ADDRESS__)
const char *const sbx_sanitizer_dirs[] = { "/proc", NULL };
#else
const char *const sbx_sanitizer_dirs[] = { NULL };
#endif

/* sbx_sanitizer_call - 1 if a deny-list must leave nr to the runtime */
int
sbx_sanitizer_call(int nr)
{
#if defined(__SANITIZE_ADDRESS__)
	return nr == SCMP_SYS(ptrace);
#else
	(void)nr;
	return 0;
#endif
}

static const int deny_base[] = {
	SCMP_SYS(execve), SCMP_SYS(execveat),
	SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
	SCMP_SYS(process_vm_writev), SCMP_SYS(pidfd_getfd), SCMP_SYS(kcmp),
	SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root),
	SCMP_SYS(chroot), SCMP_SYS(unshare), SCMP_SYS(setns),
	SCMP_SYS(open_tree), SCMP_SYS(move_mount), SCMP_SYS(fsopen),
	SCMP_SYS(fsconfig), SCMP_SYS(fsmount), SCMP_SYS(fspick),
	SCMP_SYS(mount_setattr),
	SCMP_SYS(creat), SCMP_SYS(link), SCMP_SYS(linkat), SCMP_SYS(symlink),
	SCMP_SYS(symlinkat), SCMP_SYS(mkdir), SCMP_SYS(mkdirat),
	SCMP_SYS(rmdir), SCMP_SYS(mknod), SCMP_SYS(mknodat),
	SCMP_SYS(chmod), SCMP_SYS(fchmod), SCMP_SYS(fchmodat),
	SCMP_SYS(chown), SCMP_SYS(fchown), SCMP_SYS(lchown),
	SCMP_SYS(fchownat), SCMP_SYS(truncate), SCMP_SYS(ftruncate),
	SCMP_SYS(utimes), SCMP_SYS(utimensat), SCMP_SYS(setxattr),
	SCMP_SYS(lsetxattr), SCMP_SYS(fsetxattr), SCMP_SYS(removexattr),
	SCMP_SYS(lremovexattr), SCMP_SYS(fremovexattr),
	SCMP_SYS(name_to_handle_at), SCMP_SYS(open_by_handle_at),
	SCMP_SYS(bind), SCMP_SYS(listen),
	SCMP_SYS(setuid), SCMP_SYS(setreuid), SCMP_SYS(setfsuid),
	SCMP_SYS(setgid), SCMP_SYS(setregid), SCMP_SYS(setfsgid),
	SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd),
	SCMP_SYS(init_module), SCMP_SYS(finit_module),
	SCMP_SYS(delete_module), SCMP_SYS(kexec_load),
	SCMP_SYS(kexec_file_load), SCMP_SYS(reboot), SCMP_SYS(swapon),
	SCMP_SYS(swapoff), SCMP_SYS(settimeofday), SCMP_SYS(clock_settime),
	SCMP_SYS(adjtimex), SCMP_SYS(clock_adjtime), SCMP_SYS(sethostname),
	SCMP_SYS(setdomainname), SCMP_SYS(acct), SCMP_SYS(quotactl),
	SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key),
	SCMP_SYS(iopl), SCMP_SYS(ioperm), SCMP_SYS(syslog),
	SCMP_SYS(vhangup), SCMP_SYS(fanotify_init), SCMP_SYS(personality),
	SCMP_SYS(io_uring_setup),
};

/* what a deny-list refuses when the process removes or renames nothing */
static const int deny_removals[] = {
	SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(rename),
	SCMP_SYS(renameat), SCMP_SYS(renameat2),
};

#define EPERM_IF	SBX_EPERM_IF

/* sbx_deny_base - see sbx.h */
int
sbx_deny_base(scmp_filter_ctx ctx, int removals)
{
	static const scmp_datum_t ns[] = { CLONE_NEWNS, CLONE_NEWUSER,
	    CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS,
	    CLONE_NEWCGROUP };

	for (size_t i = 0; i < sizeof deny_base / sizeof deny_base[0]; i++)
		if (deny_base[i] >= 0 && !sbx_sanitizer_call(deny_base[i]) &&
		    EPERM_IF(ctx, deny_base[i], 0) < 0)
			return -1;
	for (size_t i = 0; removals && i < sizeof deny_removals /
	    sizeof deny_removals[0]; i++)
		if (deny_removals[i] >= 0 &&
		    EPERM_IF(ctx, deny_removals[i], 0) < 0)
			return -1;
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
		if (EPERM_IF(ctx, SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, ns[i], ns[i])) < 0)
			return -1;
	/* clone3 and openat2 carry their flags in memory: not there */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
	    0) < 0 || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
	    SCMP_SYS(openat2), 0) < 0)
		return -1;
	/* no addressed datagram: connected sockets only */
	if (EPERM_IF(ctx, SCMP_SYS(sendto), 1, SCMP_A4(SCMP_CMP_NE, 0)) < 0)
		return -1;
	return 0;
}

/* sbx_deny_load - see sbx.h */
int
sbx_deny_load(sbx_deny_fn *build, const void *arg)
{
	static char b[64 * 1024];
	struct sock_fprog prog;
	scmp_filter_ctx ctx;
	size_t n = 0;
	ssize_t k;
	int p[2], st = 0;
	pid_t pid, w;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		_exit((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL ||
		    build(ctx, arg) == -1 ||
		    seccomp_export_bpf(ctx, p[1]) < 0 ? 1 : 0);
	}
	close(p[1]);
	while ((k = read(p[0], b + n, sizeof b - n)) > 0 && n < sizeof b)
		n += (size_t)k;
	close(p[0]);
	while ((w = waitpid(pid, &st, 0)) == -1 && errno == EINTR)
		;
	if (w != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || n == 0 ||
	    n == sizeof b || n % sizeof(struct sock_filter) != 0)
		return errno = EINVAL, -1;
	prog.len = (unsigned short)(n / sizeof(struct sock_filter));
	prog.filter = (struct sock_filter *)b;
	/* Landlock set it, unless the kernel has none: the filter needs it */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* sbx_rules_add - see sbx.h */
int
sbx_rules_add(scmp_filter_ctx ctx, const struct sbx_rule *r,
    uint32_t action)
{
	for (; r->nr != SBX_END; r++)
		if (seccomp_rule_add_array(ctx, action, r->nr, r->nargs,
		    r->args) < 0)
			return -1;
	return 0;
}

/* memory_call - one of the calls sbx_enter_pinned leaves out of base */
static int
memory_call(int nr)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)nr;
	return 0;		/* the sanitizers' runtime maps and unmaps */
#else
	return nr == SCMP_SYS(mmap) || nr == SCMP_SYS(mprotect) ||
	    nr == SCMP_SYS(munmap) || nr == SCMP_SYS(mremap);
#endif
}

static int
add_base(scmp_filter_ctx ctx, int pinned)
{
	const struct sbx_rule *r;

	for (r = sbx_base; r->nr != SBX_END; r++)
		if (!(pinned && memory_call(r->nr)) &&
		    seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, r->nr,
		    r->nargs, r->args) < 0)
			return -1;
	if (pinned && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 2,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
	    SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_FIXED, 0)) < 0)
		return -1;
	return 0;
}

static int
enter(const struct sbx_rule *rules, int pinned)
{
	scmp_filter_ctx ctx;
	int r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	if ((ctx = seccomp_init(SBX_DEFAULT_ACTION)) == NULL)
		return errno = ENOMEM, -1;
	/* kills are logged by the kernel (SECCOMP_FILTER_FLAG_LOG) */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (add_base(ctx, pinned) == -1 ||
	    (rules != NULL && sbx_rules_add(ctx, rules, SCMP_ACT_ALLOW) ==
	    -1)) {
		seccomp_release(ctx);
		return errno = EINVAL, -1;
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return errno = -r, -1;
	return 0;
}

/* sbx_enter - install base + rules; nothing else is allowed after */
int
sbx_enter(const struct sbx_rule *rules)
{
	return enter(rules, 0);
}

/* sbx_enter_pinned - the same, with the memory map pinned (sbx.h) */
int
sbx_enter_pinned(const struct sbx_rule *rules)
{
	return enter(rules, 1);
}

/* sbx_enter_or_die - sandbox or exit 111 */
void
sbx_enter_or_die(const struct sbx_rule *rules)
{
	if (sbx_enter(rules) == -1)
		die_temp("sandbox", NULL);
}

/* priv_drop - become uid/gid for good (see sbx.h) */
int
priv_drop(uid_t uid, gid_t gid)
{
	uid_t r, e, s;

	if (uid == (uid_t)-1)
		return 0;
	if (geteuid() != 0)
		return getuid() == uid && geteuid() == uid ? 0 :
		    (errno = EPERM, -1);
	if (uid == 0)
		return errno = EPERM, -1;	/* never "drop" to root */
	if (setgroups(0, NULL) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		return -1;
	if (getresuid(&r, &e, &s) == -1 || r != uid || e != uid || s != uid)
		return errno = EPERM, -1;
	if (setuid(0) != -1 || getegid() != gid)
		return errno = EPERM, -1;
	return 0;
}

/* priv_drop_or_die - priv_drop or exit 111 */
void
priv_drop_or_die(uid_t uid, gid_t gid)
{
	if (priv_drop(uid, gid) == -1)
		die_temp("priv_drop", NULL);
}

static int
caps_set(uint64_t keep)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof d);
	d[0].permitted = d[0].effective = (uint32_t)keep;
	d[1].permitted = d[1].effective = (uint32_t)(keep >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

/* priv_caps_keep - only the capabilities in keep, of those held */
int
priv_caps_keep(uint64_t keep)
{
	return caps_set(keep);
}

/* priv_cap_held - 1 if cap is effective */
int
priv_cap_held(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	if (cap < 0 || cap > 63 || syscall(SYS_capget, &h, d) == -1)
		return 0;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/* priv_caps_none - 1 if no capability is left in any set */
int
priv_caps_none(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) == -1)
		return 0;
	for (int i = 0; i < 2; i++)
		if (d[i].permitted | d[i].effective | d[i].inheritable)
			return 0;
	return 1;
}

/* priv_setid_only - root's uid-changing power kept, the rest dropped */
int
priv_setid_only(uid_t uid, gid_t gid)
{
	return priv_keep_caps(uid, gid, 1ull << CAP_SETUID |
	    1ull << CAP_SETGID);
}

/* priv_keep_caps - uid/gid with only the capabilities in keep */
int
priv_keep_caps(uid_t uid, gid_t gid, uint64_t keep)
{
	return priv_keep_caps_groups(uid, gid, NULL, 0, keep);
}

/* priv_keep_caps_groups - the same with the supplementary groups
 * groups[0..n) (none of them 0) */
int
priv_keep_caps_groups(uid_t uid, gid_t gid, const gid_t *groups, size_t n,
    uint64_t keep)
{
	gid_t g = gid;
	uid_t r, e, s;

	if (geteuid() != 0)
		return 0;
	if (uid == 0 || gid == 0 || uid == (uid_t)-1 || gid == (gid_t)-1)
		return errno = EPERM, -1;
	for (size_t i = 0; i < n; i++)
		if (groups[i] == 0)
			return errno = EPERM, -1;
	/* nothing exec'd later may ever regain the rest */
	for (int cap = 0; cap <= 63; cap++)
		if (!(keep & 1ull << cap) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL)
			return -1;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1 ||
	    setgroups(n, n > 0 ? groups : NULL) == -1 ||
	    setresgid(g, g, g) == -1 ||
	    setresuid(uid, uid, uid) == -1 ||
	    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1 || caps_set(keep) == -1)
		return -1;
	if (getresuid(&r, &e, &s) == -1 || r != uid || e != uid || s != uid)
		return errno = EPERM, -1;
	return 0;
}

/* priv_listener_drop - priv_keep_caps_groups, then not dumpable (as
 * root the change of uid reset the flag; either way the listener holds
 * the TLS key, so a plain user's run is not dumpable either) */
int
priv_listener_drop(uid_t uid, gid_t gid, const gid_t *groups, size_t n,
    uint64_t keep)
{
	if (priv_keep_caps_groups(uid, gid, groups, n, keep) == -1)
		return -1;
	priv_nodump();
	return 0;
}

/* priv_become - the user for good, from priv_setid_only's state */
int
priv_become(uid_t uid, gid_t gid)
{
	uid_t r, e, s;

	if (uid == 0 || gid == 0)
		return errno = EPERM, -1;
	if (setgroups(0, NULL) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1 || caps_set(0) == -1)
		return -1;
	if (getresuid(&r, &e, &s) == -1 || r != uid || e != uid || s != uid ||
	    getegid() != gid)
		return errno = EPERM, -1;
	return priv_caps_none() ? 0 : (errno = EPERM, -1);
}

/* sbx_close_inherited - every descriptor above 2 that we were started
 * with: a supervisor's or a shell's, never ours to pass on */
void
sbx_close_inherited(void)
{
	if (close_range(3, ~0U, 0) == -1)
		for (int fd = 3; fd < 1024; fd++)
			(void)close(fd);
}

/* priv_nodump - no core file and no ptrace by the same uid: for a
 * process that holds a password, a hash or a key.  After priv_drop (a
 * change of uid resets the dumpable flag).  Exits 111 on failure. */
void
priv_nodump(void)
{
	struct rlimit rl = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1 ||
	    setrlimit(RLIMIT_CORE, &rl) == -1)
		die_temp("priv_nodump", NULL);
}

/* priv_lookup - uid and gid of a user name */
int
priv_lookup(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(name)) == NULL)
		return errno = errno ? errno : ENOENT, -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

void
sbx_chroot_empty(const char *dir)
{
	if (geteuid() != 0)
		return;
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		die_temp("mkdir", dir);
	if (chroot(dir) == -1 || chdir("/") == -1)
		die_temp("chroot", dir);
}
