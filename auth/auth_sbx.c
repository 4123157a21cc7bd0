/* auth_sbx: how each process of sandmail-auth confines itself: the
 * service, its argon2 workers and its table opener.  Apart from the
 * loops (main.c, serve.c) so that sandmail-probe (testtools/probe.c)
 * enters exactly these sandboxes before it plays the attacker. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authd.h"
#include "exitcode.h"
#include "llock.h"
#include "log.h"
#include "sbx.h"

/* Beyond sbx_base: nothing (argon2 takes its memory with mmap). */
static const struct sbx_rule worker_rules[] = {
	SBX_LAST
};

/* Beyond sbx_base: opening (read-only) and passing the descriptor. */
static const struct sbx_rule opener_rules[] = {
	SBX_ALLOW1(openat, SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT |
	    O_TRUNC | O_APPEND | O_PATH, O_RDONLY)),
	SBX_ALLOW1(sendmsg, SCMP_A2(SCMP_CMP_EQ, MSG_NOSIGNAL)),
	SBX_LAST
};

/* authd_sandbox - the service: user_auth, not dumpable, its filter */
void
authd_sandbox(uid_t uid, gid_t gid, int lfd, int service)
{
	/* beyond sbx_base (read, write, poll, memory, getrandom): the
	 * service accepts its clients on its one socket */
	const struct sbx_rule rules[] = {
		SBX_ALLOW1(accept4, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)lfd)),
		/* the users table again, from authd_opener */
		SBX_ALLOW1(recvmsg, SCMP_A2(SCMP_CMP_EQ, MSG_CMSG_CLOEXEC)),
		SBX_LAST
	};

	priv_drop_or_die(uid, gid);
	priv_nodump();
	sbx_enter_or_die(service ? rules : rules + 2);
}

/* authd_worker_enter - an argon2 worker: nice, user_auth, its filter */
void
authd_worker_enter(uid_t uid, gid_t gid)
{
	/* argon2 takes what CPU the sessions leave: a flood of checks must
	 * not slow the listeners' accepts */
	(void)setpriority(PRIO_PROCESS, 0, 10);
	priv_drop_or_die(uid, gid);
	priv_nodump();
	sbx_enter_or_die(worker_rules);
}

/* dir_of - the directory of path, opened O_PATH (for Landlock), or -1 */
static int
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;
	int fd;

	if (slash == NULL)
		return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if ((d = strndup(path, slash == path ? 1 : (size_t)(slash - path)))
	    == NULL)
		return -1;
	fd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(d);
	return fd;
}

/* authd_opener_enter - the opener: user_auth (it never stays root), not
 * dumpable, Landlock to the table's directory (read only), its filter.
 * As root it becomes user_auth keeping CAP_DAC_READ_SEARCH, and asks the
 * kernel whether user_auth could read the table without it (access(2)
 * checks the real ids, without capabilities): installed, users.cdb is
 * root:user_auth 0640 and the capability goes at once; a table that only
 * root may read (a scratch layout's 0700 directory) keeps it, confined
 * by Landlock to that directory.  0 no capability left, 1 kept. */
int
authd_opener_enter(const char *path, uid_t uid, gid_t gid)
{
	struct ll_rule r = { -1, LL_READ };
	int kept = 0, k;

	r.fd = dir_of(path);
	if (geteuid() == 0 && uid != (uid_t)-1) {
		if (priv_keep_caps(uid, gid, 1ull << CAP_DAC_READ_SEARCH) == -1)
			die_temp("priv_keep_caps", NULL);
		if (access(path, R_OK) == 0 || errno == ENOENT) {
			if (priv_caps_keep(0) == -1)
				die_temp("capset", NULL);
		} else {
			kept = 1;
			log_kv("warning", "op", "opener", "path", path, "err",
			    "user_auth cannot read the users table: the "
			    "opener keeps CAP_DAC_READ_SEARCH (confined to "
			    "its directory); make it root:user_auth 0640",
			    NULL);
		}
	}
	priv_nodump();
	if ((k = ll_confine(&r, r.fd >= 0 ? 1 : 0, NULL, 0)) == -1)
		die_temp("landlock", NULL);
	if (k == 1)
		ll_missing();
	if (r.fd >= 0)
		close(r.fd);
	sbx_enter_or_die(opener_rules);
	return kept;
}
