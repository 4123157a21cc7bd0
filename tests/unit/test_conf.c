/* test_conf: sandmail.conf's reader: file:line errors, getters, units. */
#include <errno.h>
#include <fcntl.h>
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
#include "confkeys.h"
#include "env.h"
#include "exitcode.h"
#include "fsprobe.h"

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
	    "retry_first 7m\n"
	    "max_message_size 35m\n"
	    "smtpd_vrfy yes\n"
	    "queue q\n"
	    "tables /var/q\n"
	    "recipient_delimiter a  b\n";
	struct conf c;
	char err[256], *p;
	size_t i = 0;

	(void)state;
	assert_int_equal(conf_parse_mem(&c, "/etc/x/sandmail.conf", text,
	    sizeof text - 1, err, sizeof err), 0);
	assert_string_equal(conf_str(&c, "hostname", NULL), "mx.example.org");
	assert_null(conf_str(&c, "queue_program", NULL));
	assert_string_equal(conf_str(&c, "queue_program", "d"), "d");
	assert_string_equal(conf_str(&c, "recipient_delimiter", NULL), "a  b");
	assert_string_equal(conf_next(&c, "nameserver", &i),
	    "127.0.0.1:5353");
	assert_string_equal(conf_next(&c, "nameserver", &i), "[::1]:53");
	assert_null(conf_next(&c, "nameserver", &i));
	assert_int_equal(conf_num(&c, "max_recipients", 100, 1, ENV_RCPT_MAX),
	    100);
	assert_int_equal(conf_num(&c, "max_errors", 10, 1, 100000), 10);
	assert_int_equal(conf_secs(&c, "retry_first", 300), 420);
	assert_int_equal(conf_size(&c, "max_message_size", 35 << 20),
	    35 << 20);
	assert_int_equal(conf_bool(&c, "smtpd_vrfy", 0), 1);
	assert_int_equal(conf_bool(&c, "smtpd_expn", 0), 0);
	p = conf_path(&c, "queue", NULL);
	assert_string_equal(p, "/etc/x/q");
	free(p);
	p = conf_path(&c, "tables", NULL);
	assert_string_equal(p, "/var/q");
	free(p);
	p = conf_path(&c, "bindir", "tables");
	assert_string_equal(p, "/etc/x/tables");
	free(p);
	assert_null(conf_path(&c, "tls_cert", NULL));
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
	memcpy(text, "queue ", 6);
	text[CONF_LINE_MAX] = '\n';
	assert_int_equal(conf_parse_mem(&c, "c", text, CONF_LINE_MAX + 1, err,
	    sizeof err), 0);
	assert_int_equal(strlen(conf_str(&c, "queue", "")), CONF_LINE_MAX - 6);
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
		{ "250ms", parse_msecs, 1, 250 },
		{ "0ms", parse_msecs, 1, 0 },
		{ "2", parse_msecs, 1, 2000 },
		{ "1m", parse_msecs, 1, 60000 },
		{ "ms", parse_msecs, 0, 0 },
		{ "1.5s", parse_msecs, 0, 0 },
		{ "-1ms", parse_msecs, 0, 0 },
		{ "213503982334602d", parse_msecs, 0, 0 },	/* overflows */
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
		case 0: conf_num(&c, "max_errors", 10, 1, 100000); break;
		case 1: conf_secs(&c, "retry_first", 300); break;
		case 2: conf_size(&c, "max_message_size", 35 << 20); break;
		case 3: conf_bool(&c, "smtpd_vrfy", 0); break;
		/* the getters' bugs: not listed, another kind, another
		 * default, a narrower range, a list that is not */
		case 4: conf_num(&c, "not_listed", 0, 0, 1); break;
		case 5: conf_secs(&c, "max_errors", 10); break;
		case 6: conf_num(&c, "max_errors", 11, 1, 100000); break;
		case 7: conf_num(&c, "max_errors", 10, 1, 99999); break;
		case 8: { size_t i = 0; conf_next(&c, "hostname", &i); }
			break;
		case 9: conf_path(&c, "hostname", NULL); break;
		case 10: conf_str(&c, "not_listed", NULL); break;
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
		{ "\nmax_errors 100001\n", 0,
		    "/x.conf:2: max_errors: out of range" },
		{ "max_errors 0\n", 0, "/x.conf:1: max_errors: out of range" },
		{ "max_errors ten\n", 0, "/x.conf:1: max_errors: not a number" },
		{ "retry_first 5 m\n", 1, "/x.conf:1: retry_first: not a "
		    "duration" },
		{ "max_message_size 5q\n", 2, "/x.conf:1: max_message_size: "
		    "not a size" },
		{ "smtpd_vrfy maybe\n", 3, "/x.conf:1: smtpd_vrfy: expected "
		    "yes or no" },
		{ "", 4, "BUG: key not_listed is not listed in lib/confkeys.c" },
		{ "", 5, "BUG: key max_errors is read as another kind" },
		{ "", 6, "BUG: key max_errors: the default differs" },
		{ "", 7, "BUG: key max_errors: the range differs" },
		{ "", 8, "BUG: key hostname: the repeatability differs" },
		{ "", 9, "BUG: key hostname is read as another kind" },
		{ "", 10, "BUG: key not_listed is not listed" },
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
	assert_int_equal(in_child("max_errors 100000\n", 0, out, sizeof out),
	    0);
	assert_int_equal(in_child("smtpd_vrfy off\n", 3, out, sizeof out),
	    0);
}


