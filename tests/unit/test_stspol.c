/* test_stspol: the MTA-STS policy and TXT parsers and the TLSRPT TXT
 * parser at their edges (RFC 8461 3.1, 3.2; RFC 8460 3), and MX pattern
 * matching (RFC 8461 4.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dnstxt.h"
#include "stsmsg.h"
#include "stspol.h"

static struct sts_policy pol;

static int
parse(const char *s)
{
	const char *why;
	int r = sts_policy_parse(s, strlen(s), &pol, &why);

	if (r == -1)
		assert_non_null(why);
	return r;
}

static void
policy_good(void **st)
{
	(void)st;
	assert_int_equal(parse("version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.example.com\r\nmx: *.Example.NET\r\n"
	    "max_age: 604800\r\n"), 0);
	assert_int_equal(pol.mode, STS_ENFORCE);
	assert_int_equal(pol.max_age, 604800);
	assert_int_equal(pol.nmx, 2);
	assert_string_equal(pol.mx[1], "*.example.net");
	/* LF alone, no final line end, spaces around the value */
	assert_int_equal(parse("version:STSv1\nmode:   testing  \nmx: a.b\n"
	    "max_age: 0"), 0);
	assert_int_equal(pol.mode, STS_TESTING);
	assert_int_equal(pol.max_age, 0);
	/* mode none needs no mx; unknown fields are ignored */
	assert_int_equal(parse("version: STSv1\nmode: none\nmax_age: 86400\n"
	    "x-ext: whatever: it is\n"), 0);
	assert_int_equal(pol.nmx, 0);
	/* the first occurrence counts */
	assert_int_equal(parse("version: STSv1\nmode: testing\nmode: bogus\n"
	    "mx: a.b\nmax_age: 5\nmax_age: x\n"), 0);
	assert_int_equal(pol.mode, STS_TESTING);
	assert_int_equal(pol.max_age, 5);
	/* over a year is a year */
	assert_int_equal(parse("version: STSv1\nmode: none\n"
	    "max_age: 9999999999\n"), 0);
	assert_int_equal(pol.max_age, STS_MAXAGE_MAX);
}

static void
policy_bad(void **st)
{
	static const char *const bad[] = {
		"",
		"mode: enforce\nmx: a.b\nmax_age: 1\n",		/* version */
		"version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmx: a.b\nmax_age: 1\n",	/* mode */
		"version: STSv1\nmode: Enforce\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\n",	/* max_age */
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 12345678901\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1 2\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",	/* no mx */
		"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: *.com\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: -a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a_b.c\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b.\nmax_age: 1\n",
		"<html><body>not found</body></html>\n",
		"version STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\n",
		": x\nversion: STSv1\nmode: none\nmax_age: 1\n",
		"version: STSv1\nmode: none\nmax_age: 1\nk\x01y: v\n",
		"version: STSv1\nmode: none\nmax_age: 1\nk: \xc3\xa9\n",
		"version: STSv1\nmode: none\nmax_age: 1\n"
		    "an-overly-long-field-name-of-33-c: v\n",
	};
	const char *why;
	char nul[] = "version: STSv1\nmode: none\0\nmax_age: 1\n";

	(void)st;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (parse(bad[i]) != -1)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(sts_policy_parse(nul, sizeof nul - 1, &pol, &why),
	    -1);
}

