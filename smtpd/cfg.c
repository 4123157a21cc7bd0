/* cfg: smtpd's settings, its tables, its path to the queue and its
 * sandbox.  All of this runs before the sandbox; the session then only
 * reads what is set up here. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "filter.h"
#include "log.h"
#include "sbx.h"
#include "smtpd.h"
#include "srsc.h"
#include "usock.h"

#define QUEUE_DEFAULT	"/var/spool/sandmail"

static const char *const tbl_names[T_COUNT] = {
	[T_DOMAINS] = "domains", [T_LOCALUSERS] = "localusers",
	[T_VIRTUAL] = "virtual", [T_ALIASES] = "aliases",
	[T_RELAY] = "relayclients", [T_ROUTES] = "routes",
	[T_MOVED] = "moved", [T_SENDERS] = "senders",
};

static char *
join(const char *dir, const char *name, const char *suffix)
{
	struct buf b = BUF_INIT(PATH_MAX);

	if (buf_fmt(&b, "%s/%s%s", dir, name, suffix) == -1 ||
	    buf_cstr(&b) == -1)
		die_temp("config", name);
	return b.p;
}

static int
ms(unsigned long long secs)
{
	return secs > INT_MAX / 1000 ? INT_MAX : (int)(secs * 1000);
}

static void
cfg_hostname(struct smtpd_cfg *cfg, const struct conf *c)
{
	static char host[256];

	cfg->hostname = conf_str(c, "hostname", NULL);
	if (cfg->hostname != NULL)
		return;
	if (gethostname(host, sizeof host - 1) == -1)
		die_temp("gethostname", NULL);
	host[sizeof host - 1] = '\0';
	cfg->hostname = host;
}

static void
cfg_queue(struct smtpd_cfg *cfg, const struct conf *c)
{
	char *q = conf_path(c, "queue", QUEUE_DEFAULT);
	const char *prog = conf_str(c, "queue_program", NULL);

	cfg->queue_sock = join(q, "lock/queue.sock", "");
	cfg->limits_file = conf_str(c, "smtpd_limits_file", NULL) ?
	    conf_path(c, "smtpd_limits_file", NULL) :
	    join(q, "lock/smtpd.limits", "");
	free(q);
	cfg->queue_prog = NULL;
	if (prog != NULL && strchr(prog, '/') == NULL)
		cfg->queue_prog = join(conf_str(c, "bindir",
		    "/usr/local/sbin"), prog, "");
	else if (prog != NULL && (cfg->queue_prog = strdup(prog)) == NULL)
		die_temp("strdup", NULL);
}

/* cfg_free - what cfg_load allocated (not the conf) */
void
cfg_free(struct smtpd_cfg *cfg)
{
	free(cfg->queue_sock);
	free(cfg->queue_prog);
	free(cfg->tables_dir);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->auth_sock);
	free(cfg->srs_sock);
	free(cfg->limits_file);
	memset(cfg, 0, sizeof *cfg);
}

static void
cfg_user(struct smtpd_cfg *cfg, const struct conf *c)
{
	const char *user = conf_str(c, "user_smtpd", "sandmaild");

	cfg->uid = (uid_t)-1;
	cfg->gid = (gid_t)-1;
	if (geteuid() != 0)
		return;
	if (priv_lookup(user, &cfg->uid, &cfg->gid) == -1)
		die_temp("user_smtpd", user);
}

static char *
opt_path(const struct conf *c, const char *key)
{
	return conf_str(c, key, NULL) ? conf_path(c, key, NULL) : NULL;
}

/* cfg_tls - certificate, key and the AUTH settings */
static void
cfg_tls(struct smtpd_cfg *cfg, const struct conf *c)
{
	cfg->tls_cert = opt_path(c, "tls_cert");
	cfg->tls_key = opt_path(c, "tls_key");
	if (cfg->tls_key == NULL && cfg->tls_cert != NULL &&
	    (cfg->tls_key = strdup(cfg->tls_cert)) == NULL)
		die_temp("strdup", NULL);	/* one PEM with both */
	if ((cfg->auth_sock = auth_sock_path(c)) == NULL)
		die_temp("malloc", NULL);
	/* off on port 25 by default: an MX needs no AUTH, and a session
	 * that may offer it is never reused (worker.c) */
	cfg->auth = conf_bool(c, "smtpd_auth", 0);
	cfg->auth_plain_lo = conf_bool(c, "smtpd_auth_plaintext_loopback", 0);
	cfg->sender_restrict = conf_str(c, "smtpd_sender_restrict", NULL) ?
	    conf_bool(c, "smtpd_sender_restrict", 1) : -1;
}

