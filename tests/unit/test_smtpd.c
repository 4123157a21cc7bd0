/* test_smtpd: the SMTP receiver's parsers at their edges: xtext, MAIL and
 * RCPT parameters, paths after the verb, HELO names, the DATA/BDAT
 * decoder fed byte streams in every split, and whole sessions driven
 * through fake io.h ops (no queue: DATA answers 451). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>

#include "../../smtpd/smtpd.h"

#define L(s)	s, sizeof s - 1

static const struct { const char *in; size_t n; int ok; } xtexts[] = {
	{ L(""), 1 }, { L("abc"), 1 }, { L("a+2Bb"), 1 }, { L("+3D"), 1 },
	{ L("+"), 0 }, { L("+2"), 0 }, { L("+2b"), 0 }, { L("+G0"), 0 },
	{ L("a=b"), 0 }, { L("a b"), 0 }, { L("a\x7f"), 0 },
	{ L("\xc3\xa9"), 0 }, { L("a\0b"), 0 }, { L("ab+"), 0 },
	{ L("!~"), 1 }, { L("a\r\n"), 0 },
};

static void
test_xtext(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof xtexts / sizeof xtexts[0]; i++)
		assert_int_equal(xtext_valid(xtexts[i].in, xtexts[i].n),
		    xtexts[i].ok);
}

static const struct {
	const char *in; size_t n; enum param_err want;
	uint64_t size; int body8, utf8, ret; const char *envid;
} mails[] = {
	{ L(""), P_OK, 0, 0, 0, 0, "" },
	{ L("  "), P_OK, 0, 0, 0, 0, "" },
	{ L("SIZE=123"), P_OK, 123, 0, 0, 0, "" },
	{ L("size=0"), P_OK, 0, 0, 0, 0, "" },
	{ L("SIZE=99999999999999999999"), P_OK, UINT64_MAX, 0, 0, 0, "" },
	{ L("SIZE=999999999999999999999"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("SIZE="), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("SIZE"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("SIZE=1x"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("SIZE=-1"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("SIZE=1 SIZE=1"), P_DUP, 0, 0, 0, 0, NULL },
	{ L("BODY=8BITMIME"), P_OK, 0, 1, 0, 0, "" },
	{ L("BODY=7bit"), P_OK, 0, 0, 0, 0, "" },
	{ L("BODY=BINARYMIME"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("SMTPUTF8"), P_OK, 0, 0, 1, 0, "" },
	{ L("SMTPUTF8="), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("RET=FULL"), P_OK, 0, 0, 0, RET_FULL, "" },
	{ L("RET=hdrs"), P_OK, 0, 0, 0, RET_HDRS, "" },
	{ L("RET=NONE"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("ENVID=abc+2B"), P_OK, 0, 0, 0, 0, "abc+2B" },
	{ L("ENVID="), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("ENVID=a=b"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("ENVID=\xc3\xa9"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("ENVID=0123456789012345678901234567890123456789012345678901234"
	    "567890123456789012345678901234567890123456789"), P_OK, 0, 0, 0,
	    0, "0123456789012345678901234567890123456789012345678901234"
	    "567890123456789012345678901234567890123456789" },
	{ L("ENVID=0123456789012345678901234567890123456789012345678901234"
	    "5678901234567890123456789012345678901234567890"), P_SYNTAX, 0,
	    0, 0, 0, NULL },
	{ L("FOO"), P_UNKNOWN, 0, 0, 0, 0, NULL },
	/* RFC 4954 5: AUTH= is checked and ignored */
	{ L("AUTH=<>"), P_OK, 0, 0, 0, 0, "" },
	{ L("AUTH=alice+40example.org"), P_OK, 0, 0, 0, 0, "" },
	{ L("AUTH="), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("AUTH=a=b"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("AUTH=<> AUTH=<>"), P_DUP, 0, 0, 0, 0, NULL },
	{ L("=x"), P_SYNTAX, 0, 0, 0, 0, NULL },
	{ L("SIZE=1  BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=x"), P_OK, 1, 1,
	    1, RET_FULL, "x" },
	{ L("SIZE=1\0"), P_SYNTAX, 0, 0, 0, 0, NULL },
};