static void
policy_limits(void **st)
{
	char *big, *p;
	const char *why;
	size_t n = 0;

	(void)st;
	/* 32 mx patterns are kept, a 33rd refuses the policy */
	big = malloc(STS_POLICY_MAX + 2);
	assert_non_null(big);
	p = big;
	p += snprintf(p, 64, "version: STSv1\nmode: enforce\nmax_age: 1\n");
	for (int i = 0; i < STS_MX_MAX; i++)
		p += snprintf(p, 64, "mx: m%d.example.org\n", i);
	assert_int_equal(sts_policy_parse(big, (size_t)(p - big), &pol,
	    &why), 0);
	assert_int_equal(pol.nmx, STS_MX_MAX);
	p += snprintf(p, 64, "mx: one.too.many\n");
	assert_int_equal(sts_policy_parse(big, (size_t)(p - big), &pol,
	    &why), -1);
	/* the size limit, exactly */
	p = big;
	n = (size_t)snprintf(p, 64, "version: STSv1\nmode: none\nmax_age: 1\n");
	memset(big + n, '\n', STS_POLICY_MAX + 1 - n);
	assert_int_equal(sts_policy_parse(big, STS_POLICY_MAX, &pol, &why), 0);
	assert_int_equal(sts_policy_parse(big, STS_POLICY_MAX + 1, &pol,
	    &why), -1);
	assert_string_equal(why, "policy too long");
	free(big);
}

static void
mx_match(void **st)
{
	(void)st;
	assert_int_equal(parse("version: STSv1\nmode: enforce\nmax_age: 1\n"
	    "mx: mail.example.com\nmx: *.example.net\n"), 0);
	assert_true(sts_mx_match(&pol, "mail.example.com"));
	assert_true(sts_mx_match(&pol, "MAIL.Example.COM."));
	assert_true(sts_mx_match(&pol, "mx1.example.net"));
	assert_false(sts_mx_match(&pol, "example.net"));
	assert_false(sts_mx_match(&pol, "a.mx1.example.net"));
	assert_false(sts_mx_match(&pol, "mail.example.com.evil"));
	assert_false(sts_mx_match(&pol, "xmail.example.com"));
	assert_false(sts_mx_match(&pol, ""));
	assert_false(sts_mx_match(&pol, "."));
	assert_false(sts_mx_match(&pol, "127.0.0.1]"));
}

static void
txt(void **st)
{
	char id[STS_ID_MAX + 1];

	(void)st;
	assert_int_equal(sts_txt_parse("v=STSv1; id=20160831085700Z;", 28, id),
	    0);
	assert_string_equal(id, "20160831085700Z");
	assert_int_equal(sts_txt_parse("v=STSv1;id=a", 12, id), 0);
	assert_string_equal(id, "a");
	assert_int_equal(sts_txt_parse("v=STSv1 ; ext=1 ;id=b ; ", 24, id), 0);
	assert_string_equal(id, "b");
	/* not ours: ignored */
	assert_int_equal(sts_txt_parse("v=spf1 -all", 11, id), 1);
	assert_int_equal(sts_txt_parse("v=STSv10; id=a", 14, id), 1);
	assert_int_equal(sts_txt_parse("", 0, id), 1);
	/* ours but broken */
	assert_int_equal(sts_txt_parse("v=STSv1", 7, id), -1);	/* no id */
	assert_int_equal(sts_txt_parse("v=STSv1; id=", 12, id), -1);
	assert_int_equal(sts_txt_parse("v=STSv1; id=a-b", 15, id), -1);
	assert_int_equal(sts_txt_parse("v=STSv1 id=a", 12, id), -1);
	assert_int_equal(sts_txt_parse("v=STSv1;; id=a", 14, id), -1);
	assert_int_equal(sts_txt_parse("v=STSv1; id=a\x01", 14, id), -1);
	assert_int_equal(sts_txt_parse("v=STSv1; id="
	    "123456789012345678901234567890123", 45, id), -1);
	assert_int_equal(sts_txt_parse("v=STSv1; id="
	    "12345678901234567890123456789012", 44, id), 0);
}

