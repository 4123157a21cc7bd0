/* test_local: maildir names, the Delivered-To loop scan on tricky
 * headers (fed whole and byte by byte), lspawn's job checks and its
 * mapping of exit statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../local/confine.h"
#include "../../local/deliver.h"
#include "job.h"
#include "../../local/lspawn.h"
#include "../../local/maildir.h"

static const struct { const char *in, *want; } hosts[] = {
	{ "mx.example.org", "mx.example.org" },
	{ "", "" },
	{ "a/b", "a\\057b" },
	{ "a:b", "a\\072b" },
	{ "/:/", "\\057\\072\\057" },
	{ "back\\slash", "back\\134slash" },
	{ "sp ace", "sp\\040ace" },
	{ "tab\t", "tab\\011" },
	{ "nl\n", "nl\\012" },
	{ "\xc3\xa9", "\\303\\251" },
	{ "del\x7f", "del\\177" },
};

static void
test_host(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		struct buf b = BUF_INIT(1024);

		assert_int_equal(maildir_host(&b, hosts[i].in), 0);
		assert_int_equal(b.len, strlen(hosts[i].want));
		assert_memory_equal(b.p ? b.p : "", hosts[i].want, b.len);
		buf_free(&b);
	}
}

static void
test_name(void **state)
{
	const unsigned char rnd[4] = { 0x00, 0xab, 0x10, 0xff };
	struct buf b = BUF_INIT(MAILDIR_NAME_MAX);
	char longhost[600];

	(void)state;
	assert_int_equal(maildir_name(&b, 1700000000ULL, 42, 1234, 7, rnd,
	    4, "h:1"), 0);
	buf_cstr(&b);
	assert_string_equal(b.p, "1700000000.M42P1234Q7R00ab10ff.h\\0721");
	buf_free(&b);
	/* too long a host: refused, never cut */
	memset(longhost, 'h', sizeof longhost - 1);
	longhost[sizeof longhost - 1] = '\0';
	buf_init(&b, 4096);
	assert_int_equal(maildir_name(&b, 1, 0, 1, 1, rnd, 4, longhost), -1);
	buf_free(&b);
}

struct dcase {
	const char	*msg;
	size_t		 len;		/* 0: strlen */
	const char	*rcpt;
	int		 loop;
};

static const struct dcase dcases[] = {
	{ "Delivered-To: u@x.org\n\nbody\n", 0, "u@x.org", 1 },
	{ "delivered-to: U@X.ORG\n\n", 0, "u@x.org", 1 },
	{ "DELIVERED-TO:u@x.org\n", 0, "u@x.org", 1 },
	{ "Delivered-To : u@x.org\n", 0, "u@x.org", 1 },	/* obs blanks */
	{ "Delivered-To: <u@x.org>\n", 0, "u@x.org", 1 },
	{ "Delivered-To:   u@x.org   \n", 0, "u@x.org", 1 },
	/* folded lines */
	{ "Delivered-To:\n u@x.org\n\n", 0, "u@x.org", 1 },
	{ "Delivered-To:\n\tu@x.org\n", 0, "u@x.org", 1 },
	{ "Delivered-To:\r\n u@x.org\r\n\r\n", 0, "u@x.org", 1 },
	{ "Delivered-To: u@x.org\n more\n", 0, "u@x.org", 0 },
	{ "Subject: x\n Delivered-To: u@x.org\n", 0, "u@x.org", 0 },
	/* CRLF */
	{ "Delivered-To: u@x.org\r\n\r\n", 0, "u@x.org", 1 },
	{ "A: b\r\n\r\nDelivered-To: u@x.org\r\n", 0, "u@x.org", 0 },
	/* no trailing newline: the last field still counts */
	{ "Delivered-To: u@x.org", 0, "u@x.org", 1 },
	{ "Subject: a\nDelivered-To: u@x.org", 0, "u@x.org", 1 },
	/* the header/body boundary */
	{ "Subject: a\n\nDelivered-To: u@x.org\n", 0, "u@x.org", 0 },
	{ "\nDelivered-To: u@x.org\n", 0, "u@x.org", 0 },
	{ "\r\nDelivered-To: u@x.org\n", 0, "u@x.org", 0 },
	/* other fields and other recipients */
	{ "Delivered-To: v@x.org\n", 0, "u@x.org", 0 },
	{ "Delivered-To: u@x.org.evil\n", 0, "u@x.org", 0 },
	{ "Delivered-To: xu@x.org\n", 0, "u@x.org", 0 },
	{ "X-Delivered-To: u@x.org\n", 0, "u@x.org", 0 },
	{ "Delivered-To-X: u@x.org\n", 0, "u@x.org", 0 },
	{ "Delivered-To u@x.org\n", 0, "u@x.org", 0 },
	{ "Delivered-To:\n", 0, "u@x.org", 0 },
	{ "Delivered-To: u@x.org\n", 0, "", 0 },
	{ "", 0, "u@x.org", 0 },
	/* a second field after many */
	{ "A: 1\nB: 2\nC: 3\nDelivered-To: v@x.org\nDelivered-To: u@x.org\n",
	    0, "u@x.org", 1 },
	/* NUL, bare CR, 8-bit in the header */
	{ "A: \0\nDelivered-To: u@x.org\n", 27, "u@x.org", 1 },
	{ "Delivered-To: u@x.org\0\n", 23, "u@x.org", 0 },
	{ "A: b\rDelivered-To: u@x.org\n", 0, "u@x.org", 0 },
	{ "A: \xff\xfe\nDelivered-To: u@x.org\n", 0, "u@x.org", 1 },
	{ "Delivered-To: \xc3\xa9@x.org\n", 0, "\xc3\xa9@x.org", 1 },
};

