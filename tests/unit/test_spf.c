/* test_spf: check_host() (lib/spf.c) against fake zones: each mechanism,
 * the qualifiers, include and redirect, the DNS-lookup and void-lookup
 * limits, syntax errors anywhere in a record, macros (RFC 7208 7.4's
 * examples), and the answer parser of lib/dnsans.c on TXT packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "dnsans.h"
#include "spf.h"

/* a fake zone: name, type, value ("TEMP" as a value: SERVFAIL) */
struct zrr {
	const char	*name;
	uint16_t	 type;
	const char	*val;
};

static const struct zrr *zone;
static unsigned nqueries;

static void
fake_dns(void *arg, const char *name, uint16_t type, struct dnsans *a)
{
	int exists = 0;

	(void)arg;
	nqueries++;
	a->n = a->txtlen = 0;
	for (const struct zrr *z = zone; z->name != NULL; z++) {
		struct dnsans_rr *rr = &a->rr[a->n];

		if (strcasecmp(z->name, name) != 0)
			continue;
		exists = 1;
		if (z->type != type)
			continue;
		if (strcmp(z->val, "TEMP") == 0) {
			a->st = DA_TEMP;
			return;
		}
		assert_true(a->n < DNSANS_RR_MAX);
		memset(rr, 0, sizeof *rr);
		rr->type = type;
		if (type == DNS_T_A)
			assert_int_equal(inet_pton(AF_INET, z->val, rr->ip), 1);
		else if (type == DNS_T_AAAA)
			assert_int_equal(inet_pton(AF_INET6, z->val, rr->ip), 1);
		else if (type == DNS_T_MX || type == DNS_T_PTR)
			snprintf(rr->name, sizeof rr->name, "%s", z->val);
		else {
			rr->off = a->txtlen;
			rr->len = strlen(z->val);
			memcpy(a->txt + a->txtlen, z->val, rr->len);
			a->txtlen += rr->len;
		}
		a->n++;
	}
	a->st = exists ? DA_OK : DA_NXDOMAIN;
}

static enum spf_result
check(const struct zrr *z, const char *ip, const char *sender,
    struct spf_out *o)
{
	const char *at = strrchr(sender, '@');
	struct spf_req q = { ip, sender, "helo.test", at ? at + 1 : sender,
	    "mx.receiver.test", fake_dns, NULL };

	zone = z;
	nqueries = 0;
	return spf_check(&q, o);
}

static const struct zrr basic[] = {
	{ "e.test", DNS_T_TXT, "v=spf1 ip4:192.0.2.0/24 a mx:mx.e.test "
	    "-all" },
	{ "e.test", DNS_T_TXT, "some other text" },
	{ "e.test", DNS_T_A, "198.51.100.7" },
	{ "e.test", DNS_T_MX, "mx1.e.test" },
	{ "mx.e.test", DNS_T_MX, "mx2.e.test" },
	{ "mx2.e.test", DNS_T_A, "203.0.113.9" },
	{ "soft.test", DNS_T_TXT, "v=spf1 ~all" },
	{ "neutral.test", DNS_T_TXT, "v=spf1 ?all" },
	{ "nomatch.test", DNS_T_TXT, "v=spf1 ip4:10.0.0.0/8" },
	{ "two.test", DNS_T_TXT, "v=spf1 -all" },
	{ "two.test", DNS_T_TXT, "v=spf1 +all" },
	{ "norec.test", DNS_T_TXT, "v=spf10 +all" },
	{ "syntax.test", DNS_T_TXT, "v=spf1 +all ip4:300.0.0.1" },
	{ "syntax2.test", DNS_T_TXT, "v=spf1 +all foo:bar" },
	{ "syntax3.test", DNS_T_TXT, "v=spf1 a:%{z}.x -all" },
	{ "syntax4.test", DNS_T_TXT, "v=spf1 ip4:1.2.3.4/33 -all" },
	{ "syntax5.test", DNS_T_TXT, "v=spf1 redirect=a.test redirect=b.test" },
	{ "syntax6.test", DNS_T_TXT, "v=spf1 ip4:1.2.3.4/024 -all" },
	{ "unknownmod.test", DNS_T_TXT, "v=spf1 foo=bar -all" },
	{ "temp.test", DNS_T_TXT, "TEMP" },
	{ "v6.test", DNS_T_TXT, "v=spf1 ip6:2001:db8::/32 a//64 -all" },
	{ "v6.test", DNS_T_AAAA, "2001:db9:1:2::1" },
	{ "case.test", DNS_T_TXT, "V=SPF1 IP4:192.0.2.1 -ALL" },
	{ NULL, 0, NULL }
};

