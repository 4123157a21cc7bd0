/* test_dns: the DNS packet parser and the route logic of sandmail-resolve
 * on well-formed and malformed packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "cache.h"
#include "dns.h"
#include "route.h"

static struct dns_msg m;

/* a packet builder for the tests */
struct pk {
	uint8_t	b[4096];
	size_t	n;
};

static void
put(struct pk *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof p->b);
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void
u16(struct pk *p, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put(p, b, 2);
}

static void
u32(struct pk *p, uint32_t v)
{
	u16(p, v >> 16);
	u16(p, v & 0xffff);
}

static void
name(struct pk *p, const char *s)
{
	uint8_t w[DNS_NAME_BUF];
	int n = dns_name_wire(s, w, sizeof w);

	assert_true(n > 0);
	put(p, w, (size_t)n);
}

/* header + question "example.org" (at offset 12) of type t */
static void
head(struct pk *p, uint16_t id, uint16_t flags, uint16_t an, uint16_t ns,
    uint16_t t)
{
	p->n = 0;
	u16(p, id);
	u16(p, flags);
	u16(p, 1);
	u16(p, an);
	u16(p, ns);
	u16(p, 0);
	name(p, "example.org");
	u16(p, t);
	u16(p, 1);
}

static void
rr_mx(struct pk *p, uint16_t pref, const char *host, uint32_t ttl)
{
	uint8_t w[DNS_NAME_BUF];
	int n = dns_name_wire(host, w, sizeof w);

	u16(p, 0xc00c);
	u16(p, DNS_T_MX);
	u16(p, 1);
	u32(p, ttl);
	u16(p, (uint16_t)(2 + n));
	u16(p, pref);
	put(p, w, (size_t)n);
}

static void
rr_a(struct pk *p, uint16_t nameptr, const uint8_t a[4], uint32_t ttl)
{
	u16(p, nameptr);
	u16(p, DNS_T_A);
	u16(p, 1);
	u32(p, ttl);
	u16(p, 4);
	put(p, a, 4);
}

static void
test_query_roundtrip(void **st)
{
	uint8_t q[512];
	int n;

	(void)st;
	n = dns_query(q, sizeof q, 0xbeef, "Mx.Example.ORG.", DNS_T_MX, 1);
	assert_true(n > 0);
	/* a query parses as a message with the same question */
	assert_int_equal(dns_parse(q, (size_t)n, &m), 0);
	assert_int_equal(m.id, 0xbeef);
	assert_string_equal(m.qname, "mx.example.org");
	assert_int_equal(m.qtype, DNS_T_MX);
	assert_int_equal(m.nrr, 0);
	assert_int_equal(q[11], 1);	/* the OPT record */
	/* without EDNS: no additional record, 11 bytes shorter */
	assert_int_equal(dns_query(q, sizeof q, 1, "a.b", DNS_T_A, 0),
	    DNS_HDR + 5 + 4);
	assert_int_equal(q[11], 0);
	assert_int_equal(dns_parse(q, DNS_HDR + 9, &m), 0);
}

/* DNSSEC OK (RFC 3225): the DO bit in the OPT record, AD in the header */
static void
test_query_dnssec_ok(void **st)
{
	uint8_t q[512];
	int n;

	(void)st;
	n = dns_query(q, sizeof q, 2, "_25._tcp.mx.example.org", DNS_T_TLSA,
	    DNS_Q_DO);
	assert_true(n > 0);
	assert_int_equal(q[11], 1);		/* the OPT record */
	assert_int_equal(q[n - 4], 0x80);	/* DO: top bit of its flags */
	assert_int_equal(q[n - 3], 0);
	assert_int_equal((q[2] << 8 | q[3]) & DNS_F_AD, DNS_F_AD);
	assert_int_equal(dns_parse(q, (size_t)n, &m), 0);
	assert_string_equal(m.qname, "_25._tcp.mx.example.org");
	assert_int_equal(m.qtype, DNS_T_TLSA);
	/* plain EDNS0: neither */
	n = dns_query(q, sizeof q, 2, "a.b", DNS_T_A, DNS_Q_EDNS);
	assert_int_equal(q[n - 4], 0);
	assert_int_equal((q[2] << 8 | q[3]) & DNS_F_AD, 0);
}

