/* param: the parsers of MAIL and RCPT arguments (RFC 5321 4.1.1.2-3,
 * ESMTP parameters of RFC 1870, 6152, 3461 and 6531) and of HELO names.
 * Input is a client's bytes with the verb removed; no I/O, no state, so
 * the unit tests and the fuzz target call these directly. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

static int
is_hexu(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* xtext_valid - RFC 3461 4: xchar (33..126 but '+' '=') or "+" HEXHEX */
int
xtext_valid(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			if (n - i < 3 || !is_hexu(s[i + 1]) ||
			    !is_hexu(s[i + 2]))
				return 0;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=')
			return 0;
	}
	return 1;
}

/* word - the next space-separated token of s[*i..n) */
static int
word(const char *s, size_t n, size_t *i, const char **w, size_t *wl)
{
	while (*i < n && s[*i] == ' ')
		(*i)++;
	if (*i >= n)
		return 0;
	*w = s + *i;
	while (*i < n && s[*i] != ' ')
		(*i)++;
	*wl = (size_t)(s + *i - *w);
	return 1;
}

/* split - KEY[=VALUE] */
static void
split(const char *w, size_t wl, size_t *kl, const char **v, size_t *vl)
{
	const char *eq = memchr(w, '=', wl);

	if (eq == NULL) {
		*kl = wl, *v = NULL, *vl = 0;
		return;
	}
	*kl = (size_t)(eq - w);
	*v = eq + 1;
	*vl = wl - *kl - 1;
}

static int
key_is(const char *k, size_t kl, const char *name)
{
	return strlen(name) == kl && strncasecmp(k, name, kl) == 0;
}

static int
val_is(const char *v, size_t vl, const char *name)
{
	return v != NULL && key_is(v, vl, name);
}

/* param_size - SIZE=digits (RFC 1870 6: up to 20 digits) */
static enum param_err
param_size(const char *v, size_t vl, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (v == NULL || vl == 0 || vl > 20)
		return P_SYNTAX;
	for (i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return P_SYNTAX;
		if (__builtin_mul_overflow(x, 10, &x) ||
		    __builtin_add_overflow(x, (uint64_t)(v[i] - '0'), &x))
			x = UINT64_MAX;
	}
	*out = x;
	return P_OK;
}

static enum param_err
copy_xtext(const char *v, size_t vl, char *out, size_t max)
{
	if (v == NULL || vl == 0 || vl > max || !xtext_valid(v, vl))
		return P_SYNTAX;
	memcpy(out, v, vl);
	out[vl] = '\0';
	return P_OK;
}

enum { M_SIZE = 1, M_BODY = 2, M_UTF8 = 4, M_RET = 8, M_ENVID = 16,
	M_AUTH = 32, M_RTLS = 64 };

#define AUTH_PARAM_MAX	500	/* an xtext mailbox, as ORCPT */

/* mail_param - one MAIL parameter; *seen catches repeats */
static enum param_err
mail_param(const char *k, size_t kl, const char *v, size_t vl,
    struct mailparam *mp, unsigned *seen)
{
	unsigned bit;
	enum param_err e = P_OK;

	if (key_is(k, kl, "SIZE"))
		bit = M_SIZE, e = param_size(v, vl, &mp->size);
	else if (key_is(k, kl, "BODY")) {
		bit = M_BODY;
		if (val_is(v, vl, "8BITMIME"))
			mp->body8 = 1;
		else if (!val_is(v, vl, "7BIT"))
			e = P_SYNTAX;
	} else if (key_is(k, kl, "SMTPUTF8")) {
		bit = M_UTF8, mp->utf8 = 1;
		e = v == NULL ? P_OK : P_SYNTAX;
	} else if (key_is(k, kl, "REQUIRETLS")) {
		/* RFC 8689 4.1: no value */
		bit = M_RTLS, mp->requiretls = 1;
		e = v == NULL ? P_OK : P_SYNTAX;
	} else if (key_is(k, kl, "RET")) {
		bit = M_RET;
		if (val_is(v, vl, "FULL"))
			mp->ret = RET_FULL;
		else if (val_is(v, vl, "HDRS"))
			mp->ret = RET_HDRS;
		else
			e = P_SYNTAX;
	} else if (key_is(k, kl, "ENVID"))
		bit = M_ENVID, e = copy_xtext(v, vl, mp->envid, ENVID_MAX);
	else if (key_is(k, kl, "AUTH")) {
		/* RFC 4954 5: <> or an xtext mailbox; we keep no trust
		 * between servers, so it is checked and ignored */
		bit = M_AUTH;
		if (v == NULL || vl == 0 || vl > AUTH_PARAM_MAX ||
		    (!val_is(v, vl, "<>") && !xtext_valid(v, vl)))
			e = P_SYNTAX;
	} else
		return P_UNKNOWN;
	if (*seen & bit)
		return P_DUP;
	*seen |= bit;
	return e;
}

