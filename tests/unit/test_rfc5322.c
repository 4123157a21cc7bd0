/* test_rfc5322: comments, quoted strings and CFWS skipped at their edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rfc5322.h"

/* skip from 0 over s (n bytes); want the index and the result */
static void
skip_is(const char *s, size_t n, size_t want, int rc)
{
	size_t i = 0;

	if (rfc5322_skip(s, n, &i) != rc || i != want)
		fail_msg("skip \"%.*s\": %zu, want %zu (%d)", (int)n, s, i,
		    want, rc);
}

#define SKIP(s, want, rc)	skip_is(s, sizeof s - 1, want, rc)

static void
test_comment(void **st)
{
	(void)st;
	SKIP("()", 2, 0);
	SKIP("(a) b", 3, 0);
	SKIP("(a (b (c)) d) e", 13, 0);		/* nested */
	SKIP("(a \\) b) c", 8, 0);		/* quoted-pair: not the end */
	SKIP("(a \\( b) c", 8, 0);		/* nor a nesting */
	SKIP("(\\\\) c", 4, 0);			/* an escaped backslash */
	SKIP("(a \"b) c\"", 6, 0);		/* no quotes in a comment */
	SKIP("(a\r\n\tb) c", 7, 0);		/* folded inside */
	SKIP("(", 1, -1);			/* unterminated */
	SKIP("(a (b)", 6, -1);
	SKIP("(a \\", 4, -1);			/* cut in a quoted-pair */
	SKIP("(a \\)", 5, -1);
}

static void
test_quoted(void **st)
{
	(void)st;
	SKIP("\"\"", 2, 0);
	SKIP("\"a b\" c", 5, 0);
	SKIP("\"a \\\" b\" c", 8, 0);		/* quoted-pair */
	SKIP("\"a (b\" c)", 6, 0);		/* no comments in quotes */
	SKIP("\"a ) b\"", 7, 0);
	SKIP("\"a\r\n b\"", 7, 0);		/* folded inside */
	SKIP("\"", 1, -1);
	SKIP("\"abc", 4, -1);
	SKIP("\"abc\\\"", 6, -1);		/* the last quote is escaped */
	SKIP("\"abc\\", 5, -1);
}

static void
test_other(void **st)
{
	size_t i;

	(void)st;
	SKIP("a(b)", 1, 0);			/* any other byte: one on */
	SKIP(")", 1, 0);
	SKIP("\\(", 1, 0);
	i = 0;
	assert_int_equal(rfc5322_skip("", 0, &i), 0);	/* at the end: stays */
	assert_int_equal(i, 0);
	i = 3;
	assert_int_equal(rfc5322_skip("(a)", 3, &i), 0);
	assert_int_equal(i, 3);
	i = 1;					/* from the middle */
	assert_int_equal(rfc5322_skip("x(y)z", 5, &i), 0);
	assert_int_equal(i, 4);
}

/* NUL and 8-bit bytes are text; the length, not a NUL, ends the field */
static void
test_bytes(void **st)
{
	static const char c[] = "(a\0\xff\\\0)x", q[] = "\"\xc3\xa9\0\"x";
	size_t i = 0;

	(void)st;
	assert_int_equal(rfc5322_skip(c, sizeof c - 1, &i), 0);
	assert_int_equal(i, 7);
	i = 0;
	assert_int_equal(rfc5322_skip(q, sizeof q - 1, &i), 0);
	assert_int_equal(i, 5);
	i = 0;					/* the ')' lies past n */
	assert_int_equal(rfc5322_skip(c, 6, &i), -1);
	assert_int_equal(i, 6);
	assert_int_equal(rfc5322_cfws("(\0)\0", 4, 0), 3);	/* NUL: a stop */
	assert_int_equal(rfc5322_cfws("\x80", 1, 0), 0);
}

static void
test_cfws(void **st)
{
	static const struct {
		const char *in;
		size_t want;
	} cases[] = {
		{ "", 0 },
		{ "a", 0 },
		{ "  \t a", 4 },
		{ " (c) a", 5 },
		{ "(a (b) \\) c)(d)\r\n\t x", 19 },	/* nested, folded */
		{ " \r\n (c)\r\n\t", 10 },		/* blanks to the end */
		{ " \"q\" a", 1 },			/* a quote is a token */
		{ " (open", 6 },			/* unterminated: n */
		{ " (open \\", 8 },
		{ " ) a", 1 },
		{ "\\ a", 0 },
	};

	(void)st;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		size_t got = rfc5322_cfws(cases[k].in, strlen(cases[k].in), 0);

		if (got != cases[k].want)
			fail_msg("cfws \"%s\": %zu, want %zu", cases[k].in,
			    got, cases[k].want);
	}
	assert_int_equal(rfc5322_cfws(" a (b) c", 8, 1), 1);	/* from i */
	assert_int_equal(rfc5322_cfws(" a (b) c", 8, 2), 7);
	assert_int_equal(rfc5322_cfws(" a", 2, 2), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_comment),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_other),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_cfws),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
