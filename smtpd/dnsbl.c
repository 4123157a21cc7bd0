/* dnsbl: DNS blocklists and allowlists at connect.  For a client that
 * may not relay, before the greeting, one A query per configured zone
 * (smtpd_dnsbl, smtpd_dnswl) for the client's reversed address: IPv4
 * 1.2.3.4 under zone is "4.3.2.1.zone", IPv6 the 32 nibbles reversed
 * (RFC 5782).  An answer counts when it is in 127.0.0.0/8 and, if the
 * zone lists values ("zone=127.0.0.2,127.0.0.4"), one of them.  A listed
 * allowlist zone lets the client in whatever the blocklists say;
 * otherwise the weights ("zone*2", default 1) of the listing blocklists
 * are summed and a sum at smtpd_dnsbl_threshold or above gets
 * "554 5.7.1", with the TXT text of the heaviest listing zone when it
 * has one, and the connection is closed.  A lookup that fails or
 * times out (smtpd_dnsbl_timeout, for all the zones together) counts as
 * not listed: a broken name server must not stop the mail.
 *
 * The queries go over one UDP socket connected, before the sandbox, to
 * smtpd_dnsbl_nameserver (a local caching resolver: public resolvers are
 * refused by the big lists).  The session can write to that name server
 * and nowhere else; what comes back is read by lib/dns.c's parser,
 * the one sandmail-resolve and the DNS fuzzer use. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "dns.h"
#include "exitcode.h"
#include "filter.h"
#include "log.h"
#include "saddr.h"
#include "smtpd.h"

#define ZONES_MAX	16
#define WANT_MAX	8

struct zone {
	char		 name[DNS_NAME_BUF];
	uint8_t		 want[WANT_MAX][4];	/* none: any 127.x.y.z */
	unsigned	 nwant;
	long		 weight;
	int		 allow;			/* smtpd_dnswl */
};

static struct {
	struct zone	 z[ZONES_MAX];
	unsigned	 n;
	unsigned long	 threshold;
	const char	*ns;
	int		 timeout_ms;
	int		 fd;
	int		 iprev;		/* smtpd_iprev */
} D = { .fd = -1 };

#define IPREV_NAMES	3	/* PTR names tried forward */

/* the session's iprev result (RFC 8601 2.7.3), for its messages */
static struct {
	const char	*res;		/* NULL: not checked */
	char		 name[DNS_NAME_BUF];
	char		 ip[IP_MAX];
} I;

/* zone_parse - "zone[=a.b.c.d[,a.b.c.d...]][*weight]"; 0 or -1 */
static int
zone_parse(const char *v, int allow, struct zone *z)
{
	const char *eq, *star, *p, *end;
	char ip[INET_ADDRSTRLEN], *e;
	size_t nl, l;

	memset(z, 0, sizeof *z);
	z->allow = allow;
	z->weight = 1;
	star = strchr(v, '*');
	eq = strchr(v, '=');
	if (eq != NULL && star != NULL && star < eq)
		return -1;
	end = star ? star : v + strlen(v);
	nl = (size_t)((eq ? eq : end) - v);
	if (nl == 0 || nl >= sizeof z->name)
		return -1;
	memcpy(z->name, v, nl);
	if (z->name[nl - 1] == '.')
		nl--;
	z->name[nl] = '\0';
	if (star != NULL) {
		errno = 0;
		z->weight = strtol(star + 1, &e, 10);
		if (errno != 0 || e == star + 1 || *e != '\0' ||
		    z->weight < 1 || z->weight > 1000000)
			return -1;
	}
	for (p = eq ? eq + 1 : end; p < end; p += l + (p + l < end)) {
		for (l = 0; p + l < end && p[l] != ','; l++)
			;
		if (l == 0 || l >= sizeof ip || z->nwant == WANT_MAX)
			return -1;
		memcpy(ip, p, l);
		ip[l] = '\0';
		if (inet_pton(AF_INET, ip, z->want[z->nwant++]) != 1)
			return -1;
	}
	return 0;
}

