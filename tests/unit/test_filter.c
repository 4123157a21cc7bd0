/* test_filter: the policy answer parser (smtpd/policyd.c) at its edges:
 * split and whole answers, every action, codes with and without an
 * enhanced status code, text made printable, and what is malformed; and
 * the reversed names of the DNS blocklist lookups and the TXT text read
 * from their answers (smtpd/dnsbl.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../smtpd/filter.h"

#define L(s)	s, sizeof s - 1

static const struct {
	const char *in; size_t n; long used;
	enum pd_kind kind; const char *code, *esc, *text;
} answers[] = {
	{ L("action=DUNNO\n\n"), 14, PD_ACCEPT, "", "", "" },
	{ L("action=ok\n\n"), 11, PD_ACCEPT, "", "", "" },
	{ L("action=DUNNO\r\n\r\n"), 16, PD_ACCEPT, "", "", "" },
	{ L("a=b\naction=OK\nc=d\n\n"), 19, PD_ACCEPT, "", "", "" },
	{ L("action=REJECT\n\n"), 15, PD_REJECT, "554", "5.7.1",
	    "Access denied" },
	{ L("action=REJECT go  away\n\n"), 24, PD_REJECT, "554", "5.7.1",
	    "go  away" },
	{ L("action=DEFER_IF_PERMIT Greylisted, see x\n\n"), 42, PD_DEFER,
	    "450", "4.7.1", "Greylisted, see x" },
	{ L("action=defer\n\n"), 14, PD_DEFER, "450", "4.7.1",
	    "Try again later" },
	{ L("action=550 5.7.0 no\n\n"), 21, PD_REJECT, "550", "5.7.0", "no" },
	{ L("action=550 4.7.0 no\n\n"), 21, PD_REJECT, "550", "5.7.1",
	    "4.7.0 no" },
	{ L("action=451 4.123.456 x\n\n"), 24, PD_DEFER, "451", "4.123.456",
	    "x" },
	{ L("action=451 4.1234.5 x\n\n"), 23, PD_DEFER, "451", "4.7.1",
	    "4.1234.5 x" },
	{ L("action=421\n\n"), 12, PD_DEFER, "421", "4.7.1", "" },
	{ L("action=HOLD q\n\n"), 15, PD_HOLD, "", "", "q" },
	{ L("action=PREPEND X-A: b\n\n"), 23, PD_ACCEPT, "", "", "X-A: b" },
	{ L("action=REJECT a\x01\x7f\xff" "b\n\n"), 21, PD_REJECT, "554",
	    "5.7.1", "a???b" },
	/* the first action= counts */
	{ L("action=OK\naction=REJECT\n\n"), 25, PD_ACCEPT, "", "", "" },
	/* bytes after an answer are left to the caller */
	{ L("action=OK\n\nmore"), 11, PD_ACCEPT, "", "", "" },
	/* not yet whole */
	{ L(""), 0, 0, NULL, NULL, NULL },
	{ L("action=OK"), 0, 0, NULL, NULL, NULL },
	{ L("action=OK\n"), 0, 0, NULL, NULL, NULL },
	/* malformed */
	{ L("\n"), -1, 0, NULL, NULL, NULL },
	{ L("x=y\n\n"), -1, 0, NULL, NULL, NULL },
	{ L("action=\n\n"), -1, 0, NULL, NULL, NULL },
	{ L("action=FROB\n\n"), -1, 0, NULL, NULL, NULL },
	{ L("action=OKAY\n\n"), -1, 0, NULL, NULL, NULL },
	{ L("action=250 fine\n\n"), -1, 0, NULL, NULL, NULL },
	{ L("action=5x0 no\n\n"), -1, 0, NULL, NULL, NULL },
	{ L("action=4500 no\n\n"), -1, 0, NULL, NULL, NULL },
	{ L("garbage\n\n"), -1, 0, NULL, NULL, NULL },
	{ L("action=OK\0x\n\n"), -1, 0, NULL, NULL, NULL },
};

static void
test_pd_parse(void **st)
{
	struct pd_verdict v;

	(void)st;
	for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
		long r = pd_parse(answers[i].in, answers[i].n, &v);

		if (r != answers[i].used)
			fail_msg("answer %zu: %ld, want %ld", i, r,
			    answers[i].used);
		if (r <= 0)
			continue;
		assert_int_equal(v.kind, answers[i].kind);
		assert_string_equal(v.code, answers[i].code);
		assert_string_equal(v.esc, answers[i].esc);
		assert_string_equal(v.text, answers[i].text);
	}
}

/* an answer in every split: never whole before its last byte */
static void
test_pd_split(void **st)
{
	static const char a[] = "x=1\naction=REJECT no\ny=2\n\n";
	struct pd_verdict v;

	(void)st;
	for (size_t n = 0; n < sizeof a - 1; n++)
		assert_int_equal(pd_parse(a, n, &v), 0);
	assert_int_equal(pd_parse(a, sizeof a - 1, &v), (long)sizeof a - 1);
	assert_int_equal(v.kind, PD_REJECT);
}

