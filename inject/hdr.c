/* hdr: header fields and RFC 5322 address-lists for sandmail-inject.
 *
 * The address-list grammar (RFC 5322 3.4, with the obsolete forms of 4.4
 * that real mail still carries): a list of mailboxes and groups separated
 * by commas; a mailbox is an addr-spec or a display name and an angle-addr
 * (with an obsolete source route "@a,@b:" inside the brackets, dropped);
 * a group is a display name, a colon, a list and a semicolon.  Comments
 * nest and may hold escapes; quoted strings and domain literals keep
 * theirs.  We only need the addr-specs, so display names are skipped
 * whatever they hold; the addr-spec itself is checked later against
 * RFC 5321 (lib/addr.h) by the caller.  A bare ';' at the top level is
 * taken as a separator, as users type "a@x; b@y". */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "hdr.h"
#include "rfc5322.h"

/* field headers ---------------------------------------------------------- */

static int
is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* hdr_field_len - the length of the field at s, or 0 if it is none */
size_t
hdr_field_len(const char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n && i <= HDR_NAME_MAX && is_ftext((unsigned char)s[i]))
		i++;
	if (i == 0 || i > HDR_NAME_MAX)
		return 0;
	k = i;
	while (k < n && (s[k] == ' ' || s[k] == '\t'))	/* obs-optional */
		k++;
	if (k >= n || s[k] != ':')
		return 0;
	for (;;) {
		const char *lf = memchr(s + k, '\n', n - k);

		if (lf == NULL)
			return n;
		k = (size_t)(lf - s) + 1;
		if (k >= n || (s[k] != ' ' && s[k] != '\t'))
			return k;
	}
}

/* hdr_next - the field at *off; 1, or 0 at the end or a non-field line */
int
hdr_next(const char *s, size_t n, size_t *off, struct hdr_field *f)
{
	size_t len, i, c;

	if (*off >= n || (len = hdr_field_len(s + *off, n - *off)) == 0)
		return 0;
	f->raw = s + *off;
	f->rlen = len;
	f->name = f->raw;
	for (i = 0; is_ftext((unsigned char)f->raw[i]); i++)
		;
	f->nlen = i;
	c = (size_t)((const char *)memchr(f->raw, ':', len) - f->raw);
	f->val = f->raw + c + 1;
	f->vlen = len - c - 1;
	*off += len;
	return 1;
}

/* hdr_is - the field is called name (ASCII case-insensitive) */
int
hdr_is(const struct hdr_field *f, const char *name)
{
	return strlen(name) == f->nlen && strncasecmp(f->name, name,
	    f->nlen) == 0;
}

/* the lexer ------------------------------------------------------------- */

enum tok_type {
	T_END, T_ATOM, T_QS, T_DLIT, T_SPECIAL, T_BAD,
};

struct tok {
	enum tok_type	 type;
	const char	*p;
	size_t		 n;
	char		 c;		/* the character of a T_SPECIAL */
};

struct lex {
	const char	*s;
	size_t		 n, i;
	int		 err;
};

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_special(char c)
{
	return c != '\0' && strchr("()<>@,;:\\\".[]", c) != NULL;
}

/* blanks and comments (nesting and escapes as 3.2.2: lib/rfc5322.c) */
static void
skip_cfws(struct lex *lx)
{
	while (lx->i < lx->n && lx->err == 0) {
		if (is_wsp(lx->s[lx->i]))
			lx->i++;
		else if (lx->s[lx->i] != '(')
			break;
		else if (rfc5322_skip(lx->s, lx->n, &lx->i) == -1)
			lx->err = HDR_SYNTAX;	/* unterminated */
	}
}

/* a quoted string or domain literal ending in close; escapes skipped */
static void
lex_quoted(struct lex *lx, struct tok *t, enum tok_type type, char close)
{
	size_t start = lx->i++;

	while (lx->i < lx->n && lx->s[lx->i] != close) {
		if (lx->s[lx->i] == '\\')
			lx->i++;
		lx->i++;
	}
	if (lx->i >= lx->n) {
		lx->err = HDR_SYNTAX;
		t->type = T_END;
		return;
	}
	lx->i++;
	t->type = type;
	t->p = lx->s + start;
	t->n = lx->i - start;
}

static void
lex_next(struct lex *lx, struct tok *t)
{
	size_t start;
	char c;

	skip_cfws(lx);
	t->type = T_END;
	if (lx->err || lx->i >= lx->n)
		return;
	c = lx->s[lx->i];
	if (c == '"')
		return lex_quoted(lx, t, T_QS, '"');
	if (c == '[')
		return lex_quoted(lx, t, T_DLIT, ']');
	t->p = lx->s + lx->i;
	t->n = 1;
	t->c = c;
	if (c == '\0' || c == '\\' || c == ')' || c == ']') {
		t->type = T_BAD;
		lx->i++;
		return;
	}
	if (is_special(c)) {
		t->type = T_SPECIAL;
		lx->i++;
		return;
	}
	start = lx->i;
	while (lx->i < lx->n && !is_wsp(lx->s[lx->i]) &&
	    !is_special(lx->s[lx->i]) && lx->s[lx->i] != '\0')
		lx->i++;
	t->type = T_ATOM;
	t->n = lx->i - start;
}

static int
is_sp(const struct tok *t, char c)
{
	return t->type == T_SPECIAL && t->c == c;
}

static int
is_word(const struct tok *t)
{
	return t->type == T_ATOM || t->type == T_QS || t->type == T_DLIT;
}

/* the parser ------------------------------------------------------------ */

