/* mime7: downgrading 8-bit MIME to 7-bit for servers without 8BITMIME. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "hdr2047.h"
#include "mime7.h"

#define LINE_QP		76	/* RFC 2045 6.7 (5): encoded lines <= 76 */

/* put_headers: keep the entity's own Content-Transfer-Encoding */
static const char keep_cte[] = "";

struct ent {
	const char	*h;	/* header fields, each ending in LF */
	size_t		 hn;
	const char	*b;	/* the body */
	size_t		 bn;
};

/* mime7_haslong - a line of more than MIME7_LINE_MAX octets before its
 * LF (RFC 5321 4.5.3.1.6); *col carries the length of an unended line
 * from one chunk to the next (start it at 0) */
int
mime7_haslong(const char *p, size_t n, size_t *col)
{
	size_t c = *col, i = 0;

	/* memchr: every job's message is scanned, so keep it cheap */
	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t k = nl ? (size_t)(nl - (p + i)) : n - i;

		if (c + k > MIME7_LINE_MAX)
			return *col = c + k, 1;
		c = nl ? 0 : c + k;
		i += k + (nl != NULL);
	}
	*col = c;
	return 0;
}

static int
is_long(const char *p, size_t n)
{
	size_t col = 0;

	return mime7_haslong(p, n, &col);
}

/* needs - the bytes hold something the mode must change */
static int
needs(unsigned m, const char *p, size_t n)
{
	return ((m & MIME7_8BIT) && mime7_has8bit(p, n)) ||
	    ((m & MIME7_LONG) && is_long(p, n));
}

/* mime7_has8bit - bytes that 7BIT forbids (RFC 2045 2.7: no NUL either).
 * Eight bytes at a time: every job's message is scanned, and a byte at a
 * time took 40-60 us of a worker's CPU per 100 KiB. */
int
mime7_has8bit(const char *p, size_t n)
{
	const uint64_t lo = 0x0101010101010101ULL;
	const uint64_t hi = 0x8080808080808080ULL;
	uint64_t w;
	size_t i = 0;

	for (; n - i >= 8; i += 8) {
		memcpy(&w, p + i, 8);
		/* a high bit, or a NUL byte: (w - lo) & ~w & hi is nonzero
		 * exactly when one of w's bytes is zero */
		if ((w & hi) != 0 || ((w - lo) & ~w & hi) != 0)
			return 1;
	}
	for (; i < n; i++)
		if ((unsigned char)p[i] >= 0x80 || p[i] == '\0')
			return 1;
	return 0;
}

static void
split(const char *p, size_t n, struct ent *e)
{
	const char *s;

	e->h = p;
	if (n > 0 && p[0] == '\n') {
		e->hn = 0;
		e->b = p + 1;
		e->bn = n - 1;
		return;
	}
	if ((s = memmem(p, n, "\n\n", 2)) == NULL) {
		e->hn = n;
		e->b = p + n;
		e->bn = 0;
		return;
	}
	e->hn = (size_t)(s - p) + 1;
	e->b = s + 2;
	e->bn = n - e->hn - 1;
}

/* the next header field (with its continuation lines) from *off */
static int
field(const struct ent *e, size_t *off, const char **f, size_t *fn)
{
	size_t i = *off;

	if (i >= e->hn)
		return 0;
	*f = e->h + i;
	for (;;) {
		const char *nl = memchr(e->h + i, '\n', e->hn - i);

		i = nl ? (size_t)(nl - e->h) + 1 : e->hn;
		if (i >= e->hn || (e->h[i] != ' ' && e->h[i] != '\t'))
			break;
	}
	*fn = e->h + i - *f;
	*off = i;
	return 1;
}

static int
field_is(const char *f, size_t fn, const char *name)
{
	size_t k = strlen(name);

	return fn > k && f[k] == ':' && strncasecmp(f, name, k) == 0;
}