/* dnsbl_load - the zones and the name server (doc/sandmail.conf.5) */
void
dnsbl_load(const struct conf *c)
{
	static const char *const keys[2] = { "smtpd_dnswl", "smtpd_dnsbl" };
	const char *v;
	size_t i;
	int k;

	D.n = 0;
	for (k = 0; k < 2; k++)
		for (i = 0; (v = conf_next(c, keys[k], &i)) != NULL; ) {
			if (D.n == ZONES_MAX)
				die_msg(EXIT_TEMP, keys[k], "too many zones");
			if (zone_parse(v, k == 0, &D.z[D.n]) == -1)
				die_msg(EXIT_TEMP, keys[k], "expected "
				    "zone[=127.0.0.x,...][*weight]");
			D.n++;
		}
	D.threshold = conf_num(c, "smtpd_dnsbl_threshold", 1, 1, 1000000);
	D.ns = conf_str(c, "smtpd_dnsbl_nameserver", "127.0.0.1");
	D.timeout_ms = (int)conf_secs(c, "smtpd_dnsbl_timeout", 5) * 1000;
	D.iprev = conf_bool(c, "smtpd_iprev", 0);
}

/* dnsbl_open - the UDP socket to the name server, before the sandbox */
void
dnsbl_open(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if ((D.n == 0 && !D.iprev) || D.fd >= 0)
		return;
	if (saddr_parse(D.ns, "53", &ss, &len) == -1) {
		log_kv("dnsbl", "err", "bad smtpd_dnsbl_nameserver", NULL);
		return;
	}
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&ss, len) == -1) {
		log_kv("dnsbl", "err", strerror(errno), NULL);
		if (fd >= 0)
			close(fd);
		return;
	}
	D.fd = fd;
}

