/* test_conf: sandmail.conf's reader: file:line errors, getters, units. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "conf.h"
#include "exitcode.h"

/* A row: text (n bytes; 0 means strlen) and the error, or NULL. */
static const struct {
	const char *text;
	size_t n;
	const char *err;
} parse_rows[] = {
	{ "", 0, NULL },
	{ "\n\n\n", 0, NULL },
	{ "# comment\n  # indented comment\n\t\n", 0, NULL },
	{ "hostname mx.example.org\n", 0, NULL },
	{ "hostname mx.example.org", 0, NULL },		/* no LF at EOF */
	{ "hostname mx.example.org\r\n", 0, NULL },	/* CRLF */
	{ "  hostname \t mx  \t\n", 0, NULL },
	{ "a.b-c_d 1\n", 0, NULL },
	{ "hostname\n", 0, "c:1: key without a value" },
	{ "hostname   \n", 0, "c:1: key without a value" },
	{ "\n\nhost=name x\n", 0, "c:3: bad character in key" },
	{ "=x y\n", 0, "c:1: expected a key" },
	{ "key va\rlue\n", 0, "c:1: control character in value" },
	{ "key value\r\r\n", 0, "c:1: control character in value" },
	{ "key \x01\n", 0, "c:1: control character in value" },
	{ "ok 1\nkey va\0lue\n", 15, "c:2: NUL byte" },
	{ "h\xc3\xa9 x\n", 0, "c:1: bad character in key" },
	{ "key caf\xc3\xa9\n", 0, NULL },			/* 8-bit value */
};

static void
test_parse(void **state)
{
	struct conf c;
	char err[256];
	size_t i, n;
	int r;

	(void)state;
	for (i = 0; i < sizeof parse_rows / sizeof parse_rows[0]; i++) {
		n = parse_rows[i].n ? parse_rows[i].n : strlen(parse_rows[i].text);
		err[0] = '\0';
		r = conf_parse_mem(&c, "c", parse_rows[i].text, n, err, sizeof err);
		if (parse_rows[i].err == NULL && r != 0)
			fail_msg("row %zu: %s", i, err);
		if (parse_rows[i].err != NULL &&
		    (r != -1 || strcmp(err, parse_rows[i].err) != 0))
			fail_msg("row %zu: got %d [%s]", i, r, err);
		conf_free(&c);
	}
}

static void
test_values(void **state)
{
	static const char text[] =
	    "hostname first\n"
	    "  hostname \t mx.example.org  \r\n"
	    "nameserver 127.0.0.1:5353\n"
	    "# nameserver commented\n"
	    "nameserver [::1]:53\n"
	    "max_recipients 100\n"
	    "timeout 5m\n"
	    "max_message_size 35m\n"
	    "tls yes\n"
	    "queue q\n"
	    "abs /var/q\n"
	    "spaced a  b\n";
	struct conf c;
	char err[256], *p;
	size_t i = 0;

	(void)state;
	assert_int_equal(conf_parse_mem(&c, "/etc/x/sandmail.conf", text,
	    sizeof text - 1, err, sizeof err), 0);
	assert_string_equal(conf_str(&c, "hostname", NULL), "mx.example.org");
	assert_null(conf_str(&c, "missing", NULL));
	assert_string_equal(conf_str(&c, "missing", "d"), "d");
	assert_string_equal(conf_str(&c, "spaced", NULL), "a  b");
	assert_string_equal(conf_next(&c, "nameserver", &i),
	    "127.0.0.1:5353");
	assert_string_equal(conf_next(&c, "nameserver", &i), "[::1]:53");
	assert_null(conf_next(&c, "nameserver", &i));
	assert_int_equal(conf_num(&c, "max_recipients", 7, 1, 1000), 100);
	assert_int_equal(conf_num(&c, "missing", 7, 1, 1000), 7);
	assert_int_equal(conf_secs(&c, "timeout", 1), 300);
	assert_int_equal(conf_size(&c, "max_message_size", 1), 35 << 20);
	assert_int_equal(conf_bool(&c, "tls", 0), 1);
	assert_int_equal(conf_bool(&c, "missing", 1), 1);
	p = conf_path(&c, "queue", NULL);
	assert_string_equal(p, "/etc/x/q");
	free(p);
	p = conf_path(&c, "abs", NULL);
	assert_string_equal(p, "/var/q");
	free(p);
	p = conf_path(&c, "missing", "tables");
	assert_string_equal(p, "/etc/x/tables");
	free(p);
	assert_null(conf_path(&c, "missing", NULL));
	assert_string_equal(c.dir, "/etc/x");
	conf_free(&c);
	/* a file in / and one with no directory */
	assert_int_equal(conf_parse_mem(&c, "/c", "", 0, err, sizeof err), 0);
	assert_string_equal(c.dir, "/");
	conf_free(&c);
	assert_int_equal(conf_parse_mem(&c, "c", "", 0, err, sizeof err), 0);
	assert_string_equal(c.dir, ".");
	conf_free(&c);
}

