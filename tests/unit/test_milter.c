/* test_milter: lib/milter.c's codec at its edges: packet framing in
 * every split, the negotiation's checks, each reply and change, and what
 * is malformed or was not negotiated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "milter.h"

#define L(s)	(const unsigned char *)s, sizeof s - 1

static void
test_framing(void **st)
{
	struct buf b = BUF_INIT(1 << 20);
	const unsigned char *d;
	size_t dn, n;
	char c;

	(void)st;
	assert_int_equal(milter_pkt(&b, 'H', "mx\0", 3), 0);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.p, "\0\0\0\4Hmx\0", 8);
	for (n = 0; n < 8; n++)
		assert_int_equal(milter_next((unsigned char *)b.p, n, &c, &d,
		    &dn), 0);
	assert_int_equal(milter_next((unsigned char *)b.p, 8, &c, &d, &dn),
	    8);
	assert_int_equal(c, 'H');
	assert_int_equal(dn, 3);
	/* no data */
	b.len = 0;
	assert_int_equal(milter_pkt(&b, 'N', NULL, 0), 0);
	assert_int_equal(milter_next((unsigned char *)b.p, b.len, &c, &d,
	    &dn), 5);
	assert_int_equal(dn, 0);
	/* length 0, and over the limit */
	assert_int_equal(milter_next(L("\0\0\0\0c"), &c, &d, &dn), -1);
	assert_int_equal(milter_next(L("\0\4\0\2c"), &c, &d, &dn), -1);
	assert_int_equal(milter_next(L("\xff\xff\xff\xff" "c"), &c, &d, &dn),
	    -1);
	/* a packet too big to send */
	assert_int_equal(milter_pkt(&b, 'B', b.p, MILTER_PKT_MAX + 1), -1);
	buf_free(&b);
}

static void
test_optneg(void **st)
{
	uint32_t v, a, p;

	(void)st;
	assert_int_equal(milter_optneg(L("\0\0\0\6\0\0\0\1\0\0\0\2"), &v, &a,
	    &p), 0);
	assert_int_equal(v, 6);
	assert_int_equal(a, 1);
	assert_int_equal(p, 2);
	/* macro lists after: ignored */
	assert_int_equal(milter_optneg(L("\0\0\0\2\0\0\0\0\0\0\0\0xyz"), &v,
	    &a, &p), 0);
	assert_int_equal(milter_optneg(L("\0\0\0\6\0\0\0\1\0\0\0"), &v, &a,
	    &p), -1);
	assert_int_equal(milter_optneg(L("\0\0\0\7\0\0\0\1\0\0\0\0"), &v, &a,
	    &p), -1);
	assert_int_equal(milter_optneg(L("\0\0\0\1\0\0\0\1\0\0\0\0"), &v, &a,
	    &p), -1);
	assert_int_equal(milter_optneg(L("\0\0\0\6\0\0\2\0\0\0\0\0"), &v, &a,
	    &p), -1);
	assert_int_equal(milter_optneg(L("\0\0\0\6\0\0\0\0\0\x20\0\0"), &v,
	    &a, &p), -1);
}