static void
rr_tlsa(struct pk *p, uint8_t u, uint8_t s, uint8_t mt, size_t len)
{
	uint8_t d[300];

	assert_true(len <= sizeof d);
	memset(d, 0x11, len);
	u16(p, 0xc00c);
	u16(p, DNS_T_TLSA);
	u16(p, 1);
	u32(p, 600);
	u16(p, (uint16_t)(3 + len));
	put(p, (uint8_t[]){ u, s, mt }, 3);
	put(p, d, len);
}

static void
test_tlsa_answer(void **st)
{
	struct pk p;
	struct dres d;
	char follow[DNS_NAME_BUF];

	(void)st;
	/* AD set: one usable, one PKIX-EE, one too long, one bad digest */
	head(&p, 9, 0x81a0, 4, 0, DNS_T_TLSA);
	rr_tlsa(&p, 3, 1, 1, 32);
	rr_tlsa(&p, 1, 1, 1, 32);
	rr_tlsa(&p, 3, 0, 0, 200);
	rr_tlsa(&p, 2, 1, 1, 20);
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(m.nrr, 4);
	assert_int_equal(m.rr[0].u.tlsa.len, 32);
	assert_true(m.rr[2].u.tlsa.oversize);
	assert_int_equal(route_from_msg(&m, "example.org", DNS_T_TLSA, &d,
	    follow), 0);
	assert_int_equal(d.status, DRES_OK);
	assert_true(d.secure);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.nbad, 3);
	assert_int_equal(strncmp(d.it[0].s, "3 1 1 1111", 10), 0);
	/* only unusable ones: still an answer, with none to use */
	head(&p, 9, 0x8180, 1, 0, DNS_T_TLSA);
	rr_tlsa(&p, 0, 0, 1, 32);
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(route_from_msg(&m, "example.org", DNS_T_TLSA, &d,
	    follow), 0);
	assert_int_equal(d.status, DRES_OK);
	assert_false(d.secure);
	assert_int_equal(d.n, 0);
	assert_int_equal(d.nbad, 1);
	/* three bytes of rdata: no data, a malformed packet */
	head(&p, 9, 0x8180, 1, 0, DNS_T_TLSA);
	rr_tlsa(&p, 3, 1, 1, 0);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
}

static void
dres_set(struct dres *d, enum dres_status st, int secure, unsigned n,
    unsigned nbad)
{
	memset(d, 0, sizeof *d);
	d->status = st;
	d->secure = secure;
	d->n = n;
	d->nbad = nbad;
	for (unsigned i = 0; i < n; i++)
		snprintf(d->it[i].s, sizeof d->it[i].s, i == 0 ?
		    "3 1 1 aabb" : "2 0 1 ccdd");
}

/* RFC 7672 2.2: what counts, host by host */
static void
test_route_dane(void **st)
{
	static struct rhost h;

	(void)st;
	memset(&h, 0, sizeof h);
	snprintf(h.name, sizeof h.name, "mx.example.org");
	dres_set(&h.a, DRES_OK, 1, 1, 0);
	dres_set(&h.aaaa, DRES_NODATA, 1, 0, 0);
	dres_set(&h.tlsa, DRES_OK, 1, 2, 0);
	/* not asked: dns_dnssec off, or an insecure MX set */
	assert_int_equal(route_dane(&h), DANE_NONE);
	h.tlsa_asked = 1;
	assert_int_equal(route_dane(&h), DANE_SECURE);
	/* an insecure address answer: the TLSA records do not count */
	h.a.secure = 0;
	assert_int_equal(route_dane(&h), DANE_NONE);
	h.a.secure = 1;
	dres_set(&h.aaaa, DRES_OK, 0, 1, 0);
	assert_int_equal(route_dane(&h), DANE_NONE);
	dres_set(&h.aaaa, DRES_FAIL, 0, 0, 0);	/* no AAAA: A decides */
	assert_int_equal(route_dane(&h), DANE_SECURE);
	/* an insecure TLSA answer, and secure denial */
	h.tlsa.secure = 0;
	assert_int_equal(route_dane(&h), DANE_NONE);
	dres_set(&h.tlsa, DRES_NODATA, 1, 0, 0);
	assert_int_equal(route_dane(&h), DANE_NONE);
	dres_set(&h.tlsa, DRES_NXDOMAIN, 1, 0, 0);
	assert_int_equal(route_dane(&h), DANE_NONE);
	/* bogus or unanswered: the host is not to be used */
	dres_set(&h.tlsa, DRES_FAIL, 0, 0, 0);
	assert_int_equal(route_dane(&h), DANE_FAIL);
	/* records, none usable: TLS, unauthenticated */
	dres_set(&h.tlsa, DRES_OK, 1, 0, 2);
	assert_int_equal(route_dane(&h), DANE_UNUSABLE);
}

