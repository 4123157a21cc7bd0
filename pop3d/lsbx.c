/* lsbx: sandmail-pop3d's listener's own confinement, entered once its
 * sockets are bound, its limits file open, its TLS context made and
 * user_vmail looked up, before the first accept.  Its children become
 * a connection's monitor (user_pop3d keeping CAP_SETUID and CAP_SETGID)
 * and then any mailbox owner, and open any maildir, so nothing here can
 * be narrower than all of those together.  What it takes away:
 *
 *  - root: started as root, it becomes user_pop3d keeping CAP_SETUID and
 *    CAP_SETGID alone (bounding set too), not dumpable.  Its sessions
 *    read the tables as that user (0644) and get the TLS context from
 *    it (made as root; made again when the files change, which needs a
 *    key user_pop3d may read: listen.c); their login process drops the
 *    two capabilities, their monitor keeps them (session.c).
 *  - Landlock: read, write, create, remove and rename files beneath
 *    every top directory but /dev, /proc and /sys (a maildir may be
 *    anywhere else); no execution, no device, FIFO or socket made, no
 *    directory made or removed; no TCP at all (it has no peer over TCP:
 *    sandmail-auth is a UNIX socket); no signal to a process outside its
 *    domain, no abstract UNIX socket outside it.
 *  - a seccomp deny-list (EPERM): no exec, ptrace or other process's
 *    memory, no mount, namespace or module call, no bind or listen, no
 *    link, symlink, mkdir, mknod, chmod, chown, truncate or xattr call,
 *    no handle-based open, no addressed sendto, no setuid-family call
 *    but setresuid and setresgid, those never to uid 0 nor to a group
 *    below local_gid_min (pop3_gid_floor), setgroups only to none.
 *
 * What it keeps (doc/design.md): becoming any user but root and, as that
 * user, what that user may do to files outside /dev, /proc and /sys
 * (the mailbox process's job); UNIX-socket connects where user_pop3d
 * may connect (sandmail-auth's socket).  In a sanitizer build the same,
 * but for what its runtime needs (ptrace, /proc: lib/sbx.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>
#include <sodium.h>

#include "llock.h"
#include "log.h"
#include "pop3d.h"
#include "sbx.h"

#define TOPS_MAX	64

/* pop3_gid_floor - the lowest group a setresgid may name in the
 * listener and its monitors: local_gid_min, or user_pop3d's own group if
 * that is lower (its login processes drop to it) */
unsigned long
pop3_gid_floor(const struct pop3_cfg *cfg)
{
	if (cfg->gid != (gid_t)-1 && (unsigned long)cfg->gid < cfg->gid_min)
		return cfg->gid > 0 ? (unsigned long)cfg->gid : 1;
	return cfg->gid_min;
}

/* deny_build - the filter's rules into ctx (arg: the pop3_cfg) */
static int
deny_build(scmp_filter_ctx ctx, const void *arg)
{
	unsigned long gid_floor = pop3_gid_floor(arg);

	/* the mailbox processes remove and rename messages: those stay */
	if (sbx_deny_base(ctx, 0) == -1 ||
	    SBX_EPERM_IF(ctx, SCMP_SYS(setgroups), 1,
	    SCMP_A0(SCMP_CMP_NE, 0)) < 0)
		return -1;
	/* never uid 0, never a group below the floor (shadow, disk, ...:
	 * local_gid_min, as lspawn), in any of the three; supplementary
	 * groups none (priv_become's setgroups(0), above) */
	for (unsigned i = 0; i < 3; i++)
		if (SBX_EPERM_IF(ctx, SCMP_SYS(setresuid), 1,
		    (struct scmp_arg_cmp){ i, SCMP_CMP_EQ, 0, 0 }) < 0 ||
		    SBX_EPERM_IF(ctx, SCMP_SYS(setresgid), 1,
		    (struct scmp_arg_cmp){ i, SCMP_CMP_LT, gid_floor, 0 }) < 0)
			return -1;
	return 0;
}

/* tops - a read-write rule for each top directory but /dev, /proc and
 * /sys (symlinks skipped: their targets have rules of their own);
 * the number of rules */
static size_t
tops(struct ll_rule *r, size_t max)
{
	struct dirent *e;
	size_t n = 0;
	DIR *d;
	int fd;

	if ((d = opendir("/")) == NULL)
		return 0;
	while (n < max && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "dev") == 0 ||
		    strcmp(e->d_name, "proc") == 0 ||
		    strcmp(e->d_name, "sys") == 0)
			continue;
		if ((fd = openat(dirfd(d), e->d_name, O_PATH | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;
		r[n++] = (struct ll_rule){ fd, LL_READ | LL_WRITE |
		    LL_CREATE | LL_RENAME };
	}
	closedir(d);
	return n;
}

/* pop3_listener_sandbox - see above */
int
pop3_listener_sandbox(const struct pop3_cfg *cfg)
{
	struct ll_rule r[TOPS_MAX];
	size_t n;
	int k;

	/* what a session would otherwise do first, confined */
	pop3_vmail_lookup(cfg);
	if (sodium_init() < 0)
		return errno = EINVAL, -1;
	tzset();
	n = tops(r, TOPS_MAX - 4);
	for (size_t i = 0; sbx_sanitizer_dirs[i] != NULL && i < 4; i++)
		if ((r[n].fd = open(sbx_sanitizer_dirs[i], O_PATH |
		    O_DIRECTORY | O_CLOEXEC)) >= 0)
			r[n++].allow = LL_READ;
	/* as root: user_pop3d with CAP_SETUID and CAP_SETGID alone */
	if (priv_listener_drop(cfg->uid, cfg->gid, NULL, 0,
	    1ull << CAP_SETUID | 1ull << CAP_SETGID) == -1)
		k = -1;
	else
		k = ll_confine(r, n, NULL, 0);
	while (n > 0)
		close(r[--n].fd);
	if (k == -1)
		return -1;
	if (k == 1)
		ll_missing();
	return sbx_deny_load(deny_build, cfg);
}
