/* test_dmarc: the DMARC record parser, the From field's domain, the
 * organizational domain and alignment (libpsl), the policy decision with
 * sp= and pct=, and the Authentication-Results field: what we write and
 * which incoming fields count as claiming our authserv-id; what an ARC-
 * Authentication-Results field says passed (a trusted sealer's view). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <libpsl.h>

#include "arc.h"
#include "authres.h"
#include "dmarc.h"

static psl_ctx_t *psl;

static void
test_record(void **st)
{
	static const struct {
		const char *in;
		int ok;
		enum dmarc_policy p, sp;
		unsigned pct;
	} cases[] = {
		{ "v=DMARC1; p=reject", 1, DMARC_P_REJECT, 0, 100 },
		{ "v=DMARC1;p=quarantine;pct=20;sp=none", 1,
		    DMARC_P_QUARANTINE, DMARC_P_NONE, 20 },
		{ "v=DMARC1; p=none; pct=101", 1, DMARC_P_NONE, 0, 100 },
		{ "v=DMARC1; p=none; pct=x", 1, DMARC_P_NONE, 0, 100 },
		{ "v=DMARC1; p=Reject", 1, DMARC_P_REJECT, 0, 100 },
		/* no p=: only with a rua= is it p=none (6.6.3) */
		{ "v=DMARC1; rua=mailto:d@example.org", 1, DMARC_P_NONE, 0,
		    100 },
		{ "v=DMARC1; p=bogus", 0, 0, 0, 0 },
		{ "v=DMARC1", 0, 0, 0, 0 },
		{ "p=reject; v=DMARC1", 0, 0, 0, 0 },	/* v= first */
		{ "v=DMARC2; p=reject", 0, 0, 0, 0 },
		{ "v=spf1 -all", 0, 0, 0, 0 },
		{ "v=DMARC1; p=reject; p=none", 0, 0, 0, 0 },	/* twice */
		{ "", 0, 0, 0, 0 },
	};
	struct dmarc_rec r;

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = dmarc_rec_parse(cases[i].in, strlen(cases[i].in),
		    &r) == 0;

		if (got != cases[i].ok)
			fail_msg("%s: %d", cases[i].in, got);
		if (!got)
			continue;
		assert_int_equal(r.p, cases[i].p);
		assert_int_equal(r.pct, cases[i].pct);
		if (strstr(cases[i].in, "sp=") != NULL)
			assert_int_equal(r.sp, cases[i].sp);
	}
	assert_int_equal(dmarc_rec_parse("v=DMARC1; p=none; adkim=s; aspf=r",
	    33, &r), 0);
	assert_true(r.adkim_strict && !r.aspf_strict);
	assert_int_equal(r.nrua, 0);
}

/* rua=: mailto: URIs kept (their "!size" apart), others skipped, at
 * most DMARC_RUA_MAX; nothing a log line or an address must not hold */
