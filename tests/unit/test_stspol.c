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
	s = "v=TLSRPTv1;rua=https://r.example/x , MAILTO:a@b.c,mailto:c@d";
	assert_int_equal(tlsrpt_txt_parse(s, strlen(s), rua, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rua[0], "a@b.c");
	assert_string_equal(rua[1], "c@d");
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
