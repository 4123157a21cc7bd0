/* test_pop3: the POP3 command parser, the output encoder (CRLF, dot
 * stuffing, TOP), the maildir snapshot and UIDLs, the lock, and the
 * TRANSACTION/UPDATE states through trans_line with a fake peer. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../pop3d/pop3d.h"

#define S(x)	x, sizeof x - 1

static const struct {
	const char *line;
	enum pop3_perr err;
	enum pop3_verb verb;
	int nnum;
	unsigned long n0, n1;
	const char *arg;
} cases[] = {
	{ "STAT\r\n", PE_OK, V_STAT, 0, 0, 0, NULL },
	{ "stat\n", PE_OK, V_STAT, 0, 0, 0, NULL },	/* bare LF, case */
	{ "StAt", PE_OK, V_STAT, 0, 0, 0, NULL },	/* no line end */
	{ "STAT \r\n", PE_SYNTAX, V_STAT, 0, 0, 0, NULL },
	{ "STAT 1\r\n", PE_SYNTAX, V_STAT, 0, 0, 0, NULL },
	{ "LIST\r\n", PE_OK, V_LIST, 0, 0, 0, NULL },
	{ "LIST 1\r\n", PE_OK, V_LIST, 1, 1, 0, NULL },
	{ "LIST 4294967295\r\n", PE_OK, V_LIST, 1, 4294967295UL, 0, NULL },
	{ "LIST 4294967296\r\n", PE_SYNTAX, V_LIST, 0, 0, 0, NULL },
	{ "LIST 99999999999\r\n", PE_SYNTAX, V_LIST, 0, 0, 0, NULL },
	{ "LIST -1\r\n", PE_SYNTAX, V_LIST, 0, 0, 0, NULL },
	{ "LIST +1\r\n", PE_SYNTAX, V_LIST, 0, 0, 0, NULL },
	{ "LIST 1 2\r\n", PE_SYNTAX, V_LIST, 0, 0, 0, NULL },
	{ "LIST  1\r\n", PE_SYNTAX, V_LIST, 0, 0, 0, NULL },
	{ "LIST 1x\r\n", PE_SYNTAX, V_LIST, 0, 0, 0, NULL },
	{ "RETR\r\n", PE_SYNTAX, V_RETR, 0, 0, 0, NULL },
	{ "RETR 0\r\n", PE_OK, V_RETR, 1, 0, 0, NULL },	/* caller: none */
	{ "RETR 12\r\n", PE_OK, V_RETR, 1, 12, 0, NULL },
	{ "DELE 3\n", PE_OK, V_DELE, 1, 3, 0, NULL },
	{ "TOP 1 0\r\n", PE_OK, V_TOP, 2, 1, 0, NULL },
	{ "TOP 1 10\r\n", PE_OK, V_TOP, 2, 1, 10, NULL },
	{ "TOP 1\r\n", PE_SYNTAX, V_TOP, 0, 0, 0, NULL },
	{ "TOP 1 \r\n", PE_SYNTAX, V_TOP, 0, 0, 0, NULL },
	{ "TOP 1 2 3\r\n", PE_SYNTAX, V_TOP, 0, 0, 0, NULL },
	{ "UIDL\r\n", PE_OK, V_UIDL, 0, 0, 0, NULL },
	{ "UIDL 2\r\n", PE_OK, V_UIDL, 1, 2, 0, NULL },
	{ "USER alice\r\n", PE_OK, V_USER, 0, 0, 0, "alice" },
	{ "USER\r\n", PE_SYNTAX, V_USER, 0, 0, 0, NULL },
	{ "USER \r\n", PE_SYNTAX, V_USER, 0, 0, 0, NULL },
	{ "PASS pass word \r\n", PE_OK, V_PASS, 0, 0, 0, "pass word " },
	{ "PASS \xc3\xa9t\xc3\xa9\r\n", PE_OK, V_PASS, 0, 0, 0,
	    "\xc3\xa9t\xc3\xa9" },
	{ "PASS a\rb\r\n", PE_OK, V_PASS, 0, 0, 0, "a\rb" },	/* bare CR */
	{ "AUTH\r\n", PE_OK, V_AUTH, 0, 0, 0, "" },
	{ "AUTH PLAIN\r\n", PE_OK, V_AUTH, 0, 0, 0, "PLAIN" },
	{ "AUTH PLAIN AGEAYgBj\r\n", PE_OK, V_AUTH, 0, 0, 0,
	    "PLAIN AGEAYgBj" },
	{ "AUTH \r\n", PE_SYNTAX, V_AUTH, 0, 0, 0, NULL },
	{ "STLS\r\n", PE_OK, V_STLS, 0, 0, 0, NULL },
	{ "CAPA\r\n", PE_OK, V_CAPA, 0, 0, 0, NULL },
	{ "QUIT\r\n", PE_OK, V_QUIT, 0, 0, 0, NULL },
	{ "NOOP\r\n", PE_OK, V_NOOP, 0, 0, 0, NULL },
	{ "RSET\r\n", PE_OK, V_RSET, 0, 0, 0, NULL },
	{ "APOP a b\r\n", PE_OK, V_APOP, 0, 0, 0, "a b" },
	{ "\r\n", PE_UNKNOWN, V_UNKNOWN, 0, 0, 0, NULL },
	{ "", PE_UNKNOWN, V_UNKNOWN, 0, 0, 0, NULL },
	{ "QUITX\r\n", PE_UNKNOWN, V_UNKNOWN, 0, 0, 0, NULL },
	{ "QUI\r\n", PE_UNKNOWN, V_UNKNOWN, 0, 0, 0, NULL },
	{ " QUIT\r\n", PE_UNKNOWN, V_UNKNOWN, 0, 0, 0, NULL },
	{ "\xc3\x9cSER a\r\n", PE_UNKNOWN, V_UNKNOWN, 0, 0, 0, NULL },
	{ "QUIT\r\r\n", PE_UNKNOWN, V_UNKNOWN, 0, 0, 0, NULL },
};

