/* sandmail-tlspolicy: for one recipient domain, which outbound TLS policy
 * applies and why (issue 23): the routes and tls_policy entries, what the
 * configured name server says of the MX set and each MX host's TLSA
 * records (DNSSEC: the AD bit, trusted only with dns_dnssec yes), the
 * MTA-STS policy sandmail-sts has cached, and what the next delivery
 * will require.  An administrator's tool: run by hand, reads the
 * configuration, the tables and the STS cache, asks DNS; changes
 * nothing and talks to no sandmail process.  Exit 0, or 111 when the
 * configuration cannot be read. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "conf.h"
#include "dns.h"
#include "exitcode.h"
#include "log.h"
#include "saddr.h"
#include "stspol.h"
#include "tbl.h"
#include "tlsa.h"
#include "tlsaname.h"

#define HOSTS_MAX	16

struct ns {
	struct sockaddr_storage	sa;
	socklen_t		len;
};

/* what one question found */
enum ans { A_OK, A_NODATA, A_NXDOMAIN, A_FAIL };

static struct dns_msg msg;

static int
ns_of(const struct conf *cf, struct ns *ns)
{
	size_t i = 0;
	const char *s = conf_next(cf, "nameserver", &i);

	if (s == NULL)
		s = "127.0.0.1";	/* (resolve's default, unbound) */
	return saddr_parse(s, "53", &ns->sa, &ns->len);
}