/* the value of the first field called name, or NULL */
static const char *
header(const struct ent *e, const char *name, size_t *vn)
{
	const char *f;
	size_t fn, off = 0, k = strlen(name);

	while (field(e, &off, &f, &fn))
		if (field_is(f, fn, name)) {
			*vn = fn - k - 1;
			return f + k + 1;
		}
	return NULL;
}

static size_t
skip_ws(const char *v, size_t vn, size_t i)
{
	while (i < vn && isspace((unsigned char)v[i]))
		i++;
	return i;
}

/* "multipart/mixed; boundary=..." -> type and boundary */
static void
content_type(const struct ent *e, char *type, size_t tsz, char *bnd,
    size_t bsz)
{
	size_t vn, i, k = 0;
	const char *v = header(e, "content-type", &vn);

	memcpy(type, "text/plain", sizeof "text/plain");	/* 2045 5.2 */
	bnd[0] = '\0';
	if (v == NULL)
		return;
	i = skip_ws(v, vn, 0);
	while (i < vn && k + 1 < tsz && v[i] != ';' &&
	    !isspace((unsigned char)v[i]))
		type[k++] = (char)tolower((unsigned char)v[i++]);
	type[k] = '\0';
	while (i < vn) {
		size_t j;

		while (i < vn && v[i] != ';')
			i++;
		i = skip_ws(v, vn, i + 1);
		if (vn - i < 9 || strncasecmp(v + i, "boundary=", 9) != 0)
			continue;
		i += 9;
		k = 0;
		if (i < vn && v[i] == '"')
			for (j = i + 1; j < vn && v[j] != '"' && k + 1 < bsz; j++)
				bnd[k++] = v[j];
		else
			for (j = i; j < vn && v[j] != ';' &&
			    !isspace((unsigned char)v[j]) && k + 1 < bsz; j++)
				bnd[k++] = v[j];
		bnd[k] = '\0';
		return;
	}
}

/* the headers without Content-Transfer-Encoding, then a new one */
static int
put_headers(struct buf *o, const struct ent *e, const char *cte)
{
	const char *f;
	size_t fn, off = 0;

	while (field(e, &off, &f, &fn))
		if ((cte == keep_cte ||
		    !field_is(f, fn, "content-transfer-encoding")) &&
		    buf_put(o, f, fn) == -1)
			return -1;
	if (cte != NULL && cte != keep_cte &&
	    buf_fmt(o, "Content-Transfer-Encoding: %s\n", cte) == -1)
		return -1;
	return buf_putc(o, '\n');
}

static const char hexd[] = "0123456789ABCDEF";

static int
qp_byte(struct buf *o, unsigned char c, size_t *col)
{
	char e[3] = { '=', hexd[c >> 4], hexd[c & 15] };

	if (*col + 3 > LINE_QP - 1) {
		if (buf_put(o, "=\n", 2) == -1)
			return -1;
		*col = 0;
	}
	*col += 3;
	return buf_put(o, e, 3);
}

/* mime7_qp - quoted-printable (RFC 2045 6.7); LF ends are hard breaks */
int
mime7_qp(struct buf *o, const char *p, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		int eol = i + 1 == n || p[i + 1] == '\n';

		if (c == '\n') {
			if (buf_putc(o, '\n') == -1)
				return -1;
			col = 0;
			continue;
		}
		/* literal: printable ASCII but '=', and blanks not at the
		 * end of a line; '.' and "From " at a line start too, so
		 * neither dot-stuffing nor mbox quoting touches the text */
		if (((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !eol)) &&
		    !(col == 0 && (c == '.' || c == 'F'))) {
			if (col + 1 > LINE_QP - 1) {
				if (buf_put(o, "=\n", 2) == -1)
					return -1;
				col = 0;
			}
			if (buf_putc(o, (char)c) == -1)
				return -1;
			col++;
		} else if (qp_byte(o, c, &col) == -1)
			return -1;
	}
	return 0;
}

/* mime7_b64 - base64 of p[0..n), no line breaks (RFC 4648 4) */
int
mime7_b64(struct buf *o, const char *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)p;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = t[v >> 18 & 63];
		q[1] = t[v >> 12 & 63];
		q[2] = i + 1 < n ? t[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? t[v & 63] : '=';
		if (buf_put(o, q, 4) == -1)
			return -1;
	}
	return 0;
}