static void
test_rua(void **st)
{
	static const struct {
		const char *in, *a, *b;
	} cases[] = {
		{ "v=DMARC1; p=none; rua=mailto:d@example.org", "d@example.org",
		    NULL },
		{ "v=DMARC1; p=none; rua=MAILTO:d@x.test!10m , mailto:e@y.test",
		    "d@x.test", "e@y.test" },
		{ "v=DMARC1; p=none; rua=https://x.test/r,mailto:e@y.test",
		    "e@y.test", NULL },
		{ "v=DMARC1; p=none; rua=mailto:a%40b@x.test,mailto:nodomain,"
		    "mailto:@x.test,mailto:x@,mailto:a@b@c.test,mailto:a b@x.t,"
		    "mailto:,mailto:\"q\"@x.test", NULL, NULL },
		{ "v=DMARC1; p=none; rua=", NULL, NULL },
	};
	struct dmarc_rec r;
	char big[600];
	int k;

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(dmarc_rec_parse(cases[i].in,
		    strlen(cases[i].in), &r), 0);
		assert_int_equal(r.nrua, (cases[i].a != NULL) +
		    (cases[i].b != NULL));
		if (cases[i].a != NULL)
			assert_string_equal(r.rua[0], cases[i].a);
		if (cases[i].b != NULL)
			assert_string_equal(r.rua[1], cases[i].b);
	}
	/* more than two kept (6.2 asks for at least two), with their size
	 * limits in bytes (6.3: k, m, g, t are powers of 2^10); a malformed
	 * size drops that URI, not the others */
	{
		static const char *in = "v=DMARC1; p=none; fo=0:d; "
		    "rua=mailto:a@x.test!10m,mailto:b@x.test!512,"
		    "mailto:c@x.test!1K,mailto:d@x.test!2g,mailto:e@x.test!,"
		    "mailto:f@x.test!10q,mailto:g@x.test!99999999999999999999,"
		    "mailto:h@x.test!17179869184t,mailto:i@x.test!16777215t,"
		    "mailto:j@x.test";
		static const struct { const char *a; unsigned long long m; }
		    want[] = { { "a@x.test", 10ull << 20 },
		    { "b@x.test", 512 }, { "c@x.test", 1024 },
		    { "d@x.test", 2ull << 30 }, { "i@x.test", 16777215ull << 40 },
		    { "j@x.test", 0 } };

		assert_int_equal(dmarc_rec_parse(in, strlen(in), &r), 0);
		assert_int_equal(r.nrua, 6);
		for (size_t i = 0; i < 6; i++) {
			assert_string_equal(r.rua[i], want[i].a);
			assert_true(r.rua_max[i] == want[i].m);
		}
		assert_string_equal(r.fo, "0:d");
	}
	/* at most DMARC_RUA_MAX */
	{
		char many[1024];
		int m = snprintf(many, sizeof many, "v=DMARC1; p=none; rua=");

		for (int i = 0; i < DMARC_RUA_MAX + 2; i++)
			m += snprintf(many + m, sizeof many - (size_t)m,
			    "%smailto:r%d@x.test", i ? "," : "", i);
		assert_int_equal(dmarc_rec_parse(many, (size_t)m, &r), 0);
		assert_int_equal(r.nrua, DMARC_RUA_MAX);
		assert_string_equal(r.fo, "0");		/* absent */
	}
	/* fo= of other bytes: its default */
	assert_int_equal(dmarc_rec_parse("v=DMARC1; p=none; fo=x", 22, &r),
	    0);
	assert_string_equal(r.fo, "0");
	/* an address longer than the room is skipped, not cut */
	k = snprintf(big, sizeof big, "v=DMARC1; p=none; rua=mailto:%0300d"
	    "@x.test", 0);
	assert_true(k > 0 && (size_t)k < sizeof big);
	assert_int_equal(dmarc_rec_parse(big, (size_t)k, &r), 0);
	assert_int_equal(r.nrua, 0);
}

static void
test_from_domain(void **st)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ " a@Example.ORG", "example.org" },
		{ " Some One <a@example.org>", "example.org" },
		{ " \"x@evil.test\" <a@example.org>", "example.org" },
		{ " (c@evil.test) a@example.org", "example.org" },
		{ " a@example.org (comment)", "example.org" },
		{ " <a@example.org.>", "example.org" },
		{ " a@example.org, b@EXAMPLE.org", "example.org" },
		{ " a@x.example.org\r\n\t(folded)", "x.example.org" },
		{ " \"a,b\" <a@example.org>", "example.org" },
		{ " a@example.org, b@other.test", NULL },
		{ " undisclosed-recipients:;", NULL },
		{ " no address here", NULL },
		{ " <a@>", NULL },
		{ " <a@example.org", NULL },
		{ " a@[192.0.2.1]", NULL },
		{ " ((a@evil.test) \\) b@evil.test) a@example.org",
		    "example.org" },
		{ " \"\\\" x@evil.test\" <a@example.org>", "example.org" },
		/* an unterminated quote or comment ends the field alike,
		 * with or without a quoted-pair cut at the end */
		{ " a@example.org \"x", "example.org" },
		{ " a@example.org \"x\\", "example.org" },
		{ " a@example.org (x\\", "example.org" },
		{ "", NULL },
	};
	char out[256];

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int r = dmarc_from_domain(cases[i].in, strlen(cases[i].in),
		    out, sizeof out);

		if (cases[i].want == NULL) {
			if (r != -1)
				fail_msg("%s: %s", cases[i].in, out);
			continue;
		}
		if (r != 0)
			fail_msg("%s: refused", cases[i].in);
		assert_string_equal(out, cases[i].want);
	}
	/* a domain longer than out: refused, not cut */
	assert_int_equal(dmarc_from_domain("a@example.org", 13, out, 8), -1);
}

