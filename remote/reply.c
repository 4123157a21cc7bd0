/* reply: reading SMTP replies and EHLO keywords. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "reply.h"

/* reply_line - "250-text", "250 text", "250" */
int
reply_line(const char *s, size_t n, int *code, int *final, const char **text,
    size_t *tlen)
{
	if (n < 3 || s[0] < '2' || s[0] > '5' || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]))
		return -1;
	*code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (n == 3) {
		*final = 1;
		*text = s + 3;
		*tlen = 0;
		return 0;
	}
	if (s[3] != ' ' && s[3] != '-')
		return -1;
	*final = s[3] == ' ';
	*text = s + 4;
	*tlen = n - 4;
	return 0;
}

static void
add_text(struct reply *r, const char *t, size_t n)
{
	if (r->len > 0 && r->len + 1 < sizeof r->text)
		r->text[r->len++] = '\n';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (r->len + 1 >= sizeof r->text) {
			r->cut = 1;
			break;
		}
		/* keep the text printable: it ends up in logs and bounces */
		r->text[r->len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	r->text[r->len] = '\0';
}

/* reply_read - lines until the final one */
int
reply_read(struct rd *rd, struct reply *r)
{
	struct buf line = BUF_INIT(REPLY_LINE_MAX + 2);
	const char *t;
	size_t n, tl;
	int code, final = 0, rv = -1, k;

	memset(r, 0, sizeof *r);
	for (int lines = 0; !final; lines++) {
		if (lines == REPLY_LINES_MAX) {
			errno = E2BIG;
			goto out;
		}
		if ((k = rd_line(rd, &line, REPLY_LINE_MAX)) != 1) {
			if (k == 0)
				errno = ECONNRESET;
			goto out;
		}
		n = line.len - 1;
		if (n > 0 && line.p[n - 1] == '\r')
			n--;
		if (reply_line(line.p, n, &code, &final, &t, &tl) == -1 ||
		    (lines > 0 && code != r->code)) {
			errno = EPROTO;
			goto out;
		}
		r->code = code;
		add_text(r, t, tl);
	}
	rv = 0;
out:
	buf_free(&line);
	return rv;
}

/* reply_oneline - code and lines joined by spaces */
void
reply_oneline(const struct reply *r, char *out, size_t outsz)
{
	size_t o = 0;
	int n;

	n = snprintf(out, outsz, "%03d ", r->code);
	if (n < 0 || (size_t)n >= outsz)
		return;
	o = (size_t)n;
	for (size_t i = 0; i < r->len && o + 1 < outsz; i++)
		out[o++] = r->text[i] == '\n' ? ' ' : r->text[i];
	out[o] = '\0';
	while (o > 0 && out[o - 1] == ' ')
		out[--o] = '\0';
}

static int
word_is(const char *w, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(w, kw, n) == 0;
}

static void
auth_mechs(const char *p, const char *end, struct ehlo *e)
{
	while (p < end) {
		const char *w;

		while (p < end && (*p == ' ' || *p == '='))
			p++;
		for (w = p; p < end && *p != ' '; p++)
			;
		if (word_is(w, (size_t)(p - w), "PLAIN"))
			e->ext |= EXT_AUTH_PLAIN;
		else if (word_is(w, (size_t)(p - w), "LOGIN"))
			e->ext |= EXT_AUTH_LOGIN;
	}
}

static void
keyword(const char *p, const char *end, struct ehlo *e)
{
	static const struct { const char *kw; unsigned bit; } kws[] = {
		{ "PIPELINING", EXT_PIPELINING }, { "8BITMIME", EXT_8BITMIME },
		{ "DSN", EXT_DSN }, { "SMTPUTF8", EXT_SMTPUTF8 },
		{ "STARTTLS", EXT_STARTTLS },
		{ "ENHANCEDSTATUSCODES", EXT_ENHANCEDSTATUSCODES },
		{ "REQUIRETLS", EXT_REQUIRETLS },
	};
	const char *w = p;
	size_t n;

	while (p < end && *p != ' ' && *p != '=')
		p++;
	n = (size_t)(p - w);
	for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
		if (word_is(w, n, kws[i].kw) && p == end)
			e->ext |= kws[i].bit;
	if (word_is(w, n, "AUTH"))
		auth_mechs(p, end, e);
	if (word_is(w, n, "SIZE")) {
		char num[24];
		size_t k;
		char *ep;
		unsigned long long v;

		e->ext |= EXT_SIZE;
		while (p < end && *p == ' ')
			p++;
		k = (size_t)(end - p);
		if (k == 0 || k >= sizeof num)
			return;
		memcpy(num, p, k);
		num[k] = '\0';
		errno = 0;
		v = strtoull(num, &ep, 10);
		if (errno == 0 && *ep == '\0' && isdigit((unsigned char)num[0]))
			e->size = v;
	}
}

/* ehlo_parse - extensions from the lines after the first */
void
ehlo_parse(const struct reply *r, struct ehlo *e)
{
	const char *p = r->text, *end = r->text + r->len, *nl;

	memset(e, 0, sizeof *e);
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return;
	for (p = nl + 1; p < end; p = nl + 1) {
		const char *le;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		le = nl;
		while (le > p && le[-1] == ' ')
			le--;
		keyword(p, le, e);
	}
}
