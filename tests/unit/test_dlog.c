/* test_dlog: the status code found in reply texts, and key=value read
 * back from log lines exactly as lib/log.c writes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dlog.h"
#include "log.h"

static const char *
dsn(const char *t)
{
	static char out[DLOG_DSN_MAX];

	return dlog_dsn(t, strlen(t), out) ? out : NULL;
}

static void
test_dsn(void **st)
{
	(void)st;
	assert_string_equal(dsn("451 4.7.1 greylisted"), "4.7.1");
	assert_string_equal(dsn("mx[1.2.3.4] said: 250 2.0.0 Ok"), "2.0.0");
	assert_string_equal(dsn("5.1.1 unknown user"), "5.1.1");
	assert_string_equal(dsn("x 5.123.456"), "5.123.456");
	assert_string_equal(dsn("4.4.7 delivery time expired; last error: "
	    "550 5.1.1 no"), "4.4.7");
	/* not codes: an IP address, too many digits, other classes */
	assert_null(dsn("connect to 127.0.0.1[127.0.0.1]:25: refused"));
	assert_null(dsn("5.1234.1"));
	assert_null(dsn("5.1.1234"));
	assert_null(dsn("3.1.1 x"));
	assert_null(dsn("15.1.1"));
	assert_null(dsn("5.1.1.1"));
	assert_null(dsn("5.1."));
	assert_null(dsn("5."));
	assert_null(dsn(""));
	assert_string_equal(dsn("(4.2.2)"), "4.2.2");
	/* the length bounds the scan: no read past n */
	char out[DLOG_DSN_MAX];
	assert_int_equal(dlog_dsn("4.2.2", 4, out), 0);
}

/* line - what log.c writes for one key=v */
static const char *
line(const char *k, const char *v)
{
	static struct logln l;

	log_init("send");
	log_start(&l, "deferred");
	log_s(&l, "id", "abc");
	log_s(&l, k, v);
	log_s(&l, "last", "1");
	log_finish(&l);
	l.b[l.len] = '\0';
	return l.b;
}

static void
test_get(void **st)
{
	static const char *vals[] = { "plain", "", "two words", "a=b",
	    "x prog=forged id=forged", "q\"uo\\te", "\x01\xff\n", "é ü" };
	char out[256];
	const char *l;

	(void)st;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		l = line("text", vals[i]);
		assert_int_equal(dlog_get(l, strlen(l), "text", out,
		    sizeof out), 1);
		assert_string_equal(out, vals[i]);
		assert_int_equal(dlog_get(l, strlen(l), "id", out,
		    sizeof out), 1);
		assert_string_equal(out, "abc");
		assert_int_equal(dlog_get(l, strlen(l), "prog", out,
		    sizeof out), 1);
		assert_string_equal(out, "send");
		assert_int_equal(dlog_get(l, strlen(l), "last", out,
		    sizeof out), 1);
		assert_string_equal(out, "1");
		assert_int_equal(dlog_get(l, strlen(l), "forged", out,
		    sizeof out), 0);
	}
	/* a timestamp prefix is skipped; a cut value is NUL-terminated */
	l = "2026-12-07_02:43:00.12345 prog=send event=x to=abcdef";
	assert_int_equal(dlog_get(l, strlen(l), "to", out, 4), 1);
	assert_string_equal(out, "abc");
	assert_int_equal(dlog_get(l, strlen(l), "event", out, sizeof out), 1);
	assert_string_equal(out, "x");
	/* an unterminated quote ends at the end of the line */
	l = "prog=send text=\"abc";
	assert_int_equal(dlog_get(l, strlen(l), "text", out, sizeof out), 1);
	assert_string_equal(out, "abc");
	l = "prog=send text=\"a\\";
	assert_int_equal(dlog_get(l, strlen(l), "text", out, sizeof out), 1);
	assert_string_equal(out, "a\\");
	assert_int_equal(dlog_get("", 0, "x", out, sizeof out), 0);
	assert_int_equal(dlog_get("=", 1, "", out, sizeof out), 1);
}

/* the logger's time stamps: svlogd -tt, ISO 8601, TAI64N; and what is
 * none (short, a bad field, a date before 1970, a TAI label before it) */
static void
test_time(void **st)
{
	static const struct { const char *in; int ok; long long t; } c[] = {
		{ "2026-12-06_00:00:00.00001 prog=x", 1, 1796515200 },
		{ "2026-12-06T12:30:00Z prog=x", 1, 1796560200 },
		{ "2026-12-06 23:59:59 prog=x", 1, 1796601599 },
		{ "1970-01-01_00:00:00", 1, 0 },
		{ "@400000006b15f72a1a2b3c4d prog=x", 1, 1796601605 },
		{ "@400000006b15f72a", 0, 0 },		/* no nanoseconds */
		{ "@400000006B15F72A1a2b3c4d x", 0, 0 },	/* upper case */
		{ "@3fffffffffffffff00000000 x", 0, 0 },	/* before 1970 */
		{ "2026-12-06_00:00:0", 0, 0 },		/* one short */
		{ "2026-13-06_00:00:00", 0, 0 },
		{ "2026-12-32_00:00:00", 0, 0 },
		{ "2026-12-06_24:00:00", 0, 0 },
		{ "2026-12-06x00:00:00", 0, 0 },
		{ "1969-12-31_23:59:59", 0, 0 },
		{ "prog=smtpd event=verify", 0, 0 },
		{ "", 0, 0 },
	};
	long long t;

	(void)st;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		t = -1;
		assert_int_equal(dlog_time(c[i].in, strlen(c[i].in), &t),
		    c[i].ok);
		if (c[i].ok)
			assert_int_equal(t, c[i].t);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn),
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_time),
	};

	return cmocka_run_group_tests_name("dlog", tests, NULL, NULL);
}