static void
test_mechanisms(void **st)
{
	static const struct {
		const char *ip, *sender;
		enum spf_result want;
	} cases[] = {
		{ "192.0.2.55", "u@e.test", SPF_PASS },		/* ip4 */
		{ "198.51.100.7", "u@e.test", SPF_PASS },	/* a */
		{ "203.0.113.9", "u@e.test", SPF_PASS },	/* mx: */
		{ "203.0.113.10", "u@e.test", SPF_FAIL },
		{ "::ffff:192.0.2.1", "u@e.test", SPF_PASS },	/* mapped */
		{ "2001:db8::1", "u@e.test", SPF_FAIL },
		{ "192.0.2.1", "u@soft.test", SPF_SOFTFAIL },
		{ "192.0.2.1", "u@neutral.test", SPF_NEUTRAL },
		{ "192.0.2.1", "u@nomatch.test", SPF_NEUTRAL },
		{ "192.0.2.1", "u@two.test", SPF_PERMERROR },
		{ "192.0.2.1", "u@norec.test", SPF_NONE },
		{ "192.0.2.1", "u@nxdomain.test", SPF_NONE },
		{ "192.0.2.1", "u@syntax.test", SPF_PERMERROR },
		{ "192.0.2.1", "u@syntax2.test", SPF_PERMERROR },
		{ "192.0.2.1", "u@syntax3.test", SPF_PERMERROR },
		{ "192.0.2.1", "u@syntax4.test", SPF_PERMERROR },
		{ "192.0.2.1", "u@syntax5.test", SPF_PERMERROR },
		{ "192.0.2.1", "u@syntax6.test", SPF_PERMERROR },
		{ "192.0.2.1", "u@unknownmod.test", SPF_FAIL },
		{ "192.0.2.1", "u@temp.test", SPF_TEMPERROR },
		{ "2001:db8:5::1", "u@v6.test", SPF_PASS },
		{ "2001:db9:1:2::ff", "u@v6.test", SPF_PASS },	/* a//64 */
		{ "2001:db9:1:3::1", "u@v6.test", SPF_FAIL },
		{ "192.0.2.1", "u@case.test", SPF_PASS },
		{ "192.0.2.2", "u@case.test", SPF_FAIL },
		{ "192.0.2.1", "u@bad..test", SPF_NONE },
	};
	struct spf_out o;

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		check(basic, cases[i].ip, cases[i].sender, &o);
		if (o.r != cases[i].want)
			fail_msg("%s from %s: %s, want %s (%s)",
			    cases[i].sender, cases[i].ip, spf_name(o.r),
			    spf_name(cases[i].want), o.why ? o.why : "");
	}
}

static const struct zrr incl[] = {
	{ "i.test", DNS_T_TXT, "v=spf1 include:in.test include:soft.test "
	    "-all" },
	{ "in.test", DNS_T_TXT, "v=spf1 ip4:192.0.2.1 -all" },
	{ "soft.test", DNS_T_TXT, "v=spf1 ip4:192.0.2.2 ~all" },
	{ "inone.test", DNS_T_TXT, "v=spf1 include:none.test -all" },
	{ "none.test", DNS_T_A, "192.0.2.9" },
	{ "itemp.test", DNS_T_TXT, "v=spf1 include:temp.test -all" },
	{ "temp.test", DNS_T_TXT, "TEMP" },
	{ "r.test", DNS_T_TXT, "v=spf1 ip4:10.0.0.1 redirect=in.test" },
	{ "rnone.test", DNS_T_TXT, "v=spf1 redirect=none.test" },
	{ "rall.test", DNS_T_TXT, "v=spf1 ?all redirect=in.test" },
	{ NULL, 0, NULL }
};

static void
test_include_redirect(void **st)
{
	struct spf_out o;

	(void)st;
	assert_int_equal(check(incl, "192.0.2.1", "u@i.test", &o), SPF_PASS);
	/* an include's softfail is no match: on to -all */
	assert_int_equal(check(incl, "192.0.2.3", "u@i.test", &o), SPF_FAIL);
	/* the second include passes what the first does not */
	assert_int_equal(check(incl, "192.0.2.2", "u@i.test", &o), SPF_PASS);
	assert_int_equal(check(incl, "192.0.2.1", "u@inone.test", &o),
	    SPF_PERMERROR);
	assert_int_equal(check(incl, "192.0.2.1", "u@itemp.test", &o),
	    SPF_TEMPERROR);
	assert_int_equal(check(incl, "192.0.2.1", "u@r.test", &o), SPF_PASS);
	assert_int_equal(check(incl, "192.0.2.7", "u@r.test", &o), SPF_FAIL);
	assert_int_equal(check(incl, "192.0.2.7", "u@rnone.test", &o),
	    SPF_PERMERROR);
	/* all matches first: the redirect is never taken */
	assert_int_equal(check(incl, "192.0.2.1", "u@rall.test", &o),
	    SPF_NEUTRAL);
}

