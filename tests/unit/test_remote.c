/* test_remote: the SMTP reply parser, the EHLO keyword parser and the
 * 7-bit MIME downgrade of sandmail-rspawn. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dane.h"
#include "hdr2047.h"
#include "io.h"
#include "mime7.h"
#include "reply.h"
#include "rtls.h"
#include "smtp.h"

/* a fake peer: reads come from a string */
struct src {
	const char	*p;
	size_t		 n, off;
};

static ssize_t
src_read(int fd, void *p, size_t n, void *ctx)
{
	struct src *s = ctx;
	size_t k = s->n - s->off;

	(void)fd;
	if (k > n)
		k = n;
	if (k > 7)
		k = 7;		/* small pieces: lines arrive split */
	memcpy(p, s->p + s->off, k);
	s->off += k;
	return (ssize_t)k;
}

static int
read_reply(const char *text, size_t n, struct reply *r)
{
	static struct rd rd;
	static struct src s;

	s = (struct src){ text, n, 0 };
	rd_init(&rd, -1, src_read, &s);
	return reply_read(&rd, r);
}

static void
test_reply_lines(void **st)
{
	static const struct {
		const char	*in;
		int		 rv, code;
		const char	*text;
	} cases[] = {
		{ "250 ok\r\n", 0, 250, "ok" },
		{ "250\r\n", 0, 250, "" },
		{ "220 bare LF\n", 0, 220, "bare LF" },
		{ "250-a\r\n250-b\r\n250 c\r\n", 0, 250, "a\nb\nc" },
		{ "550-5.1.1 no\r\n550 5.1.1 such user\r\n", 0, 550,
		    "5.1.1 no\n5.1.1 such user" },
		{ "250-a\r\n251 b\r\n", -1, 0, NULL },	/* code changes */
		{ "25 ok\r\n", -1, 0, NULL },
		{ "2500 ok\r\n", -1, 0, NULL },
		{ "650 ok\r\n", -1, 0, NULL },
		{ "150 ok\r\n", -1, 0, NULL },
		{ "2x0 ok\r\n", -1, 0, NULL },
		{ "250_ok\r\n", -1, 0, NULL },
		{ "\r\n", -1, 0, NULL },
		{ "", -1, 0, NULL },			/* EOF */
		{ "250-a\r\n", -1, 0, NULL },		/* EOF mid-reply */
		{ "250 no end of line", -1, 0, NULL },
		{ "250 ctl\x01\x7f\r\n", 0, 250, "ctl??" },
		{ "250 8bit \xc3\xa9\r\n", 0, 250, "8bit \xc3\xa9" },
	};
	struct reply r;

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rv = read_reply(cases[i].in, strlen(cases[i].in), &r);

		assert_int_equal(rv, cases[i].rv);
		if (rv == 0) {
			assert_int_equal(r.code, cases[i].code);
			assert_string_equal(r.text, cases[i].text);
		}
	}
}

static void
test_reply_nul(void **st)
{
	struct reply r;

	(void)st;
	assert_int_equal(read_reply("250 a\0b\r\n", 9, &r), 0);
	assert_string_equal(r.text, "a?b");
}

static void
test_reply_limits(void **st)
{
	struct buf b = BUF_INIT(1 << 20);
	struct reply r;
	char one[REPLY_TEXT_MAX + 16];

	(void)st;
	/* a line at the limit, then one over */
	buf_puts(&b, "250 ");
	for (size_t i = 4; i < REPLY_LINE_MAX - 1; i++)
		buf_putc(&b, 'x');
	buf_puts(&b, "\n");
	assert_int_equal(read_reply(b.p, b.len, &r), 0);
	assert_false(r.cut);
	assert_int_equal(r.len, REPLY_LINE_MAX - 5);
	/* lines that add up to more than is kept: cut, not an error */
	b.len = 0;
	for (int i = 0; i < 5; i++) {
		buf_puts(&b, i < 4 ? "250-" : "250 ");
		for (int k = 0; k < 1000; k++)
			buf_putc(&b, 'y');
		buf_puts(&b, "\r\n");
	}
	assert_int_equal(read_reply(b.p, b.len, &r), 0);
	assert_true(r.cut);
	assert_int_equal(r.len, REPLY_TEXT_MAX - 1);
	b.len = 0;
	buf_puts(&b, "250 ");
	for (size_t i = 0; i < REPLY_LINE_MAX; i++)
		buf_putc(&b, 'x');
	buf_puts(&b, "\r\n");
	errno = 0;
	assert_int_equal(read_reply(b.p, b.len, &r), -1);
	assert_int_equal(errno, E2BIG);
	/* too many lines */
	b.len = 0;
	for (int i = 0; i < REPLY_LINES_MAX + 5; i++)
		buf_puts(&b, "250-x\r\n");
	buf_puts(&b, "250 end\r\n");
	assert_int_equal(read_reply(b.p, b.len, &r), -1);
	/* the one-line form */
	assert_int_equal(read_reply("451-4.7.1 try\r\n451 later\r\n", 26, &r),
	    0);
	reply_oneline(&r, one, sizeof one);
	assert_string_equal(one, "451 4.7.1 try later");
	buf_free(&b);
}