static void
test_alignment(void **st)
{
	(void)st;
	assert_string_equal(dmarc_orgdom(psl, "mail.example.co.uk"),
	    "example.co.uk");
	assert_string_equal(dmarc_orgdom(psl, "a.b.example.com"),
	    "example.com");
	assert_true(dmarc_aligned(psl, "mail.example.com", "example.com", 0));
	assert_false(dmarc_aligned(psl, "mail.example.com", "example.com",
	    1));
	assert_true(dmarc_aligned(psl, "EXAMPLE.com", "example.com", 1));
	/* a public suffix is nobody's organization */
	assert_false(dmarc_aligned(psl, "a.co.uk", "b.co.uk", 0));
	assert_false(dmarc_aligned(psl, "example.com", "example.net", 0));
	assert_false(dmarc_aligned(psl, "", "example.net", 0));
}

/* a fake DNS: the TXT records of _dmarc names */
static const char *const *zone;

static void
fake_dns(void *arg, const char *name, uint16_t type, struct dnsans *a)
{
	(void)arg;
	a->n = a->txtlen = 0;
	a->st = DA_NXDOMAIN;
	for (size_t i = 0; zone[i] != NULL; i += 2) {
		if (strcasecmp(zone[i], name) != 0 || type != DNS_T_TXT)
			continue;
		if (strcmp(zone[i + 1], "TEMP") == 0) {
			a->st = DA_TEMP;
			return;
		}
		a->st = DA_OK;
		a->rr[a->n].type = DNS_T_TXT;
		a->rr[a->n].off = a->txtlen;
		a->rr[a->n].len = strlen(zone[i + 1]);
		memcpy(a->txt + a->txtlen, zone[i + 1], a->rr[a->n].len);
		a->txtlen += a->rr[a->n++].len;
	}
}

static void
test_policy(void **st)
{
	static const char *const z[] = {
		"_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine",
		"_dmarc.half.test", "v=DMARC1; p=reject; pct=50",
		"_dmarc.two.test", "v=DMARC1; p=reject",
		"_dmarc.two.test", "v=DMARC1; p=none",
		"_dmarc.temp.test", "TEMP",
		"_dmarc.strict.test", "v=DMARC1; p=reject; adkim=s; aspf=s",
		NULL
	};
	struct dmarc_in in = { .psl = NULL, .dns = fake_dns };
	struct dmarc_out o;

	(void)st;
	zone = z;
	in.psl = psl;
	in.from = "example.com";
	in.spf = SPF_FAIL;
	in.spf_domain = "example.com";
	dmarc_check(&in, &o);
	assert_int_equal(o.r, DMARC_FAIL);
	assert_int_equal(o.disposition, DMARC_P_REJECT);
	/* SPF passes, aligned: pass */
	in.spf = SPF_PASS;
	dmarc_check(&in, &o);
	assert_int_equal(o.r, DMARC_PASS);
	assert_true(o.spf_aligned);
	/* a subdomain without a record: the organization's sp= */
	in.from = "news.example.com";
	in.spf = SPF_SOFTFAIL;
	dmarc_check(&in, &o);
	assert_int_equal(o.r, DMARC_FAIL);
	assert_int_equal(o.policy, DMARC_P_QUARANTINE);
	assert_string_equal(o.domain, "example.com");
	/* relaxed DKIM alignment through the organizational domain */
	in.dkim_pass[0] = "mail.example.com";
	in.ndkim = 1;
	dmarc_check(&in, &o);
	assert_int_equal(o.r, DMARC_PASS);
	assert_true(o.dkim_aligned);
	/* strict: the same names no longer align */
	in.from = "strict.test";
	in.dkim_pass[0] = "a.strict.test";
	in.spf = SPF_PASS;
	in.spf_domain = "b.strict.test";
	dmarc_check(&in, &o);
	assert_int_equal(o.r, DMARC_FAIL);
	in.ndkim = 0;
	/* pct=50: rolls under it apply, the others are one step milder */
	in.from = "half.test";
	in.spf = SPF_FAIL;
	in.roll = 49;
	dmarc_check(&in, &o);
	assert_int_equal(o.disposition, DMARC_P_REJECT);
	in.roll = 50;
	dmarc_check(&in, &o);
	assert_int_equal(o.disposition, DMARC_P_QUARANTINE);
	/* two records: none; a DNS error: temperror; nothing: none */
	in.from = "two.test";
	dmarc_check(&in, &o);
	assert_int_equal(o.r, DMARC_NONE);
	in.from = "temp.test";
	dmarc_check(&in, &o);
	assert_int_equal(o.r, DMARC_TEMPERROR);
	in.from = "nothing.test";
	dmarc_check(&in, &o);
	assert_int_equal(o.r, DMARC_NONE);
	in.from = NULL;
	in.from_bad = 1;
	dmarc_check(&in, &o);
	assert_int_equal(o.r, DMARC_PERMERROR);
}

