/* rspawn_sbx: sandmail-rspawn's sandbox entry, in a file of its own so
 * that the attacker probe (testtools/probe.c) runs exactly this code.
 * The filter is inherited by every worker, which narrows it again
 * (worker.c, worker_sandbox). */
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "rspawn.h"
#include "sbx.h"

/* fork() in glibc: clone(CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD) */
#define FORK_FLAGS	(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD)

static const struct sbx_rule rspawn_rules[] = {
	/* its workers: fork (clone with fork's flags only: no namespaces),
	 * socket pairs, reaping */
	SBX_ALLOW1(clone, SCMP_A0(SCMP_CMP_EQ, FORK_FLAGS)),
	SBX_ALLOW(set_robust_list),
	SBX_ALLOW(wait4),
	SBX_ALLOW1(socketpair, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
	SBX_ALLOW(sendmsg),
	SBX_ALLOW(recvmsg),
	/* each worker installs its own, narrower filter after the fork */
	SBX_ALLOW1(prctl, SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS)),
	SBX_ALLOW(seccomp),
	/* what the workers need (their own filter narrows it again) */
	RSPAWN_WORKER_RULES,
	SBX_LAST
};

/* rspawn_sandbox - user_remote, chroot to empty_dir (as root), filter */
void
rspawn_sandbox(const struct conf *cf)
{
	const char *user = conf_str(cf, "user_remote", "sandmailr");
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (geteuid() == 0 && priv_lookup(user, &uid, &gid) == -1)
		die_temp("user", user);
	/* as root: no files at all after this (an empty directory) */
	sbx_chroot_empty(conf_str(cf, "empty_dir", "/var/empty"));
	priv_drop_or_die(uid, gid);
	priv_nodump();		/* smarthost passwords, the TLS client key */
	sbx_enter_or_die(rspawn_rules);
}
