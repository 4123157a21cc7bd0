/* addr: RFC 5321 paths and mailboxes (4.1.2), with RFC 6531 (SMTPUTF8)
 * when the caller says so.  Input is bytes a client sent: nothing here
 * trusts a length or a terminator, and no control character, NUL, CR or
 * LF is ever accepted, quoted or not.  Used by smtpd, inject, queue. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "utf8.h"

#define LABEL_MAX	63	/* RFC 1035 2.3.4 */

/* A cursor over the client's bytes. */
struct in {
	const unsigned char	*p;
	size_t			 n, i;
	unsigned		 flags;
};

/* take_8bit - at a byte >= 0x80: the length of its UTF-8 sequence when
 * SMTPUTF8 is in force, else 0 with *err set */
static size_t
take_8bit(const struct in *in, enum addr_err *err)
{
	size_t k;

	*err = ADDR_8BIT;
	if (!(in->flags & ADDR_UTF8))
		return 0;
	k = utf8_seq(in->p + in->i, in->n - in->i);
	if (k > 0)
		*err = ADDR_OK;
	return k;
}

static int
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* put_local - store one unquoted byte of the local part */
static enum addr_err
put_local(struct addr *a, const unsigned char *p, size_t k)
{
	if (a->llen + k > ADDR_LOCAL_MAX)
		return ADDR_TOOLONG;
	memcpy(a->local + a->llen, p, k);
	a->llen += k;
	a->local[a->llen] = '\0';
	return ADDR_OK;
}

/* dot_string - Atom *("." Atom), atext widened by UTF-8 under SMTPUTF8 */
static enum addr_err
dot_string(struct in *in, struct addr *a)
{
	enum addr_err e;
	size_t k;
	int atom = 0;		/* bytes in the current atom */

	while (in->i < in->n) {
		unsigned char c = in->p[in->i];

		if (c == '.') {
			if (atom == 0)
				return ADDR_SYNTAX;
			atom = 0;
			k = 1;
		} else if (is_atext(c)) {
			atom++;
			k = 1;
		} else if (c >= 0x80) {
			if ((k = take_8bit(in, &e)) == 0)
				return e;
			atom++;
		} else
			break;
		if ((e = put_local(a, in->p + in->i, k)) != ADDR_OK)
			return e;
		in->i += k;
	}
	return atom == 0 ? ADDR_SYNTAX : ADDR_OK;
}

/* quoted_string - DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE, kept
 * unquoted.  quoted-pairSMTP is "\" %d32-126: no escaped controls. */
static enum addr_err
quoted_string(struct in *in, struct addr *a)
{
	enum addr_err e;
	size_t k;

	in->i++;			/* the opening quote */
	while (in->i < in->n) {
		unsigned char c = in->p[in->i];

		if (c == '"') {
			in->i++;
			/* an empty local part addresses no one */
			return a->llen == 0 ? ADDR_SYNTAX : ADDR_OK;
		}
		if (c == '\\') {
			if (in->i + 1 >= in->n)
				return ADDR_SYNTAX;
			c = in->p[++in->i];
			if (c < 32 || c > 126)
				return c >= 0x80 && !(in->flags & ADDR_UTF8) ?
				    ADDR_8BIT : ADDR_SYNTAX;
			k = 1;
		} else if (c >= 32 && c <= 126)
			k = 1;
		else if (c >= 0x80) {
			if ((k = take_8bit(in, &e)) == 0)
				return e;
		} else
			return ADDR_SYNTAX;
		if ((e = put_local(a, in->p + in->i, k)) != ADDR_OK)
			return e;
		in->i += k;
	}
	return ADDR_SYNTAX;		/* unterminated */
}

/* local_part - Dot-string / Quoted-string; the wire form at most 64 */
static enum addr_err
local_part(struct in *in, struct addr *a)
{
	size_t start = in->i;
	enum addr_err e;

	a->llen = 0;
	a->local[0] = '\0';
	if (in->i >= in->n)
		return ADDR_SYNTAX;
	if (in->p[in->i] == '"')
		e = quoted_string(in, a);
	else
		e = dot_string(in, a);
	if (e == ADDR_OK && in->i - start > ADDR_LOCAL_MAX)
		e = ADDR_TOOLONG;
	return e;
}

/* label_ok - one sub-domain: Let-dig [Ldh-str], at most 63 octets */
static enum addr_err
label_ok(const unsigned char *p, size_t n)
{
	if (n == 0)
		return ADDR_SYNTAX;
	if (n > LABEL_MAX)
		return ADDR_TOOLONG;
	if (p[0] == '-' || p[n - 1] == '-')
		return ADDR_SYNTAX;
	return ADDR_OK;
}