/* dnsbl_name - the reversed name of ip under zone */
int
dnsbl_name(const char *ip, const char *zone, char *out, size_t sz)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t a[16];
	size_t o = 0;
	int i, n;

	if (strncasecmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') &&
	    inet_pton(AF_INET, ip + 7, a) == 1)
		ip += 7;
	if (inet_pton(AF_INET, ip, a) == 1) {
		n = snprintf(out, sz, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0],
		    zone);
		return n < 0 || (size_t)n >= sz || n > 253 ? -1 : 0;
	}
	if (inet_pton(AF_INET6, ip, a) != 1 || sz < 64 + 1)
		return -1;
	for (i = 15; i >= 0; i--) {
		out[o++] = hex[a[i] & 15];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	n = snprintf(out + o, sz - o, "%s", zone);
	return n < 0 || (size_t)n >= sz - o || o + (size_t)n > 253 ? -1 : 0;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* dnsbl_txt - the first string of the first TXT record for qname in the
 * answer p[0..n), made printable (at most sz - 1 bytes); 0, or -1 (no
 * such record, or a packet dns_parse refuses) */
int
dnsbl_txt(const uint8_t *p, size_t n, const char *qname, char *out,
    size_t sz)
{
	static struct dns_msg m;
	char name[DNS_NAME_BUF];
	size_t off = DNS_HDR, i, l;
	unsigned an;
	uint16_t type, cls, rdlen;

	if (sz == 0 || dns_parse(p, n, &m) == -1 || get16(p + 4) != 1)
		return -1;
	if (dns_name_read(p, n, &off, name) == -1 || off + 4 > n)
		return -1;
	off += 4;
	for (an = get16(p + 6); an > 0; an--) {
		if (dns_name_read(p, n, &off, name) == -1 || off + 10 > n)
			return -1;
		type = get16(p + off);
		cls = get16(p + off + 2);
		rdlen = get16(p + off + 8);
		off += 10;
		if (off + rdlen > n)
			return -1;
		if (type == 16 && cls == 1 && rdlen > 0 &&
		    dns_name_eq(name, qname)) {
			l = p[off];
			if (l + 1 > rdlen)
				return -1;
			if (l > sz - 1)
				l = sz - 1;
			for (i = 0; i < l; i++)
				out[i] = p[off + 1 + i] >= 0x20 &&
				    p[off + 1 + i] < 0x7f ?
				    (char)p[off + 1 + i] : '?';
			out[l] = '\0';
			return 0;
		}
		off += rdlen;
	}
	return -1;
}

/* txt - the TXT text of name, by the deadline dl; "" if none */
static void
txt(const char *name, long long dl, char *out, size_t sz)
{
	uint8_t pkt[DNS_UDP_MAX];
	struct pollfd p = { .fd = D.fd, .events = POLLIN };
	uint16_t id;
	long long t;
	ssize_t k;
	int len;

	out[0] = '\0';
	randombytes_buf(&id, sizeof id);
	if ((len = dns_query(pkt, sizeof pkt, id, name, 16, 0)) == -1 ||
	    write(D.fd, pkt, (size_t)len) != len)
		return;
	while ((t = dl - io_now_ms()) > 0) {
		if (poll(&p, 1, (int)t) <= 0)
			continue;
		if ((k = read(D.fd, pkt, sizeof pkt)) < DNS_HDR ||
		    get16(pkt) != id || !(get16(pkt + 2) & DNS_F_QR))
			continue;
		(void)dnsbl_txt(pkt, (size_t)k, name, out, sz);
		return;
	}
}

/* counts - an answer record that lists the client for z */
static int
counts(const struct zone *z, const struct dns_rr *rr)
{
	if (rr->type != DNS_T_A || rr->u.a[0] != 127)
		return 0;
	if (z->nwant == 0)
		return 1;
	for (unsigned i = 0; i < z->nwant; i++)
		if (memcmp(z->want[i], rr->u.a, 4) == 0)
			return 1;
	return 0;
}

/* lookup - query every zone, collect what comes back by the deadline:
 * hit[i] set for each zone that lists the client */
static void
lookup(const char *ip, int hit[ZONES_MAX], char names[][DNS_NAME_BUF])
{
	static struct dns_msg m;
	uint8_t pkt[DNS_UDP_MAX];
	int done[ZONES_MAX] = { 0 }, left = 0, len;
	struct pollfd p = { .fd = D.fd, .events = POLLIN };
	long long dl = io_now_ms() + D.timeout_ms, t;
	uint16_t base;
	ssize_t k;
	unsigned i;

	while (read(D.fd, pkt, sizeof pkt) > 0)
		;		/* late answers of an earlier session */
	randombytes_buf(&base, sizeof base);
	for (i = 0; i < D.n; i++) {
		hit[i] = 0;
		if (dnsbl_name(ip, D.z[i].name, names[i], DNS_NAME_BUF) == -1 ||
		    (len = dns_query(pkt, sizeof pkt, (uint16_t)(base + i),
		    names[i], DNS_T_A, 0)) == -1 ||
		    write(D.fd, pkt, (size_t)len) != len) {
			done[i] = 1;
			continue;
		}
		left++;
	}
	while (left > 0 && (t = dl - io_now_ms()) > 0) {
		if (poll(&p, 1, (int)t) <= 0)
			continue;	/* EINTR, or time: the loop says */
		if ((k = read(D.fd, pkt, sizeof pkt)) <= 0)
			continue;
		if (dns_parse(pkt, (size_t)k, &m) == -1 ||
		    !(m.flags & DNS_F_QR))
			continue;
		i = (uint16_t)(m.id - base);
		if (i >= D.n || done[i] || m.qtype != DNS_T_A ||
		    !dns_name_eq(m.qname, names[i]))
			continue;	/* not ours, or spoofed */
		done[i] = 1;
		left--;
		for (size_t r = 0; r < m.nrr; r++)
			if (counts(&D.z[i], &m.rr[r]))
				hit[i] = 1;
	}
	if (left > 0)
		log_kv("dnsbl", "ip", ip, "err", "lookups timed out", NULL);
}

/* ask - one query and its answer by the deadline; 0 (m holds it) or -1
 * (no answer) */
static int
ask(const char *name, uint16_t type, long long dl, struct dns_msg *m)
{
	uint8_t pkt[DNS_UDP_MAX];
	struct pollfd p = { .fd = D.fd, .events = POLLIN };
	uint16_t id;
	long long t;
	ssize_t k;
	int len;

	while (read(D.fd, pkt, sizeof pkt) > 0)
		;		/* late answers */
	randombytes_buf(&id, sizeof id);
	if ((len = dns_query(pkt, sizeof pkt, id, name, type, 0)) == -1 ||
	    write(D.fd, pkt, (size_t)len) != len)
		return -1;
	while ((t = dl - io_now_ms()) > 0) {
		if (poll(&p, 1, (int)t) <= 0)
			continue;
		if ((k = read(D.fd, pkt, sizeof pkt)) <= 0)
			continue;
		if (dns_parse(pkt, (size_t)k, m) == -1 ||
		    !(m->flags & DNS_F_QR) || m->id != id ||
		    m->qtype != type || !dns_name_eq(m->qname, name))
			continue;	/* not ours, or spoofed */
		return 0;
	}
	return -1;
}

/* iprev - the client's reverse name, confirmed forward: "pass" (name
 * set), "fail" (no PTR, or none of its names leads back), "temperror" */
static const char *
iprev(const char *ip, char *name)
{
	static struct dns_msg m;
	char ptr[DNS_NAME_BUF], names[IPREV_NAMES][DNS_NAME_BUF];
	long long dl = io_now_ms() + D.timeout_ms;
	uint8_t a[16];
	size_t alen;
	unsigned n = 0;
	int temp = 0, v4;
	uint16_t t;

	if (strncasecmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.'))
		ip += 7;
	v4 = inet_pton(AF_INET, ip, a) == 1;
	if (!v4 && inet_pton(AF_INET6, ip, a) != 1)
		return "temperror";
	alen = v4 ? 4 : 16;
	t = v4 ? DNS_T_A : DNS_T_AAAA;
	if (dnsbl_name(ip, v4 ? "in-addr.arpa" : "ip6.arpa", ptr,
	    sizeof ptr) == -1 || ask(ptr, DNS_T_PTR, dl, &m) == -1 ||
	    (m.rcode != DNS_R_OK && m.rcode != DNS_R_NXDOMAIN))
		return "temperror";
	for (size_t r = 0; r < m.nrr && n < IPREV_NAMES; r++)
		if (m.rr[r].type == DNS_T_PTR)
			memcpy(names[n++], m.rr[r].u.cname, DNS_NAME_BUF);
	for (unsigned i = 0; i < n; i++) {
		if (ask(names[i], t, dl, &m) == -1 ||
		    (m.rcode != DNS_R_OK && m.rcode != DNS_R_NXDOMAIN)) {
			temp = 1;
			continue;
		}
		for (size_t r = 0; r < m.nrr; r++)
			if (m.rr[r].type == t && memcmp(t == DNS_T_A ?
			    m.rr[r].u.a : m.rr[r].u.aaaa, a, alen) == 0) {
				memcpy(name, names[i], DNS_NAME_BUF);
				return "pass";
			}
	}
	return temp ? "temperror" : "fail";
}

/* dnsbl_iprev_header - the session's iprev result as an
 * Authentication-Results field (RFC 8601), appended to b; 0 or -1 */
int
dnsbl_iprev_header(struct buf *b, const struct session *s)
{
	if (I.res == NULL || strcmp(I.ip, s->ip) != 0 || verify_held())
		return 0;
	return buf_fmt(b, "Authentication-Results: %s;\n\t", s->cfg->hostname)
	    == -1 || dnsbl_iprev_method(b, s) == -1 || buf_putc(b, '\n') == -1 ?
	    -1 : 0;
}

/* dnsbl_iprev_method - see filter.h */
int
dnsbl_iprev_method(struct buf *b, const struct session *s)
{
	if (I.res == NULL || strcmp(I.ip, s->ip) != 0)
		return 0;
	return buf_fmt(b, "iprev=%s policy.iprev=%s%s%s%s", I.res, s->ip,
	    I.name[0] ? " (" : "", I.name, I.name[0] ? ")" : "") == -1 ? -1 : 1;
}

/* dnsbl_connect - the verdict of the lists on the client */
int
dnsbl_connect(struct session *s)
{
	char names[ZONES_MAX][DNS_NAME_BUF], text[200];
	int hit[ZONES_MAX];
	unsigned long score = 0;
	const struct zone *top = NULL;
	unsigned i, ti = 0;

	I.res = NULL;
	if (D.iprev && D.fd >= 0 && !(s->mode & MODE_LOCAL) && s->ip[0]) {
		I.name[0] = '\0';
		I.res = iprev(s->ip, I.name);
		snprintf(I.ip, sizeof I.ip, "%s", s->ip);
		log_kv("iprev", "ip", s->ip, "result", I.res, "name", I.name,
		    NULL);
	}
	if (D.n == 0 || D.fd < 0 || (s->mode & MODE_LOCAL) || may_relay(s))
		return 1;
	lookup(s->ip, hit, names);
	for (i = 0; i < D.n; i++) {
		if (!hit[i])
			continue;
		if (D.z[i].allow) {
			log_kv("dnsbl", "ip", s->ip, "allowlisted",
			    D.z[i].name, NULL);
			return 1;
		}
		score += (unsigned long)D.z[i].weight;
		if (top == NULL || D.z[i].weight > top->weight)
			top = &D.z[ti = i];
	}
	if (top == NULL)
		return 1;
	if (score < D.threshold) {
		log_kv("dnsbl", "ip", s->ip, "listed", top->name,
		    "verdict", "below threshold", NULL);
		return 1;
	}
	/* the list's own words, if it answers in the time left (a refused
	 * client may wait: nobody else does) */
	txt(names[ti], io_now_ms() + (D.timeout_ms > 2000 ? 2000 :
	    D.timeout_ms), text, sizeof text);
	refuse(s, "dnsbl", "554 5.7.1 Service unavailable; client [%s] "
	    "blocked using %s%s%s", s->ip, top->name, text[0] ? "; " : "",
	    text);
	return 0;
}