static void
tlsrpt(void **st)
{
	char rua[TLSRPT_RUA_MAX][TLSRPT_URI_BUF];
	size_t n;
	const char *s;

	(void)st;
	s = "v=TLSRPTv1; rua=mailto:tls@example.com";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rua[0], "tls@example.com");
	s = "v=TLSRPTv1;rua=HTTPS://r.example/x , MAILTO:a@b.c,mailto:c@d";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(rua[0], "https://r.example/x");
	assert_string_equal(rua[1], "a@b.c");
	assert_string_equal(rua[2], "c@d");
	/* https: host, port, path; anything else is skipped, as is an
	 * address with ':' (it could pass for a URI) */
	s = "v=TLSRPTv1;rua=https://r.example:8443,https://r-1.example/a/b?c";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rua[0], "https://r.example:8443");
	assert_string_equal(rua[1], "https://r-1.example/a/b?c");
	s = "v=TLSRPTv1;rua=https://,https://:1/,https://a:/,https://a:123456,"
	    "https://a_b/,https://a/<x>,https://a@b/,http://a/,"
	    "mailto:https://a@b,mailto:a:b@c";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), 0);
	assert_int_equal(n, 0);
	s = "v=TLSRPTv1; rua=mailto:a%40b@c,mailto:@c,mailto:x@";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), 0);
	assert_int_equal(n, 0);
	s = "v=STSv1; id=1";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), 1);
	s = "v=TLSRPTv1;";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), -1);
	s = "v=TLSRPTv1; rua=mailto:a@b,,mailto:c@d";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), -1);
	s = "v=TLSRPTv1; rua=mailto:1@b,mailto:2@b,mailto:3@b,mailto:4@b,"
	    "mailto:5@b";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), 0);
	assert_int_equal(n, TLSRPT_RUA_MAX);
}

/* a DNS answer to (id 0x4242, _mta-sts.a.test, TXT) with the given
 * answer records appended raw */
static size_t
answer(uint8_t *b, uint16_t flags, uint16_t an, const void *rrs, size_t n)
{
	static const uint8_t q[] = "\x08_mta-sts\x01" "a\x04test";
	size_t o = 0;

	b[o++] = 0x42, b[o++] = 0x42;
	b[o++] = (uint8_t)(flags >> 8), b[o++] = (uint8_t)flags;
	b[o++] = 0, b[o++] = 1, b[o++] = 0, b[o++] = (uint8_t)an;
	memset(b + o, 0, 4), o += 4;
	memcpy(b + o, q, sizeof q), o += sizeof q;	/* with the root */
	b[o++] = 0, b[o++] = 16, b[o++] = 0, b[o++] = 1;
	memcpy(b + o, rrs, n);
	return o + n;
}

