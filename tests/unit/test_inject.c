/* test_inject: sandmail-inject's parsers at their edges: RFC 5322
 * address-lists, header fields, line ends and the lone dot, the header
 * section split and completion, qualification, and the command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"
#include "buf.h"
#include "env.h"

#include "../../inject/args.h"
#include "../../inject/hdr.h"
#include "../../inject/inject.h"

/* address-lists ------------------------------------------------------- */

/* collect addresses as "a|b|c" */
static int
collect(void *ctx, const char *a, size_t n)
{
	struct buf *b = ctx;

	if (b->len > 0 && buf_putc(b, '|') == -1)
		return -1;
	return buf_put(b, a, n);
}

struct lcase {
	const char	*in;
	int		 len;		/* -1: strlen */
	int		 want;
	const char	*addrs;		/* joined with '|' */
};

static const struct lcase lists[] = {
	/* empty and trivial */
	{ "", -1, HDR_OK, "" },
	{ "   \n\t", -1, HDR_OK, "" },
	{ "a@b", -1, HDR_OK, "a@b" },
	{ "root", -1, HDR_OK, "root" },
	{ " a@b.example , c@d.example ", -1, HDR_OK, "a@b.example|c@d.example" },
	{ "a@b,,c@d", -1, HDR_OK, "a@b|c@d" },	/* obs: empty member */
	{ ",", -1, HDR_OK, "" },
	{ "a@b; c@d", -1, HDR_OK, "a@b|c@d" },	/* what users type */
	/* display names and angle-addrs */
	{ "John Doe <jd@example.org>", -1, HDR_OK, "jd@example.org" },
	{ "\"Doe, John\" <jd@x.org>, b@y", -1, HDR_OK, "jd@x.org|b@y" },
	{ "J. R. \"Bob\" Dobbs <bob@x>", -1, HDR_OK, "bob@x" },
	{ "<a@b>", -1, HDR_OK, "a@b" },
	{ "<>", -1, HDR_OK, "" },
	{ "x <@relay.a,@relay.b:u@c.d>", -1, HDR_OK, "u@c.d" },
	{ "\"a@b\" <c@d>", -1, HDR_OK, "c@d" },
	{ "Name <a@b", -1, HDR_SYNTAX, NULL },
	{ "<a@b> <c@d>", -1, HDR_SYNTAX, NULL },
	{ "<a@b> junk", -1, HDR_SYNTAX, NULL },
	{ "a@b>", -1, HDR_SYNTAX, NULL },
	/* comments */
	{ "a@b (Some One)", -1, HDR_OK, "a@b" },
	{ "a(x)@(y)b", -1, HDR_OK, "a@b" },
	{ "a@b (nested (comment) here), c@d", -1, HDR_OK, "a@b|c@d" },
	{ "a@b (comma, inside)", -1, HDR_OK, "a@b" },
	{ "a@b (escaped \\) paren)", -1, HDR_OK, "a@b" },
	{ "a@b (unterminated", -1, HDR_SYNTAX, NULL },
	{ "a@b (cut in a pair \\", -1, HDR_SYNTAX, NULL },
	{ "a@b ((a) \\) (b)) c@d", -1, HDR_SYNTAX, NULL },
	{ "a@b ((a) \\) (b)), c@d", -1, HDR_OK, "a@b|c@d" },
	{ "(\"quoted) ( in a comment\") a@b", -1, HDR_OK, "a@b" },
	{ "a@b )", -1, HDR_SYNTAX, NULL },
	/* quoted strings and literals */
	{ "\"john doe\"@example.org", -1, HDR_OK, "\"john doe\"@example.org" },
	{ "\"a\\\"b\"@x", -1, HDR_OK, "\"a\\\"b\"@x" },
	{ "\"unterminated@x", -1, HDR_SYNTAX, NULL },
	{ "\"trailing backslash\\", -1, HDR_SYNTAX, NULL },
	{ "u@[192.0.2.1]", -1, HDR_OK, "u@[192.0.2.1]" },
	{ "u@[192.0.2.1", -1, HDR_SYNTAX, NULL },
	/* obs: white space around dots and the at-sign */
	{ "first . last @ example . org", -1, HDR_OK, "first.last@example.org" },
	{ "john smith", -1, HDR_SYNTAX, NULL },
	{ "john smith@x", -1, HDR_SYNTAX, NULL },
	/* groups */
	{ "undisclosed-recipients:;", -1, HDR_OK, "" },
	{ "friends: a@b, C <c@d>;, e@f", -1, HDR_OK, "a@b|c@d|e@f" },
	{ "g: a@b", -1, HDR_OK, "a@b" },		/* unclosed group */
	{ "g: h: a@b;;", -1, HDR_SYNTAX, NULL },	/* nested */
	{ "g: a@b; junk", -1, HDR_SYNTAX, NULL },
	/* folded lines, bare CR, 8-bit, NUL */
	{ "a@b,\n c@d,\r\n\te@f", -1, HDR_OK, "a@b|c@d|e@f" },
	{ "J\xc3\xbcrgen <j\xc3\xbc@x.de>", -1, HDR_OK, "j\xc3\xbc@x.de" },
	{ "a\0b@c", 5, HDR_SYNTAX, NULL },
	{ "a@b\\c", -1, HDR_SYNTAX, NULL },
	{ "]", -1, HDR_SYNTAX, NULL },
};