/* mime7_base64 - base64 in lines of 76 (RFC 2045 6.8): 57 bytes each */
int
mime7_base64(struct buf *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 57)
		if (mime7_b64(o, p + i, n - i > 57 ? 57 : n - i) == -1 ||
		    buf_putc(o, '\n') == -1)
			return -1;
	return 0;
}

static int entity(struct buf *, const char *, size_t, unsigned, int,
    const char **);

/* a delimiter line "--b" or "--b--" at the start of the line at p */
static int
delim(const char *p, size_t n, const char *b, size_t bl, int *last)
{
	size_t i = bl + 2;

	if (n < bl + 2 || p[0] != '-' || p[1] != '-' ||
	    memcmp(p + 2, b, bl) != 0)
		return 0;
	*last = n >= bl + 4 && p[bl + 2] == '-' && p[bl + 3] == '-';
	if (*last)
		i += 2;
	/* RFC 2046 5.1.1: only white space may follow ("--b1" is not "--b") */
	for (; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* text outside the parts: never shown, so 8-bit bytes become '?' (in
 * MIME7_8BIT mode) */
static int
put_plain(struct buf *o, const char *p, size_t n, unsigned m)
{
	if (!(m & MIME7_8BIT))
		return buf_put(o, p, n);
	for (size_t i = 0; i < n; i++)
		if (buf_putc(o, (unsigned char)p[i] >= 0x80 || p[i] == '\0' ?
		    '?' : p[i]) == -1)
			return -1;
	return 0;
}

static int
multipart(struct buf *o, const struct ent *e, const char *b, unsigned m,
    int depth, const char **why)
{
	size_t bl = strlen(b), i = 0, part = 0;
	int inpart = 0, last = 0;

	while (i < e->bn) {
		const char *ln = e->b + i, *nl = memchr(ln, '\n', e->bn - i);
		size_t len = nl ? (size_t)(nl - ln) : e->bn - i;
		size_t next = i + len + (nl != NULL);

		if (!last && delim(ln, len, b, bl, &last)) {
			/* the LF before a delimiter belongs to it */
			if (inpart) {
				size_t pn = i > part ? i - part - 1 : 0;

				if (entity(o, e->b + part, pn, m, depth + 1,
				    why) == -1 || buf_putc(o, '\n') == -1)
					return -1;
			} else if (put_plain(o, e->b, i, m) == -1)
				return -1;
			if (buf_put(o, ln, next - i) == -1)
				return -1;
			inpart = !last;
			part = next;
		} else if (!inpart && last) {
			return put_plain(o, ln, e->bn - i, m);	/* epilogue */
		}
		i = next;
	}
	if (inpart)	/* no closing delimiter: convert what there is */
		return entity(o, e->b + part, e->bn - part, m, depth + 1,
		    why);
	if (part == 0)
		return put_plain(o, e->b, e->bn, m);
	return 0;
}

/* the entity's Content-Transfer-Encoding, lowercased, or "" */
static void
cte_of(const struct ent *e, char *out, size_t sz)
{
	size_t vn, i, k = 0;
	const char *v = header(e, "content-transfer-encoding", &vn);

	out[0] = '\0';
	if (v == NULL)
		return;
	for (i = skip_ws(v, vn, 0); i < vn && k + 1 < sz &&
	    !isspace((unsigned char)v[i]) && v[i] != ';' && v[i] != '('; i++)
		out[k++] = (char)tolower((unsigned char)v[i]);
	out[k] = '\0';
}

/* base64 already: the same characters in lines of 76 (RFC 2045 6.8:
 * decoders ignore line breaks and anything outside the alphabet) */
static int
rewrap_b64(struct buf *o, const char *p, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)p[i]))
			continue;
		if (buf_putc(o, p[i]) == -1)
			return -1;
		if (++col == LINE_QP) {
			if (buf_putc(o, '\n') == -1)
				return -1;
			col = 0;
		}
	}
	return col > 0 ? buf_putc(o, '\n') : 0;
}