static void
test_ar_is_ours(void **st)
{
	static const struct {
		const char *in;
		int ours;
	} cases[] = {
		{ "Authentication-Results: mx.example.org; spf=pass", 1 },
		{ "authentication-results:MX.Example.ORG;dkim=pass", 1 },
		{ "Authentication-Results : mx.example.org; none", 1 },
		{ "Authentication-Results: (c) mx.example.org 1; none", 1 },
		{ "Authentication-Results:\r\n\tmx.example.org;\r\n\tnone", 1 },
		{ "Authentication-Results: \"mx.example.org\"; none", 1 },
		{ "Authentication-Results: mx.example.org", 1 },
		{ "Authentication-Results: mx.example.org.evil; none", 0 },
		{ "Authentication-Results: evil.mx.example.org; none", 0 },
		{ "Authentication-Results: other.org; mx.example.org", 0 },
		{ "Authentication-Results-X: mx.example.org; none", 0 },
		{ "X-Authentication-Results: mx.example.org; none", 0 },
		{ "Authentication-Results: (unclosed mx.example.org", 0 },
		{ "Authentication-Results: \"mx.example.org", 0 },
		{ "Authentication-Results: \"mx.example.org\\\"", 0 },
		{ "Authentication-Results: ((a) \\) b) mx.example.org", 1 },
		{ "Authentication-Results: (x\\", 0 },
		{ "Authentication-Results", 0 },
		{ "", 0 },
	};

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (ar_is_ours(cases[i].in, strlen(cases[i].in),
		    "mx.example.org") != cases[i].ours)
			fail_msg("%s", cases[i].in);
}

static void
test_ar_header(void **st)
{
	static struct authres ar;
	struct buf b = BUF_INIT(1 << 16);

	(void)st;
	ar.spf_done = 1;
	ar.spf.r = SPF_PASS;
	ar.spf.why = "matched";
	snprintf(ar.mailfrom, sizeof ar.mailfrom, "%s", "a b\"c@example.org");
	ar.nsig = 1;
	ar.sig[0].r = ARD_FAIL;
	ar.sig[0].why = "body hash (mismatch)";
	snprintf(ar.sig[0].d, sizeof ar.sig[0].d, "example.org");
	snprintf(ar.sig[0].s, sizeof ar.sig[0].s, "sel");
	snprintf(ar.sig[0].b, sizeof ar.sig[0].b, "abcd+/12");
	ar.dmarc_done = 1;
	ar.dmarc.r = DMARC_FAIL;
	ar.dmarc.policy = ar.dmarc.disposition = DMARC_P_REJECT;
	snprintf(ar.from, sizeof ar.from, "example.org");
	assert_int_equal(ar_header(&ar, "mx.test", &b), 0);
	assert_int_equal(buf_put(&b, "", 1), 0);
	assert_string_equal(b.p, "Authentication-Results: mx.test;\n"
	    "\tspf=pass (matched) smtp.mailfrom=\"a b\\\"c@example.org\";\n"
	    "\tdkim=fail (body hash ?mismatch?) header.d=example.org "
	    "header.s=sel header.b=abcd+/12;\n"
	    "\tdmarc=fail (p=reject dis=reject) header.from=example.org\n");
	/* what we write is ours when it comes back */
	assert_true(ar_is_ours(b.p, b.len - 1, "mx.test"));
	/* a DMARC failure a trusted forwarder vouched for */
	b.len = 0;
	ar.spf_done = 0;
	ar.nsig = 0;
	ar.dmarc.override = "trusted_forwarder";
	snprintf(ar.dmarc.override_why, sizeof ar.dmarc.override_why,
	    "arc=pass as[1].d=fwd.test (dkim)");
	assert_int_equal(ar_header(&ar, "mx.test", &b), 0);
	assert_int_equal(buf_put(&b, "", 1), 0);
	assert_string_equal(b.p, "Authentication-Results: mx.test;\n"
	    "\tdkim=none;\n\tdmarc=fail (p=reject dis=none, override trusted_forwarder: "
	    "arc=pass as[1].d=fwd.test ?dkim?) header.from=example.org "
	    "policy.override=trusted_forwarder\n");
	buf_free(&b);
}

