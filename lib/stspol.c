/* stspol: MTA-STS policies and TXT records, TLSRPT TXT records (see
 * stspol.h).  The grammars are RFC 8461 3.1 and 3.2 and RFC 8460 3; where
 * they leave room, a text that does not fit is refused rather than
 * guessed at, so a broken policy is treated as no policy. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "stspol.h"

static const char *const mode_name[] = { "none", "testing", "enforce" };

const char *
sts_mode_name(enum sts_mode m)
{
	return (unsigned)m < 3 ? mode_name[m] : "none";
}

int
sts_mode_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, mode_name[i]) == 0)
			return i;
	return -1;
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* a field name: 1*32(ALPHA / DIGIT / "_" / "-" / ".") */
static int
term_ok(const char *p, size_t n)
{
	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum((unsigned char)p[i]) && p[i] != '_' &&
		    p[i] != '-' && p[i] != '.')
			return 0;
	return 1;
}

static int
eq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

/* host_ok - an LDH host name (no final dot), copied in lower case */
static int
host_ok(const char *p, size_t n, char *out, size_t outsz)
{
	size_t lab = 0;

	if (n == 0 || n > 253 || n >= outsz)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (lab == 0 || p[i - 1] == '-')
				return 0;
			lab = 0;
		} else if (is_alnum(c) || (c == '-' && lab > 0)) {
			if (++lab > 63)
				return 0;
		} else
			return 0;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (lab == 0 || p[n - 1] == '-')
		return 0;
	out[n] = '\0';
	return 1;
}

/* mx_pattern - a host name, or "*." and a host name of two labels or
 * more (a wildcard for a whole top-level domain is refused) */
static int
mx_pattern(const char *p, size_t n, char *out)
{
	if (n >= 2 && p[0] == '*' && p[1] == '.') {
		if (memchr(p + 2, '.', n - 2) == NULL)
			return 0;
		out[0] = '*', out[1] = '.';
		return host_ok(p + 2, n - 2, out + 2, STS_NAME_BUF - 2);
	}
	return host_ok(p, n, out, STS_NAME_BUF);
}

/* max_age: 1*10 DIGIT; above a year is taken as a year */
static int
max_age(const char *p, size_t n, uint32_t *out)
{
	unsigned long long v = 0;

	if (n == 0 || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v > STS_MAXAGE_MAX ? STS_MAXAGE_MAX : (uint32_t)v;
	return 0;
}

struct seen {
	int	version, mode, max_age;
};

static int
field(struct sts_policy *pol, struct seen *s, const char *k, size_t kn,
    const char *v, size_t vn, const char **why)
{
	int m;
	char tmp[8];

	if (eq(k, kn, "version")) {
		if (s->version++)
			return 0;		/* the first one counts */
		if (!eq(v, vn, "STSv1"))
			return *why = "version is not STSv1", -1;
	} else if (eq(k, kn, "mode")) {
		if (s->mode++)
			return 0;
		if (vn >= sizeof tmp)
			return *why = "unknown mode", -1;
		memcpy(tmp, v, vn);
		tmp[vn] = '\0';
		if ((m = sts_mode_parse(tmp)) < 0)
			return *why = "unknown mode", -1;
		pol->mode = (enum sts_mode)m;
	} else if (eq(k, kn, "max_age")) {
		if (s->max_age++)
			return 0;
		if (max_age(v, vn, &pol->max_age) == -1)
			return *why = "bad max_age", -1;
	} else if (eq(k, kn, "mx")) {
		if (pol->nmx == STS_MX_MAX)
			return *why = "too many mx patterns", -1;
		if (!mx_pattern(v, vn, pol->mx[pol->nmx]))
			return *why = "bad mx pattern", -1;
		pol->nmx++;
	}
	return 0;			/* unknown fields are ignored */
}

/* line - one "key: value" line, without its line end */
static int
line(struct sts_policy *pol, struct seen *s, const char *p, size_t n,
    const char **why)
{
	const char *c = memchr(p, ':', n), *v;
	size_t vn;

	if (c == NULL || !term_ok(p, (size_t)(c - p)))
		return *why = "bad field", -1;
	v = c + 1;
	vn = n - (size_t)(v - p);
	for (size_t i = 0; i < vn; i++)
		if (!is_wsp((unsigned char)v[i]) &&
		    ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e))
			return *why = "bad character in a value", -1;
	while (vn > 0 && is_wsp((unsigned char)*v))
		v++, vn--;
	while (vn > 0 && is_wsp((unsigned char)v[vn - 1]))
		vn--;
	return field(pol, s, p, (size_t)(c - p), v, vn, why);
}