/* RFC 7672 2.2.3: an alias's expanded name first, else the original */
static void
test_route_dane_cname(void **st)
{
	static struct rhost h;

	(void)st;
	memset(&h, 0, sizeof h);
	snprintf(h.name, sizeof h.name, "alias.example.org");
	h.tlsa_asked = 1;
	dres_set(&h.a, DRES_OK, 1, 1, 0);
	dres_set(&h.aaaa, DRES_NODATA, 1, 0, 0);
	dres_set(&h.tlsa, DRES_NODATA, 1, 0, 0);
	/* not an alias: the original name's answer alone */
	assert_int_equal(route_dane(&h), DANE_NONE);
	assert_ptr_equal(route_tlsa(&h), &h.tlsa);
	/* records at the expanded name win over a denial at the alias */
	h.tlsa_x_asked = 1;
	dres_set(&h.tlsa_x, DRES_OK, 1, 1, 0);
	assert_int_equal(route_dane(&h), DANE_SECURE);
	assert_ptr_equal(route_tlsa(&h), &h.tlsa_x);
	/* and over records at the alias */
	dres_set(&h.tlsa, DRES_OK, 1, 2, 0);
	assert_ptr_equal(route_tlsa(&h), &h.tlsa_x);
	/* none at the expanded name (denied, or insecure): the alias's */
	dres_set(&h.tlsa_x, DRES_NXDOMAIN, 1, 0, 0);
	assert_ptr_equal(route_tlsa(&h), &h.tlsa);
	assert_int_equal(route_dane(&h), DANE_SECURE);
	dres_set(&h.tlsa_x, DRES_OK, 0, 1, 0);
	assert_ptr_equal(route_tlsa(&h), &h.tlsa);
	/* a failed lookup at the expanded name: the host is unusable */
	dres_set(&h.tlsa_x, DRES_FAIL, 0, 0, 0);
	assert_int_equal(route_dane(&h), DANE_FAIL);
}

static void
test_route_finish_tlsa(void **st)
{
	static struct rhost h[2];
	struct rans a;

	(void)st;
	memset(h, 0, sizeof h);
	memset(&a, 0, sizeof a);
	snprintf(h[0].name, sizeof h[0].name, "mx1.example.org");
	snprintf(h[1].name, sizeof h[1].name, "mx2.example.org");
	for (int i = 0; i < 2; i++) {
		dres_set(&h[i].a, DRES_OK, 1, 0, 0);
		h[i].a.n = 1;
		snprintf(h[i].a.it[0].s, sizeof h[i].a.it[0].s, "192.0.2.%d",
		    i + 1);
		dres_set(&h[i].aaaa, DRES_NODATA, 1, 0, 0);
		h[i].tlsa_asked = 1;
	}
	dres_set(&h[0].tlsa, DRES_OK, 1, 2, 0);
	dres_set(&h[1].tlsa, DRES_FAIL, 0, 0, 0);
	assert_int_equal(route_finish(&a, h, 2, 0, 0), 0);
	assert_int_equal(a.nhost, 2);
	assert_int_equal(a.host[0].dane, DANE_SECURE);
	assert_int_equal(a.host[0].ntlsa, 2);
	assert_string_equal(a.host[0].tlsa[0], "3 1 1 aabb");
	assert_string_equal(a.host[0].tlsa[1], "2 0 1 ccdd");
	assert_int_equal(a.host[1].dane, DANE_FAIL);
	assert_int_equal(a.host[1].ntlsa, 0);
	/* neither came from an expanded name */
	assert_null(a.host[0].tlsa_name);
	rans_free(&a);
	/* host 0 an alias whose expanded name has the records: that name
	 * goes with them (RFC 7672 3.2.2); when the alias's own count, not */
	h[0].tlsa_x_asked = 1;
	snprintf(h[0].xname, sizeof h[0].xname, "mx9.example.net");
	dres_set(&h[0].tlsa_x, DRES_OK, 1, 2, 0);
	memset(&a, 0, sizeof a);
	assert_int_equal(route_finish(&a, h, 2, 0, 0), 0);
	assert_int_equal(a.host[0].dane, DANE_SECURE);
	assert_string_equal(a.host[0].tlsa_name, "mx9.example.net");
	rans_free(&a);
	dres_set(&h[0].tlsa_x, DRES_NODATA, 1, 0, 0);
	memset(&a, 0, sizeof a);
	assert_int_equal(route_finish(&a, h, 2, 0, 0), 0);
	assert_int_equal(a.host[0].dane, DANE_SECURE);
	assert_null(a.host[0].tlsa_name);
	rans_free(&a);
}