static void
test_arc_aar(void **st)
{
	static const struct {
		const char *in;
		int ret;
		const char *dmarc, *spf, *dkim0, *dkim1;
	} cases[] = {
		{ "i=1; fwd.test; dkim=pass header.d=Up.Test header.s=s1; "
		    "spf=pass smtp.mailfrom=a@Up.Test; dmarc=pass "
		    "header.from=up.test", 0, "up.test", "up.test", "up.test",
		    "" },
		/* comments, CFWS around '=', a quoted value, a version */
		{ "i=2; fwd.test 1; dkim (x; y) = (z) pass (good) header.i="
		    "\"@sub.up.test\"; dmarc=pass (p=reject) header.from = "
		    "up.test", 0, "up.test", "", "sub.up.test", "" },
		/* results other than pass are not kept */
		{ "i=1; fwd.test; dkim=fail header.d=up.test; spf=softfail "
		    "smtp.mailfrom=up.test; dmarc=fail header.from=up.test", 0,
		    "", "", "", "" },
		/* an SRS sender: '=' inside the value */
		{ "i=1; fwd.test; spf=pass smtp.mailfrom=SRS0=AbCd=6M=o.test="
		    "u@f.test", 0, "", "f.test", "", "" },
		/* helo only when there is no mailfrom */
		{ "i=1; fwd.test; spf=pass smtp.helo=h.test", 0, "", "h.test",
		    "", "" },
		{ "i=1; fwd.test; dkim=pass header.d=a.test; dkim=pass "
		    "header.d=b.test", 0, "", "", "a.test", "b.test" },
		/* none, or no results at all */
		{ "i=1; fwd.test; none", 0, "", "", "", "" },
		{ "i=1; fwd.test", 0, "", "", "", "" },
		/* not an AAR value; an unterminated comment stops the rest */
		{ "fwd.test; dmarc=pass header.from=up.test", -1, "", "", "",
		    "" },
		{ "i=51; fwd.test; dmarc=pass header.from=up.test", -1, "",
		    "", "", "" },
		{ "i=1; fwd.test; dmarc=pass (open header.from=up.test", 0, "",
		    "", "", "" },
		{ "", -1, "", "", "", "" },
	};
	struct arc_aar a;
	char big[600];

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(arc_aar_parse(cases[i].in,
		    strlen(cases[i].in), &a), cases[i].ret);
		assert_string_equal(a.dmarc, cases[i].dmarc);
		assert_string_equal(a.spf, cases[i].spf);
		assert_string_equal(a.ndkim > 0 ? a.dkim[0] : "",
		    cases[i].dkim0);
		assert_string_equal(a.ndkim > 1 ? a.dkim[1] : "",
		    cases[i].dkim1);
	}
	/* a value longer than we keep: that resinfo is dropped */
	memset(big, 'a', sizeof big);
	memcpy(big, "i=1; f; dmarc=pass header.from=", 31);
	assert_int_equal(arc_aar_parse(big, sizeof big, &a), 0);
	assert_string_equal(a.dmarc, "");
	/* more dkim=pass than kept: the first ARC_AAR_DKIM_MAX */
	{
		struct buf b = BUF_INIT(4096);

		assert_int_equal(buf_puts(&b, "i=1; f"), 0);
		for (int i = 0; i < ARC_AAR_DKIM_MAX + 3; i++)
			assert_int_equal(buf_fmt(&b, "; dkim=pass header.d="
			    "d%d.test", i), 0);
		assert_int_equal(arc_aar_parse(b.p, b.len, &a), 0);
		assert_int_equal(a.ndkim, ARC_AAR_DKIM_MAX);
		assert_string_equal(a.dkim[ARC_AAR_DKIM_MAX - 1], "d7.test");
		buf_free(&b);
	}
}

static unsigned nkeyq;

static void
count_dns(void *arg, const char *name, uint16_t type, struct dnsans *a)
{
	(void)arg, (void)name, (void)type;
	nkeyq++;
	a->n = a->txtlen = 0;
	a->st = DA_NXDOMAIN;
}

/* 10,000 signatures: at most AR_DKIM_MAX keys asked for, the rest only
 * counted; more fields than DKIM_FIELDS_MAX: none checked, and said so */
