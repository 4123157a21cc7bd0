/* sbx: the seccomp sandbox and the privilege drop.
 *
 * Order (STYLE 7): open everything -> warm libc (tzset, sodium_init) ->
 * chroot where it fits -> priv_drop -> sbx_enter -> read untrusted input.
 * A program lists the calls it needs beyond sbx_base in a const table of
 * its own; the filter's default action kills the process (SIGSYS), and the
 * kernel logs the kill with the syscall number.  A program that cannot
 * sandbox itself exits 111 (fail closed). */
#ifndef SANDMAIL_SBX_H
#define SANDMAIL_SBX_H

#include <errno.h>
#include <seccomp.h>
#include <stdint.h>
#include <sys/types.h>

struct sbx_rule {
	int			nr;	/* SBX_END ends a table */
	unsigned int		nargs;
	struct scmp_arg_cmp	args[3];
};

#define SBX_END		(-10000)
#define SBX_ALLOW(name)	{ SCMP_SYS(name), 0, { { 0 } } }
#define SBX_ALLOW1(name, a)	{ SCMP_SYS(name), 1, { a } }
#define SBX_ALLOW2(name, a, b)	{ SCMP_SYS(name), 2, { a, b } }
#define SBX_LAST	{ SBX_END, 0, { { 0 } } }

/* SBX_NO_LEAK_CHECK: in a SANITIZE=1 build, turn LeakSanitizer off for a
 * program whose sandbox it cannot work in (it needs ptrace and /proc at
 * exit); ASan's other checks stay on.  Put it at file scope in the
 * program's main.c: the runtime finds the hook only in the program. */
#if defined(__SANITIZE_ADDRESS__)
#define SBX_NO_LEAK_CHECK \
	const char *__asan_default_options(void); \
	const char *__asan_default_options(void) { return "detect_leaks=0"; }
#else
#define SBX_NO_LEAK_CHECK
#endif

/* Memory, time, exit, read/write/close on open fds, signals, poll. */
extern const struct sbx_rule sbx_base[];

/* sbx_rules_add: each rule of a table (to SBX_END) into a filter being
 * built, with action (SCMP_ACT_ALLOW for an allow-list); for a program
 * that builds its own filter (smtpd's sessions, compiled ahead in the
 * listener); 0 or -1 */
int	sbx_rules_add(scmp_filter_ctx, const struct sbx_rule *,
	    uint32_t action);
/* What the sanitizers' runtime needs beyond a deny-list and Landlock, in
 * a SANITIZE=1 build only (none in a release build), kept here in one
 * place: sbx_sanitizer_call(nr) 1 if a deny-list must not deny nr;
 * sbx_sanitizer_dirs, NULL-ended: directories Landlock must let it read */
int	sbx_sanitizer_call(int nr);
/* sbx_deny_base: the rules every listener's deny-list shares (EPERM):
 * exec, ptrace and other processes' memory, mounts and namespaces (also
 * by clone; clone3 and openat2 ENOSYS), links, mkdir, mknod, modes,
 * owners, times, xattrs, handles, bind, listen, the old set*id calls,
 * the kernel's own (modules, bpf, clock, reboot, keys, ...), addressed
 * sendto; with removals, unlink and rename too.  The sanitizers'
 * runtime keeps what sbx_sanitizer_call says.  0 or -1 */
int	sbx_deny_base(scmp_filter_ctx, int removals);
extern const char *const sbx_sanitizer_dirs[];
/* SBX_EPERM_IF: a deny-list's rule, nr (with its argument checks) EPERM */
#define SBX_EPERM_IF(ctx, nr, ...) \
	seccomp_rule_add((ctx), SCMP_ACT_ERRNO(EPERM), (nr), __VA_ARGS__)
/* sbx_deny_load: a listener's deny-list (default allow), its rules added
 * by build(ctx, arg) (sbx_deny_base and its own), compiled in a
 * short-lived child and loaded here with NO_NEW_PRIVS: libseccomp's work
 * would leave free chunks all over the caller's heap, which the sessions
 * it forks would land their mallocs in (a page copied each).  0 or -1
 * with errno */