/* RFC 8689 4.1: REQUIRETLS takes no value and comes once */
static void
test_mail_requiretls(void **st)
{
	struct mailparam mp;

	(void)st;
	assert_int_equal(mail_params(L("REQUIRETLS"), &mp), P_OK);
	assert_int_equal(mp.requiretls, 1);
	assert_int_equal(mail_params(L("requiretls SMTPUTF8"), &mp), P_OK);
	assert_int_equal(mp.requiretls, 1);
	assert_int_equal(mail_params(L("SIZE=1"), &mp), P_OK);
	assert_int_equal(mp.requiretls, 0);
	assert_int_equal(mail_params(L("REQUIRETLS=YES"), &mp), P_SYNTAX);
	assert_int_equal(mail_params(L("REQUIRETLS="), &mp), P_SYNTAX);
	assert_int_equal(mail_params(L("REQUIRETLS REQUIRETLS"), &mp),
	    P_DUP);
	assert_int_equal(mail_params(L("REQUIRETLSX"), &mp), P_UNKNOWN);
}

static void
test_mail_params(void **st)
{
	struct mailparam mp;

	(void)st;
	for (size_t i = 0; i < sizeof mails / sizeof mails[0]; i++) {
		enum param_err e = mail_params(mails[i].in, mails[i].n, &mp);

		if (e != mails[i].want)
			fail_msg("row %zu: %s: got %d", i, mails[i].in, e);
		if (e != P_OK)
			continue;
		assert_true(mp.size == mails[i].size);
		assert_int_equal(mp.body8, mails[i].body8);
		assert_int_equal(mp.utf8, mails[i].utf8);
		assert_int_equal(mp.ret, mails[i].ret);
		assert_string_equal(mp.envid, mails[i].envid);
	}
}

/* senders_match: the senders table value against a MAIL FROM */
static const struct { const char *v, *sender; int want; } senders[] = {
	{ "a@x.test", "a@x.test", 1 },
	{ "a@x.test", "A@X.Test", 1 },
	{ "a@x.test,b@y.test", "b@y.test", 1 },
	{ " a@x.test , b@y.test ", "b@y.test", 1 },
	{ "a@x.test", "a@x.tes", 0 },
	{ "a@x.test", "aa@x.test", 0 },
	{ "@x.test", "anyone@x.test", 1 },
	{ "@x.test", "anyone@X.TEST", 1 },
	{ "@x.test", "anyone@sub.x.test", 0 },
	{ "@x.test", "x.test", 0 },
	{ "a@x.test", "", 0 },		/* the null sender */
	{ "", "", 0 },
	{ "", "a@x.test", 0 },
	{ ",,", "a@x.test", 0 },
	{ "a@x.test,", "a@x.test", 1 },
	{ "@", "a@", 1 },
};

static void
test_senders_match(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++)
		if (senders_match(senders[i].v, strlen(senders[i].v),
		    senders[i].sender) != senders[i].want)
			fail_msg("row %zu: %s vs %s", i, senders[i].v,
			    senders[i].sender);
}

static const struct {
	const char *in; size_t n; enum param_err want;
	unsigned notify; const char *orcpt;
} rcpts[] = {
	{ L(""), P_OK, 0, "" },
	{ L("NOTIFY=NEVER"), P_OK, NOTIFY_NEVER, "" },
	{ L("NOTIFY=success,FAILURE"), P_OK, NOTIFY_SUCCESS | NOTIFY_FAILURE,
	    "" },
	{ L("NOTIFY=DELAY,SUCCESS,FAILURE"), P_OK, 7, "" },
	{ L("NOTIFY=NEVER,DELAY"), P_SYNTAX, 0, NULL },
	{ L("NOTIFY=SUCCESS,SUCCESS"), P_SYNTAX, 0, NULL },
	{ L("NOTIFY=SUCCESS,"), P_SYNTAX, 0, NULL },
	{ L("NOTIFY=,SUCCESS"), P_SYNTAX, 0, NULL },
	{ L("NOTIFY="), P_SYNTAX, 0, NULL },
	{ L("NOTIFY"), P_SYNTAX, 0, NULL },
	{ L("NOTIFY=NEVER NOTIFY=NEVER"), P_DUP, 0, NULL },
	{ L("ORCPT=rfc822;a+40b.c"), P_OK, 0, "rfc822;a+40b.c" },
	{ L("ORCPT=x-type;v"), P_OK, 0, "x-type;v" },
	{ L("ORCPT=rfc822;"), P_SYNTAX, 0, NULL },
	{ L("ORCPT=;a"), P_SYNTAX, 0, NULL },
	{ L("ORCPT=rfc 822;a"), P_SYNTAX, 0, NULL },
	{ L("ORCPT=rfc822;a=b"), P_SYNTAX, 0, NULL },
	{ L("ORCPT=rfc822"), P_SYNTAX, 0, NULL },
	{ L("ORCPT=rfc822;a ORCPT=rfc822;b"), P_DUP, 0, NULL },
	{ L("SIZE=1"), P_UNKNOWN, 0, NULL },
	{ L("NOTIFY=NEVER ORCPT=rfc822;x"), P_OK, NOTIFY_NEVER,
	    "rfc822;x" },
};

