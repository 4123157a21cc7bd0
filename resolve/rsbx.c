/* rsbx: sandmail-resolve's settings and sandbox entry, in a file of its
 * own so that the attacker probe (testtools/probe.c) runs this code.
 *
 * resolve must make a socket per query (a new random port each time),
 * and seccomp cannot read the address a connect(2) names, only the
 * pointer to it.  So the name servers' addresses are copied onto a page
 * of their own that is then made read-only, and the filter allows
 * connect only with one of those pointers (and its length); it also
 * pins the memory map (sbx_enter_pinned: no mprotect, munmap, mremap or
 * MAP_FIXED), so the page can neither be written nor replaced.  sendto
 * and recvfrom work only on connected sockets (no address), sendmsg not
 * at all.  Landlock adds: no file by any path, TCP connect only to the
 * name servers' ports. */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "exitcode.h"
#include "llock.h"
#include "log.h"
#include "resolver.h"
#include "rsbx.h"
#include "sbx.h"

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

/* resolve_config - the settings and the name servers (rsbx.h) */
void
resolve_config(struct rcfg *c, const struct conf *cf)
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
	/* the AD bit means something only from a validating resolver the
	 * admin trusts, on this host (RFC 7672 2.1.1; Postfix's
	 * smtp_dns_support_level = dnssec) */
	c->dnssec = conf_bool(cf, "dns_dnssec", 0);
	c->mx_port = (uint16_t)conf_num(cf, "mx_port", 25, 1, 65535);
}


/* ro_copy - c on a page of its own, read-only from now on */
static const struct rcfg *
ro_copy(const struct rcfg *c)
{
	size_t len = (sizeof *c + 4095) & ~(size_t)4095;
	struct rcfg *p;

	if ((p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		die_temp("mmap", NULL);
	memcpy(p, c, sizeof *c);
	if (mprotect(p, len, PROT_READ) == -1)
		die_temp("mprotect", NULL);
	return p;
}

/* confine - no file at all; TCP only to the name servers' ports */
static void
confine(const struct rcfg *c)
{
	uint16_t ports[NS_MAX];
	size_t n = 0;
	int k;

	for (unsigned i = 0; i < c->nns; i++) {
		const struct sockaddr_storage *ss = &c->ns[i].sa;

		ports[n++] = ntohs(ss->ss_family == AF_INET6 ?
		    ((const struct sockaddr_in6 *)ss)->sin6_port :
		    ((const struct sockaddr_in *)ss)->sin_port);
	}
	if ((k = ll_confine(NULL, 0, ports, n)) == -1)
		die_temp("landlock", NULL);
	if (k == 1)
		ll_missing();
}

/* filter - sockets to the name servers in ro, nothing else */
static void
filter(const struct rcfg *ro)
{
	struct sbx_rule rules[8 + NS_MAX] = {
		SBX_ALLOW1(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET)),
		SBX_ALLOW1(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET6)),
		/* a random local port (before connect) */
		SBX_ALLOW(bind),
		/* connected sockets only: no address of our choosing */
		SBX_ALLOW1(sendto, SCMP_A4(SCMP_CMP_EQ, 0)),
		SBX_ALLOW(recvfrom),
		SBX_ALLOW(getsockopt),
	};
	size_t n = 6;

	for (unsigned i = 0; i < ro->nns; i++)
		rules[n++] = (struct sbx_rule)SBX_ALLOW2(connect,
		    SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)(uintptr_t)&ro->ns[i].sa),
		    SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)ro->ns[i].len));
	rules[n] = (struct sbx_rule)SBX_LAST;
	if (sbx_enter_pinned(rules) == -1)
		die_temp("sandbox", NULL);
}

/* resolve_sandbox - user, chroot, read-only name servers, Landlock,
 * filter; the copy resolver_run must use */
const struct rcfg *
resolve_sandbox(const struct conf *cf, const struct rcfg *c)
{
	const char *user = conf_str(cf, "user_resolve", "sandmailr");
	const struct rcfg *ro;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (geteuid() == 0 && priv_lookup(user, &uid, &gid) == -1)
		die_temp("user", user);
	tzset();
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	/* memory is never given back: no munmap under the filter (the
	 * sanitizers' allocator ignores mallopt; their builds keep munmap) */
#if !defined(__SANITIZE_ADDRESS__)
	if (mallopt(M_MMAP_MAX, 0) == 0)
		die_msg(EXIT_TEMP, "mallopt", "failed");
#else
	(void)mallopt(M_MMAP_MAX, 0);
#endif
	ro = ro_copy(c);
	/* as root: no files at all after this (an empty directory) */
	sbx_chroot_empty(conf_str(cf, "empty_dir", "/var/empty"));
	priv_drop_or_die(uid, gid);
	confine(ro);
	filter(ro);
	return ro;
}
