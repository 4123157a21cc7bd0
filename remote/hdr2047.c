/* hdr2047: header fields with 8-bit bytes, rewritten as RFC 2047
 * encoded-words for the 7-bit downgrade (mime7.c).
 *
 * Only UTF-8 can be encoded (the charset must be named; raw 8-bit bytes
 * of unknown charset cannot), and only where RFC 2047 section 5 allows
 * encoded-words: anywhere in an unstructured field (Subject, Comments,
 * X-..., any field not known to be structured), and in the phrases
 * (display names, quoted or not) and comments of address fields.  An
 * 8-bit address itself needs SMTPUTF8, and an 8-bit MIME parameter needs
 * RFC 2231: those, and 8-bit bytes in any other structured field, are
 * refused and the caller bounces the message, as before.
 *
 * A run of 8-bit words becomes one sequence of encoded-words (words
 * separated only by white space inside the run are encoded with it: the
 * white space between two encoded-words is not displayed); 7-bit words
 * stay as they are.  Encoded-words are B-encoded, at most 75 characters,
 * cut only between characters, and folded onto lines of their own. */
#include <string.h>
#include <strings.h>

#include "hdr2047.h"
#include "mime7.h"
#include "utf8.h"

#define EW_BYTES	45	/* 60 base64 characters: 75 with =?UTF-8?B??= */
#define FOLD_COL	60	/* fold at white space past this column */

static const char *const addr_fields[] = {
	"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from",
	"resent-sender", "resent-to", "resent-cc", "resent-bcc",
	"disposition-notification-to", "return-receipt-to",
	"mail-followup-to", "mail-reply-to", NULL
};

/* structured fields whose syntax has no place for an encoded-word */
static const char *const fixed_fields[] = {
	"content-type", "content-disposition", "content-transfer-encoding",
	"content-id", "content-location", "content-language", "content-md5",
	"content-base", "mime-version", "message-id", "resent-message-id",
	"in-reply-to", "references", "date", "resent-date", "received",
	"return-path", "dkim-signature", "authentication-results",
	"list-id", "list-post", "list-unsubscribe", "list-help",
	"list-subscribe", "list-archive", "list-owner", NULL
};

struct out {
	struct buf	*o;
	size_t		 col;	/* characters on the current line */
	const char	*why;
};

static int
in_list(const char *name, size_t n, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == n && strncasecmp(name, *list, n) == 0)
			return 1;
	return 0;
}

static int
is8(char c)
{
	return (unsigned char)c >= 0x80;
}

static int
wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int
put(struct out *w, const char *p, size_t n)
{
	const char *nl = memrchr(p, '\n', n);

	w->col = nl ? n - (size_t)(nl - p) - 1 : w->col + n;
	return buf_put(w->o, p, n);
}

/* white space between words: folded there when the line is long */
static int
sep(struct out *w, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (w->col > FOLD_COL && put(w, "\n", 1) == -1)
		return -1;
	return put(w, p, n);
}

/* fold - a line break before the next output; the blank written last
 * (if any) moves to the new line, so no blank is added to the text */
static int
fold(struct out *w)
{
	struct buf *o = w->o;
	char f[2] = { '\n', ' ' };

	if (o->len > 0 && wsp(o->p[o->len - 1]))
		f[1] = o->p[--o->len];
	return put(w, f, 2);
}

/* ew - p[0..n) as encoded-words, folded where a line would pass 78
 * characters (the white space between two encoded-words is not
 * displayed, so the folds add nothing to the text) */