static void
test_ehlo(void **st)
{
	static const char ehlo[] = "250-mx.example.org hello\r\n"
	    "250-PIPELINING\r\n250-SIZE 35882577\r\n250-8bitmime\r\n"
	    "250-AUTH=LOGIN\r\n250-AUTH CRAM-MD5 PLAIN\r\n250-DSN\r\n"
	    "250-STARTTLS \r\n250-SMTPUTF8\r\n250-PIPELININGX\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n";
	struct reply r;
	struct ehlo e;

	(void)st;
	assert_int_equal(read_reply(ehlo, strlen(ehlo), &r), 0);
	ehlo_parse(&r, &e);
	assert_int_equal(e.ext, EXT_PIPELINING | EXT_SIZE | EXT_8BITMIME |
	    EXT_DSN | EXT_SMTPUTF8 | EXT_STARTTLS | EXT_AUTH_PLAIN |
	    EXT_AUTH_LOGIN | EXT_ENHANCEDSTATUSCODES);
	assert_int_equal(e.size, 35882577);
	/* the greeting line is not a keyword; SIZE without a number */
	assert_int_equal(read_reply("250-PIPELINING\r\n250 SIZE\r\n", 26, &r),
	    0);
	ehlo_parse(&r, &e);
	assert_int_equal(e.ext, EXT_SIZE);
	assert_int_equal(e.size, 0);
	assert_int_equal(read_reply("250-x\r\n250 SIZE 99999999999999999999999"
	    "\r\n", 45, &r), 0);
	ehlo_parse(&r, &e);
	assert_int_equal(e.size, 0);
	assert_int_equal(read_reply("250 only greeting\r\n", 19, &r), 0);
	ehlo_parse(&r, &e);
	assert_int_equal(e.ext, 0);
}

/* decoders, to check that a downgrade decodes to the original bytes */
static int
hexv(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ?
	    c - 'A' + 10 : -1;
}

static void
qp_decode(const char *p, size_t n, struct buf *o)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '=') {
			buf_putc(o, p[i]);
			continue;
		}
		if (i + 1 < n && p[i + 1] == '\n') {
			i++;
			continue;
		}
		assert_true(i + 2 < n);
		assert_true(hexv(p[i + 1]) >= 0 && hexv(p[i + 2]) >= 0);
		buf_putc(o, (char)(hexv(p[i + 1]) << 4 | hexv(p[i + 2])));
		i += 2;
	}
}

static void
b64_decode(const char *p, size_t n, struct buf *o)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned v = 0, bits = 0;

	for (size_t i = 0; i < n; i++) {
		const char *c;

		if (p[i] == '\n' || p[i] == '=')
			continue;
		c = memchr(t, p[i], 64);
		assert_non_null(c);
		v = v << 6 | (unsigned)(c - t);
		if ((bits += 6) >= 8) {
			bits -= 8;
			buf_putc(o, (char)(v >> bits & 0xff));
		}
	}
}

static void
check_7bit(const struct buf *b)
{
	size_t col = 0;

	for (size_t i = 0; i < b->len; i++) {
		assert_true((unsigned char)b->p[i] < 0x80 && b->p[i] != '\0');
		col = b->p[i] == '\n' ? 0 : col + 1;
		assert_true(col <= 76);
	}
}

static void
test_qp_roundtrip(void **st)
{
	static const char *cases[] = {
		"", "plain\n", "Gr\xc3\xbc\xc3\x9f" "e\n", "trailing space \n",
		"tab\t\n", "a=b\n", "no final newline \xff",
		".dot\nFrom me\n", "\r\nbare CR\r\n", "x\0y\n",
	};
	struct buf e = BUF_INIT(1 << 20), d = BUF_INIT(1 << 20);
	char big[3000];

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = i == 9 ? 4 : strlen(cases[i]);

		e.len = d.len = 0;
		assert_int_equal(mime7_qp(&e, cases[i], n), 0);
		check_7bit(&e);
		qp_decode(e.p, e.len, &d);
		assert_int_equal(d.len, n);
		assert_memory_equal(d.p ? d.p : "", cases[i], n);
	}
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i % 7 == 0 ? 0xe9 : 'a' + i % 26);
	e.len = d.len = 0;
	assert_int_equal(mime7_qp(&e, big, sizeof big), 0);
	check_7bit(&e);
	qp_decode(e.p, e.len, &d);
	assert_int_equal(d.len, sizeof big);
	assert_memory_equal(d.p, big, sizeof big);
	buf_free(&e);
	buf_free(&d);
}

