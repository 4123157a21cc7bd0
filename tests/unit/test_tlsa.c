/* test_tlsa: TLSA records (lib/tlsa.c) at their edges: lengths, usages
 * SMTP ignores, digest lengths, and the text form jobs carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tlsa.h"
#include "tlsaname.h"

static void
test_parse_lengths(void **st)
{
	uint8_t r[3 + TLSA_DATA_MAX + 1];
	struct tlsa t;

	(void)st;
	memset(r, 0xab, sizeof r);
	r[0] = 3, r[1] = 1, r[2] = 1;
	/* RFC 6698 2.1: three octets and at least one of data */
	assert_int_equal(tlsa_parse(r, 0, &t), -1);
	assert_int_equal(tlsa_parse(r, 3, &t), -1);
	assert_int_equal(tlsa_parse(r, 4, &t), 0);
	assert_int_equal(t.len, 1);
	assert_int_equal(tlsa_parse(r, 3 + 32, &t), 0);
	assert_int_equal(t.usage, 3);
	assert_int_equal(t.selector, 1);
	assert_int_equal(t.mtype, 1);
	assert_int_equal(t.len, 32);
	assert_true(tlsa_usable(&t));
	/* the longest kept, then one byte more: kept as unusable */
	assert_int_equal(tlsa_parse(r, 3 + TLSA_DATA_MAX, &t), 0);
	assert_false(t.oversize);
	assert_int_equal(tlsa_parse(r, sizeof r, &t), 0);
	assert_true(t.oversize);
	assert_int_equal(t.len, 0);
	assert_false(tlsa_usable(&t));
}

static struct tlsa
rec(uint8_t u, uint8_t s, uint8_t m, size_t len)
{
	struct tlsa t;

	memset(&t, 0, sizeof t);
	t.usage = u, t.selector = s, t.mtype = m, t.len = len;
	memset(t.data, 0x5a, len);
	return t;
}

static void
test_usable(void **st)
{
	struct tlsa t;

	(void)st;
	t = rec(3, 1, 1, 32);
	assert_true(tlsa_usable(&t));
	t = rec(2, 0, 2, 64);
	assert_true(tlsa_usable(&t));
	t = rec(3, 1, 0, 44);		/* an Ed25519 key, whole */
	assert_true(tlsa_usable(&t));
	/* PKIX-TA and PKIX-EE: SMTP ignores them (RFC 7672 3.1.3) */
	t = rec(0, 0, 1, 32);
	assert_false(tlsa_usable(&t));
	t = rec(1, 1, 1, 32);
	assert_false(tlsa_usable(&t));
	t = rec(4, 1, 1, 32);
	assert_false(tlsa_usable(&t));
	t = rec(3, 2, 1, 32);		/* no selector 2 */
	assert_false(tlsa_usable(&t));
	t = rec(3, 1, 3, 32);		/* no matching type 3 */
	assert_false(tlsa_usable(&t));
	/* a digest of the wrong length matches nothing */
	t = rec(3, 1, 1, 31);
	assert_false(tlsa_usable(&t));
	t = rec(3, 1, 2, 32);
	assert_false(tlsa_usable(&t));
	t = rec(3, 1, 0, 0);
	assert_false(tlsa_usable(&t));
}

static void
test_text_roundtrip(void **st)
{
	char s[TLSA_TEXT_MAX];
	struct tlsa t = rec(255, 255, 255, TLSA_DATA_MAX), u;

	(void)st;
	t.data[0] = 0x01, t.data[TLSA_DATA_MAX - 1] = 0xfe;
	assert_int_equal(tlsa_format(&t, s, sizeof s), 0);
	assert_int_equal(strlen(s), sizeof s - 1);	/* the longest fits */
	assert_memory_equal(s, "255 255 255 01", 14);
	assert_int_equal(tlsa_scan(s, &u), 0);
	assert_int_equal(u.usage, 255);
	assert_int_equal(u.len, TLSA_DATA_MAX);
	assert_memory_equal(u.data, t.data, TLSA_DATA_MAX);
	/* one byte short of room: refused, not cut */
	assert_int_equal(tlsa_format(&t, s, sizeof s - 1), -1);
	t.oversize = 1;
	assert_int_equal(tlsa_format(&t, s, sizeof s), -1);
	t = rec(3, 1, 1, 1);
	t.data[0] = 0xAB;
	assert_int_equal(tlsa_format(&t, s, sizeof s), 0);
	assert_string_equal(s, "3 1 1 ab");
	assert_int_equal(tlsa_scan("3 1 1 AB", &u), 0);
	assert_int_equal(u.data[0], 0xab);
}