int
sts_policy_parse(const char *p, size_t n, struct sts_policy *pol,
    const char **why)
{
	struct seen s = { 0, 0, 0 };
	const char *e;
	size_t ln;

	memset(pol, 0, sizeof *pol);
	*why = NULL;
	if (n > STS_POLICY_MAX)
		return *why = "policy too long", -1;
	while (n > 0) {
		e = memchr(p, '\n', n);
		ln = e != NULL ? (size_t)(e - p) : n;
		if (ln > 0 && p[ln - 1] == '\r')
			ln--;
		if (ln > 0 && line(pol, &s, p, ln, why) == -1)
			return -1;
		if (e == NULL)
			break;
		n -= (size_t)(e + 1 - p);
		p = e + 1;
	}
	if (!s.version)
		return *why = "no version", -1;
	if (!s.mode)
		return *why = "no mode", -1;
	if (!s.max_age)
		return *why = "no max_age", -1;
	if (pol->mode != STS_NONE && pol->nmx == 0)
		return *why = "no mx pattern", -1;
	return 0;
}

int
sts_mx_match(const struct sts_policy *pol, const char *host)
{
	char h[STS_NAME_BUF];
	size_t n = strlen(host);
	const char *dot;

	if (n > 0 && host[n - 1] == '.')
		n--;
	if (!host_ok(host, n, h, sizeof h))
		return 0;
	dot = strchr(h, '.');
	for (size_t i = 0; i < pol->nmx; i++) {
		const char *m = pol->mx[i];

		if (m[0] == '*') {
			if (dot != NULL && dot != h &&
			    strcmp(dot + 1, m + 2) == 0)
				return 1;
		} else if (strcmp(h, m) == 0)
			return 1;
	}
	return 0;
}

/* ---- TXT records: "v=...; name=value; ..." ---- */

struct kv {
	const char	*k, *v;
	size_t		 kn, vn;
};

/* next_field - the next ";"-separated field of a TXT record; 1 one was
 * read, 0 the end, -1 malformed */
static int
next_field(const char **pp, const char *end, struct kv *f)
{
	const char *p = *pp, *s, *eqs;

	while (p < end && is_wsp((unsigned char)*p))
		p++;
	if (p == end)
		return 0;
	s = p;
	while (p < end && *p != ';')
		p++;
	*pp = p < end ? p + 1 : p;
	while (p > s && is_wsp((unsigned char)p[-1]))
		p--;
	if (p == s)
		return -1;		/* an empty field: ";;" */
	if ((eqs = memchr(s, '=', (size_t)(p - s))) == NULL)
		return -1;
	f->k = s, f->kn = (size_t)(eqs - s);
	f->v = eqs + 1, f->vn = (size_t)(p - eqs - 1);
	if (!term_ok(f->k, f->kn) || f->vn == 0)
		return -1;
	for (size_t i = 0; i < f->vn; i++) {
		unsigned char c = (unsigned char)f->v[i];

		if ((c < 0x21 && !is_wsp(c)) || c > 0x7e || c == '=' ||
		    c == ';')
			return -1;
	}
	return 1;
}

/* version - 1 if the record starts with v=want (then the end, ";" or
 * a space), else 0 */
static int
version(const char *p, size_t n, const char *want)
{
	size_t w = strlen(want);

	if (n < 2 + w || memcmp(p, "v=", 2) != 0 || memcmp(p + 2, want, w))
		return 0;
	return n == 2 + w || p[2 + w] == ';' || is_wsp((unsigned char)p[2 + w]);
}

/* after_version - past the delimiter after the version field, or NULL */
static const char *
after_version(const char *p, const char *end)
{
	while (p < end && is_wsp((unsigned char)*p))
		p++;
	if (p == end)
		return p;
	return *p == ';' ? p + 1 : NULL;
}