static void
test_base64_roundtrip(void **st)
{
	struct buf e = BUF_INIT(1 << 20), d = BUF_INIT(1 << 20);
	char all[256 * 3 + 2];

	(void)st;
	for (size_t i = 0; i < sizeof all; i++)
		all[i] = (char)(i * 7);
	for (size_t n = 0; n < sizeof all; n += 37) {
		e.len = d.len = 0;
		assert_int_equal(mime7_base64(&e, all, n), 0);
		check_7bit(&e);
		b64_decode(e.p, e.len, &d);
		assert_int_equal(d.len, n);
		if (n > 0)
			assert_memory_equal(d.p, all, n);
	}
	buf_free(&e);
	buf_free(&d);
}

/* the body of the part whose headers contain marker, decoded */
static void
part_body(const struct buf *m, const char *marker, struct buf *out)
{
	const char *h = memmem(m->p, m->len, marker, strlen(marker));
	const char *b, *end, *cte;

	assert_non_null(h);
	b = memmem(h, m->len - (size_t)(h - m->p), "\n\n", 2);
	assert_non_null(b);
	b += 2;
	end = memmem(b, m->len - (size_t)(b - m->p), "\n--B", 4);
	assert_non_null(end);
	cte = memmem(h, (size_t)(b - h), "Content-Transfer-Encoding: ", 27);
	out->len = 0;
	if (cte != NULL && strncmp(cte + 27, "quoted-printable", 16) == 0)
		qp_decode(b, (size_t)(end - b), out);
	else if (cte != NULL && strncmp(cte + 27, "base64", 6) == 0)
		b64_decode(b, (size_t)(end - b), out);
	else
		buf_put(out, b, (size_t)(end - b));
}

static void
test_mime_convert(void **st)
{
	static const char text[] = "Gr\xc3\xbc\xc3\x9f" "e = \xe2\x82\xac \n"
	    ".dot\n";
	static const char bin[] = "\x01\x02\xff\xfe\x80 binary";
	struct buf m = BUF_INIT(1 << 20), o = BUF_INIT(1 << 20);
	struct buf p = BUF_INIT(1 << 20);
	const char *why;

	(void)st;
	buf_puts(&m, "From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/"
	    "mixed;\n boundary=\"B\"\n\npre\n--B\nContent-Type: text/plain; "
	    "charset=utf-8\nContent-Transfer-Encoding: 8bit\nX-Part: one\n\n");
	buf_puts(&m, text);
	buf_puts(&m, "\n--B\nContent-Type: image/png\nX-Part: two\n\n");
	buf_put(&m, bin, sizeof bin - 1);
	buf_puts(&m, "\n--B\nX-Part: three\n\nascii only\n--B--\nepi\xe9\n");
	assert_int_equal(mime7_convert(m.p, m.len, &o, &why), 0);
	check_7bit(&o);
	part_body(&o, "X-Part: one", &p);
	assert_int_equal(p.len, strlen(text));
	assert_memory_equal(p.p, text, strlen(text));
	part_body(&o, "X-Part: two", &p);
	assert_int_equal(p.len, sizeof bin - 1);
	assert_memory_equal(p.p, bin, sizeof bin - 1);
	part_body(&o, "X-Part: three", &p);
	assert_memory_equal(p.p, "ascii only", 10);
	/* the 8bit CTE header was replaced, not kept */
	assert_null(memmem(o.p, o.len, "Content-Transfer-Encoding: 8bit", 31));
	buf_free(&m);
	buf_free(&o);
	buf_free(&p);
}

static void
test_mime_refusals(void **st)
{
	struct buf o = BUF_INIT(1 << 20);
	const char *why = NULL;
	static const char notmime[] = "Subject: x\n\nbody \xe9\n";
	static const char hdr8[] = "MIME-Version: 1.0\nSubject: \xe9\n\nb\xe9\n";
	static const char single[] = "MIME-Version: 1.0\nContent-Type: "
	    "text/plain; charset=latin1\n\ncaf\xe9\n";
	static const char seven[] = "MIME-Version: 1.0\n\nascii\n";

	(void)st;
	assert_int_equal(mime7_convert(notmime, sizeof notmime - 1, &o, &why),
	    -1);
	assert_non_null(strstr(why, "not MIME"));
	assert_int_equal(mime7_convert(hdr8, sizeof hdr8 - 1, &o, &why), -1);
	assert_non_null(strstr(why, "header"));
	assert_int_equal(mime7_convert(single, sizeof single - 1, &o, &why), 0);
	assert_non_null(memmem(o.p, o.len, "quoted-printable", 16));
	assert_non_null(memmem(o.p, o.len, "caf=E9", 6));
	/* nothing 8-bit: unchanged */
	assert_int_equal(mime7_convert(seven, sizeof seven - 1, &o, &why), 0);
	assert_int_equal(o.len, sizeof seven - 1);
	assert_memory_equal(o.p, seven, o.len);
	assert_int_equal(mime7_has8bit("abc", 3), 0);
	assert_int_equal(mime7_has8bit("a\0c", 3), 1);
	buf_free(&o);
}

