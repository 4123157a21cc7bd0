/* sandmail-resolve: the DNS stub resolver of send (uid sandmailr).
 * Reads RQRY records on fd 0, answers RANS records on fd 1.  Trusts
 * nothing a name server sends; once sandboxed it may only make UDP and
 * TCP sockets and talk on them, and sees no file (chroot when root). */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "resolver.h"
#include "sbx.h"

SBX_NO_LEAK_CHECK

static const struct sbx_rule resolve_rules[] = {
	/* UDP and TCP sockets to the name servers, nothing else */
	SBX_ALLOW1(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET)),
	SBX_ALLOW1(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET6)),
	SBX_ALLOW(bind),
	SBX_ALLOW(connect),
	SBX_ALLOW(sendto),
	SBX_ALLOW(recvfrom),
	SBX_ALLOW(getsockopt),
	SBX_LAST
};

static void
ns_add(struct rcfg *c, const char *s, const char *from)
{
	if (c->nns == NS_MAX)
		return;
	if (ns_parse(s, &c->ns[c->nns]) == -1) {
		log_kv("warning", "op", "nameserver", "from", from, "bad", s,
		    NULL);
		return;
	}
	c->nns++;
}

/* /etc/resolv.conf's nameserver lines, read before the sandbox */
static void
resolv_conf(struct rcfg *c, const char *path)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		char *p = line, *e;

		if (strncmp(p, "nameserver", 10) != 0 ||
		    (p[10] != ' ' && p[10] != '\t'))
			continue;
		for (p += 10; *p == ' ' || *p == '\t'; p++)
			;
		for (e = p; *e && *e != ' ' && *e != '\t' && *e != '\n' &&
		    *e != '%'; e++)
			;
		*e = '\0';
		if (*p != '\0')
			ns_add(c, p, path);
	}
	fclose(f);
}

static void
config(struct rcfg *c, const struct conf *cf)
{
	const char *v;
	size_t i = 0;

	memset(c, 0, sizeof *c);
	while ((v = conf_next(cf, "nameserver", &i)) != NULL)
		ns_add(c, v, cf->path);
	if (c->nns == 0)
		resolv_conf(c, conf_str(cf, "resolv_conf", "/etc/resolv.conf"));
	if (c->nns == 0)
		ns_add(c, "127.0.0.1", "default");
	c->timeout_ms = (int)(conf_secs(cf, "dns_timeout", 5) * 1000);
	if (c->timeout_ms <= 0)
		c->timeout_ms = 1000;
	c->retries = (unsigned)conf_num(cf, "dns_retries", 2, 0, 10);
	c->ttl_max = (unsigned)conf_secs(cf, "dns_ttl_max", 86400);
	c->neg_ttl_max = (unsigned)conf_secs(cf, "dns_negative_ttl_max", 900);
	c->cache_size = (unsigned)conf_num(cf, "dns_cache_size", 2000, 0,
	    1000000);
	c->max_queries = (unsigned)conf_num(cf, "dns_max_queries", 500, 1,
	    100000);
	c->max_sockets = (unsigned)conf_num(cf, "dns_max_sockets", 200, 1,
	    800);
	c->v6first = conf_bool(cf, "dns_prefer_ipv6", 0);
}

int
main(int argc, char *argv[])
{
	struct conf cf;
	struct rcfg c;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	int opt;
	const char *path = NULL;

	log_init("resolve");
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			die_msg(EXIT_TEMP, "usage", "sandmail-resolve [-c conf]");
		path = optarg;
	}
	conf_load(&cf, path);
	config(&c, &cf);
	if (geteuid() == 0 &&
	    priv_lookup(conf_str(&cf, "user_resolve", "sandmailr"), &uid,
	    &gid) == -1)
		die_temp("user", conf_str(&cf, "user_resolve", "sandmailr"));
	tzset();
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	/* as root: no files at all after this (an empty directory) */
	sbx_chroot_empty(conf_str(&cf, "empty_dir", "/var/empty"));
	priv_drop_or_die(uid, gid);
	sbx_enter_or_die(resolve_rules);
	log_kv("start", "nameservers", c.nns > 1 ? "several" : "one", NULL);
	if (resolver_run(&c, 0, 1) == -1)
		die_temp("protocol", "send");
	return EXIT_OK;
}
