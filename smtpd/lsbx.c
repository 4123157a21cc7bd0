/* lsbx: the smtpd listener's own confinement, entered once its sockets
 * are bound, its tables mapped and its limits file open, before the
 * first accept.  Started as root, it becomes user_smtpd here, the uid
 * its sessions run as, keeping one capability: CAP_DAC_READ_SEARCH, to
 * map again the root-only tables (routes.cdb, root:sandmails) and the
 * root-only TLS key when they change on disk; bounding set included, so
 * nothing else ever comes back.  No CAP_SETUID: its sessions need not
 * change uid, only drop that capability (session_sandbox).  So a UNIX
 * socket it reaches is one user_smtpd's uid and group may reach (the
 * queue's, group user_smtpd; sandmail-auth's, the same), and a process
 * it signals is its own kind.  Then:
 *
 *  - Landlock: files only read, and only beneath the tables directory
 *    and the directories of tls_cert and tls_key (what the capability
 *    reads is bounded by these); no execution; TCP connect only to the
 *    policy service's, the mail checks' name server's and inet milters'
 *    ports (none without them), no TCP bind; no signal to a process
 *    outside its domain (its sessions are inside).
 *  - a seccomp deny-list (EPERM): no file made, written, removed,
 *    renamed, linked or re-moded (open with write flags included), no
 *    exec, no ptrace or other process's memory, no mount, namespace or
 *    module call, no bind or listen, no uid or gid but user_smtpd's
 *    (setresuid and setresgid pinned to them), no handle-based open.  A
 *    deny-list, not an allow-list: a session's steps before its own
 *    filter (policy and DNSBL sockets, dropping the capability, its
 *    filter) run under it, and stacked filters only narrow.
 *
 * No sendto with an address either (the DNSBL's UDP socket is connected).
 * What it keeps: reading its tables and TLS files beneath Landlock
 * (users.cdb and relay_auth.cdb share the tables directory: readable
 * too, as by root before); UDP connects; UNIX-socket connects where
 * user_smtpd may connect.  In a sanitizer build the same, but for what
 * its runtime needs (ptrace, /proc: lib/sbx.c, sbx_sanitizer_*).  Not
 * entered with queue_program (logged): a session then execs the queue
 * program as root before its drop, so that the queue can write the
 * queue; exec and root are what this takes away, and the set-uid
 * sandmail-queue would not help, NO_NEW_PRIVS (needed by seccomp and
 * Landlock alike) ignores its set-uid bit. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "llock.h"
#include "log.h"
#include "sbx.h"
#include "smtpd.h"

#define LISTENER_GROUPS_MAX	64	/* user_smtpd's groups kept */

/* deny_ids - set*id only to id (every argument), or never (id -1) */
static int
deny_ids(scmp_filter_ctx ctx, int nr, unsigned id)
{
	if (id == (unsigned)-1)
		return SBX_EPERM_IF(ctx, nr, 0);
	for (unsigned i = 0; i < 3; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
		    (struct scmp_arg_cmp){ i, SCMP_CMP_NE, id, 0 }) < 0)
			return -1;
	return 0;
}

/* deny_writes - open and openat with any flag that writes or makes */
static int
deny_writes(scmp_filter_ctx ctx)
{
	static const int bits[] = { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC,
	    O_APPEND, O_TMPFILE };

	for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
		scmp_datum_t b = (scmp_datum_t)bits[i];

		if (SBX_EPERM_IF(ctx, SCMP_SYS(open), 1,
		    SCMP_A1(SCMP_CMP_MASKED_EQ, b, b)) < 0 ||
		    SBX_EPERM_IF(ctx, SCMP_SYS(openat), 1,
		    SCMP_A2(SCMP_CMP_MASKED_EQ, b, b)) < 0)
			return -1;
	}
	return 0;
}

