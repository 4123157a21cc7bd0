/* sbx: sandmail-sts's sandbox, in a file of its own so that the
 * attacker probe can run exactly this code.  As root it chroots into
 * its cache directory (nothing else of the file system is needed: the
 * CA bundle and the configuration were read before) and drops to
 * user_sts; then Landlock: files only beneath the cache directory (by
 * any path: seccomp alone cannot see where "../" leads, which matters
 * when it runs as a plain user without the chroot) and TCP connect only
 * to mta_sts_port; then the filter: network sockets (UDP to the name
 * servers, TCP to policy servers: any address, fetching from other
 * hosts is its job), and files only relative to the cache directory's
 * fd. */
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "llock.h"
#include "log.h"
#include "sbx.h"
#include "sts.h"

static void
sts_confine(const struct sts_cfg *c)
{
	const struct ll_rule r[1] = {
		{ c->cachefd, LL_READ | LL_WRITE | LL_CREATE | LL_RENAME },
	};
	uint16_t port = (uint16_t)c->port;
	int k;

	if ((k = ll_confine(r, 1, &port, 1)) == -1)
		die_temp("landlock", NULL);
	if (k == 1)
		ll_missing();
}

void
sts_sandbox(const struct conf *cf, const struct sts_cfg *c)
{
	const char *user = conf_str(cf, "user_sts", "sandmailm");
	unsigned long long fd = (unsigned long long)c->cachefd;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	const struct sbx_rule rules[] = {
		SBX_ALLOW1(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET)),
		SBX_ALLOW1(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET6)),
		/* libcurl's wake-up pair */
		SBX_ALLOW1(socketpair, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
		SBX_ALLOW(connect),
		SBX_ALLOW1(sendto, SCMP_A4(SCMP_CMP_EQ, 0)),	/* connected */
		SBX_ALLOW(recvfrom),
		SBX_ALLOW(sendmsg),
		SBX_ALLOW(recvmsg),
		SBX_ALLOW(getsockopt),
		SBX_ALLOW(setsockopt),
		SBX_ALLOW(getsockname),
		SBX_ALLOW(getpeername),
		SBX_ALLOW(shutdown),
		SBX_ALLOW(futex),
		SBX_ALLOW(fsync),
		SBX_ALLOW1(openat, SCMP_A0(SCMP_CMP_EQ, fd)),
		SBX_ALLOW1(unlinkat, SCMP_A0(SCMP_CMP_EQ, fd)),
		SBX_ALLOW2(renameat, SCMP_A0(SCMP_CMP_EQ, fd),
		    SCMP_A2(SCMP_CMP_EQ, fd)),
		SBX_ALLOW2(renameat2, SCMP_A0(SCMP_CMP_EQ, fd),
		    SCMP_A2(SCMP_CMP_EQ, fd)),
		SBX_LAST
	};

	if (geteuid() == 0 && priv_lookup(user, &uid, &gid) == -1)
		die_temp("user", user);
	if (geteuid() == 0 && (fchdir(c->cachefd) == -1 || chroot(".") == -1))
		die_temp("chroot", "mta_sts_cache");
	priv_drop_or_die(uid, gid);
	sts_confine(c);
	sbx_enter_or_die(rules);
}