/* lines and answers over the limits; long text is cut */
static void
test_pd_limits(void **st)
{
	static char b[20000];
	struct pd_verdict v;
	size_t n;

	(void)st;
	memset(b, 'a', sizeof b);
	assert_int_equal(pd_parse(b, 4096, &v), 0);
	assert_int_equal(pd_parse(b, 4097, &v), -1);
	memcpy(b, "action=REJECT ", 14);
	b[3000] = '\n';
	b[3001] = '\n';
	assert_int_equal(pd_parse(b, 3002, &v), 3002);
	assert_int_equal(strlen(v.text), PD_TEXT_MAX - 1);
	/* many short lines past the size of a whole answer */
	for (n = 0; n + 4 < sizeof b; n += 4)
		memcpy(b + n, "a=b\n", 4);
	assert_int_equal(pd_parse(b, n, &v), -1);
}

static const struct { const char *ip, *zone, *want; } names[] = {
	{ "127.0.0.2", "bl.test", "2.0.0.127.bl.test" },
	{ "192.0.2.99", "zen.example", "99.2.0.192.zen.example" },
	{ "::ffff:192.0.2.1", "z", "1.2.0.192.z" },
	{ "::1", "bl.test", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0.0.bl.test" },
	{ "2001:db8::abcd", "v6.test", "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.8.b.d.0.1.0.0.2.v6.test" },
	{ "not an ip", "bl.test", NULL },
	{ "", "bl.test", NULL },
	{ "1.2.3.4.5", "bl.test", NULL },
};

static void
test_dnsbl_name(void **st)
{
	char out[256], big[300];

	(void)st;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		int r = dnsbl_name(names[i].ip, names[i].zone, out,
		    sizeof out);

		if (names[i].want == NULL) {
			assert_int_equal(r, -1);
			continue;
		}
		assert_int_equal(r, 0);
		assert_string_equal(out, names[i].want);
	}
	/* a name over 253 bytes is refused, not cut */
	memset(big, 'a', 250);
	big[250] = '\0';
	assert_int_equal(dnsbl_name("1.2.3.4", big, out, sizeof out), -1);
	assert_int_equal(dnsbl_name("::1", big, out, sizeof out), -1);
	assert_int_equal(dnsbl_name("1.2.3.4", "z", out, 8), -1);
}

/* pkt - a response to a TXT query for q.test: header (qd 1, an given),
 * the question, then the answer records given as raw bytes */
static size_t
pkt(uint8_t *b, unsigned an, const uint8_t *rrs, size_t rl)
{
	static const uint8_t hq[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0,
	    0, 0, 0, 0, 1, 'q', 4, 't', 'e', 's', 't', 0, 0, 16, 0, 1 };

	memcpy(b, hq, sizeof hq);
	b[7] = (uint8_t)an;
	memcpy(b + sizeof hq, rrs, rl);
	return sizeof hq + rl;
}

static void
test_dnsbl_txt(void **st)
{
	/* name (a pointer to the question), TXT IN, ttl, rdlen, strings */
	static const uint8_t one[] = { 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60,
	    0, 9, 3, 'a', 'b', 1, 4, 'x', 'y', 'z', 'w' };
	static const uint8_t a_then_txt[] = {
	    0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2,
	    0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 3, 2, 'o', 'k' };
	static const uint8_t other_name[] = { 1, 'r', 0, 0, 16, 0, 1, 0, 0,
	    0, 60, 0, 3, 2, 'n', 'o' };
	static const uint8_t long_string[] = { 0xc0, 12, 0, 16, 0, 1, 0, 0,
	    0, 60, 0, 3, 9, 'a', 'b' };
	static const uint8_t empty_rd[] = { 0xc0, 12, 0, 16, 0, 1, 0, 0, 0,
	    60, 0, 0 };
	uint8_t b[512];
	char out[64], small[3];
	size_t n;

	(void)st;
	n = pkt(b, 1, one, sizeof one);
	assert_int_equal(dnsbl_txt(b, n, "q.test", out, sizeof out), 0);
	assert_string_equal(out, "ab?");	/* the first string only */
	n = pkt(b, 1, one, sizeof one);
	assert_int_equal(dnsbl_txt(b, n, "Q.TEST", small, sizeof small), 0);
	assert_string_equal(small, "ab");
	n = pkt(b, 2, a_then_txt, sizeof a_then_txt);
	assert_int_equal(dnsbl_txt(b, n, "q.test", out, sizeof out), 0);
	assert_string_equal(out, "ok");
	n = pkt(b, 1, other_name, sizeof other_name);
	assert_int_equal(dnsbl_txt(b, n, "q.test", out, sizeof out), -1);
	n = pkt(b, 1, long_string, sizeof long_string);
	assert_int_equal(dnsbl_txt(b, n, "q.test", out, sizeof out), -1);
	n = pkt(b, 1, empty_rd, sizeof empty_rd);
	assert_int_equal(dnsbl_txt(b, n, "q.test", out, sizeof out), -1);
	/* an answer count that lies, a cut packet, no answer at all */
	n = pkt(b, 3, one, sizeof one);
	assert_int_equal(dnsbl_txt(b, n, "q.test", out, sizeof out), -1);
	n = pkt(b, 1, one, sizeof one);
	assert_int_equal(dnsbl_txt(b, n - 1, "q.test", out, sizeof out), -1);
	n = pkt(b, 0, one, 0);
	assert_int_equal(dnsbl_txt(b, n, "q.test", out, sizeof out), -1);
	assert_int_equal(dnsbl_txt(b, 5, "q.test", out, sizeof out), -1);
}

