/* cfg: sandmail-pop3d's settings from sandmail.conf (doc/sandmail-pop3d.8,
 * CONFIGURATION).  Read once, before anything else. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authc.h"
#include "exitcode.h"
#include "log.h"
#include "pop3d.h"
#include "sbx.h"

static char *
opt_path(const struct conf *c, const char *key)
{
	return conf_str(c, key, NULL) ? conf_path(c, key, NULL) : NULL;
}

/* cfg_load - parse the file and fill cfg; exits 111 on a bad value */
void
cfg_load(struct pop3_cfg *cfg, struct conf *c, const char *path)
{
	const char *user;

	memset(cfg, 0, sizeof *cfg);
	conf_load(c, path);
	cfg->conf_path = path ? path : conf_default_path();
	cfg->hostname = conf_str(c, "hostname", "localhost");
	cfg->tables_dir = conf_path(c, "tables", ".");
	if ((cfg->auth_sock = auth_sock_path(c)) == NULL)
		die_temp("malloc", NULL);
	cfg->uid = (uid_t)-1;
	cfg->gid = (gid_t)-1;
	if (geteuid() == 0) {
		user = conf_str(c, "user_pop3d", "sandmaild");
		if (priv_lookup(user, &cfg->uid, &cfg->gid) == -1)
			die_temp("getpwnam", user);
	}
	cfg->vmail_user = conf_str(c, "user_vmail", "vmail");
	cfg->timeout_ms = (int)conf_secs(c, "pop3_timeout", 600) * 1000;
	cfg->plain_loopback = conf_bool(c, "pop3_plain_loopback", 0);
	cfg->implicit_tls = conf_bool(c, "pop3_implicit_tls", 0);
	cfg->cert = opt_path(c, "tls_cert");
	cfg->key = opt_path(c, "tls_key");
	if (cfg->key == NULL && cfg->cert != NULL)
		cfg->key = strdup(cfg->cert);	/* one PEM with both */
	cfg->max_conn = (unsigned)conf_num(c, "pop3_max_connections", 100, 1,
	    100000);
	cfg->lim.max_per_ip = (unsigned)conf_num(c, "pop3_max_per_ip", 10, 1,
	    100000);
	cfg->lim.max_per_net = (unsigned)conf_num(c, "pop3_max_per_net", 50,
	    1, 100000);
	cfg->lim.conn_rate = (unsigned)conf_num(c, "pop3_conn_rate", 0, 0,
	    10000000);
	if (conf_str(c, "pop3_limits_file", NULL) != NULL)
		cfg->limits_file = conf_path(c, "pop3_limits_file", NULL);
	else {
		char *q = conf_path(c, "queue", "/var/spool/sandmail");
		size_t n = strlen(q) + sizeof "/lock/pop3d.limits";

		if ((cfg->limits_file = malloc(n)) == NULL)
			die_temp("malloc", NULL);
		snprintf(cfg->limits_file, n, "%s/lock/pop3d.limits", q);
		free(q);
	}
	cfg->max_msgs = (size_t)conf_num(c, "pop3_max_messages",
	    POP3_MSGS_MAX, 1, 10000000);
	/* lspawn's floor: no mailbox process in a system group (shadow,
	 * disk, ...), and the monitor's and listener's filters hold it */
	cfg->gid_min = (unsigned long)conf_num(c, "local_gid_min", 100, 1,
	    UINT32_MAX - 1);
}