static void
test_addrlist(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		const struct lcase *c = &lists[i];
		struct buf b = BUF_INIT(4096);
		size_t n = c->len < 0 ? strlen(c->in) : (size_t)c->len;
		int r = hdr_addrlist(c->in, n, collect, &b);

		if (r != c->want)
			fail_msg("case %zu \"%s\": got %d want %d", i, c->in, r,
			    c->want);
		if (c->addrs != NULL) {
			buf_cstr(&b);
			if (strcmp(b.len ? b.p : "", c->addrs) != 0)
				fail_msg("case %zu \"%s\": got \"%s\" want "
				    "\"%s\"", i, c->in, b.len ? b.p : "",
				    c->addrs);
		}
		buf_free(&b);
	}
}

static int
stop_at_second(void *ctx, const char *a, size_t n)
{
	int *k = ctx;

	(void)a, (void)n;
	return ++*k == 2 ? -1 : 0;
}

static void
test_addrlist_limits(void **state)
{
	char big[HDR_ADDR_MAX + 16];
	int k = 0;

	(void)state;
	/* the callback stops the walk */
	assert_int_equal(hdr_addrlist("a@b, c@d, e@f", 13, stop_at_second,
	    &k), HDR_STOP);
	assert_int_equal(k, 2);
	/* at the limit, and one over */
	memset(big, 'a', sizeof big);
	big[HDR_ADDR_MAX - 2] = '@';
	k = 0;
	assert_int_equal(hdr_addrlist(big, HDR_ADDR_MAX, stop_at_second, &k),
	    HDR_OK);
	assert_int_equal(k, 1);
	assert_int_equal(hdr_addrlist(big, HDR_ADDR_MAX + 1, stop_at_second,
	    &k), HDR_TOOLONG);
}

/* header fields -------------------------------------------------------- */

static void
test_fields(void **state)
{
	const char *h = "Subject: hi\nTo: a@b,\n c@d\nX-Empty:\n"
	    "Bad Name: x\nlast: no lf";
	struct hdr_field f;
	size_t off = 0;

	(void)state;
	assert_int_equal(hdr_next(h, strlen(h), &off, &f), 1);
	assert_true(hdr_is(&f, "SUBJECT"));
	assert_int_equal(f.vlen, 4);
	assert_int_equal(hdr_next(h, strlen(h), &off, &f), 1);
	assert_true(hdr_is(&f, "to"));
	assert_int_equal(f.rlen, strlen("To: a@b,\n c@d\n"));
	assert_int_equal(hdr_next(h, strlen(h), &off, &f), 1);
	assert_true(hdr_is(&f, "x-empty"));
	assert_int_equal(f.vlen, 1);
	assert_int_equal(hdr_next(h, strlen(h), &off, &f), 0);	/* space */
	assert_int_equal(hdr_field_len("last: no lf", 11), 11);
	assert_int_equal(hdr_field_len("Subject : obs\n", 14), 14);
	assert_int_equal(hdr_field_len(":novalue\n", 9), 0);
	assert_int_equal(hdr_field_len("", 0), 0);
	assert_int_equal(hdr_field_len("name", 4), 0);
	assert_int_equal(hdr_field_len("na\0me: x\n", 9), 0);
	assert_int_equal(hdr_field_len("n\xc3\xa4me: x\n", 10), 0);
}