/* quoted-printable already: soft line breaks (RFC 2045 6.7 (5)) into
 * its long lines, never inside an "=XX" */
static int
rewrap_qp(struct buf *o, const char *p, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; ) {
		size_t k = p[i] == '=' && i + 2 < n && p[i + 1] != '\n' &&
		    p[i + 2] != '\n' ? 3 : 1;

		if (p[i] == '\n')
			col = 0;
		else if (col + k > LINE_QP - 1) {
			if (buf_put(o, "=\n", 2) == -1)
				return -1;
			col = 0;
		}
		if (buf_put(o, p + i, k) == -1)
			return -1;
		if (p[i] != '\n')
			col += k;
		i += k;
	}
	return 0;
}

static int
leaf(struct buf *o, const struct ent *e, const char *type, unsigned m)
{
	int text = strncmp(type, "text/", 5) == 0;
	char cte[32];

	cte_of(e, cte, sizeof cte);
	/* lines too long in a body already encoded: wrap it again, which
	 * decodes to the same bytes (encoding it again would not) */
	if (!((m & MIME7_8BIT) && mime7_has8bit(e->b, e->bn))) {
		if (strcmp(cte, "base64") == 0)
			return put_headers(o, e, keep_cte) |
			    rewrap_b64(o, e->b, e->bn);
		if (strcmp(cte, "quoted-printable") == 0)
			return put_headers(o, e, keep_cte) |
			    rewrap_qp(o, e->b, e->bn);
		if (cte[0] != '\0' && strcmp(cte, "7bit") != 0 &&
		    strcmp(cte, "8bit") != 0 && strcmp(cte, "binary") != 0)
			/* an encoding we do not know: leave it (smtp.c
			 * breaks its long lines) */
			return put_headers(o, e, keep_cte) |
			    buf_put(o, e->b, e->bn);
	}
	if (put_headers(o, e, text ? "quoted-printable" : "base64") == -1)
		return -1;
	return text ? mime7_qp(o, e->b, e->bn) : mime7_base64(o, e->b, e->bn);
}

/* fold - one header field with its lines over MIME7_LINE_MAX folded
 * before a blank (RFC 5322 2.2.3); a line with no blank to fold at
 * stays as it is (smtp.c breaks it) */
static int
fold(struct buf *o, const char *f, size_t fn)
{
	size_t i = 0;

	while (i < fn) {
		const char *nl = memchr(f + i, '\n', fn - i);
		size_t len = nl ? (size_t)(nl - (f + i)) : fn - i, cut = 0;
		size_t lo = 0;

		/* fold only after the line's first word (and the name) */
		if (i == 0)
			while (lo < len && f[lo] != ':')
				lo++;
		while (lo < len && (f[i + lo] == ' ' || f[i + lo] == '\t' ||
		    f[i + lo] == ':'))
			lo++;
		if (len > MIME7_LINE_MAX)
			for (size_t k = MIME7_LINE_MAX; k > lo && cut == 0; k--)
				if (f[i + k] == ' ' || f[i + k] == '\t')
					cut = k;
		if (cut == 0) {
			if (buf_put(o, f + i, len + (nl != NULL)) == -1)
				return -1;
			i += len + (nl != NULL);
			continue;
		}
		/* the blank starts the continuation line */
		if (buf_put(o, f + i, cut) == -1 || buf_putc(o, '\n') == -1)
			return -1;
		i += cut;
	}
	return 0;
}

/* headers - 8-bit header fields as RFC 2047 encoded-words (MIME7_8BIT),
 * long ones folded (MIME7_LONG), into h */