/* domain_scan - the longest run of domain bytes from in->i, checked as
 * sub-domain *("." sub-domain); U-labels (any valid UTF-8) under
 * SMTPUTF8.  On ADDR_OK, in->i is past the domain. */
static enum addr_err
domain_scan(struct in *in)
{
	size_t start = in->i, lab = in->i, k;
	enum addr_err e;

	while (in->i < in->n) {
		unsigned char c = in->p[in->i];

		if (c == '.') {
			if ((e = label_ok(in->p + lab, in->i - lab)) != ADDR_OK)
				return e;
			lab = ++in->i;
			continue;
		}
		if (is_ldh(c))
			k = 1;
		else if (c >= 0x80) {
			if ((k = take_8bit(in, &e)) == 0)
				return e;
		} else
			break;
		in->i += k;
	}
	if ((e = label_ok(in->p + lab, in->i - lab)) != ADDR_OK)
		return e;
	if (in->i - start > ADDR_DOMAIN_MAX)
		return ADDR_TOOLONG;
	return ADDR_OK;
}

/* literal - "[" IPv4 / "IPv6:" IPv6 "]", checked with inet_pton.  The
 * General-address-literal (a standardized tag) names nothing we can
 * reach, so it is refused. */
static enum addr_err
literal(struct in *in)
{
	const unsigned char *s = in->p + in->i + 1, *end;
	unsigned char bin[16];
	char tmp[INET6_ADDRSTRLEN + 1];
	size_t n;
	int af = AF_INET;

	end = memchr(s, ']', in->n - in->i - 1);
	if (end == NULL)
		return ADDR_SYNTAX;
	n = (size_t)(end - s);
	if (n > 5 && strncasecmp((const char *)s, "IPv6:", 5) == 0)
		af = AF_INET6, s += 5, n -= 5;
	if (n == 0 || n >= sizeof tmp)
		return ADDR_SYNTAX;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (memchr(tmp, '\0', n) != NULL || inet_pton(af, tmp, bin) != 1)
		return ADDR_SYNTAX;
	in->i = (size_t)(end - in->p) + 1;
	return ADDR_OK;
}

/* mailbox - Local-part "@" ( Domain / address-literal ) from in->i */
static enum addr_err
mailbox(struct in *in, struct addr *a)
{
	enum addr_err e;
	size_t ds;

	if ((e = local_part(in, a)) != ADDR_OK)
		return e;
	if (in->i >= in->n || in->p[in->i] != '@')
		return ADDR_SYNTAX;
	ds = ++in->i;
	if (in->i < in->n && in->p[in->i] == '[') {
		e = literal(in);
		a->literal = 1;
	} else
		e = domain_scan(in);
	if (e != ADDR_OK)
		return e;
	if (in->i - ds > ADDR_DOMAIN_MAX)
		return ADDR_TOOLONG;
	a->dlen = in->i - ds;
	memcpy(a->domain, in->p + ds, a->dlen);
	a->domain[a->dlen] = '\0';
	return ADDR_OK;
}

static void
addr_clear(struct addr *a)
{
	memset(a, 0, sizeof *a);
}

/* source_route - A-d-l ":" (RFC 5321 4.1.2, C): "@dom,@dom:" skipped.
 * At-domain is "@" Domain; no literals there. */
static enum addr_err
source_route(struct in *in)
{
	enum addr_err e;

	for (;;) {
		if (in->i >= in->n || in->p[in->i] != '@')
			return ADDR_SYNTAX;
		in->i++;
		if ((e = domain_scan(in)) != ADDR_OK)
			return e;
		if (in->i >= in->n)
			return ADDR_SYNTAX;
		if (in->p[in->i] == ':') {
			in->i++;
			return ADDR_OK;
		}
		if (in->p[in->i] != ',')
			return ADDR_SYNTAX;
		in->i++;
	}
}

/* is_postmaster - "<Postmaster>" (any case) at s, RFC 5321 4.1.1.3 */
static int
is_postmaster(const char *s, size_t n)
{
	return n >= 12 && strncasecmp(s, "<postmaster>", 12) == 0;
}