static int
scan(const struct dcase *c, size_t step)
{
	struct dtscan s;
	size_t n = c->len ? c->len : strlen(c->msg);

	dtscan_init(&s, c->rcpt);
	for (size_t i = 0; i < n; i += step)
		dtscan_feed(&s, c->msg + i, n - i < step ? n - i : step);
	return dtscan_end(&s);
}

static void
test_dtscan(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof dcases / sizeof dcases[0]; i++) {
		for (size_t step = 1; step <= 7; step += 3) {
			if (scan(&dcases[i], step) != dcases[i].loop)
				fail_msg("case %zu step %zu: %s", i, step,
				    dcases[i].msg);
		}
		if (scan(&dcases[i], 1 << 20) != dcases[i].loop)
			fail_msg("case %zu whole: %s", i, dcases[i].msg);
	}
}

static void
test_dtscan_long_field(void **state)
{
	struct buf m = BUF_INIT(20000);
	struct dcase c = { NULL, 0, "u@x.org", 0 };

	(void)state;
	/* a field longer than the buffer is no match, and the next one is */
	buf_puts(&m, "Delivered-To: u@x.org");
	for (int i = 0; i < 3000; i++)
		buf_puts(&m, " ");
	buf_puts(&m, "x\nSubject: a\n\n");
	buf_cstr(&m);
	c.msg = m.p;
	assert_int_equal(scan(&c, 1 << 20), 0);
	m.len = 0;
	buf_puts(&m, "X-Long: ");
	for (int i = 0; i < 5000; i++)
		buf_puts(&m, "y");
	buf_puts(&m, "\nDelivered-To: u@x.org\n\n");
	buf_cstr(&m);
	c.msg = m.p;
	assert_int_equal(scan(&c, 1 << 20), 1);
	assert_int_equal(scan(&c, 3), 1);
	buf_free(&m);
}

static void
test_deliver_status(void **state)
{
	(void)state;
	assert_int_equal(deliver_status(0), 0);
	assert_int_equal(deliver_status(100 << 8), 100);
	assert_int_equal(deliver_status(111 << 8), 111);
	assert_int_equal(deliver_status(1 << 8), 111);
	assert_int_equal(deliver_status(99 << 8), 111);
	assert_int_equal(deliver_status(9), 111);	/* SIGKILL */
}