static void
dns_txt(void **st)
{
	static struct dns_txt t;
	uint8_t b[1024];
	size_t n;
	/* owner: a pointer to the question (offset 12); TXT IN ttl 300 */
	static const uint8_t two[] =
	    "\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x0b"
	    "\x04v=ST\x05Sv1;x"
	    "\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x02"
	    "\x01z";
	static const uint8_t over[] =	/* a string past its rdata */
	    "\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x03"
	    "\x05" "abc";
	static const uint8_t empty[] =	/* rdlength 0: no string at all */
	    "\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x00";
	static const uint8_t cname[] =	/* CNAME to b.test, then its TXT */
	    "\xc0\x0c\x00\x05\x00\x01\x00\x00\x01\x2c\x00\x08"
	    "\x01" "b\x04test\x00"
	    "\x01" "b\x04test\x00\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x02"
	    "\x01y"
	    "\x01" "c\x04test\x00\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x02"
	    "\x01w";

	(void)st;
	n = answer(b, 0x8180, 2, two, sizeof two - 1);
	assert_int_equal(dns_txt_parse(b, n, 0x4242, "_mta-sts.A.test", &t),
	    0);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.len[0], 9);
	assert_memory_equal(t.txt[0], "v=STSv1;x", 9);
	assert_int_equal(t.ttl, 60);
	/* another id, another name, a query, a count that lies */
	assert_int_equal(dns_txt_parse(b, n, 0x4243, "_mta-sts.a.test", &t),
	    -1);
	assert_int_equal(dns_txt_parse(b, n, 0x4242, "_mta-sts.b.test", &t),
	    -1);
	n = answer(b, 0x0100, 2, two, sizeof two - 1);
	assert_int_equal(dns_txt_parse(b, n, 0x4242, "_mta-sts.a.test", &t),
	    -1);
	n = answer(b, 0x8180, 3, two, sizeof two - 1);
	assert_int_equal(dns_txt_parse(b, n, 0x4242, "_mta-sts.a.test", &t),
	    -1);
	/* every cut of a good answer is refused or reads less */
	n = answer(b, 0x8180, 2, two, sizeof two - 1);
	for (size_t k = 0; k < n; k++)
		if (dns_txt_parse(b, k, 0x4242, "_mta-sts.a.test", &t) == 0)
			assert_true(t.n < 2);
	n = answer(b, 0x8180, 1, over, sizeof over - 1);
	assert_int_equal(dns_txt_parse(b, n, 0x4242, "_mta-sts.a.test", &t),
	    -1);
	n = answer(b, 0x8180, 1, empty, sizeof empty - 1);
	assert_int_equal(dns_txt_parse(b, n, 0x4242, "_mta-sts.a.test", &t),
	    -1);
	/* NXDOMAIN, truncated: said, no records */
	n = answer(b, 0x8183, 0, "", 0);
	assert_int_equal(dns_txt_parse(b, n, 0x4242, "_mta-sts.a.test", &t),
	    0);
	assert_int_equal(t.rcode, 3);
	assert_int_equal(t.n, 0);
	n = answer(b, 0x8380, 0, "", 0);
	assert_int_equal(dns_txt_parse(b, n, 0x4242, "_mta-sts.a.test", &t),
	    0);
	assert_true(t.tc);
	/* the CNAME's target's record counts, a stranger's does not */
	n = answer(b, 0x8180, 3, cname, sizeof cname - 1);
	assert_int_equal(dns_txt_parse(b, n, 0x4242, "_mta-sts.a.test", &t),
	    0);
	assert_int_equal(t.n, 1);
	assert_memory_equal(t.txt[0], "y", 1);
}

/* ans_fill - an enforce answer, qid 9, with one pattern */
static void
ans_fill(struct sts_ans *a, const char *domain, const char *mx,
    const char *why)
{
	memset(a, 0, sizeof *a);
	a->qid = 9;
	snprintf(a->domain, sizeof a->domain, "%s", domain);
	a->pol.mode = STS_ENFORCE;
	a->pol.nmx = 1;
	snprintf(a->pol.mx[0], sizeof a->pol.mx[0], "%s", mx);
	snprintf(a->why, sizeof a->why, "%s", why);
}