static void
test_parse(void **state)
{
	struct pop3_cmd c;
	enum pop3_perr e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		e = pop3_parse(cases[i].line, strlen(cases[i].line), &c);
		if (e != cases[i].err)
			fail_msg("case %zu [%s]: err %d want %d", i,
			    cases[i].line, e, cases[i].err);
		if (e == PE_UNKNOWN)
			continue;
		assert_int_equal(c.verb, cases[i].verb);
		if (e != PE_OK)
			continue;
		assert_int_equal(c.nnum, cases[i].nnum);
		if (c.nnum > 0)
			assert_int_equal(c.num[0], cases[i].n0);
		if (c.nnum > 1)
			assert_int_equal(c.num[1], cases[i].n1);
		if (cases[i].arg != NULL) {
			assert_int_equal(c.alen, strlen(cases[i].arg));
			assert_memory_equal(c.arg, cases[i].arg, c.alen);
		}
	}
}

static void
test_parse_nul(void **state)
{
	struct pop3_cmd c;

	(void)state;
	assert_int_equal(pop3_parse(S("PASS a\0b\r\n"), &c), PE_NUL);
	assert_int_equal(pop3_parse(S("\0"), &c), PE_NUL);
	assert_int_equal(pop3_parse(S("USER\0 x"), &c), PE_NUL);
}

/* the fake peer: everything written lands in out */
static struct buf out = BUF_INIT(1 << 24);

static ssize_t
cap_op(int fd, void *p, size_t n, void *ctx)
{
	(void)fd;
	(void)ctx;
	if (buf_put(&out, p, n) == -1)
		return -1;
	return (ssize_t)n;
}

static void
encode(const char *in, size_t n, long lines, size_t chunk, struct wr *w)
{
	struct stuff s;
	size_t i, k;

	stuff_init(&s, lines);
	for (i = 0; i < n; i += k) {
		k = n - i < chunk ? n - i : chunk;
		assert_int_equal(stuff_feed(&s, in + i, k, w), 0);
	}
	assert_int_equal(stuff_end(&s, w), 0);
	assert_int_equal(wr_flush(w), 0);
}