static void
test_lspawn_result(void **state)
{
	static const struct { int st; const char *text; uint8_t want;
	    const char *out; } rows[] = {
		{ 0, "delivered: new/x\n", ST_OK, "delivered: new/x" },
		{ 0, "", ST_OK, "delivered" },
		{ 100 << 8, "first\nmail loop\n\n", ST_PERM, "mail loop" },
		{ 100 << 8, "", ST_PERM, "permanent failure" },
		{ 111 << 8, "disk full\n", ST_TEMP, "disk full" },
		{ 3 << 8, "x\n", ST_TEMP, "sandmail-local exited 3: x" },
		{ 9, "", ST_TEMP, "sandmail-local killed by signal 9" },
		{ 14, "", ST_TEMP,
		    "sandmail-local killed by signal 14 (timeout)" },
		{ 0, "a\tb\x01" "c\r\n", ST_OK, "a b c" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct buf t = BUF_INIT(LSPAWN_TEXT_MAX * 2);

		buf_puts(&t, rows[i].text);
		assert_int_equal(lspawn_result(rows[i].st, &t), rows[i].want);
		buf_cstr(&t);
		assert_string_equal(t.p, rows[i].out);
		buf_free(&t);
	}
}

static void
test_lspawn_check(void **state)
{
	struct lspawn_cfg c = { .uid_min = 1000, .uid_max = 60000, .root = 1 };
	struct ljob j = { 1, "Q", "s@x", "u@x", "/home/u/Maildir/", 1000,
	    1000 };
	uint8_t st;
	int fd, p[2];
	char path[] = "/tmp/test_local_XXXXXX";

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	unlink(path);
	assert_null(lspawn_check(&c, &j, fd, &st));
	assert_non_null(lspawn_check(&c, &j, -1, &st));
	assert_int_equal(st, ST_TEMP);
	assert_int_equal(pipe(p), 0);
	assert_non_null(lspawn_check(&c, &j, p[0], &st));
	close(p[0]);
	close(p[1]);
	j.uid = 0;
	assert_non_null(lspawn_check(&c, &j, fd, &st));
	j.uid = 999;
	assert_non_null(lspawn_check(&c, &j, fd, &st));
	j.uid = 60001;
	assert_non_null(lspawn_check(&c, &j, fd, &st));
	j.uid = 60000;
	assert_null(lspawn_check(&c, &j, fd, &st));
	/* user_vmail and user_alias: allowed outside the range, no other */
	c.svc_uid[0] = 998, c.svc_uid[1] = 65534, c.nsvc = 2;
	j.uid = 998;
	assert_null(lspawn_check(&c, &j, fd, &st));
	j.uid = 65534;
	assert_null(lspawn_check(&c, &j, fd, &st));
	j.uid = 997;
	assert_non_null(lspawn_check(&c, &j, fd, &st));
	j.uid = 65533;
	assert_non_null(lspawn_check(&c, &j, fd, &st));
	c.nsvc = 0;
	j.uid = 60000;
	j.gid = 0;
	assert_non_null(lspawn_check(&c, &j, fd, &st));
	j.gid = 1000;
	/* not root: only our own uid */
	c.root = 0;
	c.self_uid = 1234;
	assert_non_null(lspawn_check(&c, &j, fd, &st));
	j.uid = 1234;
	assert_null(lspawn_check(&c, &j, fd, &st));
	/* destinations */
	static const struct { const char *d; int ok; } dests[] = {
		{ "/m/", 1 }, { "/m", 0 }, { "m/", 0 }, { "", 0 },
		{ "/a/../b/", 0 }, { "/a/./b/", 0 }, { "|", 0 },
	};
	for (size_t i = 0; i < sizeof dests / sizeof dests[0]; i++) {
		j.dest = (char *)dests[i].d;
		assert_int_equal(lspawn_check(&c, &j, fd, &st) == NULL,
		    dests[i].ok);
	}
	j.dest = "|cat";
	assert_non_null(lspawn_check(&c, &j, fd, &st));
	assert_int_equal(st, ST_PERM);
	c.programs = 1;
	assert_null(lspawn_check(&c, &j, fd, &st));
	close(fd);
}

/* in a child: what Landlock leaves of the file system; exit code = step */
static int
confined(const char *dir)
{
	int d, t, n, fd;

	if ((d = open(dir, O_RDONLY | O_DIRECTORY)) == -1 ||
	    mkdirat(d, "tmp", 0700) == -1 || mkdirat(d, "new", 0700) == -1 ||
	    (t = openat(d, "tmp", O_RDONLY | O_DIRECTORY)) == -1 ||
	    (n = openat(d, "new", O_RDONLY | O_DIRECTORY)) == -1)
		return 1;
	switch (confine_maildir(d)) {
	case 1:
		return 77;		/* no Landlock here */
	case -1:
		return 2;
	}
	/* the delivery's own steps work */
	if ((fd = openat(t, "m", MAILDIR_OFLAGS, 0600)) == -1 ||
	    write(fd, "x", 1) != 1 || fsync(fd) == -1 || close(fd) == -1 ||
	    linkat(t, "m", n, "m", 0) == -1 || unlinkat(t, "m", 0) == -1)
		return 3;
	/* nothing else: reading the maildir's file, leaving it by an
	 * absolute path, reading elsewhere, making directories */
	if (openat(n, "m", O_RDONLY) != -1 || errno != EACCES)
		return 4;
	if (openat(t, "/tmp/test_local_escape", MAILDIR_OFLAGS, 0600) != -1 ||
	    errno != EACCES)
		return 5;
	if (open("/etc/passwd", O_RDONLY) != -1 || errno != EACCES)
		return 6;
	if (mkdirat(d, "sub", 0700) != -1 || errno != EACCES)
		return 7;
	return 0;
}

static void
test_confine(void **state)
{
	char dir[] = "/tmp/test_local_XXXXXX";
	int st;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	if ((pid = fork()) == 0)
		_exit(confined(dir));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		rmdir(dir);
		skip();
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	{
		char p[64];

		snprintf(p, sizeof p, "%s/new/m", dir);
		unlink(p);
		snprintf(p, sizeof p, "%s/new", dir);
		rmdir(p);
		snprintf(p, sizeof p, "%s/tmp", dir);
		rmdir(p);
		rmdir(dir);
	}
	assert_int_equal(access("/tmp/test_local_escape", F_OK), -1);
}

/* sync_file_range, as deliver.c sees it: the real one, or a write-back
 * error (EIO) when sfr_fail is set.  A definition in the program wins
 * over libc's for the objects linked in. */
static int sfr_fail;

int
sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	if (sfr_fail)
		return errno = EIO, -1;
	return (int)syscall(SYS_sync_file_range, fd, off, n, flags);
}

