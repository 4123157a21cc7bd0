/* sandmail-rspawn: send's SMTP client service (uid sandmailr).
 * fd 0: a SOCK_SEQPACKET socket to send (RJOB in, with the message fd;
 * RRES out).  Forks sandboxed SMTP workers (worker.c); itself sandboxed
 * and chrooted to an empty directory when started as root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "rspawn.h"
#include "sbx.h"
#include "uconn.h"
#ifdef REMOTE_TLS
#include "tls.h"
#endif

SBX_NO_LEAK_CHECK

static int
ms(const struct conf *cf, const char *key, unsigned long long def)
{
	unsigned long long s = conf_secs(cf, key, def);

	return s > 86400 ? 86400 * 1000 : (int)(s * 1000);
}

static void
config(struct rspawn_cfg *c, const struct conf *cf, char *host,
    size_t hostsz)
{
	const char *h = conf_str(cf, "hostname", NULL);

	memset(c, 0, sizeof *c);
	if (h == NULL) {
		if (gethostname(host, hostsz) == -1)
			snprintf(host, hostsz, "localhost");
		host[hostsz - 1] = '\0';
	} else
		snprintf(host, hostsz, "%s", h);
	c->smtp.helo = host;
	c->smtp.port = (uint16_t)conf_num(cf, "mx_port", 25, 1, 65535);
	c->smtp.t_connect = ms(cf, "remote_timeout_connect", 30);
	c->smtp.t_greet = ms(cf, "remote_timeout_greeting", 300);
	c->smtp.t_cmd = ms(cf, "remote_timeout_command", 300);
	c->smtp.t_data_init = ms(cf, "remote_timeout_data_init", 120);
	c->smtp.t_data_block = ms(cf, "remote_timeout_data_block", 180);
	c->smtp.t_data_done = ms(cf, "remote_timeout_data_done", 600);
	/* a typo must not turn "verify" into something weaker */
	if ((c->smtp.default_tls = smtp_tls_policy(conf_str(cf, "remote_tls",
	    "may"))) == -1)
		die_msg(EXIT_TEMP, "config", "remote_tls must be none, may, "
		    "encrypt, verify, dane or dane-only");
	c->max_workers = (unsigned)conf_num(cf, "remote_concurrency", 50, 1,
	    1000);
	c->reuse_ms = ms(cf, "remote_reuse_time", 5);
	c->max_queued = (unsigned)conf_num(cf, "remote_max_queued", 10000, 1,
	    1000000);
	c->smtp.uconn = -1;
}

/* the connector for LMTP over UNIX sockets, when sandmail.conf lists
 * any (lmtp_socket): forked now, before the chroot hides the paths; it
 * runs as user_remote, as rspawn does */
static void
uconn_setup(struct rspawn_cfg *c, const struct conf *cf)
{
	static char *paths[64];
	const char *v, *user = conf_str(cf, "user_remote", "sandmailr");
	size_t i = 0, n = 0;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	while ((v = conf_next(cf, "lmtp_socket", &i)) != NULL) {
		if (v[0] != '/' || strlen(v) > UCONN_PATH_MAX)
			die_msg(EXIT_TEMP, "config", "lmtp_socket must be an "
			    "absolute path of at most 108 bytes");
		if (n == sizeof paths / sizeof paths[0])
			die_msg(EXIT_TEMP, "config", "too many lmtp_socket");
		if ((paths[n++] = strdup(v)) == NULL)
			die_temp("config", "memory");
	}
	if (n > 0 && geteuid() == 0 && priv_lookup(user, &uid, &gid) == -1)
		die_temp("user", user);
	c->smtp.uconn = uconn_start(paths, n, uid, gid);
	if (n > 0)
		log_kv("uconn", "sockets", paths[0], NULL);
}

static void
tls_setup(struct rspawn_cfg *c, const struct conf *cf)
{
#ifdef REMOTE_TLS
	char err[256];
	char *ca = conf_path(cf, "tls_ca_file", NULL);

	/* the CA file is read now: after the sandbox nothing can be */
	if ((c->smtp.tls_ctx = tls_client_ctx(ca, err, sizeof err)) == NULL)
		log_kv("warning", "op", "tls", "err", err, NULL);
	else if (tls_dane_ctx(c->smtp.tls_ctx) == -1)
		die_msg(EXIT_TEMP, "tls", "cannot enable DANE (OpenSSL)");
	free(ca);
#else
	(void)c;
	(void)cf;
#endif
}

int
main(int argc, char *argv[])
{
	static char host[256];
	struct conf cf;
	struct rspawn_cfg c;
	const char *path = NULL;
	int opt;

	log_init("rspawn");
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			die_msg(EXIT_TEMP, "usage", "sandmail-rspawn [-c conf]");
		path = optarg;
	}
	conf_load(&cf, path);
	config(&c, &cf, host, sizeof host);
	tls_setup(&c, &cf);
	uconn_setup(&c, &cf);
	tzset();
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	/* user_remote, chroot (as root), the filter (rspawn_sbx.c) */
	rspawn_sandbox(&cf);
	log_kv("start", "helo", host, NULL);
	/* _exit: no atexit handlers (OpenSSL's) inside the sandbox */
	_exit(rspawn_run(&c, 0) == 0 ? EXIT_OK : EXIT_TEMP);
}
