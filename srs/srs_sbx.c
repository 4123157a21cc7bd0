/* srs_sbx: sandmail-srs's sandbox (srsd.h).  It holds the SRS secret and
 * reads requests from smtpd's sessions: after this it may only read and
 * write the descriptors it has and accept on its one socket. */
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "sbx.h"
#include "srsd.h"

void
srs_sandbox(const struct conf *c, int lfd, pid_t parent)
{
	/* beyond sbx_base (read, write, poll, memory, time): accepting
	 * its clients on its one socket */
	const struct sbx_rule rules[] = {
		SBX_ALLOW1(accept4, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)lfd)),
		SBX_LAST
	};
	const char *user = conf_str(c, "user_srs", "sandmailh");
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (geteuid() == 0 && priv_lookup(user, &uid, &gid) == -1)
		die_temp("user", user);
	sbx_chroot_empty(conf_str(c, "empty_dir", "/var/empty"));
	priv_drop_or_die(uid, gid);
	/* the drop cleared the parent-death signal sandmail-start set */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		die_msg(EXIT_TEMP, "parent", "gone");
	priv_nodump();
	sbx_enter_or_die(rules);
}