static void
test_name_wire_limits(void **st)
{
	uint8_t w[DNS_NAME_BUF];
	char l63[64], l64[65], big[300];

	(void)st;
	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l64, 'a', 64);
	l64[64] = '\0';
	assert_int_equal(dns_name_wire(l63, w, sizeof w), 65);
	assert_int_equal(dns_name_wire(l64, w, sizeof w), -1);
	assert_int_equal(dns_name_wire("a..b", w, sizeof w), -1);
	assert_int_equal(dns_name_wire(".a", w, sizeof w), -1);
	assert_int_equal(dns_name_wire("a b", w, sizeof w), -1);
	assert_int_equal(dns_name_wire("a\xc3\xa9", w, sizeof w), -1);
	assert_int_equal(dns_name_wire("", w, sizeof w), 1);
	/* 4 x 63-byte labels = 256 bytes on the wire: too long */
	memset(big, 0, sizeof big);
	for (int i = 0; i < 4; i++) {
		memset(big + i * 64, 'b', 63);
		if (i < 3)
			big[i * 64 + 63] = '.';
	}
	assert_int_equal(dns_name_wire(big, w, sizeof w), -1);
	big[3 * 64 + 61] = '\0';	/* 253 characters: fits */
	assert_true(dns_name_wire(big, w, sizeof w) > 0);
}

static void
test_mx_answer(void **st)
{
	struct pk p;
	struct dres d;
	char follow[DNS_NAME_BUF];

	(void)st;
	head(&p, 7, 0x8180, 2, 0, DNS_T_MX);
	rr_mx(&p, 20, "mx2.example.org", 300);
	rr_mx(&p, 10, "MX1.example.org", 100);
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(m.nrr, 2);
	assert_int_equal(m.rr[1].u.mx.pref, 10);
	assert_string_equal(m.rr[1].u.mx.host, "mx1.example.org");
	assert_int_equal(route_from_msg(&m, "example.org", DNS_T_MX, &d,
	    follow), 0);
	assert_int_equal(d.status, DRES_OK);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.ttl, 100);
	route_order_mx(&d);
	assert_string_equal(d.it[0].s, "mx1.example.org");
	assert_false(route_null_mx(&d));
}

static void
test_null_mx(void **st)
{
	struct pk p;
	struct dres d;
	char follow[DNS_NAME_BUF];

	(void)st;
	head(&p, 7, 0x8180, 1, 0, DNS_T_MX);
	rr_mx(&p, 0, "", 300);
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(route_from_msg(&m, "example.org", DNS_T_MX, &d,
	    follow), 0);
	assert_true(route_null_mx(&d));
}