/* mime7_has8bit reads eight bytes at a time: each forbidden byte at each
 * place of a buffer (the words and the tail), at each length */
static void
test_has8bit_places(void **st)
{
	static const unsigned char bad[] = { 0x80, 0xff, 0xc3, 0x00 };
	static const char ok[] = { 0x01, 0x7f, 'a', '\n', ' ' };
	char b[40] = { 0 };

	(void)st;
	for (size_t n = 0; n <= sizeof b; n++) {
		for (size_t i = 0; i < n; i++)
			b[i] = ok[i % sizeof ok];
		assert_int_equal(mime7_has8bit(b, n), 0);
		for (size_t at = 0; at < n; at++)
			for (size_t k = 0; k < sizeof bad; k++) {
				b[at] = (char)bad[k];
				assert_int_equal(mime7_has8bit(b, n), 1);
				/* not found beyond n */
				assert_int_equal(mime7_has8bit(b, at), 0);
				b[at] = ok[at % sizeof ok];
			}
	}
}

static void
test_mime_deep_nesting(void **st)
{
	struct buf m = BUF_INIT(1 << 20), o = BUF_INIT(1 << 20);
	const char *why = NULL;

	(void)st;
	buf_puts(&m, "MIME-Version: 1.0\n");
	for (int i = 0; i < MIME7_DEPTH + 5; i++)
		buf_fmt(&m, "Content-Type: multipart/mixed; boundary=b%d\n\n"
		    "--b%d\n", i, i);
	buf_puts(&m, "\n\xe9\n");
	assert_int_equal(mime7_convert(m.p, m.len, &o, &why), -1);
	assert_non_null(strstr(why, "deep"));
	buf_free(&m);
	buf_free(&o);
}

/* the longest line of b (octets before its LF) */
static size_t
longest(const struct buf *b)
{
	size_t col = 0, max = 0;

	for (size_t i = 0; i < b->len; i++) {
		col = b->p[i] == '\n' ? 0 : col + 1;
		if (col > max)
			max = col;
	}
	return max;
}