/* 4.6.4: the eleventh lookup is a permerror, the tenth is not; the third
 * void lookup is one, the second is not */
static void
test_limits(void **st)
{
	static const struct zrr z[] = {
		{ "ten.test", DNS_T_TXT, "v=spf1 a:a1.test a:a2.test a:a3.test "
		    "a:a4.test a:a5.test a:a6.test a:a7.test a:a8.test "
		    "include:last.test -all" },
		{ "eleven.test", DNS_T_TXT, "v=spf1 a:a1.test a:a2.test "
		    "a:a3.test a:a4.test a:a5.test a:a6.test a:a7.test "
		    "a:a8.test a:a9.test include:last.test -all" },
		{ "last.test", DNS_T_TXT, "v=spf1 a:a9.test ip4:192.0.2.1" },
		{ "loop.test", DNS_T_TXT, "v=spf1 include:loop.test -all" },
		{ "void2.test", DNS_T_TXT, "v=spf1 a:nx1.test a:nx2.test "
		    "ip4:192.0.2.1 -all" },
		{ "void3.test", DNS_T_TXT, "v=spf1 a:nx1.test a:nx2.test "
		    "exists:nx3.test ip4:192.0.2.1 -all" },
		{ "mx11.test", DNS_T_TXT, "v=spf1 mx -all" },
		{ "a1.test", DNS_T_A, "10.0.0.1" }, { "a2.test", DNS_T_A,
		    "10.0.0.1" }, { "a3.test", DNS_T_A, "10.0.0.1" },
		{ "a4.test", DNS_T_A, "10.0.0.1" }, { "a5.test", DNS_T_A,
		    "10.0.0.1" }, { "a6.test", DNS_T_A, "10.0.0.1" },
		{ "a7.test", DNS_T_A, "10.0.0.1" }, { "a8.test", DNS_T_A,
		    "10.0.0.1" }, { "a9.test", DNS_T_A, "10.0.0.1" },
		{ "mx11.test", DNS_T_MX, "m1.test" },
		{ "mx11.test", DNS_T_MX, "m2.test" },
		{ "mx11.test", DNS_T_MX, "m3.test" },
		{ "mx11.test", DNS_T_MX, "m4.test" },
		{ "mx11.test", DNS_T_MX, "m5.test" },
		{ "mx11.test", DNS_T_MX, "m6.test" },
		{ "mx11.test", DNS_T_MX, "m7.test" },
		{ "mx11.test", DNS_T_MX, "m8.test" },
		{ "mx11.test", DNS_T_MX, "m9.test" },
		{ "mx11.test", DNS_T_MX, "m10.test" },
		{ "mx11.test", DNS_T_MX, "m11.test" },
		{ NULL, 0, NULL }
	};
	struct spf_out o;

	(void)st;
	assert_int_equal(check(z, "192.0.2.1", "u@ten.test", &o), SPF_PASS);
	assert_int_equal(o.lookups, 10);
	assert_int_equal(check(z, "192.0.2.1", "u@eleven.test", &o),
	    SPF_PERMERROR);
	assert_string_equal(o.why, "too many DNS lookups");
	assert_int_equal(check(z, "192.0.2.1", "u@loop.test", &o),
	    SPF_PERMERROR);
	assert_true(nqueries <= 12);
	assert_int_equal(check(z, "192.0.2.1", "u@void2.test", &o), SPF_PASS);
	assert_int_equal(check(z, "192.0.2.1", "u@void3.test", &o),
	    SPF_PERMERROR);
	assert_string_equal(o.why, "too many void lookups");
	assert_int_equal(check(z, "192.0.2.1", "u@mx11.test", &o),
	    SPF_PERMERROR);
}