static void
test_rcpt_params(void **st)
{
	struct rcptparam rp;

	(void)st;
	for (size_t i = 0; i < sizeof rcpts / sizeof rcpts[0]; i++) {
		enum param_err e = rcpt_params(rcpts[i].in, rcpts[i].n, &rp);

		if (e != rcpts[i].want)
			fail_msg("row %zu: %s: got %d", i, rcpts[i].in, e);
		if (e != P_OK)
			continue;
		assert_int_equal(rp.notify, rcpts[i].notify);
		assert_string_equal(rp.orcpt, rcpts[i].orcpt);
	}
}

static const struct {
	const char *in; size_t n; const char *kw; int ok; size_t end;
} paths[] = {
	{ L("FROM:<a@b.c>"), "FROM:", 0, 12 },
	{ L("from:<a@b.c> SIZE=1"), "FROM:", 0, 12 },
	{ L("FROM: <a@b.c>"), "FROM:", 0, 13 },
	{ L("FROM:<>"), "FROM:", 0, 7 },
	{ L("FROM:<a@b.c>x"), "FROM:", -1, 0 },
	{ L("FROM:a@b.c"), "FROM:", -1, 0 },
	{ L("FROM <a@b.c>"), "FROM:", -1, 0 },
	{ L("FROM:"), "FROM:", -1, 0 },
	{ L(""), "FROM:", -1, 0 },
	{ L("TO:<a@b.c>"), "TO:", 0, 10 },
	{ L("TO:<a@b.c"), "TO:", -1, 0 },
	{ L("TO:<@x.y:a@b.c>"), "TO:", 0, 15 },
	{ L("TO:<\"a b\"@b.c>"), "TO:", 0, 14 },
	{ L("TO:<\"a\r\"@b.c>"), "TO:", -1, 0 },
	{ L("TO:<a\0@b.c>"), "TO:", -1, 0 },
};

static void
test_cmd_path(void **st)
{
	struct addr a;
	enum addr_err e;
	size_t end;

	(void)st;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		int r = cmd_path(paths[i].in, paths[i].n, paths[i].kw,
		    ADDR_ALLOW_NULL, &a, &end, &e);

		if (r != paths[i].ok)
			fail_msg("row %zu: %s: got %d", i, paths[i].in, r);
		if (r == 0)
			assert_int_equal(end, paths[i].end);
	}
}

static void
test_helo_sanitize(void **st)
{
	char out[16];

	(void)st;
	helo_sanitize(L("mx.example.org"), out, sizeof out);
	assert_string_equal(out, "mx.example.org");
	helo_sanitize(L("a\r\nX-Evil: 1"), out, sizeof out);
	assert_string_equal(out, "a??X-Evil:?1");
	helo_sanitize(L("[192.0.2.1]"), out, sizeof out);
	assert_string_equal(out, "[192.0.2.1]");
	helo_sanitize("", 0, out, sizeof out);
	assert_string_equal(out, "?");
	helo_sanitize(L("0123456789abcdefghij"), out, sizeof out);
	assert_string_equal(out, "0123456789abcde");
	helo_sanitize(L("a\0b\xc3\xa9"), out, sizeof out);
	assert_string_equal(out, "a?b??");
}