static const struct {
	const char *in;
	long lines;
	const char *want;
} enc[] = {
	{ "", -1, ".\r\n" },
	{ "a\n", -1, "a\r\n.\r\n" },
	{ "a\r\n", -1, "a\r\n.\r\n" },
	{ "a", -1, "a\r\n.\r\n" },			/* no final LF */
	{ "a\r", -1, "a\r\n.\r\n" },			/* final bare CR */
	{ "a\rb\n", -1, "a\rb\r\n.\r\n" },		/* bare CR kept */
	{ ".\n", -1, "..\r\n.\r\n" },
	{ ".a\n..b\nc.\n", -1, "..a\r\n...b\r\nc.\r\n.\r\n" },
	{ "\n\n", -1, "\r\n\r\n.\r\n" },
	{ "\x80\xff\n", -1, "\x80\xff\r\n.\r\n" },	/* 8-bit */
	{ "H: 1\nH: 2\n\nb1\nb2\nb3\n", 0, "H: 1\r\nH: 2\r\n\r\n.\r\n" },
	{ "H: 1\n\nb1\nb2\nb3\n", 2, "H: 1\r\n\r\nb1\r\nb2\r\n.\r\n" },
	{ "H: 1\r\n\r\n.b1\r\nb2\r\n", 1, "H: 1\r\n\r\n..b1\r\n.\r\n" },
	{ "H: 1\n\nb1", 5, "H: 1\r\n\r\nb1\r\n.\r\n" },
	{ "H: 1\nH: 2", 0, "H: 1\r\nH: 2\r\n.\r\n" },	/* no body */
	{ "\nbody\n", 0, "\r\n.\r\n" },			/* empty header */
};

static void
test_stuff(void **state)
{
	struct wr w;
	size_t i, chunk;

	(void)state;
	wr_init(&w, -1, cap_op, NULL);
	for (i = 0; i < sizeof enc / sizeof enc[0]; i++) {
		/* whole, and a byte at a time: the same bytes */
		for (chunk = 1; chunk <= 4096; chunk *= 4096) {
			out.len = 0;
			encode(enc[i].in, strlen(enc[i].in), enc[i].lines,
			    chunk, &w);
			assert_int_equal(buf_cstr(&out), 0);
			if (strcmp(out.p, enc[i].want) != 0)
				fail_msg("case %zu chunk %zu: [%s]", i, chunk,
				    out.p);
		}
	}
}

/* the size counts what is sent, without the stuffing and terminator */
static void
test_stuff_count(void **state)
{
	struct stuff s;
	static const char m[] = ".a\nb\r\n.\nlast";

	(void)state;
	stuff_init(&s, -1);
	assert_int_equal(stuff_feed(&s, m, sizeof m - 1, NULL), 0);
	assert_int_equal(stuff_end(&s, NULL), 0);
	/* ".a\r\nb\r\n.\r\nlast\r\n" */
	assert_int_equal(s.out, 16);
}

/* the fast count agrees with the encoder, however the input is cut */
static void
test_stuff_fast_count(void **state)
{
	static const char *const m[] = { "", "a", "\n", "\r", "\r\n",
	    "a\r\nb\nc\r", "\n\n\r\r\n.\n", ".x\r\n\r\n\rz", NULL };
	struct stuff s, c;
	size_t i, cut, n;

	(void)state;
	for (i = 0; m[i] != NULL; i++) {
		n = strlen(m[i]);
		for (cut = 0; cut <= n; cut++) {
			stuff_init(&s, -1);
			stuff_init(&c, -1);
			assert_int_equal(stuff_feed(&s, m[i], cut, NULL), 0);
			assert_int_equal(stuff_feed(&s, m[i] + cut, n - cut,
			    NULL), 0);
			stuff_count(&c, m[i], cut);
			stuff_count(&c, m[i] + cut, n - cut);
			assert_int_equal(stuff_end(&s, NULL), 0);
			assert_int_equal(stuff_end(&c, NULL), 0);
			if (s.out != c.out)
				fail_msg("case %zu cut %zu: %llu != %llu", i,
				    cut, (unsigned long long)s.out,
				    (unsigned long long)c.out);
		}
	}
}

static char md[] = "/tmp/test_pop3.XXXXXX";