/* mail_params - the parameters after MAIL FROM:<path> */
enum param_err
mail_params(const char *s, size_t n, struct mailparam *mp)
{
	const char *w, *v;
	size_t i = 0, wl, kl, vl;
	unsigned seen = 0;
	enum param_err e;

	memset(mp, 0, sizeof *mp);
	while (word(s, n, &i, &w, &wl)) {
		split(w, wl, &kl, &v, &vl);
		if (kl == 0)
			return P_SYNTAX;
		if ((e = mail_param(w, kl, v, vl, mp, &seen)) != P_OK)
			return e;
	}
	return P_OK;
}

/* parse_notify - NEVER, or a list of SUCCESS, FAILURE, DELAY (4.1) */
static enum param_err
parse_notify(const char *v, size_t vl, unsigned *out)
{
	size_t i = 0, j;
	unsigned bits = 0, b;

	if (v == NULL || vl == 0)
		return P_SYNTAX;
	while (i <= vl) {
		for (j = i; j < vl && v[j] != ','; j++)
			;
		if (key_is(v + i, j - i, "NEVER"))
			b = NOTIFY_NEVER;
		else if (key_is(v + i, j - i, "SUCCESS"))
			b = NOTIFY_SUCCESS;
		else if (key_is(v + i, j - i, "FAILURE"))
			b = NOTIFY_FAILURE;
		else if (key_is(v + i, j - i, "DELAY"))
			b = NOTIFY_DELAY;
		else
			return P_SYNTAX;
		if (bits & b)
			return P_SYNTAX;
		bits |= b;
		i = j + 1;
	}
	if ((bits & NOTIFY_NEVER) && bits != NOTIFY_NEVER)
		return P_SYNTAX;
	*out = bits;
	return P_OK;
}

/* parse_orcpt - addr-type ";" xtext (RFC 3461 4.2), kept as given */
static enum param_err
parse_orcpt(const char *v, size_t vl, char *out)
{
	const char *semi;
	size_t i, tl;

	if (v == NULL || vl == 0 || vl > ORCPT_MAX ||
	    (semi = memchr(v, ';', vl)) == NULL)
		return P_SYNTAX;
	tl = (size_t)(semi - v);
	if (tl == 0)
		return P_SYNTAX;
	for (i = 0; i < tl; i++) {	/* an atom: letters, digits, '-' */
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return P_SYNTAX;
	}
	if (vl - tl - 1 == 0 || !xtext_valid(semi + 1, vl - tl - 1))
		return P_SYNTAX;
	memcpy(out, v, vl);
	out[vl] = '\0';
	return P_OK;
}

/* rcpt_params - the parameters after RCPT TO:<path> */
enum param_err
rcpt_params(const char *s, size_t n, struct rcptparam *rp)
{
	const char *w, *v;
	size_t i = 0, wl, kl, vl;
	unsigned seen = 0, bit;
	enum param_err e;

	memset(rp, 0, sizeof *rp);
	while (word(s, n, &i, &w, &wl)) {
		split(w, wl, &kl, &v, &vl);
		if (key_is(w, kl, "NOTIFY"))
			bit = 1, e = parse_notify(v, vl, &rp->notify);
		else if (key_is(w, kl, "ORCPT"))
			bit = 2, e = parse_orcpt(v, vl, rp->orcpt);
		else
			return kl == 0 ? P_SYNTAX : P_UNKNOWN;
		if (seen & bit)
			return P_DUP;
		seen |= bit;
		if (e != P_OK)
			return e;
	}
	return P_OK;
}

/* cmd_path - "FROM:" or "TO:" (any case, spaces allowed around the
 * colon's right side, as many clients send), then <path>.  Returns 0 with
 * *end after '>' and the address parsed, or -1 with *err set (ADDR_OK
 * for a syntax error outside the path). */
int
cmd_path(const char *s, size_t n, const char *kw, unsigned flags,
    struct addr *a, size_t *end, enum addr_err *err)
{
	size_t kl = strlen(kw), i, used;

	*err = ADDR_SYNTAX;
	if (n < kl || strncasecmp(s, kw, kl) != 0)
		return -1;
	for (i = kl; i < n && s[i] == ' '; i++)
		;
	if (i >= n || s[i] != '<')
		return -1;
	if ((*err = addr_parse_path(s + i, n - i, flags, a, &used)) != ADDR_OK)
		return -1;
	i += used;
	if (i < n && s[i] != ' ')
		return *err = ADDR_SYNTAX, -1;
	*end = i;
	return 0;
}

/* helo_sanitize - the HELO name as it may appear in a header: letters,
 * digits and ".-_:[]" kept, anything else (CR, LF, space, 8-bit) as '?',
 * cut to fit; never empty */
void
helo_sanitize(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 1 < outsz; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c != '\0' &&
		    strchr(".-_:[]", c) != NULL))
			out[o++] = c;
		else
			out[o++] = '?';
	}
	if (o == 0 && outsz > 1)
		out[o++] = '?';
	if (outsz > 0)
		out[o] = '\0';
}