/* line ends and the lone dot ------------------------------------------ */

struct ncase {
	const char	*in;
	int		 dot;
	const char	*out;
	int		 ended;		/* stopped at the lone dot */
};

static const struct ncase norms[] = {
	{ "", 1, "", 0 },
	{ "a", 1, "a\n", 0 },
	{ "a\r\nb\r\n", 1, "a\nb\n", 0 },
	{ "a\nb", 1, "a\nb\n", 0 },
	{ "bare\rcr\n", 1, "bare\rcr\n", 0 },
	{ "cr at end\r", 1, "cr at end\n", 0 },
	{ "two\r\r\n", 1, "two\r\n", 0 },
	{ "a\n.\nafter\n", 1, "a\n", 1 },
	{ "a\r\n.\r\nafter\n", 1, "a\n", 1 },
	{ "a\n.\nafter\n", 0, "a\n.\nafter\n", 0 },
	{ "a\n..\n", 1, "a\n..\n", 0 },		/* no unstuffing */
	{ "a\n.x\n", 1, "a\n.x\n", 0 },
	{ "a\n.\rx\n", 1, "a\n.\rx\n", 0 },
	{ "a\n.", 1, "a\n", 0 },			/* "." then EOF ends */
	{ ".\n", 1, "", 1 },
	{ "x.\n", 1, "x.\n", 0 },
	{ "8\xff\n", 1, "8\xff\n", 0 },
};

static int
to_buf(void *ctx, const void *p, size_t n)
{
	return buf_put(ctx, p, n);
}

static void
run_norm(const struct ncase *c, size_t i, size_t step)
{
	struct lnorm l;
	struct buf b = BUF_INIT(1024);
	size_t n = strlen(c->in);

	lnorm_init(&l, c->dot);
	for (size_t off = 0; off < n && !l.ended; off += step)
		assert_int_equal(lnorm_feed(&l, c->in + off,
		    n - off < step ? n - off : step, to_buf, &b), 0);
	if (l.ended != c->ended)
		fail_msg("case %zu step %zu: ended %d", i, step, l.ended);
	assert_int_equal(lnorm_end(&l, to_buf, &b), 0);
	if (b.len != strlen(c->out) ||
	    (b.len > 0 && memcmp(b.p, c->out, b.len) != 0))
		fail_msg("case %zu step %zu: got \"%.*s\"", i, step,
		    (int)b.len, b.p ? b.p : "");
	buf_free(&b);
}

static void
test_lnorm(void **state)
{
	(void)state;
	/* whole, and a byte at a time: the state crosses read boundaries */
	for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++) {
		run_norm(&norms[i], i, 1000);
		run_norm(&norms[i], i, 1);
	}
}

/* the header section -------------------------------------------------- */

struct scase {
	const char	*in;
	const char	*fields;	/* hb[hstart..hend) */
	const char	*body;		/* hb[bstart..] */
	int		 blank;
};

static const struct scase splits[] = {
	{ "Subject: x\n\nbody\n", "Subject: x\n", "body\n", 1 },
	{ "Subject: x\r\n\r\nbody\r\n", "Subject: x\n", "body\n", 1 },
	{ "Subject: x\n folded\n\nb\n", "Subject: x\n folded\n", "b\n", 1 },
	{ "Subject: x\nnot a header\n", "Subject: x\n", "not a header\n", 0 },
	{ "just a body\n", "", "just a body\n", 0 },
	{ "\nbody only\n", "", "body only\n", 1 },
	{ " leading space\n", "", " leading space\n", 0 },
	{ "From me Mon Jan 1\nSubject: s\n\nb\n", "Subject: s\n", "b\n", 1 },
	{ "Subject: no body", "Subject: no body\n", "", 0 },
	{ "", "", "", 0 },
	{ "To: a@b\n.\nignored\n", "To: a@b\n", "", 0 },
};