static void
put(const char *sub, const char *name, const char *data, time_t t)
{
	char p[512];
	struct timeval tv[2] = { { t, 0 }, { t, 0 } };
	int fd;

	snprintf(p, sizeof p, "%s/%s/%s", md, sub, name);
	assert_true((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	assert_int_equal(utimes(p, tv), 0);
}

static int
exists(const char *sub, const char *name)
{
	char p[512];

	snprintf(p, sizeof p, "%s/%s/%s", md, sub, name);
	return access(p, F_OK) == 0;
}

static void
rm_rf(void)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", md);
	assert_int_equal(system(cmd), 0);
}

static int
setup_md(void **state)
{
	char p[512];

	(void)state;
	memcpy(md + sizeof md - 7, "XXXXXX", 6);
	assert_non_null(mkdtemp(md));
	snprintf(p, sizeof p, "%s/new", md);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/cur", md);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/tmp", md);
	mkdir(p, 0700);
	put("new", "300.M3P3.h", "Subject: c\n\nthree\n", 300);
	put("cur", "100.M1P1.h:2,S", "Subject: a\n\none\n", 100);
	put("new", "200.M2P2.h,S=5,W=99", "Subject: b\n\ntwo\n", 200);
	/* a rename new -> cur caught half-way: seen once, from cur/ */
	put("new", "250.M25P25.h", "x\n", 250);
	put("cur", "250.M25P25.h:2,", "x\n", 250);
	put("new", ".hidden", "x\n", 50);
	return 0;
}

static int
teardown_md(void **state)
{
	(void)state;
	rm_rf();
	return 0;
}

static void
test_uid(void **state)
{
	char uid[POP3_UID_MAX + 1], name[200];

	(void)state;
	mbox_uid("123.M4P5.host:2,S", uid);
	assert_string_equal(uid, "123.M4P5.host");
	mbox_uid("123.M4P5.host", uid);
	assert_string_equal(uid, "123.M4P5.host");
	/* 70 characters is the limit; longer or odd bytes are hashed */
	memset(name, 'a', 70);
	name[70] = '\0';
	mbox_uid(name, uid);
	assert_string_equal(uid, name);
	name[70] = 'a';
	name[71] = '\0';
	mbox_uid(name, uid);
	assert_int_equal(strlen(uid), 33);
	assert_int_equal(uid[0], 'S');
	mbox_uid("a b", uid);
	assert_int_equal(uid[0], 'S');
	mbox_uid("\xc3\xa9", uid);
	assert_int_equal(strlen(uid), 33);
}