/* milters.c: the header fields of a message, as milters see them */
static void
test_mhdr_split(void **st)
{
	const char *m = "Subject: a\n b\nTo: x\n\nbody\n";
	size_t n = strlen(m);

	(void)st;
	assert_int_equal(mhdr_name(m, n), 7);
	assert_int_equal(mhdr_end(m, n, 0, 1), 13);	/* the fold kept */
	assert_int_equal(mhdr_name(m + 14, n - 14), 2);
	assert_int_equal(mhdr_end(m, n, 14, 1), 19);
	/* not fields: no colon, a space or a control byte in the name, an
	 * empty name */
	assert_int_equal(mhdr_name("body line\n", 10), 0);
	assert_int_equal(mhdr_name("Sub ject: x\n", 12), 0);
	assert_int_equal(mhdr_name("Subject : x\n", 12), 0);
	assert_int_equal(mhdr_name("X\x01: x\n", 6), 0);
	assert_int_equal(mhdr_name(": x\n", 4), 0);
	assert_int_equal(mhdr_name("X-\x80: x\n", 7), 0);
	/* the end is known only with the next line's first byte, or at the
	 * end of the whole text */
	assert_int_equal(mhdr_end("A: b\n", 5, 0, 0), -1);
	assert_int_equal(mhdr_end("A: b\n", 5, 0, 1), 4);
	assert_int_equal(mhdr_end("A: b\n\tc", 7, 0, 1), -1);
	assert_int_equal(mhdr_end("A: b", 4, 0, 1), -1);
	assert_int_equal(mhdr_end("A: b\n\tc\n", 8, 0, 1), 7);
}

static void
make_is(const char *name, const char *value, int lead, const char *want)
{
	size_t len = 0;
	char *f = mhdr_make(name, value, lead, &len);

	if (want == NULL) {
		assert_null(f);
		return;
	}
	assert_non_null(f);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(f, want, len);
	free(f);
}

static void
test_mhdr_make(void **st)
{
	(void)st;
	make_is("X-A", "b", 0, "X-A: b\n");
	make_is("X-A", " b", 1, "X-A: b\n");
	make_is("X-A", "", 0, "X-A: \n");
	make_is("X-A", "", 1, "X-A:\n");
	/* folds: CRLF or LF, kept; a line without its white space gets a
	 * tab, so a value cannot start a field or end the header */
	make_is("D", "v=1;\r\n\tb=x", 0, "D: v=1;\n\tb=x\n");
	make_is("D", "a\nTo: evil", 0, "D: a\n\tTo: evil\n");
	make_is("D", "a\n\nbody", 0, "D: a\n\tbody\n");
	make_is("D", "a\n \n\t\nb", 0, "D: a\n \tb\n");
	make_is("D", "a\r\n", 0, "D: a\n");
	make_is("D", "a\n \n", 0, "D: a\n");
	make_is("D", "\nx", 0, "D: x\n");
	make_is("D", "a\rb", 0, "D: ab\n");
	/* names: printable, no colon, no space, not empty */
	make_is("", "x", 0, NULL);
	make_is("A:B", "x", 0, NULL);
	make_is("A B", "x", 0, NULL);
	make_is("A\tB", "x", 0, NULL);
	make_is("A\x7f", "x", 0, NULL);
}

static void
test_mbody_lf(void **st)
{
	char out[32];
	int cr = 0;
	size_t o;

	(void)st;
	o = mbody_lf("a\r\nb\rc\n", 8, &cr, out);
	assert_int_equal(o, 7);
	assert_memory_equal(out, "a\nb\rc\n", 7);
	assert_int_equal(cr, 0);
	/* a CRLF split across chunks */
	o = mbody_lf("x\r", 2, &cr, out);
	assert_int_equal(o, 1);
	assert_int_equal(cr, 1);
	o = mbody_lf("\ny", 2, &cr, out);
	assert_int_equal(o, 2);
	assert_memory_equal(out, "\ny", 2);
	/* a CR held, then not followed by LF */
	o = mbody_lf("\r", 1, &cr, out);
	o = mbody_lf("z", 1, &cr, out);
	assert_int_equal(o, 2);
	assert_memory_equal(out, "\rz", 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pd_parse),
		cmocka_unit_test(test_mhdr_split),
		cmocka_unit_test(test_mhdr_make),
		cmocka_unit_test(test_mbody_lf),
		cmocka_unit_test(test_pd_split),
		cmocka_unit_test(test_pd_limits),
		cmocka_unit_test(test_dnsbl_name),
		cmocka_unit_test(test_dnsbl_txt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