/* The DATA decoder: input, what reaches the queue, the bad flags, and how
 * many bytes it uses (the rest belong to the next command). */
static const struct {
	const char *in; size_t n; const char *out; size_t on;
	unsigned bad; size_t used;
} datas[] = {
	{ L(".\r\n"), L(""), 0, 3 },
	{ L("a\r\n.\r\n"), L("a\n"), 0, 6 },
	{ L("a\r\n.\r\nQUIT\r\n"), L("a\n"), 0, 6 },
	{ L("..\r\n.\r\n"), L(".\n"), 0, 7 },
	{ L("..x\r\n.x\r\n.\r\n"), L(".x\nx\n"), 0, 12 },
	{ L("a.\r\n.\r\n"), L("a.\n"), 0, 7 },
	{ L("\r\n\r\n.\r\n"), L("\n\n"), 0, 7 },
	/* smuggling: none of these ends the data */
	{ L("a\n.\nb\r\n.\r\n"), L("a.b\n"), D_BARE, 10 },
	{ L("a\r.\r\nb\r\n.\r\n"), L("a.\nb\n"), D_BARE, 11 },
	{ L("a\n.\r\nb\r\n.\r\n"), L("a.\nb\n"), D_BARE, 11 },
	{ L("a\r\n.\nb\r\n.\r\n"), L("a\nb\n"), D_BARE, 11 },
	{ L("a\r\n.\r"), L("a\n"), 0, 5 },		/* not ended yet */
	{ L("a\r\n.\rb\r\n.\r\n"), L("a\nb\n"), D_BARE, 11 },
	{ L("a\r\r\n.\r\n"), L("a\n"), D_BARE, 7 },
	{ L("a\0b\r\n.\r\n"), L(""), D_NUL, 8 },
	{ L("\xc3\xa9\x80\xff\r\n.\r\n"), L("\xc3\xa9\x80\xff\n"), 0, 9 },
	{ L("a\r\n"), L("a\n"), 0, 3 },			/* EOF: not ended */
	/* past the header: plain bytes go as runs */
	{ L("H: 1\r\n\r\nab cd\r\n..e\r\n.\r\n"), L("H: 1\n\nab cd\n.e\n"), 0, 23 },
	{ L("H: 1\r\n\r\nab\ncd\r\n.\r\n"), L(""), D_BARE, 18 },
	{ L("H: 1\r\n\r\nab\rcd\r\n.\r\n"), L(""), D_BARE, 18 },
	{ L("H: 1\r\n\r\nab\0cd\r\n.\r\n"), L(""), D_NUL, 18 },
	{ L("H: 1\r\n\r\nab\r\n.\nx\r\n.\r\n"), L(""), D_BARE, 20 },
	{ L("H: 1\r\n\r\nlong line of text\r\n.\r\nQUIT\r\n"), L("H: 1\n\nlong line of text\n"), 0, 30 },
};

static void
check_data(size_t row, size_t split)
{
	struct data d;
	struct buf out = BUF_INIT(1 << 16);
	size_t used = 0, k;

	data_init(&d, 1 << 20, 100, 0);
	k = split < datas[row].n ? split : datas[row].n;
	used = data_feed(&d, datas[row].in, k, &out);
	if (used == k && k < datas[row].n)
		used += data_feed(&d, datas[row].in + k, datas[row].n - k,
		    &out);
	if (d.bad != datas[row].bad || used != datas[row].used ||
	    (d.bad == 0 && (out.len != datas[row].on ||
	    memcmp(out.p, datas[row].out, out.len) != 0)))
		fail_msg("row %zu split %zu: bad %u used %zu out %.*s", row,
		    split, d.bad, used, (int)out.len, out.p);
	buf_free(&out);
}

static void
test_data_decoder(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof datas / sizeof datas[0]; i++)
		for (size_t split = 0; split <= datas[i].n; split++)
			check_data(i, split);
}