static void
test_scan(void **state)
{
	struct mbox mb, mb2;

	(void)state;
	assert_int_equal(mbox_open(&mb, md), 0);
	/* a second session: the flock refuses it */
	assert_int_equal(mbox_open(&mb2, md), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_int_equal(mbox_scan(&mb, 100), 0);
	assert_int_equal(mb.n, 4);
	assert_string_equal(mb.m[0].uid, "100.M1P1.h");
	assert_string_equal(mb.m[1].uid, "200.M2P2.h,S=5,W=99");
	assert_string_equal(mb.m[2].uid, "250.M25P25.h");
	assert_false(mb.m[2].in_new);
	assert_string_equal(mb.m[3].uid, "300.M3P3.h");
	assert_int_equal(mb.m[0].octets, 19);	/* CRLF size */
	assert_int_equal(mb.m[1].octets, 99);	/* Dovecot's W= */
	mbox_close(&mb);
	assert_int_equal(mbox_open(&mb, md), 0);
	assert_int_equal(mbox_scan(&mb, 3), -1);	/* over the limit */
	mbox_close(&mb);
}

static int
run(struct mbox *mb, const char *line, int *quit_ok)
{
	struct wr w;
	int r;

	out.len = 0;
	wr_init(&w, -1, cap_op, NULL);
	r = trans_line(mb, line, strlen(line), &w, quit_ok);
	assert_int_equal(wr_flush(&w), 0);
	assert_int_equal(buf_cstr(&out), 0);
	return r;
}

static void
test_trans(void **state)
{
	struct mbox mb;
	int q = 0;

	(void)state;
	assert_int_equal(mbox_open(&mb, md), 0);
	assert_int_equal(mbox_scan(&mb, 100), 0);
	assert_int_equal(run(&mb, "STAT\r\n", &q), 1);
	assert_string_equal(out.p, "+OK 4 142\r\n");
	assert_int_equal(run(&mb, "LIST 2\r\n", &q), 1);
	assert_string_equal(out.p, "+OK 2 99\r\n");
	assert_int_equal(run(&mb, "UIDL 1\r\n", &q), 1);
	assert_string_equal(out.p, "+OK 1 100.M1P1.h\r\n");
	assert_int_equal(run(&mb, "RETR 4\r\n", &q), 1);
	assert_string_equal(out.p,
	    "+OK 21 octets\r\nSubject: c\r\n\r\nthree\r\n.\r\n");
	assert_int_equal(run(&mb, "TOP 1 0\r\n", &q), 1);
	assert_string_equal(out.p, "+OK 19 octets\r\nSubject: a\r\n\r\n.\r\n");
	assert_int_equal(run(&mb, "RETR 5\r\n", &q), 1);
	assert_string_equal(out.p, "-ERR no such message\r\n");
	assert_int_equal(run(&mb, "USER x\r\n", &q), 1);
	assert_int_equal(strncmp(out.p, "-ERR", 4), 0);
	assert_int_equal(run(&mb, "DELE 1\r\n", &q), 1);
	assert_int_equal(run(&mb, "DELE 1\r\n", &q), 1);
	assert_string_equal(out.p, "-ERR no such message\r\n");
	assert_int_equal(run(&mb, "LIST\r\n", &q), 1);
	assert_string_equal(out.p, "+OK 3 messages (123 octets)\r\n"
	    "2 99\r\n3 3\r\n4 21\r\n.\r\n");
	assert_int_equal(run(&mb, "RSET\r\n", &q), 1);
	assert_int_equal(run(&mb, "STAT\r\n", &q), 1);
	assert_string_equal(out.p, "+OK 4 142\r\n");
	assert_int_equal(run(&mb, "DELE 3\r\n", &q), 1);
	/* nothing changed on disk before QUIT */
	assert_true(exists("cur", "250.M25P25.h:2,"));
	assert_true(exists("new", "300.M3P3.h"));
	assert_int_equal(run(&mb, "QUIT\r\n", &q), 0);
	assert_int_equal(q, 1);
	assert_string_equal(out.p, "+OK sandmail POP3 server signing off "
	    "(3 messages left)\r\n");
	assert_false(exists("cur", "250.M25P25.h:2,"));
	/* seen: new/ -> cur/, ":2,S" when retrieved */
	assert_false(exists("new", "300.M3P3.h"));
	assert_true(exists("cur", "300.M3P3.h:2,S"));
	assert_true(exists("cur", "200.M2P2.h,S=5,W=99:2,"));
	assert_true(exists("cur", "100.M1P1.h:2,S"));
	mbox_close(&mb);
}

/* Another reader moved a message after our snapshot: found by base. */
static void
test_moved(void **state)
{
	struct mbox mb;
	char a[512], b[512];
	int q = 0;

	(void)state;
	assert_int_equal(mbox_open(&mb, md), 0);
	assert_int_equal(mbox_scan(&mb, 100), 0);
	snprintf(a, sizeof a, "%s/new/300.M3P3.h", md);
	snprintf(b, sizeof b, "%s/cur/300.M3P3.h:2,T", md);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(run(&mb, "RETR 4\r\n", &q), 1);
	assert_int_equal(strncmp(out.p, "+OK 21 octets\r\n", 15), 0);
	assert_int_equal(run(&mb, "DELE 4\r\n", &q), 1);
	assert_int_equal(run(&mb, "QUIT\r\n", &q), 0);
	assert_int_equal(q, 1);
	assert_false(exists("cur", "300.M3P3.h:2,T"));
	/* the message deleted meanwhile is simply gone */
	mbox_close(&mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_stuff),
		cmocka_unit_test(test_stuff_count),
		cmocka_unit_test(test_stuff_fast_count),
		cmocka_unit_test(test_uid),
		cmocka_unit_test_setup_teardown(test_scan, setup_md,
		    teardown_md),
		cmocka_unit_test_setup_teardown(test_trans, setup_md,
		    teardown_md),
		cmocka_unit_test_setup_teardown(test_moved, setup_md,
		    teardown_md),
	};
	int r;

	r = cmocka_run_group_tests(tests, NULL, NULL);
	buf_free(&out);
	return r;
}