static void
test_mime_long_lines(void **st)
{
	struct buf m = BUF_INIT(1 << 20), o = BUF_INIT(1 << 20);
	struct buf p = BUF_INIT(1 << 20), text = BUF_INIT(1 << 20);
	struct buf b64 = BUF_INIT(1 << 20), qp = BUF_INIT(1 << 20);
	struct buf subj = BUF_INIT(1 << 20);
	const char *why = NULL;
	size_t col;

	(void)st;
	/* mime7_haslong: 998 octets are allowed, 999 are not, also when a
	 * line spans chunks */
	for (int i = 0; i < 999; i++)
		buf_putc(&text, 'x');
	col = 0;
	assert_int_equal(mime7_haslong(text.p, 998, &col), 0);
	assert_int_equal(col, 998);
	assert_int_equal(mime7_haslong("\n", 1, &col), 0);
	assert_int_equal(col, 0);
	assert_int_equal(mime7_haslong(text.p, 999, &col), 1);
	col = 0;
	assert_int_equal(mime7_haslong(text.p, 500, &col), 0);
	assert_int_equal(mime7_haslong(text.p, 499, &col), 1);
	text.len = 0;
	for (int i = 0; i < 300; i++)
		buf_puts(&text, "word ");
	buf_puts(&text, "= .end\n.second line\n");
	for (int i = 0; i < 2000; i++)
		buf_putc(&b64, "QUJD"[i % 4]);
	for (int i = 0; i < 500; i++)
		buf_puts(&qp, "a=3D");
	for (int i = 0; i < 250; i++)
		buf_puts(&subj, "long ");
	buf_fmt(&m, "From: a@b\nSubject: %.*s\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"B\"\n\npre\n--B\n"
	    "Content-Type: text/plain\nX-Part: one\n\n", (int)subj.len,
	    subj.p);
	buf_put(&m, text.p, text.len - 1);
	buf_puts(&m, "\n--B\nContent-Type: application/octet-stream\n"
	    "X-Part: two\nContent-Transfer-Encoding: base64\n\n");
	buf_put(&m, b64.p, b64.len);
	buf_puts(&m, "\n--B\nContent-Type: text/plain\n"
	    "X-Part: three\nContent-Transfer-Encoding: quoted-printable\n\n");
	buf_put(&m, qp.p, qp.len);
	buf_puts(&m, "\n--B\nX-Part: four\n\nshort \xc3\xa9\n--B--\n");
	assert_true(longest(&m) > 998);
	assert_int_equal(mime7_reencode(m.p, m.len, MIME7_LONG, &o, &why), 0);
	assert_true(longest(&o) <= 998);
	/* each part decodes to what it was */
	part_body(&o, "X-Part: one", &p);
	assert_int_equal(p.len, text.len - 1);
	assert_memory_equal(p.p, text.p, p.len);
	part_body(&o, "X-Part: two", &p);
	assert_int_equal(p.len, b64.len / 4 * 3);
	assert_memory_equal(p.p, "ABCABC", 6);
	assert_non_null(memmem(o.p, o.len, "X-Part: two\n"
	    "Content-Transfer-Encoding: base64\n\n", 47));
	part_body(&o, "X-Part: three", &p);
	assert_int_equal(p.len, 500 * 2);
	assert_memory_equal(p.p, "a=a=", 4);
	/* untouched: the short part, its 8-bit byte (8BITMIME is fine) */
	assert_non_null(memmem(o.p, o.len, "X-Part: four\n\nshort \xc3\xa9\n",
	    23));
	/* the subject folded at a blank, its words all there */
	assert_non_null(memmem(o.p, o.len, "long\n long", 10));
	/* a body that is not MIME is left for the SMTP layer to break; a
	 * field without a blank too */
	m.len = 0;
	buf_puts(&m, "Subject: short\nX-Long: ");
	buf_put(&m, b64.p, b64.len);
	buf_puts(&m, "\n\n");
	buf_put(&m, b64.p, b64.len);
	buf_puts(&m, "\n");
	assert_int_equal(mime7_reencode(m.p, m.len, MIME7_LONG, &o, &why), 0);
	assert_int_equal(o.len, m.len);
	assert_memory_equal(o.p, m.p, m.len);
	/* both modes at once: 8-bit converted, long lines too */
	m.len = 0;
	buf_puts(&m, "MIME-Version: 1.0\nContent-Type: text/plain\n\n\xc3\xa9");
	buf_put(&m, text.p, text.len);
	assert_int_equal(mime7_reencode(m.p, m.len, MIME7_8BIT | MIME7_LONG,
	    &o, &why), 0);
	check_7bit(&o);
	assert_true(longest(&o) <= 998);
	buf_free(&m);
	buf_free(&o);
	buf_free(&p);
	buf_free(&text);
	buf_free(&b64);
	buf_free(&qp);
	buf_free(&subj);
}

/* ew_decode - what a reader shows of a field value: unfolded, each
 * =?UTF-8?B?...?= decoded, blanks between two encoded-words dropped */
static void
ew_decode(const char *v, size_t n, struct buf *out)
{
	struct buf u = BUF_INIT(1 << 20);
	size_t i = 0, blank = 0;
	int prev_ew = 0;

	for (size_t k = 0; k < n; k++)
		if (v[k] != '\n')
			buf_putc(&u, v[k]);
	out->len = 0;
	while (i < u.len) {
		if (u.len - i >= 10 && memcmp(u.p + i, "=?UTF-8?B?", 10) == 0) {
			const char *e = memmem(u.p + i + 10, u.len - i - 10,
			    "?=", 2);

			assert_non_null(e);
			if (prev_ew)
				out->len -= blank;
			b64_decode(u.p + i + 10, (size_t)(e - u.p) - i - 10,
			    out);
			i = (size_t)(e - u.p) + 2;
			prev_ew = 1;
			blank = 0;
			continue;
		}
		if (u.p[i] == ' ' || u.p[i] == '\t')
			blank++;
		else
			prev_ew = 0, blank = 0;
		buf_putc(out, u.p[i++]);
	}
	buf_free(&u);
}

/* every line of an encoded field: 7-bit, at most 78 characters, and
 * every encoded-word at most 75 */
static void
check_lines(const struct buf *o)
{
	size_t i = 0;

	check_7bit(o);
	while (i < o->len) {
		const char *nl = memchr(o->p + i, '\n', o->len - i);
		size_t len = nl ? (size_t)(nl - o->p) - i : o->len - i;

		assert_true(len <= 78);
		i += len + 1;
	}
	for (const char *e = o->p; (e = memmem(e, o->len - (size_t)(e -
	    o->p), "=?UTF-8?B?", 10)) != NULL; e += 10) {
		const char *end = memmem(e, o->len - (size_t)(e - o->p), "?=",
		    2);

		assert_non_null(end);
		assert_true((size_t)(end - e) + 2 <= 75);
	}
}