/* deny_build - the filter's rules into ctx (arg: the smtpd_cfg) */
static int
deny_build(scmp_filter_ctx ctx, const void *arg)
{
	const struct smtpd_cfg *cfg = arg;

	/* lib's list, removals and renames too; its sendto rule leaves
	 * UDP on connected sockets only (the DNSBL's) */
	if (sbx_deny_base(ctx, 1) == -1)
		return -1;
	if (deny_writes(ctx) == -1 ||
	    deny_ids(ctx, SCMP_SYS(setresuid), (unsigned)cfg->uid) == -1 ||
	    deny_ids(ctx, SCMP_SYS(setresgid), (unsigned)cfg->gid) == -1 ||
	    SBX_EPERM_IF(ctx, SCMP_SYS(setgroups), 1,
	    SCMP_A0(SCMP_CMP_NE, 0)) < 0)
		return -1;
	return 0;
}

/* dir_fd - the directory of path (path itself if dir), O_PATH; or -1 */
static int
dir_fd(const char *path, int dir)
{
	const char *sl;
	char *d;
	int fd;

	if (path == NULL)
		return -1;
	if (dir || (sl = strrchr(path, '/')) == NULL)
		return open(dir ? path : ".", O_PATH | O_DIRECTORY |
		    O_CLOEXEC);
	if ((d = strndup(path, sl == path ? 1 : (size_t)(sl - path))) == NULL)
		return -1;
	fd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(d);
	return fd;
}

/* user_groups - user_smtpd's groups in /etc/group (its primary one
 * too), root's left out: the sockets of milters and policy servers the
 * admin gave user_smtpd access to by a group (doc/filters.md); their
 * number, or -1 */
static int
user_groups(const struct smtpd_cfg *cfg, gid_t *g, int max)
{
	struct passwd *pw;
	int n = max, k = 0;

	errno = 0;
	if ((pw = getpwuid(cfg->uid)) == NULL)
		return errno = errno ? errno : ENOENT, -1;
	if (getgrouplist(pw->pw_name, cfg->gid, g, &n) == -1)
		return errno = E2BIG, -1;
	for (int i = 0; i < n; i++)
		if (g[i] != 0)
			g[k++] = g[i];
	return k;
}

/* listener_sandbox - see above; ports: the TCP ports the listener
 * connects to for its sessions (the policy service, the mail checks' name
 * server, inet: milters).  0, or -1 with errno (the caller dies) */
int
listener_sandbox(const struct smtpd_cfg *cfg, const uint16_t *ports,
    size_t nports)
{
	struct ll_rule r[3 + 4];
	gid_t g[LISTENER_GROUPS_MAX];
	size_t n = 0;
	int k, fd, ng = 0;

	if (cfg->queue_prog != NULL) {
		log_kv("warning", "op", "listener sandbox", "err", "off: "
		    "queue_program makes sessions exec the queue", NULL);
		return 0;
	}
	if ((fd = dir_fd(cfg->tables_dir, 1)) >= 0)
		r[n++] = (struct ll_rule){ fd, LL_READ };
	if ((fd = dir_fd(cfg->tls_cert, 0)) >= 0)
		r[n++] = (struct ll_rule){ fd, LL_READ };
	if ((fd = dir_fd(cfg->tls_key, 0)) >= 0)
		r[n++] = (struct ll_rule){ fd, LL_READ };
	for (size_t i = 0; sbx_sanitizer_dirs[i] != NULL && n < 7; i++)
		if ((fd = dir_fd(sbx_sanitizer_dirs[i], 1)) >= 0)
			r[n++] = (struct ll_rule){ fd, LL_READ };
	/* as root: user_smtpd with its groups, CAP_DAC_READ_SEARCH alone */
	if (geteuid() == 0)
		ng = user_groups(cfg, g, LISTENER_GROUPS_MAX);
	if (ng == -1 || priv_listener_drop(cfg->uid, cfg->gid, g,
	    (size_t)ng, 1ull << CAP_DAC_READ_SEARCH) == -1) {
		while (n > 0)
			close(r[--n].fd);
		return -1;
	}
	k = ll_confine(r, n, ports, nports);
	while (n > 0)
		close(r[--n].fd);
	if (k == -1)
		return -1;
	if (k == 1)
		ll_missing();
	return sbx_deny_load(deny_build, cfg);
}