static void
test_data_byte_by_byte(void **st)
{
	static const char in[] = "Subject: x\r\n\r\n..a\r\nb\r\n.\r\nNOOP\r\n";
	struct data d;
	struct buf out = BUF_INIT(1024);
	size_t i, used = 0;

	(void)st;
	data_init(&d, 1 << 20, 100, 0);
	for (i = 0; i < sizeof in - 1 && d.st != DS_END; i++)
		used += data_feed(&d, in + i, 1, &out);
	assert_int_equal(d.bad, 0);
	assert_int_equal(used, sizeof in - 1 - 6);
	assert_int_equal(out.len, 17);
	assert_memory_equal(out.p, "Subject: x\n\n.a\nb\n", 17);
	buf_free(&out);
}

/* runs against single bytes: random text fed whole and byte by byte
 * decodes the same (flags, bytes used, size, output) */
static void
test_data_runs(void **st)
{
	static const char abc[] = "ab.\r\n\0";
	char in[64];
	struct data d1, d2;
	struct buf o1 = BUF_INIT(256), o2 = BUF_INIT(256);
	uint32_t x = 12345;
	size_t n, u1, u2;

	(void)st;
	for (int t = 0; t < 20000; t++) {
		memcpy(in, "H: 1\r\n\r\n", 8);
		n = 8 + (x >> 16) % 40;
		for (size_t i = 8; i < n; i++) {
			x = x * 1103515245u + 12345u;
			in[i] = abc[(x >> 16) % (sizeof abc - 1)];
		}
		o1.len = o2.len = 0;
		data_init(&d1, 20 + t % 16, 100, 0);
		data_init(&d2, 20 + t % 16, 100, 0);
		u1 = data_feed(&d1, in, n, &o1);
		for (u2 = 0; u2 < n && d2.st != DS_END;)
			u2 += data_feed(&d2, in + u2, 1, &o2);
		if (d1.bad != d2.bad || u1 != u2 || d1.size != d2.size ||
		    o1.len != o2.len || memcmp(o1.p, o2.p, o1.len) != 0)
			fail_msg("case %d: %.*s", t, (int)n, in);
	}
	buf_free(&o1);
	buf_free(&o2);
}

static void
test_data_limits(void **st)
{
	struct data d;
	struct buf out = BUF_INIT(1 << 16);
	char big[4096];
	int i;

	(void)st;
	/* size: counted on decoded bytes; at the limit ok, one over not */
	data_init(&d, 4, 100, 0);
	data_feed(&d, L("abc\r\n.\r\n"), &out);
	assert_int_equal(d.bad, 0);
	assert_int_equal(d.size, 4);
	out.len = 0;
	data_init(&d, 4, 100, 0);
	data_feed(&d, L("abcd\r\n.\r\n"), &out);
	assert_int_equal(d.bad, D_TOOBIG);
	assert_int_equal(d.st, DS_END);
	/* the same in the body, where a line goes as one run: 9 bytes */
	for (i = 7; i <= 9; i++) {
		out.len = 0;
		data_init(&d, (uint64_t)i, 100, 0);
		data_feed(&d, L("H:\r\n\r\nabcd\r\n.\r\n"), &out);
		assert_int_equal(d.bad, i == 9 ? 0 : D_TOOBIG);
		assert_int_equal(d.st, DS_END);
	}
	/* hops: Received: in the header counts, in the body not */
	out.len = 0;
	data_init(&d, 1 << 20, 2, 0);
	data_feed(&d, L("Received: a\r\nreceived: b\r\n\r\nReceived: c\r\n"
	    ".\r\n"), &out);
	assert_int_equal(d.bad, 0);
	assert_int_equal(d.nrecv, 2);
	data_init(&d, 1 << 20, 2, 0);
	for (i = 0; i < 3; i++)
		data_feed(&d, L("RECEIVED: x\r\n"), &out);
	assert_int_equal(d.bad, D_LOOP);
	/* a continuation line or an X-Received is not a hop */
	data_init(&d, 1 << 20, 0, 0);
	data_feed(&d, L("X-Received: a\r\n Received: b\r\n"), &out);
	assert_int_equal(d.bad, 0);
	/* a long line is fine */
	memset(big, 'x', sizeof big);
	data_init(&d, 1 << 20, 100, 0);
	out.len = 0;
	for (i = 0; i < 16; i++) {
		out.len = 0;
		data_feed(&d, big, sizeof big, &out);
	}
	assert_int_equal(d.bad, 0);
	buf_free(&out);
}