static void
test_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
		const struct scase *c = &splits[i];
		struct inj_msg m;
		size_t n = strlen(c->in);

		inj_msg_init(&m, 1);
		/* byte by byte: the split must not depend on read sizes */
		for (size_t k = 0; k < n && !m.ready && !m.ln.ended; k++)
			assert_int_equal(inj_msg_feed(&m, c->in + k, 1), 0);
		if (!m.ready)
			assert_int_equal(inj_msg_eof(&m), 0);
		else
			assert_int_equal(lnorm_end(&m.ln, to_buf, &m.hb), 0);
		assert_true(m.ready);
		if (m.hend - m.hstart != strlen(c->fields) ||
		    (m.hend > m.hstart && memcmp(m.hb.p + m.hstart,
		    c->fields, m.hend - m.hstart)))
			fail_msg("case %zu: fields \"%.*s\"", i,
			    (int)(m.hend - m.hstart), m.hb.p + m.hstart);
		/* the body as read so far, then what a byte-feed left */
		if (m.hb.len - m.bstart > strlen(c->body) ||
		    (m.hb.len > m.bstart && memcmp(m.hb.p + m.bstart,
		    c->body, m.hb.len - m.bstart)))
			fail_msg("case %zu: body \"%.*s\"", i,
			    (int)(m.hb.len - m.bstart), m.hb.p + m.bstart);
		assert_int_equal(m.blank, c->blank);
		inj_msg_free(&m);
	}
}

static void
test_split_too_long(void **state)
{
	struct inj_msg m;
	static char line[4096];
	int r = 0;

	(void)state;
	memset(line, 'x', sizeof line - 1);
	memcpy(line, "X-Long: ", 8);
	line[sizeof line - 1] = '\n';
	inj_msg_init(&m, 1);
	for (size_t k = 0; k < INJ_HDR_MAX / sizeof line + 2 && r == 0; k++)
		r = inj_msg_feed(&m, line, sizeof line);
	assert_int_equal(r, -1);
	inj_msg_free(&m);
}

/* header completion --------------------------------------------------- */

static const struct inj_opts base_opts = {
	.tflag = 1, .from_addr = "joe@host.example", .fullname = "Joe User",
	.hostname = "host.example", .now = 0, .uniq = "abc",
};

static char *
complete(const struct inj_opts *o, const char *h, struct buf *rc, int *r)
{
	struct buf out = BUF_INIT(65536);

	*r = inj_headers(o, h, strlen(h), &out, collect, rc);
	buf_cstr(&out);
	buf_cstr(rc);
	return out.p ? out.p : strdup("");
}

