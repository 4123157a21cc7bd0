/* test_log: no byte a client sends can split a log line or forge a key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "exitcode.h"
#include "log.h"

/* line - "prog=t event=e k=<value as logged>\n" for n bytes of v */
static const char *
line(const char *v, size_t n)
{
	static struct logln l;

	log_init("t");
	log_start(&l, "e");
	log_m(&l, "k", v, n);
	log_finish(&l);
	l.b[l.len] = '\0';
	return l.b;
}

static const struct {
	const char *in;
	size_t n;
	const char *out;	/* the value as it appears after "k=" */
} rows[] = {
	{ "plain", 5, "plain" },
	{ "a@b.c:25/x+y-z,<>[]%!#*_", 24, "a@b.c:25/x+y-z,<>[]%!#*_" },
	{ "", 0, "\"\"" },
	{ "two words", 9, "\"two words\"" },
	{ "a=b", 3, "\"a=b\"" },			/* no forged key */
	{ "x event=ok", 10, "\"x event=ok\"" },
	{ "cr\rlf\n", 6, "\"cr\\x0dlf\\x0a\"" },
	{ "nul\0x", 5, "\"nul\\x00x\"" },
	{ "tab\t", 4, "\"tab\\x09\"" },
	{ "del\x7f", 4, "\"del\\x7f\"" },
	{ "say \"hi\"", 8, "\"say \\\"hi\\\"\"" },
	{ "back\\slash", 10, "\"back\\\\slash\"" },
	{ "\"", 1, "\"\\\"\"" },
	{ "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },		/* valid UTF-8 */
	{ "\xe2\x82\xac\xf0\x9f\x93\xa7", 7, "\"\xe2\x82\xac\xf0\x9f\x93\xa7\"" },
	{ "\xff", 1, "\"\\xff\"" },
	{ "\xc3", 1, "\"\\xc3\"" },				/* cut short */
	{ "\xc0\xaf", 2, "\"\\xc0\\xaf\"" },			/* overlong */
	{ "\xe0\x80\xaf", 3, "\"\\xe0\\x80\\xaf\"" },
	{ "\xed\xa0\x80", 3, "\"\\xed\\xa0\\x80\"" },		/* surrogate */
	{ "\xf4\x90\x80\x80", 4, "\"\\xf4\\x90\\x80\\x80\"" },	/* > 10FFFF */
	{ "\xe2\x82", 2, "\"\\xe2\\x82\"" },
	{ "a\xc3\xa9\n", 4, "\"a\xc3\xa9\\x0a\"" },
};

static void
test_escape(void **state)
{
	char want[256];
	const char *got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		snprintf(want, sizeof want, "prog=t event=e k=%s\n",
		    rows[i].out);
		got = line(rows[i].in, rows[i].n);
		if (strcmp(got, want) != 0)
			fail_msg("row %zu: got [%s] want [%s]", i, got, want);
		/* one line, always */
		assert_ptr_equal(strchr(got, '\n'), got + strlen(got) - 1);
		assert_null(strchr(got, '\r'));
	}
}

static void
test_cut(void **state)
{
	static char big[LOG_LINE_MAX * 2];
	static struct logln l;
	size_t i;

	(void)state;
	memset(big, 'v', sizeof big);
	log_init("t");
	log_start(&l, "e");
	log_m(&l, "k", big, sizeof big);
	log_s(&l, "after", "x");
	log_finish(&l);
	assert_true(l.len <= LOG_LINE_MAX);
	assert_true(l.cut);
	assert_memory_equal(l.b + l.len - 4, "...\n", 4);
	assert_null(memchr(l.b, '\n', l.len - 1));
	/* escapes are never cut in half: the line ends at a whole unit */
	log_start(&l, "e");
	for (i = 0; i < LOG_LINE_MAX; i++)
		log_m(&l, "k", "\n", 1);
	log_finish(&l);
	assert_true(l.len <= LOG_LINE_MAX);
	assert_memory_equal(l.b + l.len - 4, "...\n", 4);
	assert_null(memchr(l.b, '\n', l.len - 1));
	/* a line that just fits is not cut */
	log_start(&l, "e");
	log_m(&l, "k", big, LOG_LINE_MAX - 4 - strlen("prog=t event=e k="));
	log_finish(&l);
	assert_false(l.cut);
	assert_int_equal(l.len, LOG_LINE_MAX - 3);
	log_start(&l, "e");
	log_m(&l, "k", big, LOG_LINE_MAX - 3 - strlen("prog=t event=e k="));
	log_finish(&l);
	assert_true(l.cut);
}

static void
test_numbers(void **state)
{
	static struct logln l;

	(void)state;
	log_init("t");
	log_start(&l, "e");
	log_u(&l, "u", 18446744073709551615ULL);
	log_i(&l, "i", -9223372036854775807LL - 1);
	log_s(&l, "null", NULL);
	log_finish(&l);
	l.b[l.len] = '\0';
	assert_string_equal(l.b, "prog=t event=e u=18446744073709551615 "
	    "i=-9223372036854775808 null=\"\"\n");
}

/* capture - run f in a child with fd 2 on a pipe; its output and status */
static int
capture(void (*f)(void), char *out, size_t sz)
{
	int p[2], st;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		dup2(p[1], 2);
		close(p[0]);
		f();
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], out + got, sz - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
kv(void)
{
	log_init("smtpd");
	errno = EAGAIN;
	log_kv("conn", "client", "192.0.2.1", "helo", "evil\r\nevent=x",
	    NULL);
	if (errno != EAGAIN)		/* log_kv keeps errno */
		_exit(3);
}

static void
die_t(void)
{
	log_init("queue");
	errno = ENOSPC;
	die_temp("write", "tmp/1");
}

static void
die_m(void)
{
	log_init("queue");
	die_msg(EXIT_PERM, "config", "x.conf:3: bad");
}

static void
test_write(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(capture(kv, out, sizeof out), 0);
	assert_string_equal(out, "prog=smtpd event=conn client=192.0.2.1 "
	    "helo=\"evil\\x0d\\x0aevent=x\"\n");
}

static void
test_die(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(capture(die_t, out, sizeof out), EXIT_TEMP);
	assert_string_equal(out, "prog=queue event=fatal op=write arg=tmp/1 "
	    "err=\"No space left on device\" exit=111\n");
	assert_int_equal(capture(die_m, out, sizeof out), EXIT_PERM);
	assert_string_equal(out, "prog=queue event=fatal op=config "
	    "err=\"x.conf:3: bad\" exit=100\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_die),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