static void
test_replies(void **st)
{
	struct milter_res r = { 0 };

	(void)st;
	assert_int_equal(milter_reply('c', NULL, 0, 0, &r), 1);
	assert_int_equal(r.v, MV_CONTINUE);
	assert_int_equal(milter_reply('a', NULL, 0, 0, &r), 1);
	assert_int_equal(r.v, MV_ACCEPT);
	assert_int_equal(milter_reply('r', NULL, 0, 0, &r), 1);
	assert_int_equal(r.v, MV_REJECT);
	assert_int_equal(milter_reply('t', NULL, 0, 0, &r), 1);
	assert_int_equal(r.v, MV_TEMPFAIL);
	assert_int_equal(milter_reply('d', NULL, 0, 0, &r), 1);
	assert_int_equal(r.v, MV_DISCARD);
	assert_int_equal(milter_reply('p', NULL, 0, 0, &r), 0);
	assert_int_equal(milter_reply('y', L("550 5.7.1 no\0"), 0, &r), 1);
	assert_int_equal(r.v, MV_REPLY);
	assert_string_equal(r.reply, "550 5.7.1 no");
	/* multi-line: the first line, as one line */
	assert_int_equal(milter_reply('y', L("451-4.7.1 a\r\n451 b\0"), 0,
	    &r), 1);
	assert_string_equal(r.reply, "451 4.7.1 a");
	assert_int_equal(milter_reply('y', L("421\0"), 0, &r), 1);
	assert_int_equal(milter_reply('y', L("250 ok\0"), 0, &r), -1);
	assert_int_equal(milter_reply('y', L("550 no"), 0, &r), -1);
	assert_int_equal(milter_reply('y', L("55\0"), 0, &r), -1);
	assert_int_equal(milter_reply('y', L("5500 x\0"), 0, &r), -1);
	assert_int_equal(milter_reply('y', L("550 a\x01\0"), 0, &r), 1);
	assert_string_equal(r.reply, "550 a?");
	assert_int_equal(milter_reply('Z', NULL, 0, MA_ALL, &r), -1);
}

static void
test_changes(void **st)
{
	struct milter_res r = { 0 };
	unsigned i;

	(void)st;
	assert_int_equal(milter_reply('h', L("X-A\0b c\0"), MA_ADDHDRS, &r),
	    0);
	assert_int_equal(milter_reply('i', L("\0\0\0\1X-B\0v\0"), MA_ADDHDRS,
	    &r), 0);
	assert_int_equal(milter_reply('m', L("\0\0\0\2Subject\0\0"),
	    MA_CHGHDRS, &r), 0);
	assert_int_equal(milter_reply('+', L("<x@y>\0"), MA_ADDRCPT, &r), 0);
	assert_int_equal(milter_reply('-', L("<x@y>\0"), MA_DELRCPT, &r), 0);
	assert_int_equal(milter_reply('e', L("<f@y>\0"), MA_CHGFROM, &r), 0);
	assert_int_equal(milter_reply('q', L("virus\0"), MA_QUARANTINE, &r),
	    0);
	assert_int_equal(milter_reply('b', L("a\0b"), MA_CHGBODY, &r), 0);
	assert_int_equal(r.nmods, 8);
	assert_int_equal(r.mods[0].type, 'h');
	assert_string_equal(r.mods[0].name, "X-A");
	assert_string_equal(r.mods[0].value, "b c");
	assert_int_equal(r.mods[1].idx, 1);
	assert_int_equal(r.mods[2].idx, 2);
	assert_string_equal(r.mods[2].value, "");	/* delete */
	assert_null(r.mods[3].value);
	assert_int_equal(r.mods[7].vlen, 3);
	milter_res_free(&r);
	/* not negotiated */
	assert_int_equal(milter_reply('h', L("X-A\0b\0"), MA_CHGHDRS, &r), -1);
	assert_int_equal(milter_reply('b', L("x"), MA_ADDHDRS, &r), -1);
	/* malformed: no NUL, no value, a short index, an empty name */
	assert_int_equal(milter_reply('h', L("X-A\0b"), MA_ALL, &r), -1);
	assert_int_equal(milter_reply('h', L("X-A\0"), MA_ALL, &r), -1);
	assert_int_equal(milter_reply('i', L("\0\0\1"), MA_ALL, &r), -1);
	assert_int_equal(milter_reply('+', L("\0"), MA_ALL, &r), -1);
	assert_int_equal(r.nmods, 0);
	/* more changes than kept: counted as overflow, not stored */
	for (i = 0; i < MILTER_MODS_MAX + 3; i++)
		assert_int_equal(milter_reply('h', L("X\0v\0"), MA_ALL, &r), 0);
	assert_int_equal(r.nmods, MILTER_MODS_MAX);
	assert_true(r.overflow);
	milter_res_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_optneg),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