static void
test_bdat_decoder(void **st)
{
	struct data d;
	struct buf out = BUF_INIT(1024);

	(void)st;
	data_init(&d, 1 << 20, 100, 1);
	assert_int_equal(data_feed(&d, L(".a\r\n.\r"), &out), 6);
	assert_int_equal(data_feed(&d, L("\nb\r\n"), &out), 4);
	data_last(&d);
	assert_int_equal(d.bad, 0);
	assert_int_equal(out.len, 7);
	assert_memory_equal(out.p, ".a\n.\nb\n", 7);
	/* a CR left at LAST is bare */
	data_init(&d, 1 << 20, 100, 1);
	data_feed(&d, L("a\r"), &out);
	data_last(&d);
	assert_int_equal(d.bad, D_BARE);
	data_init(&d, 1 << 20, 100, 1);
	data_feed(&d, L("a\nb"), &out);
	assert_int_equal(d.bad, D_BARE);
	/* a body run that ends the chunk at the size limit exactly: 8 */
	for (uint64_t max = 7; max <= 8; max++) {
		data_init(&d, max, 100, 1);
		data_feed(&d, L("H:\r\n\r\nabcd"), &out);
		data_last(&d);
		assert_int_equal(d.bad, max == 8 ? 0 : D_TOOBIG);
	}
	buf_free(&out);
}

/* A whole session through fake ops: script in, replies out. */
struct fake {
	const char	*in;
	size_t		 n, pos;
	struct buf	 out;
};

static ssize_t
fake_read(int fd, void *p, size_t n, void *ctx)
{
	struct fake *f = ctx;
	size_t k = f->n - f->pos;

	(void)fd;
	if (k > n)
		k = n;
	memcpy(p, f->in + f->pos, k);
	f->pos += k;
	return (ssize_t)k;
}

static ssize_t
fake_write(int fd, void *p, size_t n, void *ctx)
{
	struct fake *f = ctx;

	(void)fd;
	return buf_put(&f->out, p, n) == 0 ? (ssize_t)n : -1;
}

static void
cfg_test(struct smtpd_cfg *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->hostname = "mx.test";
	cfg->delim = "-+";
	cfg->max_size = 1000;
	cfg->max_rcpt = 2;
	cfg->max_errors = 5;
	cfg->max_hops = 100;
	cfg->line_max = 100;
	cfg->timeout_ms = 1000;
	cfg->data_timeout_ms = 1000;
}

/* The DATA/BDAT rate rule: smtpd_data_timeout of grace, then a second
 * per smtpd_min_data_rate bytes; 0 turns it off. */
static void
test_data_deadline(void **state)
{
	static const struct {
		unsigned	 rate;
		uint64_t	 bytes;
		long long	 want;		/* after t0 */
	} cases[] = {
		{ 500, 0, 600000 }, { 500, 1, 600002 }, { 500, 499, 600998 },
		{ 500, 500, 601000 }, { 500, 1000000, 2600000 },
		{ 1, 3, 603000 }, { 0, 1000, -1 },
		{ 7, UINT64_MAX, 600000 + (1ll << 50) },	/* capped */
	};
	struct smtpd_cfg cfg;
	struct session *s = calloc(1, sizeof *s);
	size_t i;

	(void)state;
	assert_non_null(s);
	memset(&cfg, 0, sizeof cfg);
	cfg.data_timeout_ms = 600000;
	s->cfg = &cfg;
	s->xfer_t0 = 1000;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cfg.min_data_rate = cases[i].rate;
		s->xfer_bytes = cases[i].bytes;
		assert_int_equal(data_deadline(s), cases[i].want < 0 ? -1 :
		    1000 + cases[i].want);
	}
	free(s);
}