/* addr_parse_path - "<" [ A-d-l ":" ] Mailbox ">", or "<>" */
enum addr_err
addr_parse_path(const char *s, size_t n, unsigned flags, struct addr *a,
    size_t *used)
{
	struct in in = { (const unsigned char *)s, n, 1, flags };
	enum addr_err e;

	addr_clear(a);
	if (n < 2 || s[0] != '<')
		return ADDR_SYNTAX;
	if (s[1] == '>') {
		if (!(flags & ADDR_ALLOW_NULL))
			return ADDR_NULL_REFUSED;
		a->null = 1;
		*used = 2;
		return ADDR_OK;
	}
	if ((flags & ADDR_POSTMASTER) && is_postmaster(s, n)) {
		memcpy(a->local, "postmaster", 11);
		a->llen = 10;
		*used = 12;
		return ADDR_OK;
	}
	if (s[1] == '@' && (e = source_route(&in)) != ADDR_OK)
		goto fail;
	if ((e = mailbox(&in, a)) != ADDR_OK)
		goto fail;
	if (in.i >= in.n || in.p[in.i] != '>') {
		e = ADDR_SYNTAX;
		goto fail;
	}
	/* the path limit counts the brackets and any route (4.5.3.1.3) */
	if (in.i + 1 > ADDR_PATH_MAX) {
		e = ADDR_TOOLONG;
		goto fail;
	}
	*used = in.i + 1;
	return ADDR_OK;
fail:
	addr_clear(a);
	return e;
}

/* addr_parse_mailbox - all of s[0..n) is one Mailbox */
enum addr_err
addr_parse_mailbox(const char *s, size_t n, unsigned flags, struct addr *a)
{
	struct in in = { (const unsigned char *)s, n, 0, flags };
	enum addr_err e;

	addr_clear(a);
	if ((e = mailbox(&in, a)) == ADDR_OK && in.i != n)
		e = ADDR_SYNTAX;
	if (e == ADDR_OK && n > ADDR_PATH_MAX - 2)
		e = ADDR_TOOLONG;
	if (e != ADDR_OK)
		addr_clear(a);
	return e;
}

/* domain_check - all of s[0..n) is a domain name (no literal) */
enum addr_err
domain_check(const char *s, size_t n, unsigned flags)
{
	struct in in = { (const unsigned char *)s, n, 0, flags };
	enum addr_err e;

	if ((e = domain_scan(&in)) == ADDR_OK && in.i != n)
		e = ADDR_SYNTAX;
	return e;
}

/* needs_quotes - whether local is not a Dot-string (bytes >= 0x80 are
 * atext: they were only accepted under SMTPUTF8) */
static int
needs_quotes(const char *l, size_t n)
{
	size_t i;

	if (n == 0 || l[0] == '.' || l[n - 1] == '.')
		return 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l[i];

		if (c == '.' && l[i + 1] == '.')
			return 1;
		if (c != '.' && c < 0x80 && !is_atext(c))
			return 1;
	}
	return 0;
}

/* addr_format - append local@domain, quoting the local part if needed */
int
addr_format(struct buf *b, const struct addr *a)
{
	size_t i;

	if (a->null)
		return 0;
	if (!needs_quotes(a->local, a->llen)) {
		if (buf_put(b, a->local, a->llen) == -1)
			return -1;
	} else {
		if (buf_putc(b, '"') == -1)
			return -1;
		for (i = 0; i < a->llen; i++)
			if (((a->local[i] == '"' || a->local[i] == '\\') &&
			    buf_putc(b, '\\') == -1) ||
			    buf_putc(b, a->local[i]) == -1)
				return -1;
		if (buf_putc(b, '"') == -1)
			return -1;
	}
	if (a->dlen == 0)
		return 0;
	if (buf_putc(b, '@') == -1)
		return -1;
	return buf_put(b, a->domain, a->dlen);
}

/* addr_strerror - a short text for a reply or a log line */
const char *
addr_strerror(enum addr_err e)
{
	switch (e) {
	case ADDR_OK:
		return "ok";
	case ADDR_SYNTAX:
		return "syntax error in address";
	case ADDR_TOOLONG:
		return "address too long";
	case ADDR_8BIT:
		return "non-ASCII address without SMTPUTF8, or bad UTF-8";
	case ADDR_NULL_REFUSED:
		return "null path not allowed here";
	}
	return "unknown error";
}

/* addr_literal_key - see addr.h */
int
addr_literal_key(const char *s, size_t n, struct buf *out)
{
	char tmp[INET6_ADDRSTRLEN + 1], txt[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	int af = AF_INET;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return errno = EINVAL, -1;
	s++, n -= 2;
	if (n > 5 && strncasecmp(s, "IPv6:", 5) == 0)
		af = AF_INET6, s += 5, n -= 5;
	if (n == 0 || n >= sizeof tmp || memchr(s, '\0', n) != NULL)
		return errno = EINVAL, -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(af, tmp, bin) != 1 ||
	    inet_ntop(af, bin, txt, sizeof txt) == NULL)
		return errno = EINVAL, -1;
	return buf_fmt(out, "[%s%s]", af == AF_INET6 ? "ipv6:" : "", txt);
}