static void
records(void **st)
{
	struct buf b = BUF_INIT(STS_ANS_MAX + 8);
	struct sts_ans a, d;
	struct sts_res r, rd;
	struct sts_req q = { 7, "example.org" }, qd;
	struct sts_mail m;

	(void)st;
	assert_int_equal(sts_req_encode(&b, &q), 0);
	assert_int_equal(sts_req_decode(b.p + 4, b.len - 4, &qd), 0);
	assert_int_equal(qd.qid, 7);
	assert_string_equal(qd.domain, "example.org");
	/* one byte short, one too many, a NUL in the name */
	assert_int_equal(sts_req_decode(b.p + 4, b.len - 5, &qd), -1);
	assert_int_equal(buf_put(&b, "x", 1), 0);
	assert_int_equal(sts_req_decode(b.p + 4, b.len - 4, &qd), -1);
	b.len = 0;
	ans_fill(&a, "example.org", "mx.example.org", "fetched");
	a.pol.nmx = 2;
	snprintf(a.pol.mx[1], sizeof a.pol.mx[1], "*.example.net");
	assert_int_equal(sts_ans_encode(&b, &a), 0);
	assert_int_equal(sts_ans_decode(b.p + 4, b.len - 4, &d), 0);
	assert_int_equal(d.pol.mode, STS_ENFORCE);
	assert_int_equal(d.pol.nmx, 2);
	assert_string_equal(d.pol.mx[1], "*.example.net");
	for (size_t k = 0; k < b.len - 4; k++)
		assert_int_equal(sts_ans_decode(b.p + 4, k, &d), -1);
	/* a mode past enforce, more patterns than we keep */
	b.p[4 + 1 + 4 + 4 + 11] = 3;
	assert_int_equal(sts_ans_decode(b.p + 4, b.len - 4, &d), -1);
	b.p[4 + 1 + 4 + 4 + 11] = 2;
	b.p[4 + 1 + 4 + 4 + 11 + 1 + 3] = STS_MX_MAX + 1;
	assert_int_equal(sts_ans_decode(b.p + 4, b.len - 4, &d), -1);
	b.len = 0;
	memset(&r, 0, sizeof r);
	snprintf(r.domain, sizeof r.domain, "example.org");
	snprintf(r.type, sizeof r.type, "certificate-expired");
	snprintf(r.mx, sizeof r.mx, "mx.example.org");
	assert_int_equal(sts_res_encode(&b, &r), 0);
	assert_int_equal(sts_res_decode(b.p + 4, b.len - 4, &rd), 0);
	assert_string_equal(rd.type, "certificate-expired");
	b.len = 0;
	assert_int_equal(sts_mail_encode(&b, "a@b", "x\ny\n", 4), 0);
	assert_int_equal(sts_mail_decode(b.p + 4, b.len - 4, &m), 0);
	assert_string_equal(m.rcpt, "a@b");
	assert_int_equal(m.len, 4);
	/* a record of one kind is not another */
	assert_int_equal(sts_ans_decode(b.p + 4, b.len - 4, &d), -1);
	buf_free(&b);
}

/* the bytes on the wire, as doc/protocols.md draws them */
static void
record_bytes(void **st)
{
	static const char req[] = "\0\0\0\x0c" "Q" "\0\0\0\x07"
	    "\0\0\0\x03" "a.t",
	    ans[] = "\0\0\0\x1f" "A" "\0\0\0\x09" "\0\0\0\x03" "a.t"
	    "\x02" "\0\0\0\x01" "\0\0\0\x04" "mx.t" "\0\0\0\x02" "ok",
	    res[] = "\0\0\0\x12" "R" "\0\0\0\x03" "a.t" "\0"
	    "\0\0\0\x01" "x" "\0\0\0\0",
	    mail[] = "\0\0\0\x0f" "M" "\0\0\0\x03" "a@b" "\0\0\0\x03"
	    "m\0\n";
	struct buf b = BUF_INIT(256);
	struct sts_req q = { 7, "a.t" };
	struct sts_ans a;
	struct sts_res r = { "a.t", 0, "x", "" };

	(void)st;
	assert_int_equal(sts_req_encode(&b, &q), 0);
	assert_int_equal(b.len, sizeof req - 1);
	assert_memory_equal(b.p, req, b.len);
	b.len = 0;
	ans_fill(&a, "a.t", "mx.t", "ok");
	assert_int_equal(sts_ans_encode(&b, &a), 0);
	assert_int_equal(b.len, sizeof ans - 1);
	assert_memory_equal(b.p, ans, b.len);
	b.len = 0;
	assert_int_equal(sts_res_encode(&b, &r), 0);
	assert_int_equal(b.len, sizeof res - 1);
	assert_memory_equal(b.p, res, b.len);
	b.len = 0;
	assert_int_equal(sts_mail_encode(&b, "a@b", "m\0\n", 3), 0);
	assert_int_equal(b.len, sizeof mail - 1);
	assert_memory_equal(b.p, mail, b.len);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(policy_good),
		cmocka_unit_test(policy_bad),
		cmocka_unit_test(policy_limits),
		cmocka_unit_test(mx_match),
		cmocka_unit_test(txt),
		cmocka_unit_test(tlsrpt),
		cmocka_unit_test(dns_txt),
		cmocka_unit_test(records),
		cmocka_unit_test(record_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