/* RFC 7208 7.4's examples, sender strong-bad@email.example.com */
static void
test_macros(void **st)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "%{s}", "strong-bad@email.example.com" },
		{ "%{o}", "email.example.com" },
		{ "%{d}", "email.example.com" },
		{ "%{d4}", "email.example.com" },
		{ "%{d3}", "email.example.com" },
		{ "%{d2}", "example.com" },
		{ "%{d1}", "com" },
		{ "%{dr}", "com.example.email" },
		{ "%{d2r}", "example.email" },
		{ "%{l}", "strong-bad" },
		{ "%{l-}", "strong.bad" },
		{ "%{lr}", "strong-bad" },
		{ "%{lr-}", "bad.strong" },
		{ "%{l1r-}", "strong" },
		{ "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com" },
		{ "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com" },
		{ "%{d2}.trusted-domains.example.net",
		    "example.com.trusted-domains.example.net" },
		{ "%{h}", "helo.test" },
		{ "%%%_%-", "% %20" },
		{ "%{S}", "strong-bad%40email.example.com" },
	};
	static const char *const bad[] = {
		"%{d0}", "%{x}", "%{c}", "%", "%{d", "%{}", "a b", "%x",
		"%{d999}",
	};
	struct spf_req q = { "192.0.2.3", "strong-bad@email.example.com",
	    "helo.test", "email.example.com", "mx.receiver.test", NULL, NULL };
	char out[512];

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(spf_macro(&q, q.domain, cases[i].in,
		    strlen(cases[i].in), 0, out, sizeof out), 0);
		assert_string_equal(out, cases[i].want);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(spf_macro(&q, q.domain, bad[i], strlen(bad[i]),
		    0, out, sizeof out), -1);
	/* c and r only in an explanation */
	assert_int_equal(spf_macro(&q, q.domain, "%{c}/%{r}", 9, 1, out,
	    sizeof out), 0);
	assert_string_equal(out, "192.0.2.3/mx.receiver.test");
	/* IPv6 %{i}: dotted nibbles */
	q.ip = "2001:db8::cb01";
	assert_int_equal(spf_macro(&q, q.domain, "%{ir}.%{v}", 10, 0, out,
	    sizeof out), 0);
	assert_string_equal(out, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.8.b.d.0.1.0.0.2.ip6");
	/* a small out is an error, never a cut */
	assert_int_equal(spf_macro(&q, q.domain, "%{s}", 4, 0, out, 8), -1);
}

/* 5.5: ptr and %{p} use the validated names only; a domain-spec may hold
 * ':' and '/', a CIDR length is digits at its end (7.1, 5.3) */
static void
test_ptr_and_odd_specs(void **st)
{
	static const struct zrr z[] = {
		{ "p.test", DNS_T_TXT, "v=spf1 ptr -all" },
		{ "pp.test", DNS_T_TXT, "v=spf1 exists:%{p}.ok.test -all" },
		{ "1.2.0.192.in-addr.arpa", DNS_T_PTR, "fake.p.test" },
		{ "1.2.0.192.in-addr.arpa", DNS_T_PTR, "mail.p.test" },
		{ "fake.p.test", DNS_T_A, "192.0.2.99" },
		{ "mail.p.test", DNS_T_A, "192.0.2.1" },
		{ "mail.p.test.ok.test", DNS_T_A, "127.0.0.2" },
		{ "2.2.0.192.in-addr.arpa", DNS_T_PTR, "fake.p.test" },
		{ "colon.test", DNS_T_TXT, "v=spf1 a:foo:bar/baz.test/24 -all" },
		{ "foo:bar/baz.test", DNS_T_A, "192.0.2.200" },
		{ NULL, 0, NULL }
	};
	struct spf_out o;

	(void)st;
	assert_int_equal(check(z, "192.0.2.1", "u@p.test", &o), SPF_PASS);
	/* the only PTR name does not hold the address: not validated */
	assert_int_equal(check(z, "192.0.2.2", "u@p.test", &o), SPF_FAIL);
	assert_int_equal(check(z, "192.0.2.3", "u@p.test", &o), SPF_FAIL);
	assert_int_equal(check(z, "192.0.2.1", "u@pp.test", &o), SPF_PASS);
	assert_int_equal(check(z, "192.0.2.2", "u@pp.test", &o), SPF_FAIL);
	assert_int_equal(check(z, "192.0.2.9", "u@colon.test", &o),
	    SPF_PASS);
	assert_int_equal(check(z, "192.0.3.9", "u@colon.test", &o),
	    SPF_FAIL);
}