static void
test_hdr2047_encodes(void **st)
{
	static const struct {
		const char *in, *shown;
	} cases[] = {
		{ "Subject: Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\n",
		    " Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln" },
		/* adjacent 8-bit words: one run, its blank inside */
		{ "Subject: \xc3\xa9t\xc3\xa9 \xc3\xa0 Paris\n",
		    " \xc3\xa9t\xc3\xa9 \xc3\xa0 Paris" },
		/* a folded field is unfolded first */
		{ "Subject: caf\xc3\xa9\n au lait\n", " caf\xc3\xa9 au lait" },
		{ "X-Note:\tna\xc3\xafve  \n", "\tna\xc3\xafve  " },
		{ "Comments: \xe2\x82\xac\n", " \xe2\x82\xac" },
		/* phrases: quoted (escapes undone) and bare; the address stays */
		{ "From: \"J\xc3\xb6rg M\xc3\xbcller\" <jm@example.org>\n",
		    " J\xc3\xb6rg M\xc3\xbcller <jm@example.org>" },
		{ "From: \"J\\\"\xc3\xb6\"<a@b.example>\n",
		    " J\"\xc3\xb6 <a@b.example>" },
		{ "To: J\xc3\xb6rg <j@x.example>, plain <p@x.example>\n",
		    " J\xc3\xb6rg <j@x.example>, plain <p@x.example>" },
		{ "Cc: a@b.example (K\xc3\xb6ln office)\n",
		    " a@b.example (K\xc3\xb6ln office)" },
		{ "Reply-To: team: \xc3\xa9quipe <e@x.example>;\n",
		    " team: \xc3\xa9quipe <e@x.example>;" },
	};
	struct buf o = BUF_INIT(1 << 20), d = BUF_INIT(1 << 20);
	const char *why = NULL;

	(void)st;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *colon = strchr(cases[i].in, ':');
		size_t nl;

		o.len = 0;
		assert_int_equal(hdr2047_field(&o, cases[i].in,
		    strlen(cases[i].in), &why), 0);
		check_lines(&o);
		assert_true(o.len > 0 && o.p[o.len - 1] == '\n');
		/* the name is kept as it was */
		assert_memory_equal(o.p, cases[i].in,
		    (size_t)(colon - cases[i].in) + 1);
		nl = o.len - 1 - (size_t)(colon - cases[i].in) - 1;
		ew_decode(o.p + (colon - cases[i].in) + 1, nl, &d);
		assert_int_equal(d.len, strlen(cases[i].shown));
		assert_memory_equal(d.p, cases[i].shown, d.len);
	}
	buf_free(&o);
	buf_free(&d);
}

static void
test_hdr2047_long_and_plain(void **st)
{
	struct buf in = BUF_INIT(1 << 20), o = BUF_INIT(1 << 20);
	struct buf d = BUF_INIT(1 << 20), want = BUF_INIT(1 << 20);
	static const char plain[] = "Subject: only ascii\n here\n";
	const char *why = NULL;

	(void)st;
	/* 7-bit fields: byte for byte, folds and all */
	assert_int_equal(hdr2047_field(&o, plain, sizeof plain - 1, &why), 0);
	assert_int_equal(o.len, sizeof plain - 1);
	assert_memory_equal(o.p, plain, o.len);
	/* a long run of 2-, 3- and 4-byte characters: cut only between
	 * characters, lines and words within their limits */
	buf_puts(&in, "Subject:");
	for (int i = 0; i < 120; i++)
		buf_puts(&want, i % 3 == 0 ? "\xc3\xbc" : i % 3 == 1 ?
		    "\xe2\x82\xac" : "\xf0\x9f\x93\xa7");
	buf_puts(&want, " tail words here");
	buf_putc(&in, ' ');
	buf_put(&in, want.p, want.len);
	buf_putc(&in, '\n');
	o.len = 0;
	assert_int_equal(hdr2047_field(&o, in.p, in.len, &why), 0);
	check_lines(&o);
	ew_decode(o.p + 8, o.len - 9, &d);
	assert_int_equal(d.len, want.len + 1);
	assert_memory_equal(d.p + 1, want.p, want.len);
	buf_free(&in);
	buf_free(&o);
	buf_free(&d);
	buf_free(&want);
}