static void
test_headers(void **state)
{
	struct buf rc = BUF_INIT(4096);
	char *s;
	int r;

	(void)state;
	setenv("TZ", "UTC", 1);
	s = complete(&base_opts, "To: a@x, B <b@y>\nCc: c@z\nBcc: secret@w,\n"
	    " s2@w\nSubject: hi\n", &rc, &r);
	assert_int_equal(r, 0);
	assert_string_equal(rc.p, "a@x|b@y|c@z|secret@w|s2@w");
	assert_null(strstr(s, "secret"));	/* Bcc gone, with its fold */
	assert_null(strstr(s, "s2@w"));
	assert_non_null(strstr(s, "Subject: hi\n"));
	assert_non_null(strstr(s, "From: Joe User <joe@host.example>\n"));
	assert_non_null(strstr(s, "Date: Thu, 01 Jan 1970 00:00:00 +0000\n"));
	assert_non_null(strstr(s,
	    "Message-ID: <19700101000000.abc@host.example>\n"));
	free(s);

	/* present ones are kept, not doubled; Return-Path dropped */
	rc.len = 0;
	s = complete(&base_opts, "from: Me <me@x>\nDATE: whenever\n"
	    "Message-Id: <1@x>\nReturn-Path: <evil@x>\nTo: t@x\n", &rc, &r);
	assert_int_equal(r, 0);
	assert_string_equal(s, "from: Me <me@x>\nDATE: whenever\n"
	    "Message-Id: <1@x>\nTo: t@x\n");
	free(s);

	/* Resent- headers replace the others for -t */
	rc.len = 0;
	s = complete(&base_opts, "To: old@x\nResent-To: new@x\n"
	    "Resent-Bcc: hidden@x\n", &rc, &r);
	assert_string_equal(rc.p, "new@x|hidden@x");
	assert_null(strstr(s, "hidden"));
	free(s);

	/* without -t nothing is collected, Bcc still goes */
	{
		struct inj_opts o = base_opts;

		o.tflag = 0;
		o.fullname = "Dr. \"Q\" Back\\slash\r\nX-Injected: 1";
		rc.len = 0;
		s = complete(&o, "To: a@x\nBcc: b@x\n", &rc, &r);
		assert_int_equal(rc.len, 0);
		assert_null(strstr(s, "b@x"));
		/* the name is quoted, its CR LF dropped: no new header */
		assert_non_null(strstr(s, "From: \"Dr. \\\"Q\\\" Back\\\\slash"
		    "X-Injected: 1\" <joe@host.example>\n"));
		assert_null(strstr(s, "\nX-Injected"));
		free(s);
	}
	/* no name: a bare address */
	{
		struct inj_opts o = base_opts;

		o.fullname = "";
		rc.len = 0;
		s = complete(&o, "", &rc, &r);
		assert_non_null(strstr(s, "From: joe@host.example\n"));
		free(s);
	}
	/* a bad To: is an error with -t */
	rc.len = 0;
	s = complete(&base_opts, "To: \"open\n", &rc, &r);
	assert_int_equal(r, HDR_SYNTAX);
	free(s);
	buf_free(&rc);
}

/* qualification ------------------------------------------------------- */

struct qcase {
	const char	*in;
	int		 want;
	const char	*out;
};

static const struct qcase quals[] = {
	{ "root", ADDR_OK, "root@dom.example" },
	{ "a@b.example", ADDR_OK, "a@b.example" },
	{ "\"john doe\"@x.example", ADDR_OK, "\"john doe\"@x.example" },
	{ "\"plain\"@x.example", ADDR_OK, "plain@x.example" },
	{ "\"a@b\"", ADDR_OK, "\"a@b\"@dom.example" },
	{ "u@[192.0.2.1]", ADDR_OK, "u@[192.0.2.1]" },
	{ "", ADDR_SYNTAX, NULL },
	{ "a@", ADDR_SYNTAX, NULL },
	{ "a b@c", ADDR_SYNTAX, NULL },
	{ "x@y,z", ADDR_SYNTAX, NULL },
	{ "j\xc3\xbc@x.de", ADDR_OK, "j\xc3\xbc@x.de" },
	{ "bad\xff@x.de", ADDR_8BIT, NULL },
};

static void
test_qualify(void **state)
{
	char longl[80];

	(void)state;
	for (size_t i = 0; i < sizeof quals / sizeof quals[0]; i++) {
		struct buf b = BUF_INIT(ENV_ADDR_MAX);
		int r = inj_qualify(quals[i].in, strlen(quals[i].in),
		    "dom.example", &b);

		if (r != quals[i].want)
			fail_msg("case %zu \"%s\": got %d", i, quals[i].in, r);
		if (quals[i].out != NULL) {
			buf_cstr(&b);
			assert_string_equal(b.p, quals[i].out);
		}
		buf_free(&b);
	}
	/* a 64-octet local part is the limit, 65 one over */
	memset(longl, 'l', sizeof longl);
	{
		struct buf b = BUF_INIT(ENV_ADDR_MAX);

		assert_int_equal(inj_qualify(longl, 64, "d", &b), ADDR_OK);
		b.len = 0;
		assert_int_not_equal(inj_qualify(longl, 65, "d", &b), ADDR_OK);
		buf_free(&b);
	}
}