struct spec {
	char	 b[HDR_ADDR_MAX];
	size_t	 len;
	int	 last_word;	/* the previous token was a word */
	int	 err;
};

static void
spec_reset(struct spec *a)
{
	a->len = 0;
	a->last_word = 0;
}

/* spec_add: one token of an addr-spec; two words in a row are an error
 * ("john smith"), as is anything but a word, '.' or '@' */
static void
spec_add(struct spec *a, const struct tok *t)
{
	if (a->err)
		return;
	if (is_word(t) ? a->last_word : !(is_sp(t, '.') || is_sp(t, '@'))) {
		a->err = HDR_SYNTAX;
		return;
	}
	a->last_word = is_word(t);
	if (t->n > sizeof a->b - a->len) {
		a->err = HDR_TOOLONG;
		return;
	}
	memcpy(a->b + a->len, t->p, t->n);
	a->len += t->n;
}

static int
spec_emit(struct spec *a, hdr_addr_cb *cb, void *ctx)
{
	if (a->err)
		return a->err;
	if (a->len == 0)
		return HDR_OK;		/* an empty member: obs-addr-list */
	return cb(ctx, a->b, a->len) == 0 ? HDR_OK : HDR_STOP;
}

/* the first delimiter at this level: '<', ':', ',', ';' or T_END */
static struct tok
scan_delim(struct lex lx)
{
	struct tok t;

	for (;;) {
		lex_next(&lx, &t);
		if (t.type == T_END || is_sp(&t, '<') || is_sp(&t, ':') ||
		    is_sp(&t, ',') || is_sp(&t, ';'))
			return t;
	}
}

/* an angle-addr after its '<': through '>', dropping a source route */
static int
parse_angle(struct lex *lx, struct spec *a, hdr_addr_cb *cb, void *ctx)
{
	struct tok t;

	spec_reset(a);
	for (;;) {
		lex_next(lx, &t);
		if (t.type == T_END)
			return lx->err ? lx->err : HDR_SYNTAX;
		if (is_sp(&t, '>'))
			break;
		if (is_sp(&t, ':'))		/* "@a,@b:" was a route */
			spec_reset(a);
		else if (is_sp(&t, ','))
			a->last_word = 0;	/* inside a route */
		else
			spec_add(a, &t);
	}
	return spec_emit(a, cb, ctx);
}

static int	parse_list(struct lex *, int, hdr_addr_cb *, void *);

/* one member up to its delimiter, which is left in *d */
static int
parse_member(struct lex *lx, int in_group, struct tok *d, hdr_addr_cb *cb,
    void *ctx)
{
	struct spec a = { .err = 0 };
	struct tok t;
	int r;

	*d = scan_delim(*lx);
	if (lx->err)
		return lx->err;
	if (is_sp(d, ':')) {
		if (in_group)
			return HDR_SYNTAX;	/* groups do not nest */
		do
			lex_next(lx, &t);	/* the display name */
		while (!is_sp(&t, ':') && t.type != T_END);
		if ((r = parse_list(lx, 1, cb, ctx)) != HDR_OK)
			return r;
		*d = scan_delim(*lx);		/* after the group's ';' */
		if (!is_sp(d, ',') && d->type != T_END && !is_sp(d, ';'))
			return HDR_SYNTAX;
	} else if (is_sp(d, '<')) {
		do
			lex_next(lx, &t);	/* the display name */
		while (!is_sp(&t, '<') && t.type != T_END);
		if ((r = parse_angle(lx, &a, cb, ctx)) != HDR_OK)
			return r;
		*d = scan_delim(*lx);
		if (is_sp(d, '<') || is_sp(d, ':'))
			return HDR_SYNTAX;	/* "<a@b> <c@d>" */
	} else {
		spec_reset(&a);
		for (;;) {
			struct lex peek = *lx;

			lex_next(&peek, &t);
			if (t.type == T_END || is_sp(&t, ',') ||
			    is_sp(&t, ';'))
				break;
			*lx = peek;
			spec_add(&a, &t);
		}
		return spec_emit(&a, cb, ctx);
	}
	/* nothing may follow the member before the delimiter */
	{
		struct lex peek = *lx;

		lex_next(&peek, &t);
		if (t.type == T_END || is_sp(&t, ',') || is_sp(&t, ';'))
			return peek.err;
		return HDR_SYNTAX;
	}
}

static int
parse_list(struct lex *lx, int in_group, hdr_addr_cb *cb, void *ctx)
{
	struct tok d;
	int r;

	for (;;) {
		if ((r = parse_member(lx, in_group, &d, cb, ctx)) != HDR_OK)
			return r;
		lex_next(lx, &d);		/* the delimiter itself */
		if (lx->err)
			return lx->err;
		if (d.type == T_END)
			return HDR_OK;		/* an unclosed group too */
		if (is_sp(&d, ';') && in_group)
			return HDR_OK;
	}
}

/* hdr_addrlist - each addr-spec of an address-list, to cb */
int
hdr_addrlist(const char *s, size_t n, hdr_addr_cb *cb, void *ctx)
{
	struct lex lx = { s, n, 0, 0 };

	return parse_list(&lx, 0, cb, ctx);
}

/* hdr_strerror - words for an enum hdr_err */
const char *
hdr_strerror(int e)
{
	switch (e) {
	case HDR_OK:
		return "ok";
	case HDR_SYNTAX:
		return "address list syntax error";
	case HDR_TOOLONG:
		return "address too long";
	case HDR_STOP:
		return "stopped";
	}
	return "unknown error";
}