static int
headers(struct ent *e, struct buf *h, unsigned m, const char **why)
{
	struct buf t = BUF_INIT(1 << 20);
	const char *f;
	size_t fn, off = 0;
	int r = 0;

	while (r == 0 && field(e, &off, &f, &fn)) {
		t.len = 0;
		if ((m & MIME7_8BIT) && mime7_has8bit(f, fn)) {
			if (hdr2047_field(&t, f, fn, why) == -1)
				r = -1;
		} else if (buf_put(&t, f, fn) == -1)
			r = -1;
		if (r == 0 && (m & MIME7_LONG))
			r = fold(h, t.p ? t.p : "", t.len);
		else if (r == 0)
			r = buf_put(h, t.p ? t.p : "", t.len);
	}
	buf_free(&t);
	if (r == -1)
		return -1;
	e->h = h->p ? h->p : "";
	e->hn = h->len;
	return 0;
}

static int
entity_body(struct buf *o, struct ent *e, unsigned m, int depth,
    const char **why)
{
	char type[128], bnd[128];
	const char *inner = m & MIME7_8BIT ? "7bit" : keep_cte;

	if (!needs(m, e->b, e->bn))
		return buf_put(o, e->h, e->hn) | buf_putc(o, '\n') |
		    buf_put(o, e->b, e->bn);
	content_type(e, type, sizeof type, bnd, sizeof bnd);
	if (strncmp(type, "multipart/", 10) == 0 && bnd[0] != '\0')
		return put_headers(o, e, m & MIME7_8BIT ? NULL : keep_cte) |
		    multipart(o, e, bnd, m, depth, why);
	if (strcmp(type, "message/rfc822") == 0 ||
	    strcmp(type, "message/global") == 0) {
		/* RFC 2046 5.2.1: its own encoding must be 7bit (or 8bit):
		 * recurse */
		if (put_headers(o, e, inner) == -1)
			return -1;
		return entity(o, e->b, e->bn, m, depth + 1, why);
	}
	return leaf(o, e, type, m);
}

static int
entity(struct buf *o, const char *p, size_t n, unsigned m, int depth,
    const char **why)
{
	struct ent e;
	struct buf h = BUF_INIT(1 << 20);
	int r;

	if (depth > MIME7_DEPTH)
		return *why = "MIME structure nested too deeply", -1;
	split(p, n, &e);
	if (!needs(m, p, n))
		return buf_put(o, p, n);
	if (needs(m, e.h, e.hn) && headers(&e, &h, m, why) == -1)
		r = -1;
	else
		r = entity_body(o, &e, m, depth, why);
	buf_free(&h);
	return r;
}

/* mime7_reencode - the whole message */
int
mime7_reencode(const char *msg, size_t n, unsigned m, struct buf *out,
    const char **why)
{
	struct ent e;
	size_t vn;

	*why = "out of memory";
	split(msg, n, &e);
	out->len = 0;
	if (header(&e, "mime-version", &vn) == NULL) {
		/* 8-bit headers alone can be encoded in any message (RFC
		 * 2047); an 8-bit body needs MIME to say how it was
		 * converted */
		if ((m & MIME7_8BIT) && mime7_has8bit(e.b, e.bn))
			return *why = "8-bit message is not MIME", -1;
		/* not MIME: the body is plain text, nothing says how it
		 * could be encoded; only its header fields are folded */
		if (needs(m, e.h, e.hn)) {
			struct buf h = BUF_INIT(1 << 20);
			/* a blank line after the headers, if there was one */
			int blank = e.b == msg + e.hn + 1, r;

			r = headers(&e, &h, m, why) == -1 ||
			    buf_put(out, e.h, e.hn) == -1 ||
			    (blank && buf_putc(out, '\n') == -1) ||
			    buf_put(out, e.b, e.bn) == -1 ? -1 : 0;
			buf_free(&h);
			return r;
		}
		return buf_put(out, msg, n) == -1 ? -1 : 0;
	}
	return entity(out, msg, n, m, 0, why) == -1 ? -1 : 0;
}

/* mime7_convert - the whole message, for a server without 8BITMIME */
int
mime7_convert(const char *msg, size_t n, struct buf *out, const char **why)
{
	return mime7_reencode(msg, n, MIME7_8BIT, out, why);
}