static void
test_long_lines(void **state)
{
	static char text[CONF_LINE_MAX + 16];
	struct conf c;
	char err[256];

	(void)state;
	/* exactly CONF_LINE_MAX bytes: fine; one more: refused */
	memcpy(text, "k ", 2);
	memset(text + 2, 'v', CONF_LINE_MAX - 2);
	text[CONF_LINE_MAX] = '\n';
	assert_int_equal(conf_parse_mem(&c, "c", text, CONF_LINE_MAX + 1, err,
	    sizeof err), 0);
	assert_int_equal(strlen(conf_str(&c, "k", "")), CONF_LINE_MAX - 2);
	conf_free(&c);
	/* with CRLF the CR does not count */
	text[CONF_LINE_MAX] = '\r';
	text[CONF_LINE_MAX + 1] = '\n';
	assert_int_equal(conf_parse_mem(&c, "c", text, CONF_LINE_MAX + 2, err,
	    sizeof err), 0);
	conf_free(&c);
	text[CONF_LINE_MAX] = 'v';
	text[CONF_LINE_MAX + 1] = '\n';
	assert_int_equal(conf_parse_mem(&c, "c", text, CONF_LINE_MAX + 2, err,
	    sizeof err), -1);
	assert_string_equal(err, "c:1: line too long");
	conf_free(&c);
}

static void
test_many_lines(void **state)
{
	struct buf b = BUF_INIT(1 << 20);
	struct conf c;
	char err[256], want[64];
	size_t i;

	(void)state;
	for (i = 0; i < CONF_MAX_ENTRIES; i++)
		buf_fmt(&b, "k%zu v\n", i);
	assert_int_equal(conf_parse_mem(&c, "c", b.p, b.len, err,
	    sizeof err), 0);
	assert_int_equal(c.n, CONF_MAX_ENTRIES);
	conf_free(&c);
	buf_puts(&b, "one more\n");
	assert_int_equal(conf_parse_mem(&c, "c", b.p, b.len, err,
	    sizeof err), -1);
	snprintf(want, sizeof want, "c:%d: too many lines",
	    CONF_MAX_ENTRIES + 1);
	assert_string_equal(err, want);
	conf_free(&c);
	buf_free(&b);
}

