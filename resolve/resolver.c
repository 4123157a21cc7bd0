/* resolver: the poll loop of sandmail-resolve.
 *
 * A request (RQRY) becomes one MX lookup, then an A and an AAAA lookup per
 * MX host.  A lookup asks the name servers in turn, each attempt from a
 * fresh UDP socket bound to a random port with a random ID (both from
 * libsodium), and accepts only an answer from the server's address and
 * port with our ID and our question; a truncated answer is asked again
 * over TCP.  Outcomes go through the cache.  Nothing here blocks: the
 * descriptors are non-blocking and poll(2) waits for all of them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "cache.h"
#include "dns.h"
#include "job.h"
#include "log.h"
#include "rec.h"
#include "resolver.h"
#include "route.h"
#include "tlsaname.h"

#define QRY_MAX		1024		/* one RQRY record */
#define IN_MAX		(256 * 1024)
#define OUT_MAX		(64 * 1024 * 1024)
#define BIND_TRIES	16
#define TCP_MAX		65535

enum lk_state { LK_QUEUED, LK_UDP, LK_TCP_CONN, LK_TCP_SEND, LK_TCP_RECV };

struct req;

struct lookup {
	struct lookup	*next;
	struct req	*req;
	int		 slot;		/* -1: MX; else 4*host + 0 A, 1 AAAA,
					 * 2 TLSA, 3 TLSA of the expanded name */
	char		 orig[DNS_NAME_BUF];	/* the name asked for */
	char		 name[DNS_NAME_BUF];	/* where the CNAME chain is */
	uint16_t	 type;
	int		 hops;
	int		 noedns;	/* the server said FORMERR to EDNS */
	int		 insecure;	/* a CNAME hop came without AD */
	enum lk_state	 st;
	int		 fd;
	uint16_t	 qid;
	uint8_t		 q[2 + 512];	/* TCP length, then the query */
	size_t		 qlen;
	unsigned	 tries;
	long long	 deadline;
	uint8_t		*tbuf;		/* TCP answer */
	size_t		 tlen, tdone;
	const char	*fail;		/* why the last attempt failed */
};

struct req {
	struct req	*next;
	uint32_t	 id;
	char		 domain[DNS_NAME_BUF];
	int		 pending;	/* address lookups outstanding */
	int		 issuing;
	int		 implicit;
	int		 mx_secure;	/* the MX answer (or its denial) had AD */
	unsigned	 nhost;
	struct rhost	*host;
};

static const struct rcfg *cfg;
static struct lookup *lookups;
static struct req *reqs;
static unsigned nreqs, nactive;
static struct buf out = BUF_INIT(OUT_MAX);
static struct dns_msg msg;		/* large: one, reused */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
now_s(void)
{
	return now_ms() / 1000;
}

/* ns_parse - a name server address with an optional port */
int
ns_parse(const char *s, struct nsaddr *ns)
{
	char host[64];
	const char *port = NULL, *e;
	unsigned long p = 53;
	size_t n;

	memset(ns, 0, sizeof *ns);
	if (s[0] == '[') {
		if ((e = strchr(s, ']')) == NULL || (e[1] != '\0' && e[1] != ':'))
			return -1;
		n = (size_t)(e - s - 1);
		s++;
		port = e[1] == ':' ? e + 2 : NULL;
	} else if ((e = strchr(s, ':')) != NULL && strchr(e + 1, ':') == NULL) {
		n = (size_t)(e - s);
		port = e + 1;
	} else
		n = strlen(s);
	if (n == 0 || n >= sizeof host)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (port != NULL) {
		char *end;

		errno = 0;
		p = strtoul(port, &end, 10);
		if (*port == '\0' || *end != '\0' || errno || p == 0 || p > 65535)
			return -1;
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ns->sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ns->sa;

	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)p);
		ns->len = sizeof *v4;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)p);
		ns->len = sizeof *v6;
	} else
		return -1;
	return 0;
}