static void
test_exists_exp(void **st)
{
	static const struct zrr z[] = {
		{ "x.test", DNS_T_TXT, "v=spf1 exists:%{l}.%{i}.ok.test "
		    "-all exp=why.x.test" },
		{ "alice.192.0.2.1.ok.test", DNS_T_A, "127.0.0.2" },
		{ "why.x.test", DNS_T_TXT, "%{i} may not send as %{s}" },
		{ NULL, 0, NULL }
	};
	struct spf_out o;

	(void)st;
	assert_int_equal(check(z, "192.0.2.1", "alice@x.test", &o), SPF_PASS);
	assert_int_equal(check(z, "192.0.2.1", "bob@x.test", &o), SPF_FAIL);
	assert_string_equal(o.expl, "192.0.2.1 may not send as bob@x.test");
	/* an IPv6 client: exists still asks for A */
	assert_int_equal(check(z, "2001:db8::1", "alice@x.test", &o),
	    SPF_FAIL);
}

/* a packet builder for dnsans_parse */
struct pk {
	uint8_t	 b[2048];
	size_t	 n;
};

static void
pput(struct pk *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof p->b);
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void
pu16(struct pk *p, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	pput(p, b, 2);
}

static void
pname(struct pk *p, const char *name)
{
	uint8_t w[256];
	int l = dns_name_wire(name, w, sizeof w);

	assert_true(l > 0);
	pput(p, w, (size_t)l);
}

static void
txt_packet(struct pk *p, unsigned rcode, const char *q, int nan,
    const char *const *txt)
{
	p->n = 0;
	pu16(p, 0x1234);
	pu16(p, 0x8180 | rcode);
	pu16(p, 1);
	pu16(p, (unsigned)nan);
	pu16(p, 0);
	pu16(p, 0);
	pname(p, q);
	pu16(p, DNS_T_TXT);
	pu16(p, 1);
	for (int i = 0; i < nan; i++) {
		size_t l = strlen(txt[i]);

		pu16(p, 0xc00c);
		pu16(p, DNS_T_TXT);
		pu16(p, 1);
		pu16(p, 0);
		pu16(p, 60);
		/* split in strings of at most 10 bytes, as long records are */
		pu16(p, (unsigned)(l + (l + 9) / 10 + (l == 0)));
		if (l == 0) {
			uint8_t z = 0;

			pput(p, &z, 1);
		}
		for (size_t o = 0; o < l; o += 10) {
			uint8_t k = (uint8_t)(l - o > 10 ? 10 : l - o);

			pput(p, &k, 1);
			pput(p, txt[i] + o, k);
		}
	}
}

static void
test_dnsans(void **st)
{
	static const char *const t[] = { "v=spf1 ip4:192.0.2.1 -all", "" };
	static struct dnsans a;
	struct pk p;

	(void)st;
	txt_packet(&p, 0, "e.test", 2, t);
	assert_int_equal(dnsans_parse(p.b, p.n, "E.test", DNS_T_TXT, &a), 0);
	assert_int_equal(a.st, DA_OK);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.rr[0].len, strlen(t[0]));
	assert_memory_equal(a.txt + a.rr[0].off, t[0], strlen(t[0]));
	assert_int_equal(a.rr[1].len, 0);
	/* another question, or another type: refused */
	assert_int_equal(dnsans_parse(p.b, p.n, "f.test", DNS_T_TXT, &a), -1);
	assert_int_equal(dnsans_parse(p.b, p.n, "e.test", DNS_T_A, &a), -1);
	txt_packet(&p, 3, "e.test", 0, t);
	assert_int_equal(dnsans_parse(p.b, p.n, "e.test", DNS_T_TXT, &a), 0);
	assert_int_equal(a.st, DA_NXDOMAIN);
	txt_packet(&p, 2, "e.test", 0, t);
	assert_int_equal(dnsans_parse(p.b, p.n, "e.test", DNS_T_TXT, &a), -1);
	/* a string length past its record */
	txt_packet(&p, 0, "e.test", 1, t);
	p.b[p.n - 6] = 200;
	assert_int_equal(dnsans_parse(p.b, p.n, "e.test", DNS_T_TXT, &a), -1);
	/* every cut of a good packet is refused or parsed, never overrun */
	txt_packet(&p, 0, "e.test", 2, t);
	for (size_t n = 0; n < p.n; n++)
		assert_int_equal(dnsans_parse(p.b, n, "e.test", DNS_T_TXT, &a),
		    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mechanisms),
		cmocka_unit_test(test_include_redirect),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_ptr_and_odd_specs),
		cmocka_unit_test(test_exists_exp),
		cmocka_unit_test(test_dnsans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