static void
test_nxdomain_soa(void **st)
{
	struct pk p;
	struct dres d;
	char follow[DNS_NAME_BUF];
	uint8_t w[DNS_NAME_BUF];

	(void)st;
	head(&p, 9, 0x8183, 0, 1, DNS_T_MX);
	u16(&p, 0xc00c);
	u16(&p, DNS_T_SOA);
	u16(&p, 1);
	u32(&p, 3600);
	int n1 = dns_name_wire("ns.example.org", w, sizeof w);
	int n2 = dns_name_wire("h.example.org", w, sizeof w);

	u16(&p, (uint16_t)(n1 + n2 + 20));
	name(&p, "ns.example.org");
	name(&p, "h.example.org");
	u32(&p, 1);
	u32(&p, 2);
	u32(&p, 3);
	u32(&p, 4);
	u32(&p, 120);	/* minimum */
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(m.rcode, DNS_R_NXDOMAIN);
	assert_true(m.has_soa);
	assert_int_equal(m.neg_ttl, 120);
	assert_int_equal(route_from_msg(&m, "example.org", DNS_T_MX, &d,
	    follow), 0);
	assert_int_equal(d.status, DRES_NXDOMAIN);
	assert_int_equal(d.ttl, 120);
}

static void
test_ptr(void **st)
{
	struct pk p;
	uint8_t w[DNS_NAME_BUF];
	int n = dns_name_wire("mx.example.net", w, sizeof w);

	(void)st;
	head(&p, 1, 0x8180, 1, 0, DNS_T_PTR);
	u16(&p, 0xc00c);
	u16(&p, DNS_T_PTR);
	u16(&p, 1);
	u32(&p, 60);
	u16(&p, (uint16_t)n);
	put(&p, w, (size_t)n);
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(m.nrr, 1);
	assert_int_equal(m.rr[0].type, DNS_T_PTR);
	assert_string_equal(m.rr[0].u.cname, "mx.example.net");
	/* a byte after the name, inside its rdata: malformed */
	p.b[p.n - n - 1]++;
	put(&p, (const uint8_t *)"x", 1);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
}

static void
test_cname_follow(void **st)
{
	struct pk p;
	struct dres d;
	char follow[DNS_NAME_BUF];
	static const uint8_t a[4] = { 192, 0, 2, 1 };

	(void)st;
	/* example.org CNAME target.example.net, and nothing else */
	head(&p, 1, 0x8180, 1, 0, DNS_T_A);
	u16(&p, 0xc00c);
	u16(&p, DNS_T_CNAME);
	u16(&p, 1);
	u32(&p, 60);
	uint8_t w[DNS_NAME_BUF];
	int n = dns_name_wire("target.example.net", w, sizeof w);

	u16(&p, (uint16_t)n);
	size_t target = p.n;

	put(&p, w, (size_t)n);
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(route_from_msg(&m, "example.org", DNS_T_A, &d,
	    follow), 1);
	assert_string_equal(follow, "target.example.net");
	/* the same with the A record of the target present */
	p.b[7] = 2;
	rr_a(&p, (uint16_t)(0xc000 | target), a, 30);
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(route_from_msg(&m, "example.org", DNS_T_A, &d,
	    follow), 0);
	assert_int_equal(d.status, DRES_OK);
	assert_string_equal(d.it[0].s, "192.0.2.1");
	assert_int_equal(d.ttl, 30);
	/* the end of the chain, for the TLSA lookup (RFC 7672 2.2.3) */
	assert_string_equal(d.canon, "target.example.net");
}

static void
test_truncated_flag(void **st)
{
	struct pk p;

	(void)st;
	head(&p, 1, 0x8380, 5, 0, DNS_T_MX);	/* TC, answers missing */
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_true(m.flags & DNS_F_TC);
}