/* cfg_load - sandmail.conf into cfg; exits 111 on a bad setting */
void
cfg_load(struct smtpd_cfg *cfg, struct conf *c, const char *path)
{
	unsigned long long gd;

	memset(cfg, 0, sizeof *cfg);
	conf_load(c, path);
	cfg->conf_path = c->path;
	cfg_hostname(cfg, c);
	cfg->delim = conf_str(c, "recipient_delimiter", "-+");
	cfg_queue(cfg, c);
	cfg->tables_dir = conf_path(c, "tables", ".");
	cfg->max_size = conf_size(c, "max_message_size", 35ull << 20);
	cfg->max_rcpt = (unsigned)conf_num(c, "max_recipients", 100, 1,
	    ENV_RCPT_MAX);
	cfg->max_errors = (unsigned)conf_num(c, "max_errors", 10, 1, 100000);
	cfg->max_hops = (unsigned)conf_num(c, "max_hops", MAX_HOPS, 1, 10000);
	cfg->line_max = conf_num(c, "smtpd_line_max", LINE_MAX_DEF, 512,
	    65536);
	/* RFC 5321 4.5.3.2: 5 minutes for commands, 10 for the data */
	cfg->timeout_ms = ms(conf_secs(c, "smtpd_timeout", 300));
	cfg->data_timeout_ms = ms(conf_secs(c, "smtpd_data_timeout", 600));
	/* the text earns a second per this many bytes (0: no rate rule) */
	cfg->min_data_rate = (unsigned)conf_num(c, "smtpd_min_data_rate", 500,
	    0, 1u << 30);
	cfg->session_limit = (unsigned)conf_secs(c, "smtpd_session_limit",
	    3600);
	/* greet_delay (a duration) or greet_delay_ms; default 0 (see the
	 * man page: even then bytes already there at greeting time count) */
	gd = conf_secs(c, "greet_delay", 0);
	cfg->greet_delay_ms = (int)conf_num(c, "greet_delay_ms",
	    gd > 60 ? 60000 : gd * 1000, 0, 60000);
	cfg->forward_251 = conf_bool(c, "smtpd_forward_251", 0);
	cfg->vrfy_real = conf_bool(c, "smtpd_vrfy", 0);
	cfg->expn_real = conf_bool(c, "smtpd_expn", 0);
	cfg->max_conn = (unsigned)conf_num(c, "max_connections", 1000, 1,
	    65536);
	cfg->lim.max_per_ip = (unsigned)conf_num(c, "max_per_ip", 20, 1, 65536);
	cfg->lim.max_per_net = (unsigned)conf_num(c, "max_per_net", 100, 1,
	    65536);
	cfg->lim.max_unauth_per_net = (unsigned)conf_num(c,
	    "max_unauth_per_net", 50, 0, 65536);
	cfg->lim.conn_rate = (unsigned)conf_num(c, "smtpd_conn_rate", 0, 0,
	    10000000);
	cfg->lim.msg_rate = (unsigned)conf_num(c, "smtpd_msg_rate", 0, 0,
	    10000000);
	cfg->lim.msg_rate_user = (unsigned)conf_num(c, "smtpd_msg_rate_user", 0,
	    0, 10000000);
	cfg->queue_wait_ms = ms(conf_secs(c, "smtpd_queue_wait", 10));
	/* a port 25 worker process serves this many sessions, then goes;
	 * 1: a fresh process per connection */
	cfg->max_use = (unsigned)conf_num(c, "smtpd_max_use", 100, 1,
	    1000000);
	cfg->idle_worker_ms = ms(conf_secs(c, "smtpd_idle_worker", 60));
	/* SRS recipients: the session checks form and age, not the hash
	 * (the secret stays in sandmail-send) */
	cfg->srs_domain = conf_str(c, "srs_domain", NULL);
	if (cfg->srs_domain != NULL &&
	    (cfg->srs_sock = usock_path(c, "srs_socket", "srs.sock")) == NULL)
		die_temp("malloc", NULL);
	cfg->srs_maxdays = (unsigned)(conf_secs(c, "srs_max_age", 21 * 86400) /
	    86400);
	cfg_tls(cfg, c);
	cfg_user(cfg, c);
	policyd_load(c);
	dnsbl_load(c);
	verify_load(c, cfg->hostname);
	milters_load(c);
}

/* tables_open - map every table (a missing one is empty); 0 or -1 */
int
tables_open(struct tables *t, const struct smtpd_cfg *cfg)
{
	return tblset_open(&t->set, t->t, cfg->tables_dir, tbl_names,
	    T_COUNT);
}

/* tables_close - unmap them all */
void
tables_close(struct tables *t)
{
	tblset_close(&t->set);
}

/* tables_refresh - map again the tables replaced on disk (looked at at
 * most once a second) or, with force, all; the number mapped again */
size_t
tables_refresh(struct tables *t, int force)
{
	return tblset_refresh(&t->set, force ? TBLSET_ALL : TBLSET_TICK);
}

/* queue_open - the queue service, or a spawned queue program when the
 * socket is absent and queue_program is set; 0 or -1 (logged) */
int
queue_open(struct qc *q, const struct smtpd_cfg *cfg)
{
	int e;

	if (qc_connect(q, cfg->queue_sock) == 0)
		return 0;
	e = errno;
	if (cfg->queue_prog != NULL && (e == ENOENT || e == ECONNREFUSED) &&
	    qc_spawn(q, cfg->queue_prog, cfg->conf_path) == 0)
		return 0;
	log_kv("error", "op", "queue", "path", cfg->queue_sock, "err",
	    q->text[0] ? q->text : strerror(e), NULL);
	return -1;
}