static void
test_numbers(void **state)
{
	static const struct {
		const char *s;
		int (*f)(const char *, unsigned long long *);
		int ok;
		unsigned long long v;
	} rows[] = {
		{ "0", parse_ull, 1, 0 },
		{ "18446744073709551615", parse_ull, 1, 18446744073709551615ULL },
		{ "18446744073709551616", parse_ull, 0, 0 },
		{ "", parse_ull, 0, 0 },
		{ "-1", parse_ull, 0, 0 },
		{ "+1", parse_ull, 0, 0 },
		{ " 1", parse_ull, 0, 0 },
		{ "1 ", parse_ull, 0, 0 },
		{ "1x", parse_ull, 0, 0 },
		{ "0x10", parse_ull, 0, 0 },
		{ "30", parse_secs, 1, 30 },
		{ "30s", parse_secs, 1, 30 },
		{ "5m", parse_secs, 1, 300 },
		{ "2H", parse_secs, 1, 7200 },
		{ "5d", parse_secs, 1, 432000 },
		{ "5w", parse_secs, 0, 0 },
		{ "m", parse_secs, 0, 0 },
		{ "", parse_secs, 0, 0 },
		{ "-5m", parse_secs, 0, 0 },
		{ "213503982334602d", parse_secs, 0, 0 },	/* overflows */
		{ "1000", parse_size, 1, 1000 },
		{ "64k", parse_size, 1, 65536 },
		{ "35m", parse_size, 1, 36700160 },
		{ "1G", parse_size, 1, 1073741824 },
		{ "1t", parse_size, 0, 0 },
		{ "17179869184g", parse_size, 0, 0 },		/* overflows */
		{ "k", parse_size, 0, 0 },
		{ "12345678901234567890123456789012k", parse_size, 0, 0 },
	};
	unsigned long long v;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		v = 12345;
		r = rows[i].f(rows[i].s, &v);
		if (rows[i].ok ? (r != 0 || v != rows[i].v) : r != -1)
			fail_msg("row %zu: %s: %d %llu", i, rows[i].s, r, v);
	}
}

/* in_child - run a getter that should die; its exit code and stderr */
static int
in_child(const char *text, int which, char *out, size_t sz)
{
	struct conf c;
	char err[256];
	int p[2], st;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		dup2(p[1], 2);
		if (conf_parse_mem(&c, "/x.conf", text, strlen(text), err,
		    sizeof err) == -1)
			_exit(2);
		switch (which) {
		case 0: conf_num(&c, "n", 0, 1, 10); break;
		case 1: conf_secs(&c, "n", 0); break;
		case 2: conf_size(&c, "n", 0); break;
		case 3: conf_bool(&c, "n", 0); break;
		}
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], out + got, sz - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_bad_values_die(void **state)
{
	static const struct {
		const char *text;
		int which;
		const char *msg;
	} rows[] = {
		{ "\nn 11\n", 0, "/x.conf:2: n: out of range" },
		{ "n 0\n", 0, "/x.conf:1: n: out of range" },
		{ "n ten\n", 0, "/x.conf:1: n: not a number" },
		{ "n 5 m\n", 1, "/x.conf:1: n: not a duration" },
		{ "n 5q\n", 2, "/x.conf:1: n: not a size" },
		{ "n maybe\n", 3, "/x.conf:1: n: expected yes or no" },
	};
	char out[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		assert_int_equal(in_child(rows[i].text, rows[i].which, out,
		    sizeof out), EXIT_TEMP);
		if (strstr(out, rows[i].msg) == NULL ||
		    strstr(out, "event=fatal") == NULL)
			fail_msg("row %zu: %s", i, out);
	}
	/* good values do not die */
	assert_int_equal(in_child("n 10\n", 0, out, sizeof out), 0);
	assert_int_equal(in_child("n off\n", 3, out, sizeof out), 0);
}

static void
test_file(void **state)
{
	char path[] = "/tmp/test_conf.XXXXXX", err[512], want[600];
	struct conf c;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, "hostname h\n\nbad\n", 16), 16);
	close(fd);
	assert_int_equal(conf_parse(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:3: key without a value", path);
	assert_string_equal(err, want);
	conf_free(&c);
	unlink(path);
	assert_int_equal(conf_parse(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	assert_string_equal(err, want);
	conf_free(&c);
	setenv("SANDMAIL_CONF", "/some/where.conf", 1);
	assert_string_equal(conf_default_path(), "/some/where.conf");
	setenv("SANDMAIL_CONF", "", 1);
	assert_string_not_equal(conf_default_path(), "");
	unsetenv("SANDMAIL_CONF");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_bad_values_die),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
