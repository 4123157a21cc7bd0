/* probe_smtpd: sandmail-probe's smtpd role (probe.c). */
#include <sys/types.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "probe.h"
#include "sbx.h"
#include "../smtpd/gen.h"
#include "../smtpd/smtpd.h"

/* probe_smtpd - an smtpd session as the listener forks it: the
 * generation page the listener maps, made read-only by the child
 * (gen_child), then session_sandbox (smtpd/sandbox.c) as user_smtpd */
void
probe_smtpd(const struct conf *c, const volatile unsigned **gen)
{
	static struct smtpd_cfg sc;
	const char *user = conf_str(c, "user_smtpd", "sandmaild");
	volatile unsigned *g = gen_map();

	sc.uid = (uid_t)-1;
	sc.gid = (gid_t)-1;
	if (geteuid() == 0 && priv_lookup(user, &sc.uid, &sc.gid) == -1)
		die_temp("user", user);
	*gen = gen_child(g);
	session_sandbox(&sc);
}

/* probe_smtpd_listener - the listener after its set-up: root (as
 * installed), listener_sandbox (smtpd/lsbx.c) with the tables directory
 * and TLS files of the configuration */
void
probe_smtpd_listener(const struct conf *c)
{
	static struct smtpd_cfg sc;
	const char *user = conf_str(c, "user_smtpd", "sandmaild");

	sc.uid = (uid_t)-1;
	sc.gid = (gid_t)-1;
	if (geteuid() == 0 && priv_lookup(user, &sc.uid, &sc.gid) == -1)
		die_temp("user", user);
	sc.tables_dir = conf_path(c, "tables", ".");
	if (conf_str(c, "tls_cert", NULL) != NULL)
		sc.tls_cert = conf_path(c, "tls_cert", NULL);
	if (conf_str(c, "tls_key", NULL) != NULL)
		sc.tls_key = conf_path(c, "tls_key", NULL);
	if (listener_sandbox(&sc, NULL, 0) == -1)
		die_temp("listener sandbox", NULL);
}