static int
same_addr(const struct sockaddr_storage *a, const struct nsaddr *ns)
{
	const struct sockaddr_storage *b = &ns->sa;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port &&
	    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* --- answers to send --- */

static void
answer(struct rans *a)
{
	size_t start = out.len;

	if (pk_begin(&out) == -1 || rans_encode(&out, a) == -1 ||
	    pk_finish(&out, start) == -1)
		die_temp("answer", "encode");
	rans_free(a);
}

static void
req_free(struct req *r)
{
	struct req **pp;

	for (pp = &reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	free(r->host);
	free(r);
	nreqs--;
}

static void
req_answer(struct req *r, uint8_t status, const char *text)
{
	struct rans a;
	struct logln l;

	memset(&a, 0, sizeof a);
	a.id = r->id;
	if (text != NULL) {
		if (route_fail(&a, status, text) == -1)
			die_temp("answer", "memory");
	} else if (route_finish(&a, r->host, r->nhost, r->implicit,
	    cfg->v6first) == -1)
		die_temp("answer", "memory");
	log_start(&l, "route");
	log_s(&l, "domain", r->domain);
	log_m(&l, "status", &a.status, 1);
	log_u(&l, "hosts", a.nhost);
	if (cfg->dnssec) {
		/* each host's DANE state, in order (doc/protocols.md) */
		char dane[JOB_HOST_MAX + 1];
		uint32_t i;

		for (i = 0; i < a.nhost && i < JOB_HOST_MAX; i++)
			dane[i] = (char)(a.host[i].dane ? a.host[i].dane :
			    DANE_NONE);
		dane[i] = '\0';
		log_s(&l, "mx", r->mx_secure ? "secure" : "insecure");
		if (i > 0)
			log_s(&l, "dane", dane);
	}
	if (a.text != NULL && a.text[0] != '\0')
		log_s(&l, "text", a.text);
	log_done(&l);
	answer(&a);
	req_free(r);
}

/* --- lookups --- */

static void req_lookup_done(struct req *, int, const struct dres *);

static void
lookup_start(struct req *r, int slot, const char *name, uint16_t type)
{
	struct dres d;
	struct lookup *lk;

	if (cache_get(name, type, now_s(), &d)) {
		req_lookup_done(r, slot, &d);
		return;
	}
	if ((lk = calloc(1, sizeof *lk)) == NULL)
		die_temp("lookup", "memory");
	lk->req = r;
	lk->slot = slot;
	memcpy(lk->orig, name, strlen(name) + 1);
	memcpy(lk->name, name, strlen(name) + 1);
	lk->type = type;
	lk->fd = -1;
	lk->st = LK_QUEUED;
	lk->next = lookups;
	lookups = lk;
}

static void
lookup_close(struct lookup *lk)
{
	if (lk->fd >= 0) {
		close(lk->fd);
		lk->fd = -1;
		nactive--;
	}
	free(lk->tbuf);
	lk->tbuf = NULL;
}

static void
lookup_free(struct lookup *lk)
{
	struct lookup **pp;

	for (pp = &lookups; *pp != NULL; pp = &(*pp)->next)
		if (*pp == lk) {
			*pp = lk->next;
			break;
		}
	lookup_close(lk);
	free(lk);
}

static void
lookup_done(struct lookup *lk, const struct dres *d)
{
	struct req *r = lk->req;
	int slot = lk->slot;

	cache_put(lk->orig, lk->type, d, now_s(),
	    d->status == DRES_OK ? cfg->ttl_max : cfg->neg_ttl_max);
	lookup_free(lk);
	req_lookup_done(r, slot, d);
}

static void
lookup_fail(struct lookup *lk, const char *why)
{
	struct dres d;

	memset(&d, 0, offsetof(struct dres, it));
	d.status = DRES_FAIL;
	d.secure = 0;
	d.nbad = 0;
	d.canon[0] = '\0';
	snprintf(d.why, sizeof d.why, "%s", why);
	lookup_done(lk, &d);
}

static int
bind_random(int fd, int family)
{
	struct sockaddr_storage ss;
	socklen_t len;

	for (int i = 0; i < BIND_TRIES; i++) {
		uint16_t port = (uint16_t)(1024 + randombytes_uniform(65536 - 1024));

		memset(&ss, 0, sizeof ss);
		if (family == AF_INET) {
			struct sockaddr_in *s = (struct sockaddr_in *)&ss;

			s->sin_family = AF_INET;
			s->sin_port = htons(port);
			len = sizeof *s;
		} else {
			struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

			s->sin6_family = AF_INET6;
			s->sin6_port = htons(port);
			len = sizeof *s;
		}
		if (bind(fd, (struct sockaddr *)&ss, len) == 0)
			return 0;
		if (errno != EADDRINUSE && errno != EACCES)
			return -1;
	}
	return 0;	/* the kernel's own random ephemeral port, then */
}

static const struct nsaddr *
lookup_ns(const struct lookup *lk)
{
	return &cfg->ns[lk->tries % cfg->nns];
}

static int
lookup_socket(struct lookup *lk, int type)
{
	const struct nsaddr *ns = lookup_ns(lk);
	int fam = ns->sa.ss_family;

	lookup_close(lk);
	if ((lk->fd = socket(fam, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	nactive++;
	if (bind_random(lk->fd, fam) == -1 ||
	    (connect(lk->fd, (const struct sockaddr *)&ns->sa, ns->len) == -1 &&
	    errno != EINPROGRESS))
		return -1;
	return 0;
}

/* one attempt: a new socket, port and ID */
static void lookup_retry(struct lookup *, const char *);

static void
lookup_send(struct lookup *lk)
{
	int n;

	lk->qid = (uint16_t)randombytes_uniform(65536);
	if ((n = dns_query(lk->q + 2, sizeof lk->q - 2, lk->qid, lk->name,
	    lk->type, lk->noedns ? 0 : cfg->dnssec ? DNS_Q_DO : DNS_Q_EDNS)) ==
	    -1) {
		lookup_fail(lk, "bad name");
		return;
	}
	lk->qlen = (size_t)n;
	lk->q[0] = (uint8_t)(n >> 8);
	lk->q[1] = (uint8_t)n;
	lk->deadline = now_ms() + cfg->timeout_ms;
	lk->st = LK_UDP;
	if (lookup_socket(lk, SOCK_DGRAM) == -1 ||
	    send(lk->fd, lk->q + 2, lk->qlen, 0) != (ssize_t)lk->qlen)
		lookup_retry(lk, strerror(errno));
}

static void
lookup_retry(struct lookup *lk, const char *why)
{
	lk->fail = why;
	lookup_close(lk);
	if (++lk->tries >= cfg->nns * (cfg->retries + 1)) {
		char text[128];

		snprintf(text, sizeof text, "no answer from the name servers "
		    "(%s)", why);
		lookup_fail(lk, text);
		return;
	}
	lk->st = LK_QUEUED;	/* the next server, in the next round */
}

static void
lookup_tcp(struct lookup *lk)
{
	lk->st = LK_TCP_CONN;
	lk->tdone = 0;
	lk->deadline = now_ms() + cfg->timeout_ms;
	if (lookup_socket(lk, SOCK_STREAM) == -1)
		lookup_retry(lk, strerror(errno));
}

/* an answer that passed the checks: done, follow a CNAME, or retry */
static void
lookup_answer(struct lookup *lk, const struct dns_msg *m)
{
	struct dres d;
	char follow[DNS_NAME_BUF];

	switch (m->rcode) {
	case DNS_R_OK:
	case DNS_R_NXDOMAIN:
		break;
	case DNS_R_SERVFAIL:
		lookup_retry(lk, "SERVFAIL");
		return;
	case DNS_R_FORMERR:
		if (!lk->noedns) {
			/* an old server: ask it again without EDNS0 */
			lk->noedns = 1;
			lookup_close(lk);
			lk->st = LK_QUEUED;
			return;
		}
		lookup_retry(lk, "FORMERR");
		return;
	default:
		lookup_retry(lk, m->rcode == DNS_R_REFUSED ? "REFUSED" :
		    "server error");
		return;
	}
	if (route_from_msg(m, lk->name, lk->type, &d, follow) == 1) {
		lk->insecure |= (m->flags & DNS_F_AD) == 0;
		if (++lk->hops > CNAME_HOPS) {
			lookup_fail(lk, "CNAME chain too long");
			return;
		}
		memcpy(lk->name, follow, strlen(follow) + 1);
		lookup_close(lk);
		lk->tries = 0;
		lk->st = LK_QUEUED;
		return;
	}
	d.secure = cfg->dnssec && !lk->insecure && d.secure;
	lookup_done(lk, &d);
}

/* 1 if m answers lk's question with lk's ID */
static int
matches(const struct lookup *lk, const struct dns_msg *m)
{
	return m->id == lk->qid && (m->flags & DNS_F_QR) &&
	    (m->flags & 0x7800) == 0 && m->qtype == lk->type &&
	    m->qclass == 1 && dns_name_eq(m->qname, lk->name);
}

static void
lookup_udp_read(struct lookup *lk)
{
	static uint8_t pkt[65536];
	struct sockaddr_storage from;
	socklen_t flen;
	ssize_t n;

	for (;;) {
		flen = sizeof from;
		n = recvfrom(lk->fd, pkt, sizeof pkt, 0,
		    (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			lookup_retry(lk, strerror(errno));
			return;
		}
		/* spoofing: only the server we asked, with our ID and question */
		if (!same_addr(&from, lookup_ns(lk)) ||
		    dns_parse(pkt, (size_t)n, &msg) == -1 || !matches(lk, &msg))
			continue;
		if (msg.flags & DNS_F_TC)
			lookup_tcp(lk);
		else
			lookup_answer(lk, &msg);
		return;
	}
}

static void
lookup_tcp_io(struct lookup *lk)
{
	ssize_t n;
	int err = 0;
	socklen_t el = sizeof err;

	if (lk->st == LK_TCP_CONN) {
		if (getsockopt(lk->fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1 ||
		    err != 0) {
			lookup_retry(lk, strerror(err ? err : errno));
			return;
		}
		lk->st = LK_TCP_SEND;
		lk->tdone = 0;
	}
	if (lk->st == LK_TCP_SEND) {
		n = write(lk->fd, lk->q + lk->tdone, lk->qlen + 2 - lk->tdone);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				lookup_retry(lk, strerror(errno));
			return;
		}
		if ((lk->tdone += (size_t)n) < lk->qlen + 2)
			return;
		lk->st = LK_TCP_RECV;
		lk->tdone = 0;
		lk->tlen = 2;
		if ((lk->tbuf = malloc(TCP_MAX + 2)) == NULL)
			die_temp("lookup", "memory");
		return;
	}
	n = read(lk->fd, lk->tbuf + lk->tdone, lk->tlen - lk->tdone);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		lookup_retry(lk, n == 0 ? "TCP connection closed" :
		    strerror(errno));
		return;
	}
	lk->tdone += (size_t)n;
	if (lk->tdone == 2 && lk->tlen == 2)
		lk->tlen = 2 + (size_t)(lk->tbuf[0] << 8 | lk->tbuf[1]);
	if (lk->tdone < lk->tlen)
		return;
	if (dns_parse(lk->tbuf + 2, lk->tlen - 2, &msg) == -1 ||
	    !matches(lk, &msg) || (msg.flags & DNS_F_TC))
		lookup_retry(lk, "bad answer over TCP");
	else
		lookup_answer(lk, &msg);
}

/* --- requests --- */

static void
req_check_done(struct req *r)
{
	if (r->pending == 0 && !r->issuing)
		req_answer(r, 0, NULL);
}

static void
req_hosts(struct req *r, const struct dres *mx)
{
	unsigned n = mx ? mx->n : 1;

	if ((r->host = calloc(n, sizeof *r->host)) == NULL)
		die_temp("request", "memory");
	if (mx == NULL) {
		r->implicit = 1;
		memcpy(r->host[0].name, r->domain, sizeof r->domain);
		r->nhost = 1;
		return;
	}
	for (unsigned i = 0; i < mx->n && r->nhost < JOB_HOST_MAX; i++) {
		if (mx->it[i].s[0] == '\0')
			continue;	/* "." among other MX: not a host */
		memcpy(r->host[r->nhost].name, mx->it[i].s,
		    sizeof mx->it[i].s);
		r->host[r->nhost].pref = mx->it[i].pref;
		r->nhost++;
	}
}

/* DANE (RFC 7672 2.2.1): the TLSA records of a host of a secure MX set,
 * asked at the same time as its addresses; route_dane() decides later
 * whether the addresses were secure enough for them to count */
static void
tlsa_start(struct req *r, unsigned i)
{
	char name[DNS_NAME_BUF + 16];

	if (tlsaname_of(name, sizeof name, cfg->mx_port, r->host[i].name) ==
	    -1)
		return;		/* no such name can hold records */
	r->host[i].tlsa_asked = 1;
	r->pending++;
	lookup_start(r, (int)(4 * i + 2), name, DNS_T_TLSA);
}

/* RFC 7672 2.2.3: a host name that is an alias, by a secure CNAME chain
 * (its address answer says so), has its TLSA records looked for at the
 * expanded name too; route_tlsa() prefers them, and the expanded name
 * is kept: a DANE-TA certificate may name it (RFC 7672 3.2.2) */
static void
tlsa_expanded(struct req *r, unsigned i, const struct dres *d)
{
	struct rhost *h = &r->host[i];
	char name[DNS_NAME_BUF + 16];

	if (!h->tlsa_asked || h->tlsa_x_asked || d->status != DRES_OK ||
	    !tlsaname_follow(h->name, d->canon, d->secure) ||
	    tlsaname_of(name, sizeof name, cfg->mx_port, d->canon) == -1)
		return;
	h->tlsa_x_asked = 1;
	snprintf(h->xname, sizeof h->xname, "%s", d->canon);
	r->pending++;
	lookup_start(r, (int)(4 * i + 3), name, DNS_T_TLSA);
}

static void
req_mx_done(struct req *r, const struct dres *mx)
{
	struct dres d;
	char text[512];

	switch (mx->status) {
	case DRES_NXDOMAIN:
		/* RFC 3463 X.1.2: bad destination system address */
		snprintf(text, sizeof text, "5.1.2 domain %s does not exist "
		    "(NXDOMAIN)", r->domain);
		req_answer(r, ST_PERM, text);
		return;
	case DRES_FAIL:
		/* X.4.3: directory server failure */
		snprintf(text, sizeof text, "4.4.3 MX lookup for %s failed: "
		    "%s", r->domain, mx->why);
		req_answer(r, ST_TEMP, text);
		return;
	case DRES_OK:
		if (route_null_mx(mx)) {
			/* RFC 7505 4.1 registers X.1.10 */
			snprintf(text, sizeof text, "5.1.10 domain %s accepts "
			    "no mail (null MX, RFC 7505)", r->domain);
			req_answer(r, ST_PERM, text);
			return;
		}
		d = *mx;
		route_order_mx(&d);
		req_hosts(r, &d);
		break;
	default:
		req_hosts(r, NULL);
	}
	r->mx_secure = cfg->dnssec && mx->secure;
	r->issuing = 1;
	for (unsigned i = 0; i < r->nhost; i++) {
		r->host[i].mx_secure = r->mx_secure;
		/* first: an address answer (cached) may ask for more */
		if (r->mx_secure)
			tlsa_start(r, i);
		r->pending += 2;
		lookup_start(r, (int)(4 * i), r->host[i].name, DNS_T_A);
		lookup_start(r, (int)(4 * i + 1), r->host[i].name, DNS_T_AAAA);
	}
	r->issuing = 0;
	req_check_done(r);
}

static void
req_lookup_done(struct req *r, int slot, const struct dres *d)
{
	if (slot < 0) {
		req_mx_done(r, d);
		return;
	}
	switch (slot % 4) {
	case 3:
		r->host[slot / 4].tlsa_x = *d;
		break;
	case 2:
		r->host[slot / 4].tlsa = *d;
		break;
	case 1:
		r->host[slot / 4].aaaa = *d;
		tlsa_expanded(r, (unsigned)slot / 4, d);
		break;
	default:
		r->host[slot / 4].a = *d;
		tlsa_expanded(r, (unsigned)slot / 4, d);
	}
	r->pending--;
	req_check_done(r);
}

static int
req_new(const void *p, size_t n)
{
	struct rqry q;
	struct req *r;
	uint8_t wire[DNS_NAME_BUF];
	size_t len;

	if (rqry_decode(&q, p, n) == -1)
		return -1;
	if ((r = calloc(1, sizeof *r)) == NULL)
		die_temp("request", "memory");
	r->id = q.id;
	len = strlen(q.domain);
	if (len > 0 && q.domain[len - 1] == '.')
		q.domain[--len] = '\0';
	memcpy(r->domain, q.domain, len < DNS_NAME_BUF ? len + 1 : 1);
	r->next = reqs;
	reqs = r;
	nreqs++;
	if (len == 0 || len >= DNS_NAME_BUF ||
	    dns_name_wire(q.domain, wire, sizeof wire) == -1)
		req_answer(r, ST_PERM, "5.1.2 not a valid domain name");
	else
		lookup_start(r, -1, r->domain, DNS_T_MX);
	rqry_free(&q);
	return 0;
}

/* --- the loop --- */

static int
take_input(struct buf *in)
{
	uint32_t len;
	size_t off = 0;
	const unsigned char *p;

	while (in->len - off >= REC_HDR) {
		p = (const unsigned char *)in->p + off;
		len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (len > QRY_MAX)
			return errno = EMSGSIZE, -1;
		if (in->len - off - REC_HDR < len)
			break;
		if (req_new(p + REC_HDR, len) == -1)
			return -1;
		off += REC_HDR + len;
	}
	buf_drop(in, off);
	return 0;
}

static void
start_queued(void)
{
	long long now = now_ms();

	for (struct lookup *lk = lookups, *next; lk != NULL; lk = next) {
		next = lk->next;
		if (lk->st == LK_QUEUED) {
			if (nactive < cfg->max_sockets)
				lookup_send(lk);
		}
		else if (lk->deadline <= now)
			lookup_retry(lk, "timed out");
	}
	/* retries just queued go out on the next turn */
}

static int
poll_timeout(void)
{
	long long now = now_ms(), t = -1;

	for (struct lookup *lk = lookups; lk != NULL; lk = lk->next) {
		long long left = lk->deadline - now;

		if (lk->st == LK_QUEUED)
			left = nactive < cfg->max_sockets ? 0 : 1000;

		if (left < 0)
			left = 0;
		if (t < 0 || left < t)
			t = left;
	}
	return t > 60000 ? 60000 : (int)t;
}

static void
on_events(struct pollfd *pf, struct lookup **who, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++) {
		if (pf[i].revents == 0)
			continue;
		struct lookup *lk = who[i];
		int still = 0;

		/* a callback may have freed it: check it is still listed */
		for (struct lookup *x = lookups; x != NULL; x = x->next)
			still |= x == lk;
		if (!still || lk->fd != pf[i].fd)
			continue;
		if (lk->st == LK_UDP)
			lookup_udp_read(lk);
		else
			lookup_tcp_io(lk);
	}
}

static int
flush_out(int fd)
{
	ssize_t n;

	while (out.len > 0) {
		n = write(fd, out.p, out.len);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		buf_drop(&out, (size_t)n);
	}
	return 0;
}

static int
read_input(int in, struct buf *ib, int *eof)
{
	char tmp[16384];
	ssize_t n = read(in, tmp, sizeof tmp);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0) {
		*eof = 1;
		return ib->len == 0 ? 0 : (errno = EPROTO, -1);
	}
	if (buf_put(ib, tmp, (size_t)n) == -1)
		return -1;
	return take_input(ib);
}

/* resolver_run - the loop; see resolver.h */
int
resolver_run(const struct rcfg *c, int in, int outfd)
{
	struct buf ib = BUF_INIT(IN_MAX);
	struct pollfd *pf = NULL;
	struct lookup **who = NULL;
	size_t cap = 0;
	int eof = 0;

	cfg = c;
	if (cache_init(c->cache_size) == -1)
		die_temp("cache", "memory");
	(void)fcntl(outfd, F_SETFL, fcntl(outfd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		nfds_t n = 0, need = 2;

		start_queued();
		if (flush_out(outfd) == -1)
			return -1;
		if (eof && reqs == NULL && out.len == 0)
			return 0;
		for (struct lookup *lk = lookups; lk != NULL; lk = lk->next)
			need++;
		if (need > cap) {
			cap = need * 2;
			if ((pf = realloc(pf, cap * sizeof *pf)) == NULL ||
			    (who = realloc(who, cap * sizeof *who)) == NULL)
				die_temp("poll", "memory");
		}
		if (!eof && nreqs < c->max_queries) {
			pf[n] = (struct pollfd){ .fd = in, .events = POLLIN };
			who[n++] = NULL;
		}
		if (out.len > 0) {
			pf[n] = (struct pollfd){ .fd = outfd, .events = POLLOUT };
			who[n++] = NULL;
		}
		nfds_t first = n;

		for (struct lookup *lk = lookups; lk != NULL; lk = lk->next) {
			if (lk->fd < 0)
				continue;
			pf[n].fd = lk->fd;
			pf[n].events = lk->st == LK_TCP_CONN ||
			    lk->st == LK_TCP_SEND ? POLLOUT : POLLIN;
			pf[n].revents = 0;
			who[n++] = lk;
		}
		if (poll(pf, n, poll_timeout()) == -1) {
			if (errno == EINTR)
				continue;
			die_temp("poll", NULL);
		}
		for (nfds_t i = 0; i < first; i++)
			if (pf[i].fd == in && (pf[i].revents & (POLLIN | POLLHUP)) &&
			    read_input(in, &ib, &eof) == -1)
				return -1;
		on_events(pf + first, who + first, n - first);
	}
}