static void
test_many_signatures(void **st)
{
	static struct authres ar;
	struct buf m = BUF_INIT(1 << 24);
	const char sig[] = "DKIM-Signature: v=1; a=rsa-sha256; d=x.test; "
	    "s=s; h=from; bh=; b=\n";

	(void)st;
	for (int i = 0; i < 900; i++)
		assert_int_equal(buf_puts(&m, sig), 0);
	assert_int_equal(buf_puts(&m, "From: a@x.test\n\nbody\n"), 0);
	nkeyq = 0;
	ar_dkim_verify(&ar, m.p, m.len, count_dns, NULL, 0);
	assert_int_equal(ar.nsig_all, 900);
	assert_int_equal(ar.nsig, AR_DKIM_MAX);
	assert_int_equal(nkeyq, AR_DKIM_MAX);
	assert_int_equal(ar.sig[0].r, ARD_PERMERROR);
	assert_string_equal(ar.sig[0].why, "no key");
	m.len = 0;
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buf_puts(&m, sig), 0);
	assert_int_equal(buf_puts(&m, "From: a@x.test\n\nbody\n"), 0);
	nkeyq = 0;
	ar_dkim_verify(&ar, m.p, m.len, count_dns, NULL, 0);
	assert_int_equal(ar.nsig, 0);
	assert_int_equal(nkeyq, 0);
	assert_string_equal(ar.dkim_why, "too many header fields");
	buf_free(&m);
}

/* ARC's structure is judged before any key is asked for */
static void
test_arc_structure(void **st)
{
	static const struct {
		const char *msg, *why;
		enum arc_result r;
	} cases[] = {
		{ "From: a@x.test\n\nbody\n", "no ARC sets", ARC_NONE },
		{ "ARC-Seal: i=0; cv=none; b=\nFrom: a\n\n", "bad or "
		    "repeated i=", ARC_FAIL },
		{ "ARC-Seal: i=51; cv=none; b=\nFrom: a\n\n", "bad or "
		    "repeated i=", ARC_FAIL },
		{ "ARC-Seal: i=x; cv=none; b=\nFrom: a\n\n", "bad or "
		    "repeated i=", ARC_FAIL },
		{ "ARC-Seal: i=1; cv=none; b=\nARC-Seal: i=1; cv=none; b=\n"
		    "\n", "bad or repeated i=", ARC_FAIL },
		{ "ARC-Authentication-Results: i=1 x.test; spf=pass\n\n",
		    "bad or repeated i=", ARC_FAIL },
		{ "ARC-Seal: i=1; cv=none; b=\n\n", "incomplete set",
		    ARC_FAIL },
		{ "ARC-Seal: i=2; cv=pass; b=\nARC-Message-Signature: i=2; "
		    "b=\nARC-Authentication-Results: i=2; x.test; none\n\n",
		    "incomplete set", ARC_FAIL },	/* no set 1 */
		{ "ARC-Seal: i=1; cv=none; b=\nARC-Message-Signature: i=1; "
		    "a=rsa-sha256; h=from:arc-seal; bh=; b=\n"
		    "ARC-Authentication-Results: i=1; x.test; none\n\n",
		    "message signature", ARC_FAIL },	/* h= names the seal */
	};
	struct arc_out o;

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		nkeyq = 0;
		arc_verify(cases[i].msg, strlen(cases[i].msg), count_dns, NULL,
		    &o);
		if (o.r != cases[i].r || strcmp(o.why, cases[i].why) != 0)
			fail_msg("case %zu: %s (%s)", i, arc_name(o.r), o.why);
		assert_int_equal(nkeyq, 0);
	}
}

/* an ARC field name with no colon has no value: judged without reading
 * past it (the message in a buffer of its exact size, for ASan) */
static void
test_arc_no_colon(void **st)
{
	static const char *const msgs[] = {
		"From: a@x.test\nARC-Seal", "ARC-Seal",
		"From: a@x.test\nARC-Message-Signature",
		"From: a@x.test\nARC-Authentication-Results",
	};
	struct arc_out o;

	(void)st;
	for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
		size_t n = strlen(msgs[i]);
		char *m = malloc(n);

		assert_non_null(m);
		memcpy(m, msgs[i], n);
		arc_verify(m, n, count_dns, NULL, &o);
		/* a line with no colon is no field (dkim_fields_split) */
		assert_int_equal(o.r, ARC_NONE);
		free(m);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_rua),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_ar_is_ours),
		cmocka_unit_test(test_ar_header),
		cmocka_unit_test(test_arc_aar),
		cmocka_unit_test(test_many_signatures),
		cmocka_unit_test(test_arc_structure),
		cmocka_unit_test(test_arc_no_colon),
	};

	if ((psl = psl_latest(NULL)) == NULL)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
