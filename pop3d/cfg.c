/* cfg: sandmail-pop3d's settings from sandmail.conf (doc/sandmail-pop3d.8,
 * CONFIGURATION).  Read once, before anything else. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "pop3d.h"
#include "sbx.h"

static char *
join(const char *a, const char *b)
{
	struct buf x = BUF_INIT(PATH_MAX);

	if (buf_puts(&x, a) == -1 || buf_putc(&x, '/') == -1 ||
	    buf_puts(&x, b) == -1 || buf_cstr(&x) == -1)
		die_msg(EXIT_TEMP, "config", "path too long");
	return x.p;
}

/* self_dir: the directory of our own executable (default bindir) */
static char *
self_dir(void)
{
	char p[PATH_MAX], *s;
	ssize_t n;

	if ((n = readlink("/proc/self/exe", p, sizeof p - 1)) <= 0)
		return strdup(".");
	p[n] = '\0';
	if ((s = strrchr(p, '/')) != NULL)
		*s = '\0';
	return strdup(p);
}

static char *
opt_path(const struct conf *c, const char *key)
{
	return conf_str(c, key, NULL) ? conf_path(c, key, NULL) : NULL;
}

/* cfg_load - parse the file and fill cfg; exits 111 on a bad value */
void
cfg_load(struct pop3_cfg *cfg, struct conf *c, const char *path)
{
	char *bindir;
	const char *user;

	memset(cfg, 0, sizeof *cfg);
	conf_load(c, path);
	cfg->conf_path = path ? path : conf_default_path();
	cfg->hostname = conf_str(c, "hostname", "localhost");
	cfg->tables_dir = conf_path(c, "tables", ".");
	bindir = conf_str(c, "bindir", NULL) ? conf_path(c, "bindir", NULL) :
	    self_dir();
	if (bindir == NULL)
		die_temp("config", "bindir");
	cfg->auth_prog = join(bindir, "sandmail-auth");
	free(bindir);
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
	cfg->max_per_ip = (unsigned)conf_num(c, "pop3_max_per_ip", 10, 1,
	    100000);
	cfg->max_msgs = (size_t)conf_num(c, "pop3_max_messages",
	    POP3_MSGS_MAX, 1, 10000000);
}
