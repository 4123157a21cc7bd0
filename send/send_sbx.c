/* send_sbx: send's uid, Landlock and seccomp, in this order.
 *
 * send writes the queue relative to its descriptor, and maps its tables
 * again by name when they change.  seccomp checks the descriptor a call
 * names; Landlock checks where the path leads (an absolute path or ".."
 * ignores the descriptor): beneath the queue directory send may read,
 * write, create, rename and remove regular files, beneath the tables
 * directory only read them, and nothing elsewhere. */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "exitcode.h"
#include "llock.h"
#include "log.h"
#include "sbx.h"
#include "send_sbx.h"

/* confine - the queue directory, and the tables (tfd) to read */
static void
confine(int qfd, int tfd)
{
	const struct ll_rule r[2] = {
		{ qfd, LL_READ | LL_WRITE | LL_CREATE | LL_RENAME },
		{ tfd, LL_READ },
	};
	int k;

	k = ll_confine(r, 2, NULL, 0);
	close(tfd);
	if (k == -1)
		die_temp("landlock", NULL);
	if (k == 1)
		ll_missing();
}

static void
filter(int qfd)
{
	const scmp_datum_t q = (scmp_datum_t)qfd;
	const struct sbx_rule rules[] = {
		/* the queue directory, relative to its descriptor; no O_PATH
		 * descriptors */
		SBX_ALLOW2(openat, SCMP_A0(SCMP_CMP_EQ, q),
		    SCMP_A2(SCMP_CMP_MASKED_EQ, O_PATH, 0)),
		SBX_ALLOW2(renameat, SCMP_A0(SCMP_CMP_EQ, q),
		    SCMP_A2(SCMP_CMP_EQ, q)),
		SBX_ALLOW2(renameat2, SCMP_A0(SCMP_CMP_EQ, q),
		    SCMP_A2(SCMP_CMP_EQ, q)),
		SBX_ALLOW1(unlinkat, SCMP_A0(SCMP_CMP_EQ, q)),
		/* a changed table, opened again by name: read-only */
		SBX_ALLOW2(openat, SCMP_A0(SCMP_CMP_EQ,
		    (scmp_datum_t)(uint32_t)AT_FDCWD),
		    SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC |
		    O_PATH, O_RDONLY)),
		SBX_ALLOW(getdents64),
		SBX_ALLOW(fsync),
		SBX_ALLOW(fdatasync),
		/* writeback of a batch's files begun together (qwrite.c,
		 * send_fs.c), and its fsyncs submitted at once (syncv.c) */
		SBX_ALLOW(sync_file_range),
		SBX_ALLOW(io_setup),
		SBX_ALLOW(io_submit),
		SBX_ALLOW(io_getevents),
		SBX_ALLOW(syncfs),
		SBX_ALLOW(pread64),
		SBX_ALLOW(pwrite64),
		SBX_ALLOW(statx),
		/* a retired info/ file, emptied once checked, to be written
		 * again */
		SBX_ALLOW(ftruncate),
		/* jobs and results with descriptors (sockets made by our
		 * parent) */
		SBX_ALLOW(sendmsg),
		SBX_ALLOW(recvmsg),
		SBX_ALLOW1(fcntl, SCMP_A1(SCMP_CMP_EQ, F_DUPFD_CLOEXEC)),
		/* OpenSSL's locks (the DKIM hashes): glibc's rwlocks may
		 * wait */
		SBX_ALLOW(futex),
		SBX_LAST
	};

	sbx_enter_or_die(rules);
}

/* send_sandbox - uid, Landlock, seccomp (send_sbx.h) */
uid_t
send_sandbox(int qfd, const char *tables, uid_t uid, gid_t gid,
    pid_t parent)
{
	int tfd;

	/* named before the drop, as the tables were opened */
	if ((tfd = open(tables, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		die_temp("open", tables);
	priv_drop_or_die(geteuid() == 0 ? uid : (uid_t)-1,
	    geteuid() == 0 ? gid : (gid_t)-1);
	uid = geteuid();
	/* started by sandmail-start (-L): when it dies, even by kill -9,
	 * stop as on TERM, so the supervisor's new sandmail-start never
	 * runs a second send on the queue beside us.  start set this before
	 * the exec (so `parent` is start: had it died, TERM's default action
	 * would have ended us); priv_drop cleared it: set it again. */
	if (parent != 0 && (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
	    getppid() != parent))
		die_msg(EXIT_TEMP, "parent", "sandmail-start is gone");
	confine(qfd, tfd);
	filter(qfd);
	return uid;
}