/* test_registry - the list itself is sound */
static void
test_registry(void **state)
{
	const struct conf_key *k, *j;
	unsigned long long v;
	const char *why, *p;
	size_t n = 0;

	(void)state;
	for (k = conf_keys; k->name != NULL; k++, n++) {
		for (p = k->name; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' &&
			    *p <= '9') || *p == '_'))
				fail_msg("%s: bad name", k->name);
		for (j = conf_keys; j < k; j++)
			if (strcmp(j->name, k->name) == 0)
				fail_msg("%s: twice", k->name);
		if (k->min > k->max)
			fail_msg("%s: min > max", k->name);
		if (k->progs == NULL || k->progs[0] == '\0')
			fail_msg("%s: read by no program", k->name);
		if ((k->type == CONF_CHOICE) != (k->choices != NULL))
			fail_msg("%s: choices", k->name);
		if (k->def != NULL && conf_key_value(k, k->def, &v, &why) == -1)
			fail_msg("%s: default %s: %s", k->name, k->def, why);
		if (k->def == NULL && !(k->flags & CONF_DYNDEF) &&
		    k->type != CONF_STR && k->type != CONF_PATH &&
		    k->type != CONF_HOSTPORT)
			fail_msg("%s: no default", k->name);
		assert_ptr_equal(conf_key_find(k->name), k);
		assert_string_not_equal(conf_type_name(k->type), "?");
	}
	assert_true(n > 90);
	assert_null(conf_key_find("max_recipents"));
	assert_null(conf_key_find(""));
}

static void
test_near(void **state)
{
	static const struct { const char *in, *want; } rows[] = {
		{ "max_recipents", "max_recipients" },	/* one left out */
		{ "max_recepients", "max_recipients" },
		{ "hostnmae", "hostname" },		/* swapped */
		{ "Hostname", "hostname" },
		{ "smtp_timeout", "smtpd_timeout" },
		{ "hostname", NULL },			/* itself: no typo */
		{ "zz", NULL },
		{ "x", NULL },
		{ "completely_unrelated_setting", NULL },
		{ "", NULL },
		/* longer than the distance table: no answer, no overflow */
		{ "a_key_name_that_is_much_longer_than_sixty_four_bytes_"
		    "in_all_of_it", NULL },
	};
	const char *got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		got = conf_key_near(rows[i].in);
		if (rows[i].want == NULL ? got != NULL : got == NULL ||
		    strcmp(got, rows[i].want) != 0)
			fail_msg("row %zu: %s: %s", i, rows[i].in,
			    got ? got : "(none)");
	}
}

struct seen {
	char	text[2048];
	int	errors, warnings;
};

static void
collect(void *arg, int error, const char *msg)
{
	struct seen *s = arg;
	size_t n = strlen(s->text);

	snprintf(s->text + n, sizeof s->text - n, "%s%s\n",
	    error ? "E " : "W ", msg);
	if (error)
		s->errors++;
	else
		s->warnings++;
}

/* test_check - conf_check: each value kind at its edges, unknown keys,
 * the rules between keys */
