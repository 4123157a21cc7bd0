/* test_tlsa: TLSA records (lib/tlsa.c) at their edges: lengths, usages
 * SMTP ignores, digest lengths, and the text form jobs carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tlsa.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_text_roundtrip),
		cmocka_unit_test(test_scan_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