/* the command line ---------------------------------------------------- */

static int
parse(struct args *a, const char *line)
{
	static char store[512];
	char *argv[32];
	int argc = 0;
	char *p;

	snprintf(store, sizeof store, "%s", line);
	for (p = store; *p && argc < 31; ) {
		argv[argc++] = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = '\0';
	}
	argv[argc] = NULL;
	return args_parse(a, argc, argv);
}

static void
test_args(void **state)
{
	struct args a;

	(void)state;
	/* PHP's mail() */
	assert_int_equal(parse(&a, "sendmail -t -i"), 3);
	assert_true(a.tflag);
	assert_false(a.dot);
	/* mutt */
	assert_int_equal(parse(&a, "sendmail -oem -oi -- a@b c@d"), 4);
	assert_false(a.dot);
	assert_int_equal(a.mode, MODE_MAIL);
	/* Debian's cron */
	assert_int_equal(parse(&a, "sendmail -FCronDaemon -i -B8BITMIME "
	    "-oem root"), 5);
	assert_string_equal(a.fullname, "CronDaemon");
	/* attached and separate arguments, grouped flags */
	assert_int_equal(parse(&a, "sendmail -ti -f me@x -F Name -odi r"), 7);
	assert_string_equal(a.sender, "me@x");
	assert_true(a.tflag);
	assert_int_equal(parse(&a, "sendmail -fme@y r"), 2);
	assert_string_equal(a.sender, "me@y");
	assert_true(a.dot);
	assert_int_equal(parse(&a, "sendmail -r <> r"), 3);
	assert_string_equal(a.sender, "<>");
	/* modes */
	assert_int_equal(parse(&a, "sendmail -bs"), 2);
	assert_int_equal(a.mode, MODE_SMTP);
	assert_int_equal(parse(&a, "sendmail -bp"), 2);
	assert_int_equal(a.mode, MODE_LIST);
	assert_int_equal(parse(&a, "/usr/bin/mailq"), 1);
	assert_int_equal(a.mode, MODE_LIST);
	assert_int_equal(parse(&a, "newaliases"), 1);
	assert_int_equal(a.mode, MODE_NEWALIASES);
	assert_int_equal(parse(&a, "sendmail -q"), 2);
	assert_int_equal(a.mode, MODE_FLUSH);
	assert_null(a.flush_domain);
	assert_int_equal(parse(&a, "sendmail -qRexample.org"), 2);
	assert_string_equal(a.flush_domain, "example.org");
	assert_int_equal(parse(&a, "sendmail -q30m"), 2);
	assert_int_equal(a.mode, MODE_IGNORE);
	assert_int_equal(parse(&a, "sendmail -bd"), -1);
	assert_int_equal(parse(&a, "sendmail -bv a@b"), -1);
	/* DSN */
	assert_int_equal(parse(&a, "sendmail -N success,delay -R hdrs "
	    "-V abc+2B r"), 7);
	assert_int_equal(a.notify, NOTIFY_SUCCESS | NOTIFY_DELAY);
	assert_int_equal(a.ret, RET_HDRS);
	assert_string_equal(a.envid, "abc+2B");
	assert_int_equal(parse(&a, "sendmail -N never,success r"), -1);
	assert_int_equal(parse(&a, "sendmail -N bogus r"), -1);
	assert_int_equal(parse(&a, "sendmail -V a=b r"), -1);
	assert_int_equal(parse(&a, "sendmail -R most r"), -1);
	/* errors: unknown flag, a missing argument */
	assert_int_equal(parse(&a, "sendmail -Z"), -1);
	assert_int_equal(parse(&a, "sendmail -f"), -1);
	/* the first non-option ends the options */
	assert_int_equal(parse(&a, "sendmail a@b -t"), 1);
	assert_false(a.tflag);
	assert_int_equal(parse(&a, "sendmail -C /x/sandmail.conf -v r"), 4);
	assert_string_equal(a.conf, "/x/sandmail.conf");
	assert_true(a.verbose);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addrlist),
		cmocka_unit_test(test_addrlist_limits),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_lnorm),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_too_long),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_qualify),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