static void
test_hdr2047_refusals(void **st)
{
	static const char *const bad[] = {
		"To: j\xc3\xb6rg@example.org\n",	/* needs SMTPUTF8 */
		"To: J <j\xc3\xb6rg@example.org>\n",
		"Content-Type: text/plain; name=\xc3\xa9\n",	/* RFC 2231 */
		"Message-ID: <\xc3\xa9@x>\n",
		"Subject: caf\xe9\n",			/* Latin-1, not UTF-8 */
		"Subject: \xc0\xaf overlong\n",
		"Subject: \xc3\xa9\0nul\n",
		"Subj\xc3\xa9" "ct: x\n",		/* 8-bit name */
		"no colon \xc3\xa9\n",
		"From: \"unterminated \xc3\xa9 <a@b>\n",
		"From: x (nested (\xc3\xa9)) <a@b>\n",
		"From: x (open \xc3\xa9 <a@b>\n",
	};
	struct buf o = BUF_INIT(1 << 20);

	(void)st;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = NULL;
		/* the NUL case is 16 bytes long */
		size_t n = i == 6 ? 16 : strlen(bad[i]);

		o.len = 0;
		assert_int_equal(hdr2047_field(&o, bad[i], n, &why), -1);
		assert_non_null(why);
	}
	buf_free(&o);
}

static void
test_mime_headers_encoded(void **st)
{
	static const char msg[] = "From: \"Ren\xc3\xa9\" <r@x.example>\n"
	    "Subject: r\xc3\xa9sum\xc3\xa9\n\nbody in ascii\n";
	static const char mime[] = "MIME-Version: 1.0\nSubject: \xc3\xa9t\xc3"
	    "\xa9\nContent-Type: text/plain; charset=utf-8\n\n\xc3\xa9t\xc3"
	    "\xa9\n";
	struct buf o = BUF_INIT(1 << 20), d = BUF_INIT(1 << 20);
	const char *why = NULL, *b, *v, *nl;

	(void)st;
	/* not MIME, but only the headers are 8-bit: they are encoded and
	 * the body is untouched */
	assert_int_equal(mime7_convert(msg, sizeof msg - 1, &o, &why), 0);
	check_7bit(&o);
	b = memmem(o.p, o.len, "\n\nbody in ascii\n", 16);
	assert_non_null(b);
	assert_int_equal((size_t)(b - o.p) + 16, o.len);
	assert_non_null(memmem(o.p, o.len, "<r@x.example>", 13));
	/* MIME with an 8-bit body and an 8-bit subject: both converted */
	o.len = 0;
	assert_int_equal(mime7_convert(mime, sizeof mime - 1, &o, &why), 0);
	check_7bit(&o);
	assert_non_null(memmem(o.p, o.len, "Subject: =?UTF-8?B?", 19));
	assert_non_null(memmem(o.p, o.len, "quoted-printable", 16));
	v = (const char *)memmem(o.p, o.len, "Subject:", 8) + 8;
	nl = memchr(v, '\n', o.len - (size_t)(v - o.p));
	assert_non_null(nl);
	ew_decode(v, (size_t)(nl - v), &d);
	assert_int_equal(d.len, 6);
	assert_memory_equal(d.p, " \xc3\xa9t\xc3\xa9", 6);
	buf_free(&o);
	buf_free(&d);
}

/* RFC 7672 2.2 host by host, under each policy */
static void
test_dane_policy(void **state)
{
	static char *recs[] = { "3 1 1 00ff", "2 0 1 aa" };
	struct route_host h = { "mx.example.org", 10, 0, 0, NULL };
	struct tlsa t[JOB_TLSA_MAX];
	char why[256];

	(void)state;
	/* the other policies are not touched, whatever DNSSEC says */
	h.dane = DANE_FAIL;
	for (int p = TLS_NONE; p <= TLS_VERIFY; p++)
		assert_int_equal(dane_host_policy(p, &h, why, sizeof why), p);
	for (int p = TLS_DANE; p <= TLS_DANE_ONLY; p++) {
		h.dane = DANE_SECURE;
		assert_int_equal(dane_host_policy(p, &h, why, sizeof why),
		    TLS_DANE_MATCH);
		h.dane = DANE_UNUSABLE;
		assert_int_equal(dane_host_policy(p, &h, why, sizeof why),
		    TLS_ENCRYPT);
		h.dane = DANE_FAIL;
		why[0] = '\0';
		assert_int_equal(dane_host_policy(p, &h, why, sizeof why), -1);
		assert_non_null(strstr(why, "4.7.5 DANE"));
		assert_non_null(strstr(why, "mx.example.org"));
	}
	h.dane = DANE_NONE;
	assert_int_equal(dane_host_policy(TLS_DANE, &h, why, sizeof why),
	    TLS_MAY);
	h.dane = 0;		/* a host no one set */
	assert_int_equal(dane_host_policy(TLS_DANE, &h, why, sizeof why),
	    TLS_MAY);
	assert_int_equal(dane_host_policy(TLS_DANE_ONLY, &h, why, sizeof why),
	    -1);
	assert_non_null(strstr(why, "4.7.4"));
	/* the records, back from the job's text */
	h.ntlsa = 2, h.tlsa = recs;
	assert_int_equal(dane_records(&h, t, JOB_TLSA_MAX), 2);
	assert_int_equal(t[0].usage, 3);
	assert_int_equal(t[0].len, 2);
	assert_int_equal(t[1].data[0], 0xaa);
	assert_int_equal(dane_records(&h, t, 1), 1);
	recs[1] = "2 0 1 a";
	assert_int_equal(dane_records(&h, t, JOB_TLSA_MAX), -1);
	recs[1] = "2 0 1 aa";
}