static int
ew(struct out *w, const char *p, size_t n)
{
	struct buf b = BUF_INIT(128);
	size_t i = 0, k;
	int r = 0;

	while (r == 0 && i < n) {
		k = n - i > EW_BYTES ? EW_BYTES : n - i;
		/* never cut a character: back off to its first byte */
		while (k > 0 && i + k < n &&
		    ((unsigned char)p[i + k] & 0xc0) == 0x80)
			k--;	/* valid UTF-8 (hdr2047_field): k stays > 0 */
		b.len = 0;
		r = buf_puts(&b, "=?UTF-8?B?") | mime7_b64(&b, p + i, k) |
		    buf_puts(&b, "?=");
		if (r == 0 && i > 0)
			r = w->col + 1 + b.len > 78 ? fold(w) : put(w, " ", 1);
		else if (r == 0 && w->col + b.len > 78 && w->col > 1)
			r = fold(w);
		if (r == 0)
			r = put(w, b.p, b.len);
		i += k;
	}
	buf_free(&b);
	return r;
}

/* words - a run of text (white space and words): each maximal run of
 * words with 8-bit bytes, with the white space inside it, as
 * encoded-words; the rest as it is */
static int
words(struct out *w, const char *p, size_t n)
{
	size_t i = 0, ws, j, run = 0, end = 0;
	int in_run = 0, has;

	for (;;) {
		ws = i;
		while (i < n && wsp(p[i]))
			i++;
		if (i == n)
			break;
		j = i;
		has = 0;
		while (i < n && !wsp(p[i]))
			has |= is8(p[i++]);
		if (has) {
			if (!in_run && sep(w, p + ws, j - ws) == -1)
				return -1;
			if (!in_run)
				run = j;
			in_run = 1;
			end = i;
			continue;
		}
		/* a run just ended: the blanks since its end are p[ws..j) */
		if (in_run && ew(w, p + run, end - run) == -1)
			return -1;
		in_run = 0;
		if (sep(w, p + ws, j - ws) == -1 || put(w, p + j, i - j) == -1)
			return -1;
	}
	if (in_run && ew(w, p + run, end - run) == -1)
		return -1;
	return put(w, p + ws, n - ws);	/* trailing blanks: never a fold */
}

/* a phrase or comment text that must stand apart from its neighbours */
static int
ew_apart(struct out *w, const char *p, size_t n, int space_after)
{
	const struct buf *o = w->o;

	if (o->len > 0 && !wsp(o->p[o->len - 1]) && o->p[o->len - 1] != '\n'
	    && o->p[o->len - 1] != '(' && put(w, " ", 1) == -1)
		return -1;
	if (ew(w, p, n) == -1)
		return -1;
	return space_after ? put(w, " ", 1) : 0;
}

/* quoted - a quoted-string at p (p[0] is '"'): its length, and in *t
 * its text with the quoting undone; 0 if unterminated */
static size_t
quoted(const char *p, size_t n, struct buf *t)
{
	t->len = 0;
	for (size_t i = 1; i < n; i++) {
		if (p[i] == '"')
			return i + 1;
		if (p[i] == '\\' && i + 1 < n)
			i++;
		if (buf_putc(t, p[i]) == -1)
			return 0;
	}
	return 0;
}

/* comment - a comment at p (p[0] is '('), nested ones included: its
 * length, or 0 if unterminated */
static size_t
comment(const char *p, size_t n, int *nested)
{
	int depth = 0;

	*nested = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\') {
			i++;
			continue;
		}
		if (p[i] == '(' && ++depth > 1)
			*nested = 1;
		if (p[i] == ')' && --depth == 0)
			return i + 1;
	}
	return 0;
}

