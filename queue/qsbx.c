/* qsbx: the queue's uid, Landlock and seccomp, in this order.
 *
 * The filter lets file calls name only the queue directory's descriptor,
 * but a path given to openat(2) may be absolute or climb out with "..":
 * seccomp cannot see where it leads.  Landlock can: beneath the queue
 * directory the queue may read, write, create, rename and remove
 * regular files; elsewhere nothing, by any path. */
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "llock.h"
#include "log.h"
#include "qsbx.h"
#include "sbx.h"

static void
drop(const struct conf *c, int setuid_mode)
{
	const char *name = conf_str(c, "user_queue", "sandmailq");
	uid_t u = geteuid();
	gid_t g = getegid();

	if (u == 0) {
		if (priv_lookup(name, &u, &g) == -1)
			die_temp("user", name);
		priv_drop_or_die(u, g);
	} else if (setuid_mode) {
		/* become the queue user entirely: real ids too */
		if (setresgid(g, g, g) == -1 || setresuid(u, u, u) == -1)
			die_temp("setresuid", NULL);
	}
}

/* confine - the queue directory only, by any path */
static void
confine(int dirfd)
{
	const struct ll_rule r = { dirfd,
	    LL_READ | LL_WRITE | LL_CREATE | LL_RENAME };
	int k;

	if ((k = ll_confine(&r, 1, NULL, 0)) == -1)
		die_temp("landlock", NULL);
	if (k == 1)
		ll_missing();
}

/* filter - what the loop needs beyond sbx_base: calls on the queue
 * directory's descriptor (every path is relative to it) and on the
 * listening socket.  No exec, no network, no chmod, no other directory
 * through a descriptor, no O_PATH descriptors. */
static void
filter(int dirfd, int lfd)
{
	const scmp_datum_t d = (scmp_datum_t)dirfd;
	/* one-shot: no socket, so (unsigned)-1 matches no descriptor */
	const scmp_datum_t l = lfd >= 0 ? (scmp_datum_t)lfd : (scmp_datum_t)-1;
	const struct sbx_rule rules[] = {
		/* the queue directory */
		SBX_ALLOW2(openat, SCMP_A0(SCMP_CMP_EQ, d),
		    SCMP_A2(SCMP_CMP_MASKED_EQ, O_PATH, 0)),
		SBX_ALLOW2(renameat2, SCMP_A0(SCMP_CMP_EQ, d),
		    SCMP_A2(SCMP_CMP_EQ, d)),
		SBX_ALLOW1(unlinkat, SCMP_A0(SCMP_CMP_EQ, d)),
		SBX_ALLOW1(syncfs, SCMP_A0(SCMP_CMP_EQ, d)),
		SBX_ALLOW(fsync),
		SBX_ALLOW(fdatasync),
		/* writeback of a batch's files begun together (qwrite.c,
		 * send_fs.c), and its fsyncs submitted at once (syncv.c) */
		SBX_ALLOW(sync_file_range),
		SBX_ALLOW(io_setup),
		SBX_ALLOW(io_submit),
		SBX_ALLOW(io_getevents),
		/* tmp/, for the files to write again (emptied once checked) */
		SBX_ALLOW(getdents64),
		SBX_ALLOW(ftruncate),
		/* clients */
		SBX_ALLOW1(accept4, SCMP_A0(SCMP_CMP_EQ, l)),
		SBX_ALLOW1(getsockopt, SCMP_A2(SCMP_CMP_EQ, SO_PEERCRED)),
		SBX_LAST
	};

	sbx_enter_or_die(rules);
}

/* queue_sandbox - uid, Landlock, seccomp (qsbx.h) */
uid_t
queue_sandbox(const struct conf *c, int dirfd, int lfd, int setuid_mode)
{
	uid_t u;

	drop(c, setuid_mode);
	u = geteuid();
	confine(dirfd);
	filter(dirfd, lfd);
	return u;
}