/* the one-barrier delivery (a journaled maildir): a write-back error
 * that sync_file_range reports is the delivery's, never an fsync's 0
 * after it (the error was consumed): nothing in new/, a temporary
 * failure; with no error the message is in new/ and tmp/ is empty */
static void
test_deliver_writeback_error(void **state)
{
	char dir[] = "/tmp/test_local_sfr.XXXXXX", p[128], mp[160];
	struct dinfo d = { "QID", "a@example.org", "b@example.org", "h" };
	struct buf why = BUF_INIT(DELIVER_TEXT_MAX);
	struct maildir m;
	struct stat st;
	int msg;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(mp, sizeof mp, "%s/msg", dir);
	msg = open(mp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(msg >= 0);
	assert_int_equal(write(msg, "Subject: x\n\nbody\n", 18), 18);
	snprintf(p, sizeof p, "%s/Maildir", dir);
	assert_int_equal(maildir_open(&m, p), 0);
	m.journaled = 1;	/* whatever the file system: that path */
	sfr_fail = 1;
	assert_int_equal(deliver_maildir(&m, msg, &d, "n1", &why), 111);
	sfr_fail = 0;
	snprintf(p, sizeof p, "%s/Maildir/new/n1", dir);
	assert_int_equal(stat(p, &st), -1);
	snprintf(p, sizeof p, "%s/Maildir/tmp/n1", dir);
	assert_int_equal(stat(p, &st), -1);
	why.len = 0;
	assert_int_equal(deliver_maildir(&m, msg, &d, "n2", &why), 0);
	snprintf(p, sizeof p, "%s/Maildir/new/n2", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof p, "%s/Maildir/tmp/n2", dir);
	assert_int_equal(stat(p, &st), -1);
	buf_free(&why);
	close(m.dir);
	close(m.tmp);
	close(m.new);
	close(msg);
	unlink(mp);
	for (const char *const *s = (const char *const[]){ "tmp", "new",
	    "cur", NULL }; *s != NULL; s++) {
		snprintf(p, sizeof p, "%s/Maildir/%s", dir, *s);
		assert_int_equal(rmdir(p), 0);
	}
	snprintf(p, sizeof p, "%s/Maildir", dir);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_dtscan),
		cmocka_unit_test(test_dtscan_long_field),
		cmocka_unit_test(test_deliver_status),
		cmocka_unit_test(test_lspawn_result),
		cmocka_unit_test(test_lspawn_check),
		cmocka_unit_test(test_confine),
		cmocka_unit_test(test_deliver_writeback_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