typedef int sbx_deny_fn(scmp_filter_ctx, const void *arg);
int	sbx_deny_load(sbx_deny_fn *build, const void *arg);

/* sbx_enter: NO_NEW_PRIVS, then base + rules; 0 or -1 with errno */
int	sbx_enter(const struct sbx_rule *rules);
/* sbx_enter_pinned: the same, but the memory map stays as it is: no
 * mprotect, munmap or mremap, and mmap never MAP_FIXED (so a page made
 * read-only before cannot be made writable or replaced; the program
 * must not free memory to the kernel: mallopt(M_MMAP_MAX, 0)) */
int	sbx_enter_pinned(const struct sbx_rule *rules);
/* sbx_enter_or_die: the same, exiting 111 on failure */
void	sbx_enter_or_die(const struct sbx_rule *rules);

/* priv_drop: as root, become uid/gid (groups = gid only) and verify that
 * root cannot be regained; as another user, only check that uid matches
 * or is left alone when uid is (uid_t)-1.  0 or -1 with errno. */
int	priv_drop(uid_t uid, gid_t gid);
void	priv_drop_or_die(uid_t uid, gid_t gid);
/* priv_setid_only: as root, become uid/gid but keep CAP_SETUID and
 * CAP_SETGID (and nothing else, bounding set included): a process that
 * must later become another user (priv_become) without holding root's
 * other powers meanwhile.  No-op when not root.  0 or -1 with errno. */
int	priv_setid_only(uid_t uid, gid_t gid);
/* priv_keep_caps: the same with the capabilities in keep (1 << CAP_*);
 * as root, uid and gid must be named (neither 0 nor -1) */
int	priv_keep_caps(uid_t uid, gid_t gid, uint64_t keep);
/* priv_keep_caps_groups: the same, with the supplementary groups given
 * (none 0) instead of none (smtpd's listener: user_smtpd's groups) */
int	priv_keep_caps_groups(uid_t uid, gid_t gid, const gid_t *groups,
	    size_t n, uint64_t keep);
/* priv_listener_drop: a listener's identity before its first accept:
 * priv_keep_caps_groups (as root: uid/gid and the groups given, with
 * only keep, bounding set too; otherwise nothing), then priv_nodump (it
 * holds the TLS key).  0 or -1 with errno */
int	priv_listener_drop(uid_t uid, gid_t gid, const gid_t *groups,
	    size_t n, uint64_t keep);
/* priv_become: from priv_setid_only's state (or root), become uid/gid
 * (groups = gid only) with every capability dropped; never uid or gid
 * 0; verified (no setuid(0) test: callers' filters forbid setuid).
 * 0 or -1 with errno. */
int	priv_become(uid_t uid, gid_t gid);
/* priv_caps_keep: narrow the capabilities to keep (permitted and
 * effective; none can be added back): 0 or -1 with errno */
int	priv_caps_keep(uint64_t keep);
/* priv_cap_held: 1 if cap (CAP_*) is in the effective set */
int	priv_cap_held(int cap);
/* priv_caps_none: 1 if the process holds no capability at all */
int	priv_caps_none(void);
/* sbx_close_inherited: close every fd above 2 (call first in main of a
 * server whose children and exec'd helpers must not inherit what its
 * supervisor left open) */
void	sbx_close_inherited(void);
/* priv_nodump: PR_SET_DUMPABLE 0 and RLIMIT_CORE 0, for every process
 * that holds a password, a hash or a private key (after priv_drop, which
 * resets the flag); exits 111 on failure */
void	priv_nodump(void);
/* priv_lookup: a user name to uid/gid (before the sandbox) */
int	priv_lookup(const char *name, uid_t *uid, gid_t *gid);
/* sbx_chroot_empty: as root, chroot to dir (made 0755 if missing), an
 * empty directory, and chdir to /; exits 111 on failure; no-op when not
 * root */
void	sbx_chroot_empty(const char *dir);

#endif