int
sts_txt_parse(const char *p, size_t n, char id[STS_ID_MAX + 1])
{
	const char *end = p + n;
	struct kv f;
	int r, have = 0;

	if (!version(p, n, "STSv1"))
		return 1;
	if ((p = after_version(p + 7, end)) == NULL)
		return -1;		/* "v=STSv1 x": not a field list */
	while ((r = next_field(&p, end, &f)) == 1) {
		if (!eq(f.k, f.kn, "id") || have)
			continue;	/* extensions; the first id */
		if (f.vn > STS_ID_MAX)
			return -1;
		for (size_t i = 0; i < f.vn; i++)
			if (!is_alnum((unsigned char)f.v[i]))
				return -1;
		memcpy(id, f.v, f.vn);
		id[f.vn] = '\0';
		have = 1;
	}
	return r == -1 || !have ? -1 : 0;
}

/* mailto - one rua URI; 1 kept, 0 skipped (another scheme, or an
 * address we do not take: no ':', so that no address looks like an
 * https URI) */
static int
mailto(const char *u, size_t n, char *out)
{
	const char *at;

	if (n <= 7 || strncasecmp(u, "mailto:", 7) != 0)
		return 0;
	u += 7, n -= 7;
	if (n >= TLSRPT_URI_BUF || (at = memchr(u, '@', n)) == NULL ||
	    at == u || at == u + n - 1)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (u[i] == '%' || u[i] == '?' || u[i] == '<' || u[i] == '>' ||
		    u[i] == ' ' || u[i] == '\t' || u[i] == ':' ||
		    u[i] == '"' || u[i] == '\\' || u[i] == '(' || u[i] == ')')
			return 0;
	memcpy(out, u, n);
	out[n] = '\0';
	return 1;
}

/* https - one rua URI of the https scheme (RFC 8460 3): kept whole, the
 * scheme lowercased, when it is "https://HOST[:PORT][/PATH]" with a
 * host name of letters, digits, '-' and '.', a port of 1 to 5 digits,
 * and a path of visible ASCII but none of "<>\"\\^`{|}"; 1 kept, 0
 * skipped */
static int
https(const char *u, size_t n, char *out)
{
	size_t i = 8, h;

	if (n <= 8 || n >= TLSRPT_URI_BUF || strncasecmp(u, "https://", 8))
		return 0;
	for (h = i; i < n && (isalnum((unsigned char)u[i]) || u[i] == '-' ||
	    u[i] == '.'); i++)
		;
	if (i == h)
		return 0;
	if (i < n && u[i] == ':') {
		for (h = ++i; i < n && isdigit((unsigned char)u[i]); i++)
			;
		if (i == h || i - h > 5)
			return 0;
	}
	if (i < n && u[i] != '/')
		return 0;
	for (; i < n; i++)
		if ((unsigned char)u[i] <= ' ' || (unsigned char)u[i] >= 0x7f ||
		    strchr("<>\"\\^`{|}", u[i]) != NULL)
			return 0;
	memcpy(out, "https://", 8);
	memcpy(out + 8, u + 8, n - 8);
	out[n] = '\0';
	return 1;
}

int
tlsrpt_txt_parse(const char *p, size_t n,
    char rua[TLSRPT_RUA_MAX][TLSRPT_URI_BUF], size_t *nrua)
{
	const char *end = p + n, *u, *c, *e;
	struct kv f;
	int r, have = 0;

	*nrua = 0;
	if (!version(p, n, "TLSRPTv1"))
		return 1;
	if ((p = after_version(p + 10, end)) == NULL)
		return -1;
	while ((r = next_field(&p, end, &f)) == 1) {
		if (!eq(f.k, f.kn, "rua") || have)
			continue;
		have = 1;
		for (u = f.v; u < f.v + f.vn; u = c + 1) {
			if ((c = memchr(u, ',', (size_t)(f.v + f.vn - u))) ==
			    NULL)
				c = f.v + f.vn;
			e = c;
			while (u < e && is_wsp((unsigned char)*u))
				u++;
			while (e > u && is_wsp((unsigned char)e[-1]))
				e--;
			if (e == u)
				return -1;	/* an empty URI */
			if (*nrua < TLSRPT_RUA_MAX &&
			    (mailto(u, (size_t)(e - u), rua[*nrua]) ||
			    https(u, (size_t)(e - u), rua[*nrua])))
				(*nrua)++;
		}
	}
	return r == -1 || !have ? -1 : 0;
}