/* run - the session's reply codes, space-separated, for a script */
static char *
run(const char *script, size_t n, int relay)
{
	static char codes[4096];
	struct smtpd_cfg cfg;
	struct tables tabs;
	struct qc qc;
	struct session *s = malloc(sizeof *s);
	struct fake f = { script, n, 0, BUF_INIT(1 << 20) };
	size_t i, o = 0;
	int saved, null;

	assert_non_null(s);
	cfg_test(&cfg);
	for (i = 0; i < T_COUNT; i++)
		tabs.t[i].fd = -1, tabs.t[i].path = NULL;
	memset(&qc, 0, sizeof qc);
	qc.fd = -1;
	session_init(s, &cfg, &tabs, &qc, 1, -1, -1);
	rd_init(&s->in, -1, fake_read, &f);
	wr_init(&s->out, -1, fake_write, &f);
	s->relayclient = relay;
	fflush(stderr);
	saved = dup(2);
	null = open("/dev/null", O_WRONLY);
	dup2(null, 2);			/* the session's log lines */
	session_run(s);
	dup2(saved, 2);
	close(saved);
	close(null);
	session_free(s);
	free(s);
	for (i = 0; i + 3 < f.out.len && o + 5 < sizeof codes; i++)
		if ((i == 0 || f.out.p[i - 1] == '\n') && f.out.p[i + 3] == ' ') {
			memcpy(codes + o, f.out.p + i, 3);
			codes[o + 3] = ' ';
			o += 4;
		}
	codes[o > 0 ? o - 1 : 0] = '\0';
	buf_free(&f.out);
	return codes;
}

static const struct { const char *in; size_t n; int relay;
    const char *codes; } sessions[] = {
	{ L(""), 0, "220" },
	{ L("QUIT\r\n"), 0, "220 221" },
	{ L("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<postmaster>\r\n"
	    "DATA\r\nQUIT\r\n"), 0, "220 250 250 250 451 221" },
	{ L("EHLO x\nMAIL FROM:<a@b.c>\nRCPT TO:<x@y.z>\nQUIT\n"), 0,
	    "220 250 250 554 221" },
	{ L("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\n"
	    "RCPT TO:<x@y.z>\r\nRCPT TO:<x@y.z>\r\n"), 1,
	    "220 250 250 250 250 452" },
	{ L("MAIL FROM:<a@b.c>\r\nHELO x\r\nRCPT TO:<a@b.c>\r\n"
	    "DATA\r\n"), 0, "220 503 250 503 503" },
	{ L("EHLO x\r\nBDAT 4\r\nABCDNOOP\r\n"), 0, "220 250 503 250" },
	{ L("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<postmaster>\r\n"
	    "BDAT 4 LAST\r\nMAILNOOP\r\n"), 0, "220 250 250 250 451 250" },
	{ L("A\r\nB\r\nC\r\nD\r\nE\r\nF\r\n"), 0, "220 500 500 500 500 500 "
	    "421" },
	{ L("NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "\r\nNOOP\r\n"), 0, "220 500 250" },
	{ L("EHLO x\r\nETRN a.b\r\n"), 0, "220 250 458" },
	{ L("EHLO x\r\nETRN a.b\r\n"), 1, "220 250 458" },
	{ L("HELO x\r\nMAIL FROM:<a@b.c> SIZE=1\r\n"), 0, "220 250 555" },
	{ L("EHLO x\r\nMAIL FROM:<a@b.c> SIZE=1001\r\n"), 0, "220 250 552" },
	{ L("EHLO x\r\nBDAT\r\nNOOP\r\n"), 0, "220 250 501" },
	{ L("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<postmaster>\r\n"
	    "DATA\r\n.\r\nNOOP\r\n"), 0, "220 250 250 250 451 500 250" },
};

static void
test_sessions(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof sessions / sizeof sessions[0]; i++) {
		const char *got = run(sessions[i].in, sessions[i].n,
		    sessions[i].relay);

		if (strcmp(got, sessions[i].codes) != 0)
			fail_msg("session %zu: got \"%s\" want \"%s\"", i, got,
			    sessions[i].codes);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_mail_requiretls),
		cmocka_unit_test(test_rcpt_params),
		cmocka_unit_test(test_cmd_path),
		cmocka_unit_test(test_helo_sanitize),
		cmocka_unit_test(test_senders_match),
		cmocka_unit_test(test_data_decoder),
		cmocka_unit_test(test_data_byte_by_byte),
		cmocka_unit_test(test_data_limits),
		cmocka_unit_test(test_data_runs),
		cmocka_unit_test(test_bdat_decoder),
		cmocka_unit_test(test_data_deadline),
		cmocka_unit_test(test_sessions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