/* one token of an address field with 8-bit bytes in it */
static size_t
addr_token(struct out *w, const char *p, size_t n, struct buf *t)
{
	size_t k = 0;
	int nested;

	if (p[0] == '"') {
		if ((k = quoted(p, n, t)) == 0)
			return w->why = "unterminated quoted string", 0;
		if (!mime7_has8bit(p, k))
			return put(w, p, k) == -1 ? 0 : k;
		return ew_apart(w, t->p ? t->p : "", t->len, k < n &&
		    !wsp(p[k])) == -1 ? 0 : k;
	}
	if (p[0] == '(') {
		if ((k = comment(p, n, &nested)) == 0)
			return w->why = "unterminated comment", 0;
		if (!mime7_has8bit(p, k))
			return put(w, p, k) == -1 ? 0 : k;
		if (nested || memchr(p, '\\', k) != NULL)
			return w->why = "8-bit nested or quoted comment", 0;
		if (put(w, "(", 1) == -1 || words(w, p + 1, k - 2) == -1 ||
		    put(w, ")", 1) == -1)
			return 0;
		return k;
	}
	if (p[0] == '<') {
		const char *gt = memchr(p, '>', n);

		k = gt ? (size_t)(gt - p) + 1 : n;
		if (mime7_has8bit(p, k))
			return w->why = "8-bit address (it needs SMTPUTF8)", 0;
		return put(w, p, k) == -1 ? 0 : k;
	}
	if (strchr(",;:", p[0]) != NULL)
		return put(w, p, 1) == -1 ? 0 : 1;
	/* a phrase, or a bare address: up to the next special */
	while (k < n && strchr("\"(<,;:", p[k]) == NULL)
		k++;
	if (!mime7_has8bit(p, k))
		return put(w, p, k) == -1 ? 0 : k;
	if (memchr(p, '@', k) != NULL)
		return w->why = "8-bit address (it needs SMTPUTF8)", 0;
	return words(w, p, k) == -1 ? 0 : k;
}

static int
addr_value(struct out *w, const char *p, size_t n)
{
	struct buf t = BUF_INIT(1000);
	size_t i = 0, k;

	while (i < n) {
		if ((k = addr_token(w, p + i, n - i, &t)) == 0) {
			buf_free(&t);
			if (w->why == NULL)
				w->why = "out of memory";
			return -1;
		}
		i += k;
	}
	buf_free(&t);
	return 0;
}

/* valid - UTF-8 and no NUL */
static int
valid(const char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if (p[i] == '\0')
			return 0;
		if (!is8(p[i])) {
			i++;
			continue;
		}
		if ((k = utf8_seq((const unsigned char *)p + i, n - i)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* hdr2047_field - one field (name, colon, value, its continuation
 * lines, the final LF) into o, encoded if it has 8-bit bytes */
int
hdr2047_field(struct buf *o, const char *f, size_t fn, const char **why)
{
	struct out w = { o, 0, NULL };
	struct buf v = BUF_INIT(1 << 20);
	const char *colon = memchr(f, ':', fn);
	size_t nl, i, name;
	int addr, r;

	if (!mime7_has8bit(f, fn))	/* NUL counts: 7BIT forbids it */
		return buf_put(o, f, fn);
	*why = "8-bit data in a header field that cannot be encoded";
	if (colon == NULL)
		return -1;
	for (name = (size_t)(colon - f); name > 0 && wsp(f[name - 1]); name--)
		;
	/* RFC 5322 2.2: a name is printable ASCII (ftext) */
	for (i = 0; i < name; i++)
		if (f[i] < 33 || f[i] > 126)
			return -1;
	if (name == 0)
		return -1;
	if (in_list(f, name, fixed_fields))
		return -1;
	addr = in_list(f, name, addr_fields);
	/* the value, unfolded (the LF of each fold goes, its blank stays) */
	nl = fn > 0 && f[fn - 1] == '\n' ? fn - 1 : fn;
	for (i = (size_t)(colon - f) + 1; i < nl; i++)
		if ((f[i] != '\n' || i + 1 >= nl || !wsp(f[i + 1])) &&
		    buf_putc(&v, f[i]) == -1)
			return buf_free(&v), *why = "out of memory", -1;
	if (!valid(v.p ? v.p : "", v.len)) {
		buf_free(&v);
		*why = "8-bit header field that is not UTF-8";
		return -1;
	}
	r = put(&w, f, (size_t)(colon - f) + 1);
	if (r == 0)
		r = addr ? addr_value(&w, v.p, v.len) :
		    words(&w, v.p, v.len);
	buf_free(&v);
	if (r == 0)
		return put(&w, "\n", 1);
	if (w.why != NULL)
		*why = w.why;
	return -1;
}