/* ask - one question over UDP (DNSSEC OK); the answer in msg */
static enum ans
ask(const struct ns *ns, int timeout_ms, const char *name, uint16_t type,
    char *why, size_t whysz)
{
	uint8_t q[512], a[65536];
	uint16_t id = (uint16_t)randombytes_uniform(65536);
	struct pollfd pf;
	ssize_t n;
	int k, fd;

	if ((k = dns_query(q, sizeof q, id, name, type, DNS_Q_DO)) == -1) {
		snprintf(why, whysz, "bad name");
		return A_FAIL;
	}
	if ((fd = socket(ns->sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) ==
	    -1 || connect(fd, (const struct sockaddr *)&ns->sa, ns->len) == -1 ||
	    send(fd, q, (size_t)k, 0) != k) {
		snprintf(why, whysz, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return A_FAIL;
	}
	pf = (struct pollfd){ fd, POLLIN, 0 };
	for (;;) {
		if (poll(&pf, 1, timeout_ms) <= 0) {
			snprintf(why, whysz, "no answer");
			break;
		}
		if ((n = recv(fd, a, sizeof a, 0)) < 0) {
			snprintf(why, whysz, "%s", strerror(errno));
			break;
		}
		if (dns_parse(a, (size_t)n, &msg) == -1 || msg.id != id ||
		    msg.qtype != type || !dns_name_eq(msg.qname, name))
			continue;
		close(fd);
		if (msg.flags & DNS_F_TC) {
			snprintf(why, whysz, "truncated answer");
			return A_FAIL;
		}
		if (msg.rcode == DNS_R_NXDOMAIN)
			return A_NXDOMAIN;
		if (msg.rcode != DNS_R_OK) {
			snprintf(why, whysz, "%s", msg.rcode == DNS_R_SERVFAIL ?
			    "SERVFAIL (bogus?)" : "server error");
			return A_FAIL;
		}
		for (size_t i = 0; i < msg.nrr; i++)
			if (msg.rr[i].type == type)
				return A_OK;
		return A_NODATA;
	}
	close(fd);
	return A_FAIL;
}

static int
secure(int dnssec)
{
	return dnssec && (msg.flags & DNS_F_AD) != 0;
}

/* the table's value for domain, or NULL (no table, no entry); a table
 * we may not read is fatal: "none" would be a wrong answer (routes.cdb
 * is root:sandmails 0640 in the installed layout) */
static const char *
lookup(const char *dir, const char *name, const char *domain, struct buf *v)
{
	char path[4096];
	struct tbl t;
	int r;

	snprintf(path, sizeof path, "%s/%s.cdb", dir, name);
	if (tbl_open(&t, path) == -1)
		die_temp("open", path);
	r = tbl_domain(&t, domain, v);
	tbl_close(&t);
	if (r == -1)
		die_temp("read", path);
	return r == 1 && buf_cstr(v) == 0 ? v->p : NULL;
}

/* the cached MTA-STS policy of domain (sts/cache.c's file); 1 found */
static int
sts_cached(const char *dir, const char *domain, struct sts_policy *pol,
    long long *at, char *id)
{
	char path[4096], *p, *nl;
	const char *why;
	ssize_t n;
	int fd, r = 0;

	if (strchr(domain, '/') != NULL || domain[0] == '.')
		return 0;
	snprintf(path, sizeof path, "%s/%s", dir, domain);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			return 0;
		die_temp("open", path);	/* not "none cached": we cannot tell */
	}
	if ((p = malloc(STS_POLICY_MAX + 128)) == NULL) {
		close(fd);
		return 0;
	}
	n = read(fd, p, STS_POLICY_MAX + 127);
	close(fd);
	if (n > 0) {
		p[n] = '\0';
		r = (nl = memchr(p, '\n', (size_t)n)) != NULL &&
		    sscanf(p, "sts1 %32[A-Za-z0-9] %lld", id, at) == 2 &&
		    sts_policy_parse(nl + 1, (size_t)(p + n - nl - 1), pol,
		    &why) == 0;
	}
	free(p);
	return r;
}

struct host {
	char	name[DNS_NAME_BUF];
	int	pref;
	char	dane[1024];	/* what its TLSA records say */
	int	tlsa;		/* secure usable records */
	int	bogus;
};

/* what one TLSA question found */
enum tlsa_st { T_NONE, T_FAIL, T_SECURE };

/* the TLSA records at qname into h's words; "at" says whose they are */
static enum tlsa_st
tlsa_at(const struct ns *ns, int tmo, const char *qname, const char *at,
    struct host *h)
{
	char why[128], rec[TLSA_TEXT_MAX];
	size_t usable = 0, all = 0;
	enum ans a;

	a = ask(ns, tmo, qname, DNS_T_TLSA, why, sizeof why);
	if (a == A_FAIL) {
		h->bogus = 1;
		snprintf(h->dane, sizeof h->dane, "TLSA lookup of %s failed: "
		    "%s: the host is not used", qname, why);
		return T_FAIL;
	}
	if (a != A_OK || !(msg.flags & DNS_F_AD)) {
		snprintf(h->dane, sizeof h->dane, "no DNSSEC-secure TLSA "
		    "records at %s", qname);
		return T_NONE;
	}
	rec[0] = '\0';
	for (size_t i = 0; i < msg.nrr; i++)
		if (msg.rr[i].type == DNS_T_TLSA) {
			all++;
			if (tlsa_usable(&msg.rr[i].u.tlsa) && usable++ == 0)
				(void)tlsa_format(&msg.rr[i].u.tlsa, rec,
				    sizeof rec);
		}
	h->tlsa = usable > 0;
	if (usable)
		snprintf(h->dane, sizeof h->dane, "secure TLSA records, %zu "
		    "usable (first: %.40s%s) at %s%s", usable, rec,
		    strlen(rec) > 40 ? "..." : "", qname, at);
	else
		snprintf(h->dane, sizeof h->dane, "secure TLSA records, none "
		    "usable (%zu): TLS without authentication, at %s%s", all,
		    qname, at);
	return T_SECURE;
}

/* a host's TLSA records as resolve finds them (lib/tlsaname.h): when the
 * host name is an alias by a DNSSEC-secure CNAME chain, those of the
 * expanded name first, the alias's own when it has none; and, like
 * resolve, none that count when the addresses are not secure */
static void
host_tlsa(const struct ns *ns, int tmo, unsigned port, struct host *h)
{
	char name[DNS_NAME_BUF + 16], canon[DNS_NAME_BUF], why[128];
	char at[2 * DNS_NAME_BUF + 96];
	struct host x;
	enum ans a;
	enum tlsa_st st;
	int sec;

	if (tlsaname_of(name, sizeof name, port, h->name) == -1) {
		snprintf(h->dane, sizeof h->dane, "no TLSA name (too long)");
		return;
	}
	if ((a = ask(ns, tmo, h->name, DNS_T_A, why, sizeof why)) != A_OK &&
	    a != A_FAIL)
		a = ask(ns, tmo, h->name, DNS_T_AAAA, why, sizeof why);
	if (a == A_FAIL) {
		snprintf(h->dane, sizeof h->dane, "address lookup failed: %s",
		    why);
		return;
	}
	sec = (msg.flags & DNS_F_AD) != 0;
	if (a == A_OK && !sec) {
		snprintf(h->dane, sizeof h->dane, "no DANE (the host's "
		    "addresses are not DNSSEC-secure)");
		return;
	}
	snprintf(canon, sizeof canon, "%s", tlsaname_canon(&msg, h->name));
	if (tlsaname_follow(h->name, canon, a == A_OK && sec) &&
	    tlsaname_of(name, sizeof name, port, canon) == 0) {
		x = *h;
		snprintf(at, sizeof at, " (the CNAME-expanded name %s: a "
		    "DANE-TA certificate may name it or %s)", canon, h->name);
		st = tlsa_at(ns, tmo, name, at, &x);
		if (tlsaname_expanded(1, st == T_FAIL, st == T_SECURE)) {
			*h = x;
			return;
		}
		(void)tlsaname_of(name, sizeof name, port, h->name);
		snprintf(at, sizeof at, " (the alias's own: none at the "
		    "expanded name %s)", canon);
	} else
		at[0] = '\0';
	(void)tlsa_at(ns, tmo, name, at, h);
}

/* what the tool found, for the summary lines */
struct view {
	char			 domain[DNS_NAME_BUF];
	const char		*route, *tp, *rt;	/* "" for none */
	int			 dnssec, mxsec, tmo;
	unsigned		 port;
	enum ans		 a;		/* of the MX question */
	struct host		 h[HOSTS_MAX];
	int			 nh;
	struct sts_policy	 pol;
	int			 have_sts, enforce;
};

static int
want_dane(const char *pol)
{
	return strcmp(pol, "dane") == 0 || strcmp(pol, "dane-only") == 0;
}

/* the MX set, its DNSSEC state, and each host's TLSA records */
static void
show_mx(struct view *v, const struct conf *cf)
{
	struct ns ns;
	char why[128];

	if (ns_of(cf, &ns) == -1) {
		snprintf(why, sizeof why, "the nameserver setting is not an "
		    "address");
		v->a = A_FAIL;
	} else
		v->a = ask(&ns, v->tmo, v->domain, DNS_T_MX, why, sizeof why);
	v->mxsec = v->a != A_FAIL && secure(v->dnssec);
	if (v->a == A_FAIL) {
		printf("mx: lookup failed: %s\n", why);
		return;
	}
	if (v->a == A_NXDOMAIN) {
		printf("mx: the domain does not exist\n");
		return;
	}
	printf("mx: %s%s\n", v->a == A_NODATA ? "none (the domain is its own "
	    "host), " : "", !v->dnssec ? "DNSSEC not trusted (dns_dnssec no)" :
	    v->mxsec ? "DNSSEC-secure" : "not DNSSEC-secure");
	if (v->a == A_NODATA)	/* (domain is shorter than DNS_NAME_BUF) */
		memcpy(v->h[v->nh++].name, v->domain, strlen(v->domain) + 1);
	for (size_t i = 0; v->a == A_OK && i < msg.nrr && v->nh < HOSTS_MAX;
	    i++)
		if (msg.rr[i].type == DNS_T_MX) {
			snprintf(v->h[v->nh].name, sizeof v->h[0].name, "%s",
			    msg.rr[i].u.mx.host);
			v->h[v->nh++].pref = msg.rr[i].u.mx.pref;
		}
	for (int i = 0; i < v->nh; i++) {
		if (v->mxsec)
			host_tlsa(&ns, v->tmo, v->port, &v->h[i]);
		else
			snprintf(v->h[i].dane, sizeof v->h[i].dane, "no DANE "
			    "(the MX set is not DNSSEC-secure)");
		printf("mx host: %s pref %d: %s\n", v->h[i].name, v->h[i].pref,
		    v->h[i].dane);
	}
}

/* MTA-STS, as sandmail-sts cached it */
static void
show_sts(struct view *v, const struct conf *cf, const char *cache)
{
	char id[STS_ID_MAX + 1];
	long long at = 0;

	if (!conf_bool(cf, "mta_sts", 0)) {
		printf("mta-sts: off (mta_sts no)\n");
		return;
	}
	if (!sts_cached(cache, v->domain, &v->pol, &at, id)) {
		printf("mta-sts: no policy cached (sandmail-sts fetches it "
		    "before the next delivery)\n");
		return;
	}
	v->have_sts = at + (long long)v->pol.max_age > (long long)time(NULL);
	v->enforce = v->have_sts && v->pol.mode == STS_ENFORCE;
	printf("mta-sts: mode %s, id %s, max_age %lu, %s; mx:",
	    sts_mode_name(v->pol.mode), id, (unsigned long)v->pol.max_age,
	    v->have_sts ? "valid" : "expired");
	for (size_t i = 0; i < v->pol.nmx; i++)
		printf(" %s", v->pol.mx[i]);
	printf("\n");
}

/* what the next delivery requires (send's and rspawn's rules) */
static void
show_next(const struct view *v)
{
	printf("next delivery: ");
	if (v->route[0])
		printf("to the route %s under %s%s (no MX, DANE or MTA-STS "
		    "of the domain)", v->route, v->tp[0] ? v->tp : v->rt,
		    v->tp[0] ? " (tls_policy)" : " (remote_tls)");
	else if (v->tp[0])
		printf("tls_policy %s%s", v->tp, want_dane(v->tp) ? ": DANE "
		    "where an MX host has secure TLSA records" : "");
	else if (v->enforce)
		printf("MTA-STS enforce: only the MX hosts the policy lists, "
		    "their certificates verified (PKIX and the name)%s",
		    want_dane(v->rt) ? ", or DANE where a host has secure "
		    "TLSA records" : "");
	else {
		printf("remote_tls %s", v->rt);
		if (want_dane(v->rt))
			printf(" (DANE for the hosts with secure TLSA records)");
		if (v->have_sts && v->pol.mode == STS_TESTING)
			printf("; MTA-STS testing: certificates checked and "
			    "reported, not enforced");
	}
	for (int i = 0; i < v->nh && !v->route[0]; i++)
		if (v->h[i].bogus)
			printf("; %s is not used (TLSA lookup failed)",
			    v->h[i].name);
	printf("\nrequiretls: %s\n", v->route[0] ? "possible (a route the "
	    "administrator named)" : v->a == A_FAIL ? "unknown (the MX "
	    "lookup failed: mail waits)" : v->mxsec || v->enforce ?
	    "possible (the MX set is DNSSEC-secure or listed by an enforced "
	    "MTA-STS policy)" : "REQUIRETLS mail bounces (5.7.30): the MX "
	    "set is neither DNSSEC-secure nor listed by an enforced MTA-STS "
	    "policy");
}

static void
usage(void)
{
	fprintf(stderr, "usage: sandmail-tlspolicy [-c conf] DOMAIN\n");
	exit(EXIT_PERM);
}

int
main(int argc, char *argv[])
{
	static struct view v;
	struct conf cf;
	struct buf rv = BUF_INIT(1024), tv = BUF_INIT(256);
	const char *conf = NULL;
	char *dir, *cache;
	int c;

	log_init("tlspolicy");
	while ((c = getopt(argc, argv, "c:")) != -1)
		if (c == 'c')
			conf = optarg;
		else
			usage();
	if (optind + 1 != argc || strlen(argv[optind]) >= sizeof v.domain ||
	    argv[optind][0] == '\0')
		usage();
	snprintf(v.domain, sizeof v.domain, "%s", argv[optind]);
	for (char *p = v.domain; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	if (sodium_init() < 0)
		die_temp("sodium_init", NULL);
	memset(&cf, 0, sizeof cf);
	conf_load(&cf, conf);
	dir = conf_path(&cf, "tables", ".");
	cache = conf_path(&cf, "mta_sts_cache", "/var/lib/sandmail/sts");
	if (dir == NULL || cache == NULL)
		die_temp("config", "memory");
	v.dnssec = conf_bool(&cf, "dns_dnssec", 0);
	v.tmo = (int)conf_secs(&cf, "dns_timeout", 5) * 1000;
	if (v.tmo <= 0 || v.tmo > 60000)
		v.tmo = 5000;
	v.port = (unsigned)conf_num(&cf, "mx_port", 25, 1, 65535);
	v.rt = conf_str(&cf, "remote_tls", "may");
	if ((v.route = lookup(dir, "routes", v.domain, &rv)) == NULL)
		v.route = "";
	if ((v.tp = lookup(dir, "tls_policy", v.domain, &tv)) == NULL)
		v.tp = "";
	printf("domain: %s\n", v.domain);
	printf("route: %s\n", v.route[0] ? v.route : "(none: the MX hosts "
	    "of the domain)");
	printf("tls_policy: %s\n", v.tp[0] ? v.tp : "(no entry: remote_tls "
	    "applies)");
	printf("remote_tls: %s\n", v.rt);
	show_mx(&v, &cf);
	show_sts(&v, &cf, cache);
	show_next(&v);
	buf_free(&rv);
	buf_free(&tv);
	free(dir);
	free(cache);
	conf_free(&cf);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_TEMP;
}