static void
test_scan_rejects(void **st)
{
	struct tlsa t;
	char big[TLSA_TEXT_MAX + 4];
	static const char *const bad[] = {
		"", "3", "3 1", "3 1 1", "3 1 1 ", "3 1 1 a", "3 1 1 abc",
		"3 1 1 zz", "256 1 1 ab", "3  1 1 ab", " 3 1 1 ab",
		"3 1 1 ab ", "3 1 1 ab\n", "-1 1 1 ab", "3 1 1 0xab",
		"0003 1 1 ab", "3,1,1 ab",
	};

	(void)st;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(tlsa_scan(bad[i], &t), -1);
	/* data one byte over the limit */
	memcpy(big, "3 1 1 ", 6);
	memset(big + 6, 'a', 2 * TLSA_DATA_MAX + 2);
	big[6 + 2 * TLSA_DATA_MAX + 2] = '\0';
	assert_int_equal(tlsa_scan(big, &t), -1);
	big[6 + 2 * TLSA_DATA_MAX] = '\0';
	assert_int_equal(tlsa_scan(big, &t), 0);
}

/* the TLSA names of a host (RFC 7672 2.2.3): one place for resolve and
 * sandmail-tlspolicy */
static void
test_names(void **st)
{
	static struct dns_msg m;
	char out[DNS_NAME_BUF + 16], host[300];

	(void)st;
	assert_int_equal(tlsaname_of(out, sizeof out, 25, "mx.example.org"), 0);
	assert_string_equal(out, "_25._tcp.mx.example.org");
	/* 253 bytes in all is a name, 254 is not; nor what outsz cuts */
	memset(host, 'a', sizeof host);
	host[253 - 9] = '\0';
	assert_int_equal(tlsaname_of(out, sizeof out, 25, host), 0);
	assert_int_equal(strlen(out), 253);
	host[253 - 9] = 'a', host[254 - 9] = '\0';
	assert_int_equal(tlsaname_of(out, sizeof out, 25, host), -1);
	assert_int_equal(tlsaname_of(out, 10, 25, "mx.example.org"), -1);
	/* follow an alias only by a secure chain, to another name */
	assert_int_equal(tlsaname_follow("a.example", "mx.example", 1), 1);
	assert_int_equal(tlsaname_follow("a.example", "mx.example", 0), 0);
	assert_int_equal(tlsaname_follow("a.example", "A.Example", 1), 0);
	assert_int_equal(tlsaname_follow("a.example", "", 1), 0);
	/* the expanded name's answer counts when it failed or had records */
	assert_int_equal(tlsaname_expanded(1, 1, 0), 1);
	assert_int_equal(tlsaname_expanded(1, 0, 1), 1);
	assert_int_equal(tlsaname_expanded(1, 0, 0), 0);
	assert_int_equal(tlsaname_expanded(0, 1, 1), 0);
	/* the chain in an answer: a -> b -> c, a loop stops after 8 hops */
	memset(&m, 0, sizeof m);
	assert_string_equal(tlsaname_canon(&m, "a.example"), "a.example");
	m.nrr = 3;
	m.rr[0].type = DNS_T_CNAME;
	snprintf(m.rr[0].name, sizeof m.rr[0].name, "B.example");
	snprintf(m.rr[0].u.cname, sizeof m.rr[0].u.cname, "c.example");
	m.rr[1].type = DNS_T_CNAME;
	snprintf(m.rr[1].name, sizeof m.rr[1].name, "a.example");
	snprintf(m.rr[1].u.cname, sizeof m.rr[1].u.cname, "b.example");
	m.rr[2].type = DNS_T_A;
	snprintf(m.rr[2].name, sizeof m.rr[2].name, "c.example");
	assert_string_equal(tlsaname_canon(&m, "a.example"), "c.example");
	snprintf(m.rr[0].u.cname, sizeof m.rr[0].u.cname, "a.example");
	(void)tlsaname_canon(&m, "a.example");	/* returns */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_text_roundtrip),
		cmocka_unit_test(test_scan_rejects),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