/* RFC 8461 2: an MTA-STS enforce job (mta-sts) is verify, but DANE wins
 * where remote_tls allows it and the host has secure TLSA records */
static void
test_dane_sts_policy(void **state)
{
	struct route_host h = { "mx.example.org", 10, 0, 0, NULL };
	char why[256];

	(void)state;
	h.dane = DANE_SECURE;
	for (int p = TLS_NONE; p <= TLS_VERIFY; p++)
		assert_int_equal(dane_sts_policy(p, &h, why, sizeof why),
		    TLS_VERIFY);
	for (int p = TLS_DANE; p <= TLS_DANE_ONLY; p++) {
		h.dane = DANE_SECURE;
		assert_int_equal(dane_sts_policy(p, &h, why, sizeof why),
		    TLS_DANE_MATCH);
		h.dane = DANE_UNUSABLE;
		assert_int_equal(dane_sts_policy(p, &h, why, sizeof why),
		    TLS_VERIFY);
		h.dane = DANE_FAIL;
		assert_int_equal(dane_sts_policy(p, &h, why, sizeof why), -1);
	}
	h.dane = DANE_NONE;
	assert_int_equal(dane_sts_policy(TLS_DANE, &h, why, sizeof why),
	    TLS_VERIFY);
	assert_int_equal(dane_sts_policy(TLS_DANE_ONLY, &h, why, sizeof why),
	    -1);
}

/* RFC 8689 5: the TLS-Required field, in the header section only */
static void
test_tls_required_no(void **state)
{
#define NO(s)	assert_int_equal(rtls_header_no(s, strlen(s)), 1)
#define YES(s)	assert_int_equal(rtls_header_no(s, strlen(s)), 0)
	(void)state;
	NO("TLS-Required: No\n\nbody\n");
	NO("Subject: x\nTLS-Required: No\n\n");
	NO("tls-required:no\n\n");
	NO("TLS-REQUIRED:   nO  \n\n");
	NO("TLS-Required :\tNo\n\n");		/* obsolete "name :" */
	NO("TLS-Required:\n No\n\n");		/* folded */
	NO("TLS-Required: No\r\n\r\n");		/* CRLF */
	NO("TLS-Required: No");			/* cut, no line end */
	NO("Subject: a\n folded: TLS-Required: No\nTLS-Required: No\n\n");
	YES("");
	YES("TLS-Required: Yes\n\n");
	YES("TLS-Required: Non\n\n");
	YES("TLS-Required: N o\n\n");
	YES("TLS-Required: No thanks\n\n");
	YES("TLS-Required: No\n more\n\n");
	YES("TLS-Required:\n\n");
	YES("TLS-Requires: No\n\n");
	YES("X-TLS-Required: No\n\n");
	YES("TLS-Required No\n\n");
	/* a continuation line is not a field of its own */
	YES("Subject: a\n TLS-Required: No\n\n");
	/* the body is not the header */
	YES("Subject: x\n\nTLS-Required: No\n");
	YES("\nTLS-Required: No\n");
	YES("Subject: x\r\n\r\nTLS-Required: No\r\n");
	/* NUL bytes and lengths: only n bytes are read */
	assert_int_equal(rtls_header_no("TLS-Required: No\n", 15), 0);
	assert_int_equal(rtls_header_no("TLS-Required: No\n", 16), 1);
	assert_int_equal(rtls_header_no("TLS-Required: N\0o\n\n", 19), 0);
#undef NO
#undef YES
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_lines),
		cmocka_unit_test(test_dane_policy),
		cmocka_unit_test(test_dane_sts_policy),
		cmocka_unit_test(test_tls_required_no),
		cmocka_unit_test(test_reply_nul),
		cmocka_unit_test(test_has8bit_places),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_ehlo),
		cmocka_unit_test(test_qp_roundtrip),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_mime_convert),
		cmocka_unit_test(test_mime_refusals),
		cmocka_unit_test(test_mime_deep_nesting),
		cmocka_unit_test(test_mime_long_lines),
		cmocka_unit_test(test_hdr2047_encodes),
		cmocka_unit_test(test_hdr2047_long_and_plain),
		cmocka_unit_test(test_hdr2047_refusals),
		cmocka_unit_test(test_mime_headers_encoded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