static void
test_check(void **state)
{
	static const struct {
		const char *text, *want;	/* "" : no problem */
	} rows[] = {
		{ "max_recipients 100000\n", "" },
		{ "max_recipients 100001\n",
		    "E c:1: max_recipients: out of range\n" },
		{ "max_recipients abc\n",
		    "E c:1: max_recipients: not a number\n" },
		{ "max_recipients 0\n", "E c:1: max_recipients: out of range\n" },
		/* every line counts, not only the last */
		{ "max_recipients x\nmax_recipients 5\n",
		    "E c:1: max_recipients: not a number\n" },
		{ "max_recipents 5\n", "W c:1: unknown key \"max_recipents\" "
		    "(did you mean \"max_recipients\"?)\n" },
		{ "\nzzz 1\n", "W c:2: unknown key \"zzz\"\n" },
		{ "hostname a b\n", "E c:1: hostname: expected one word\n" },
		{ "hostname mx.example.org\n", "" },
		{ "recipient_delimiter + -\n", "" },
		{ "remote_tls verify\n", "" },
		{ "remote_tls maybe\n", "E c:1: remote_tls: expected one of "
		    "none|may|encrypt|verify|dane|dane-only\n" },
		{ "remote_tls ma\n", "E c:1: remote_tls: expected one of "
		    "none|may|encrypt|verify|dane|dane-only\n" },
		{ "queue_sync fsync\nqueue_sync syncfs\n", "" },
		{ "queue_sync sync\n", "E c:1: queue_sync: expected one of "
		    "syncfs|fsync\n" },
		{ "smtpd_vrfy ON\nsmtpd_expn 0\n", "" },
		{ "smtpd_vrfy 2\n", "E c:1: smtpd_vrfy: expected yes or no\n" },
		{ "smtpd_timeout 5m\nmax_message_size 1g\n", "" },
		{ "smtpd_timeout 5 m\n", "E c:1: smtpd_timeout: not a duration "
		    "(number with s, m, h or d)\n" },
		{ "max_message_size 1t\n", "E c:1: max_message_size: not a "
		    "size (number with k, m or g)\n" },
		{ "local_timeout 7d\n", "" },
		{ "local_timeout 0\n", "E c:1: local_timeout: out of range\n" },
		{ "local_timeout 604801\n",
		    "E c:1: local_timeout: out of range\n" },
		{ "auth_fail_delay 20ms\nauth_fail_delay 600\n", "" },
		{ "auth_fail_delay 601\n",
		    "E c:1: auth_fail_delay: out of range\n" },
		{ "auth_fail_delay 600001ms\n",
		    "E c:1: auth_fail_delay: out of range\n" },
		{ "auth_fail_delay soon\n", "E c:1: auth_fail_delay: not a "
		    "delay (a duration, or a number with ms)\n" },
		{ "nameserver 127.0.0.1\nnameserver 127.0.0.1:5353\n"
		    "nameserver ::1\nnameserver [::1]:53\nnameserver [::1]\n",
		    "" },
		{ "nameserver ns.example\n", "E c:1: nameserver: expected an "
		    "IP address with an optional :port\n" },
		{ "nameserver 127.0.0.1:0\n", "E c:1: nameserver: expected an "
		    "IP address with an optional :port\n" },
		{ "nameserver 127.0.0.1:65536\n", "E c:1: nameserver: expected "
		    "an IP address with an optional :port\n" },
		{ "nameserver [::1\n", "E c:1: nameserver: expected an IP "
		    "address with an optional :port\n" },
		{ "nameserver []:53\n", "E c:1: nameserver: expected an IP "
		    "address with an optional :port\n" },
		/* the rule between the uid bounds, defaults included */
		{ "local_uid_min 2000\nlocal_uid_max 2000\n", "" },
		{ "local_uid_min 2000\nlocal_uid_max 1999\n",
		    "E c:2: local_uid_max is below local_uid_min\n" },
		{ "local_uid_max 1999\nlocal_uid_min 2000\n",
		    "E c:2: local_uid_max is below local_uid_min\n" },
		{ "local_uid_min 70000\n",
		    "E c:1: local_uid_max is below local_uid_min\n" },
		{ "local_uid_max 999\n",
		    "E c:1: local_uid_max is below local_uid_min\n" },
		/* an error and a warning together */
		{ "mx_port 0\nmx_prot 25\n", "E c:1: mx_port: out of range\n"
		    "W c:2: unknown key \"mx_prot\" (did you mean "
		    "\"mx_port\"?)\n" },
	};
	struct conf c;
	struct seen s;
	char err[256];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(&s, 0, sizeof s);
		assert_int_equal(conf_parse_mem(&c, "c", rows[i].text,
		    strlen(rows[i].text), err, sizeof err), 0);
		n = conf_check(&c, collect, &s);
		if (strcmp(s.text, rows[i].want) != 0 || n != s.errors)
			fail_msg("row %zu: got %d [%s]", i, n, s.text);
		conf_free(&c);
	}
}