/* malformed packets: every one must be refused, none may crash */
static void
test_malformed(void **st)
{
	struct pk p;
	static const uint8_t a[4] = { 1, 2, 3, 4 };

	(void)st;
	/* shorter than a header */
	assert_int_equal(dns_parse((const uint8_t *)"\0\1\2", 3, &m), -1);
	/* answer count that lies */
	head(&p, 1, 0x8180, 3, 0, DNS_T_MX);
	rr_mx(&p, 10, "mx.example.org", 60);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* authority count that lies */
	head(&p, 1, 0x8180, 0, 1, DNS_T_MX);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* two questions */
	head(&p, 1, 0x8180, 0, 0, DNS_T_MX);
	p.b[5] = 2;
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* pointer past the end */
	head(&p, 1, 0x8180, 1, 0, DNS_T_A);
	rr_a(&p, 0xc000 | 4000, a, 1);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* pointer to itself (a loop) */
	head(&p, 1, 0x8180, 1, 0, DNS_T_A);
	rr_a(&p, (uint16_t)(0xc000 | p.n), a, 1);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* pointer forward */
	head(&p, 1, 0x8180, 1, 0, DNS_T_A);
	rr_a(&p, (uint16_t)(0xc000 | (p.n + 2)), a, 1);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* a two-pointer loop: label, then a pointer back to it, inside the
	 * question name's own segment */
	p.n = 0;
	u16(&p, 1); u16(&p, 0x8180); u16(&p, 1); u16(&p, 0); u16(&p, 0);
	u16(&p, 0);
	put(&p, "\1a", 2);
	u16(&p, 0xc00c);	/* points at its own segment start */
	u16(&p, 1); u16(&p, 1);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* label length 64 (reserved bits 0x40) */
	p.n = 0;
	u16(&p, 1); u16(&p, 0x8180); u16(&p, 1); u16(&p, 0); u16(&p, 0);
	u16(&p, 0);
	uint8_t lab[65];
	memset(lab, 'a', sizeof lab);
	lab[0] = 64;
	put(&p, lab, sizeof lab);
	put(&p, "\0\0\1\0\1", 5);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* a name over 255 bytes: 5 labels of 63 */
	p.n = 0;
	u16(&p, 1); u16(&p, 0x8180); u16(&p, 1); u16(&p, 0); u16(&p, 0);
	u16(&p, 0);
	for (int i = 0; i < 5; i++) {
		memset(lab, 'b', 64);
		lab[0] = 63;
		put(&p, lab, 64);
	}
	put(&p, "\0\0\1\0\1", 5);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* name without its end */
	p.n = 0;
	u16(&p, 1); u16(&p, 0x8180); u16(&p, 1); u16(&p, 0); u16(&p, 0);
	u16(&p, 0);
	put(&p, "\7example", 8);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* a record cut in its fixed part */
	head(&p, 1, 0x8180, 1, 0, DNS_T_A);
	u16(&p, 0xc00c);
	u16(&p, DNS_T_A);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* rdlength past the end */
	head(&p, 1, 0x8180, 1, 0, DNS_T_A);
	u16(&p, 0xc00c); u16(&p, DNS_T_A); u16(&p, 1); u32(&p, 1);
	u16(&p, 4);
	put(&p, "\1\2", 2);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* A with rdlength 5 */
	head(&p, 1, 0x8180, 1, 0, DNS_T_A);
	u16(&p, 0xc00c); u16(&p, DNS_T_A); u16(&p, 1); u32(&p, 1);
	u16(&p, 5);
	put(&p, "\1\2\3\4\5", 5);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* MX whose name runs past its rdlength */
	head(&p, 1, 0x8180, 1, 0, DNS_T_MX);
	u16(&p, 0xc00c); u16(&p, DNS_T_MX); u16(&p, 1); u32(&p, 1);
	u16(&p, 4);
	u16(&p, 10);
	put(&p, "\3abc\0", 5);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* MX with bytes after its name inside rdlength */
	head(&p, 1, 0x8180, 1, 0, DNS_T_MX);
	u16(&p, 0xc00c); u16(&p, DNS_T_MX); u16(&p, 1); u32(&p, 1);
	u16(&p, 5);
	u16(&p, 10);
	put(&p, "\0\0\0", 3);
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
	/* label type 0x80 */
	head(&p, 1, 0x8180, 1, 0, DNS_T_A);
	p.b[12] = 0x80;
	assert_int_equal(dns_parse(p.b, p.n, &m), -1);
}

static void
test_odd_names_skipped(void **st)
{
	struct pk p;

	(void)st;
	/* an MX host with a space and a NUL: parsed, not kept */
	head(&p, 1, 0x8180, 1, 0, DNS_T_MX);
	u16(&p, 0xc00c); u16(&p, DNS_T_MX); u16(&p, 1); u32(&p, 1);
	u16(&p, 8);
	u16(&p, 10);
	put(&p, "\4a b\0\0", 6);
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(m.nrr, 0);
}