/* load_child - conf_load of a file in a child: its exit and stderr */
static int
load_child(const char *text, char *path, size_t pathsz, char *out,
    size_t sz)
{
	char tmpl[] = "/tmp/test_conf.XXXXXX";
	struct conf c;
	int fd, p[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_true((fd = mkstemp(tmpl)) >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(path, pathsz, "%s", tmpl);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		dup2(p[1], 2);
		conf_load(&c, tmpl);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], out + got, sz - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	unlink(tmpl);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* test_load - conf_load stops on a bad value of any listed key, even one
 * this program never reads, and only warns of an unknown one */
static void
test_load(void **state)
{
	char path[64], out[2048], want[256];

	(void)state;
	assert_int_equal(load_child("hostname h\n\nmax_recipients abc\n", path,
	    sizeof path, out, sizeof out), EXIT_TEMP);
	snprintf(want, sizeof want, "%s:3: max_recipients: not a number",
	    path);
	if (strstr(out, want) == NULL || strstr(out, "event=fatal") == NULL)
		fail_msg("%s", out);
	assert_int_equal(load_child("max_recipents 5\n", path, sizeof path,
	    out, sizeof out), 0);
	snprintf(want, sizeof want, "event=warning op=config err=\"%s:1: "
	    "unknown key \\\"max_recipents\\\" (did you mean "
	    "\\\"max_recipients\\\"?)\"", path);
	if (strstr(out, want) == NULL)
		fail_msg("%s", out);
	assert_int_equal(load_child("hostname h\n", path, sizeof path, out,
	    sizeof out), 0);
	assert_string_equal(out, "");
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

/* conf_list_has: whole words only, either separator, case ignored */
static void
test_list_has(void **state)
{
	(void)state;
	assert_true(conf_list_has("a.example, B.example", "b.example", 9));
	assert_true(conf_list_has("a.example\tb.example", "a.example", 9));
	assert_true(conf_list_has(",,a.example,,", "A.EXAMPLE", 9));
	assert_false(conf_list_has("xa.example", "a.example", 9));
	assert_false(conf_list_has("a.example.net", "a.example", 9));
	assert_false(conf_list_has("a.exampl", "a.example", 9));
	assert_false(conf_list_has("", "a", 1));
	assert_false(conf_list_has(NULL, "a", 1));
	/* n, not the terminator, bounds the word */
	assert_true(conf_list_has("ab", "abc", 2));
}

/* fs_reuse_wanted: queue_reuse's words; auto on a file system that is
 * not ext4 (a tmpfs, /dev/shm) is no; an unknown word is -1 */
static void
test_reuse_words(void **state)
{
	const char *yes[] = { "yes", "true", "on", "1" };
	const char *no[] = { "no", "false", "off", "0" };
	const char *bad[] = { "", "Yes", "auto ", "2", "maybe" };
	int fd = open("/dev/shm", O_RDONLY | O_DIRECTORY);

	(void)state;
	assert_true(fd >= 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(fs_reuse_wanted(yes[i], fd), 1);
		assert_int_equal(fs_reuse_wanted(no[i], fd), 0);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(fs_reuse_wanted(bad[i], fd), -1);
	assert_int_equal(fs_reuse_wanted("auto", fd), 0);
	assert_int_equal(fs_unjournaled_ext4(fd), 0);
	assert_int_equal(fs_unjournaled_ext4(-1), 0);
	close(fd);
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
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_near),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_list_has),
		cmocka_unit_test(test_reuse_words),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