static void
test_many_records_bounded(void **st)
{
	struct pk p;
	struct dres d;
	char follow[DNS_NAME_BUF];
	uint8_t a[4] = { 10, 0, 0, 0 };

	(void)st;
	head(&p, 1, 0x8180, 100, 0, DNS_T_A);
	for (int i = 0; i < 100; i++) {
		a[3] = (uint8_t)i;
		rr_a(&p, 0xc00c, a, (uint32_t)(1000 - i));
	}
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(m.nrr, DNS_RR_MAX);
	assert_int_equal(route_from_msg(&m, "example.org", DNS_T_A, &d,
	    follow), 0);
	assert_int_equal(d.n, DRES_ITEMS);
}

static void
test_ttl_high_bit_is_zero(void **st)
{
	struct pk p;
	static const uint8_t a[4] = { 1, 2, 3, 4 };

	(void)st;
	head(&p, 1, 0x8180, 1, 0, DNS_T_A);
	rr_a(&p, 0xc00c, a, 0x80000000u);
	assert_int_equal(dns_parse(p.b, p.n, &m), 0);
	assert_int_equal(m.rr[0].ttl, 0);
}

static void
test_shuffle_keeps_groups(void **st)
{
	struct dres d;
	int first_b = 0;

	(void)st;
	for (int round = 0; round < 64; round++) {
		memset(&d, 0, sizeof d);
		d.status = DRES_OK;
		d.n = 4;
		d.it[0] = (struct dres_item){ 20, "c" };
		d.it[1] = (struct dres_item){ 10, "a" };
		d.it[2] = (struct dres_item){ 10, "b" };
		d.it[3] = (struct dres_item){ 30, "d" };
		route_order_mx(&d);
		assert_int_equal(d.it[0].pref, 10);
		assert_int_equal(d.it[1].pref, 10);
		assert_string_equal(d.it[2].s, "c");
		assert_string_equal(d.it[3].s, "d");
		first_b += strcmp(d.it[0].s, "b") == 0;
	}
	assert_true(first_b > 0 && first_b < 64);
}

static void
test_cache(void **st)
{
	struct dres d, g;

	(void)st;
	assert_int_equal(cache_init(2), 0);
	memset(&d, 0, sizeof d);
	d.status = DRES_OK;
	d.n = 1;
	d.ttl = 10;
	memcpy(d.it[0].s, "1.2.3.4", 8);
	cache_put("a.test", DNS_T_A, &d, 100, 3600);
	assert_int_equal(cache_get("A.TEST", DNS_T_A, 105, &g), 1);
	assert_int_equal(g.ttl, 5);
	assert_int_equal(cache_get("a.test", DNS_T_AAAA, 105, &g), 0);
	assert_int_equal(cache_get("a.test", DNS_T_A, 110, &g), 0);
	/* failures and TTL 0 are not kept; the table stays bounded */
	d.status = DRES_FAIL;
	cache_put("f.test", DNS_T_A, &d, 100, 3600);
	assert_int_equal(cache_get("f.test", DNS_T_A, 100, &g), 0);
	d.status = DRES_NXDOMAIN;
	for (int i = 0; i < 10; i++) {
		char n[16];

		n[0] = (char)('a' + i);
		memcpy(n + 1, ".test", 6);
		d.ttl = (uint32_t)(100 + i);
		cache_put(n, DNS_T_MX, &d, 100, 3600);
	}
	assert_true(cache_count() <= 2);
	assert_int_equal(cache_get("j.test", DNS_T_MX, 101, &g), 1);
	assert_int_equal(g.status, DRES_NXDOMAIN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_roundtrip),
		cmocka_unit_test(test_name_wire_limits),
		cmocka_unit_test(test_query_dnssec_ok),
		cmocka_unit_test(test_tlsa_answer),
		cmocka_unit_test(test_route_dane),
		cmocka_unit_test(test_route_dane_cname),
		cmocka_unit_test(test_route_finish_tlsa),
		cmocka_unit_test(test_mx_answer),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_nxdomain_soa),
		cmocka_unit_test(test_cname_follow),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_truncated_flag),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_odd_names_skipped),
		cmocka_unit_test(test_many_records_bounded),
		cmocka_unit_test(test_ttl_high_bit_is_zero),
		cmocka_unit_test(test_shuffle_keeps_groups),
		cmocka_unit_test(test_cache),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
