/* spf: check_host() of RFC 7208 over a caller's DNS (lib/spf.h).
 *
 * A record is parsed whole into terms before any is evaluated, so a
 * syntax error anywhere is a permerror whatever comes first (4.6).  The
 * lookups a check may make are counted across includes and redirects
 * (4.6.4), which also bounds the recursion.  Nothing here allocates:
 * the record text and its terms live in the frame of one check_host
 * call, the answers in one struct dnsans per call. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dnsans.h"
#include "spf.h"

#define SPF_DEPTH_MAX	(SPF_LOOKUP_MAX + 2)
#define MX_NAMES_MAX	10	/* RFC 7208 4.6.4: names of one mx */

enum mech {
	M_ALL, M_INCLUDE, M_A, M_MX, M_PTR, M_IP4, M_IP6, M_EXISTS
};

static const char *const mech_names[] = {
	"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"
};

struct term {
	enum mech	 m;
	char		 q;		/* '+', '-', '~', '?' */
	const char	*arg;		/* domain-spec or address; NULL none */
	size_t		 alen;
	int		 c4, c6;	/* CIDR lengths */
	uint8_t		 net[16];	/* ip4, ip6 */
};

struct rec {
	struct term	 t[SPF_TERMS_MAX];
	size_t		 n;
	const char	*redir, *exp;	/* modifiers' macro-strings */
	size_t		 rlen, elen;
};

struct ctx {
	const struct spf_req *q;
	struct spf_out	*o;
	int		 v6;
	int		 err;		/* an error's reason is in o->why */
	uint8_t		 ip[16];
	struct dnsans	 a;
};

static const char *const result_names[] = {
	"none", "neutral", "pass", "fail", "softfail", "temperror",
	"permerror"
};

/* spf_name - the result's name in Authentication-Results (RFC 8601) */
const char *
spf_name(enum spf_result r)
{
	return r <= SPF_PERMERROR ? result_names[r] : "permerror";
}

static enum spf_result
why(struct ctx *c, enum spf_result r, const char *w)
{
	/* the first error's reason is kept: an include's permerror says
	 * what went wrong inside it */
	if (r == SPF_PERMERROR || r == SPF_TEMPERROR) {
		if (!c->err)
			c->o->why = w;
		c->err = 1;
	} else if (!c->err)
		c->o->why = w;
	return r;
}

/* ---- the client's names (RFC 7208 5.5) ---- */

#define PTR_NAMES_MAX	10	/* 4.6.4: PTR names looked at */

/* client_ip - the client's address; IPv4-mapped IPv6 is IPv4 (5) */
static int
client_ip(const char *ip, uint8_t a[16], int *v6)
{
	if (strncasecmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.'))
		ip += 7;
	memset(a, 0, 16);
	if (inet_pton(AF_INET, ip, a) == 1)
		return *v6 = 0, 0;
	if (inet_pton(AF_INET6, ip, a) == 1)
		return *v6 = 1, 0;
	return -1;
}

/* rev_name - the in-addr.arpa or ip6.arpa name of an address */
static void
rev_name(const uint8_t *a, int v6, char out[DNS_NAME_BUF])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!v6) {
		snprintf(out, DNS_NAME_BUF, "%u.%u.%u.%u.in-addr.arpa", a[3],
		    a[2], a[1], a[0]);
		return;
	}
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[a[i] & 15];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", 9);
}

/* under - name is target or a name under it */
static int
under(const char *name, const char *target)
{
	size_t n = strlen(name), t = strlen(target);

	return strcasecmp(name, target) == 0 || (n > t && name[n - t - 1] ==
	    '.' && strcasecmp(name + n - t, target) == 0);
}

/* ptr_check - 5.5: the client's validated names (a PTR name whose A or
 * AAAA records hold the client's address).  1 when one is target or
 * under it (copied to out), 0 when none is (out: the first validated
 * name, or ""), -1 when the PTR query found nothing (a void lookup) */
static int
ptr_check(const struct spf_req *q, const char *target, char *out,
    size_t sz, struct dnsans *a)
{
	char names[PTR_NAMES_MAX][DNS_NAME_BUF], rev[DNS_NAME_BUF];
	uint8_t ip[16];
	size_t nn = 0;
	int v6, found = 0;
	uint16_t ty;

	out[0] = '\0';
	if (q->dns == NULL || client_ip(q->ip, ip, &v6) == -1)
		return 0;
	ty = v6 ? DNS_T_AAAA : DNS_T_A;
	rev_name(ip, v6, rev);
	q->dns(q->arg, rev, DNS_T_PTR, a);
	if (a->st != DA_OK || a->n == 0)
		return a->st == DA_TEMP ? 0 : -1;	/* an error: no match */
	for (size_t i = 0; i < a->n && nn < PTR_NAMES_MAX; i++)
		if (a->rr[i].type == DNS_T_PTR && a->rr[i].name[0] != '\0')
			memcpy(names[nn++], a->rr[i].name, DNS_NAME_BUF);
	for (size_t i = 0; i < nn; i++) {
		int ok = 0;

		q->dns(q->arg, names[i], ty, a);
		for (size_t k = 0; a->st == DA_OK && k < a->n; k++)
			ok |= a->rr[k].type == ty &&
			    memcmp(a->rr[k].ip, ip, v6 ? 16 : 4) == 0;
		if (!ok)
			continue;	/* not validated, or a DNS error */
		if ((under(names[i], target) || !found) &&
		    strlen(names[i]) < sz)
			memcpy(out, names[i], strlen(names[i]) + 1);
		if (under(names[i], target))
			return 1;
		found = 1;
	}
	return 0;
}

/* ---- macros (RFC 7208 7) ---- */

static int
is_delim(char ch)
{
	return ch != '\0' && strchr(".-+,/_=", ch) != NULL;
}

/* put - append n bytes, URL-escaped when esc (7.3); 0 or -1 */
static int
put(char *out, size_t sz, size_t *o, const char *p, size_t n, int esc)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		int keep = !esc || (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~';

		if (*o + (keep ? 1 : 3) >= sz)
			return errno = E2BIG, -1;
		if (keep)
			out[(*o)++] = (char)ch;
		else {
			out[(*o)++] = '%';
			out[(*o)++] = hex[ch >> 4];
			out[(*o)++] = hex[ch & 15];
		}
	}
	return 0;
}

/* letter_value - the value of a macro letter into v; 0 or -1 */
static int
letter_value(const struct spf_req *q, const char *domain, char l, int exp,
    char *v, size_t sz)
{
	const char *at = strrchr(q->sender, '@');
	uint8_t a[16];
	int n = 0;

	switch (l) {
	case 's':
		n = snprintf(v, sz, "%s", q->sender);
		break;
	case 'l':
		n = at == NULL || at == q->sender ?
		    snprintf(v, sz, "postmaster") :
		    snprintf(v, sz, "%.*s", (int)(at - q->sender), q->sender);
		break;
	case 'o':
		n = snprintf(v, sz, "%s", at ? at + 1 : q->sender);
		break;
	case 'd':
		n = snprintf(v, sz, "%s", domain);
		break;
	case 'h':
		n = snprintf(v, sz, "%s", q->helo);
		break;
	case 'p': {
		static struct dnsans pa;	/* not the evaluation's */

		(void)ptr_check(q, domain, v, sz, &pa);
		if (v[0] == '\0')
			n = snprintf(v, sz, "unknown");
		break;
	}
	case 'v':
		n = snprintf(v, sz, "%s", strchr(q->ip, ':') &&
		    !strchr(q->ip, '.') ? "ip6" : "in-addr");
		break;
	case 'i':
		if (inet_pton(AF_INET, q->ip, a) == 1)
			n = snprintf(v, sz, "%u.%u.%u.%u", a[0], a[1], a[2],
			    a[3]);
		else if (inet_pton(AF_INET6, q->ip, a) == 1 && sz > 64) {
			static const char hex[] = "0123456789abcdef";
			size_t o = 0;

			for (int i = 0; i < 16; i++) {
				v[o++] = hex[a[i] >> 4];
				v[o++] = '.';
				v[o++] = hex[a[i] & 15];
				v[o++] = i < 15 ? '.' : '\0';
			}
			return 0;
		} else
			return -1;
		break;
	case 'c':
	case 'r':
	case 't':
		if (!exp)
			return -1;
		if (l == 'c') {
			char t[INET6_ADDRSTRLEN];
			int v6;

			/* 7.3: in its usual text form, IPv6 compressed */
			if (client_ip(q->ip, a, &v6) == -1 ||
			    inet_ntop(v6 ? AF_INET6 : AF_INET, a, t,
			    sizeof t) == NULL)
				return -1;
			n = snprintf(v, sz, "%s", t);
		}
		else if (l == 'r')
			n = snprintf(v, sz, "%s", q->receiver && *q->receiver ?
			    q->receiver : "unknown");
		else
			n = snprintf(v, sz, "%lld", (long long)time(NULL));
		break;
	default:
		return -1;
	}
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/* transform - split v on delims, reverse, keep the rightmost keep parts,
 * join with dots; appended to out */
static int
transform(const char *v, const char *delims, size_t nd, unsigned long keep,
    int rev, int esc, char *out, size_t sz, size_t *o)
{
	const char *part[256];
	size_t plen[256], np = 0, i, first;
	const char *p = v, *s = v;

	for (;; p++) {
		int d = *p == '\0';

		for (size_t k = 0; !d && k < nd; k++)
			d = *p == delims[k];
		if (!d)
			continue;
		if (np == 256)
			return errno = E2BIG, -1;
		part[np] = s;
		plen[np++] = (size_t)(p - s);
		if (*p == '\0')
			break;
		s = p + 1;
	}
	if (rev)
		for (i = 0; i < np / 2; i++) {
			const char *tp = part[i];
			size_t tl = plen[i];

			part[i] = part[np - 1 - i], plen[i] = plen[np - 1 - i];
			part[np - 1 - i] = tp, plen[np - 1 - i] = tl;
		}
	first = keep > 0 && keep < np ? np - keep : 0;
	for (i = first; i < np; i++)
		if ((i > first && put(out, sz, o, ".", 1, 0) == -1) ||
		    put(out, sz, o, part[i], plen[i], esc) == -1)
			return -1;
	return 0;
}

/* spf_macro - see spf.h */
int
spf_macro(const struct spf_req *q, const char *domain, const char *s,
    size_t n, int exp, char *out, size_t sz)
{
	char v[1024], delims[8];
	size_t i = 0, o = 0, nd;
	unsigned long keep;
	int rev, esc;
	char l;

	if (sz == 0)
		return -1;
	while (i < n) {
		if (((unsigned char)s[i] < 0x21 && !(exp && s[i] == ' ')) ||
		    (unsigned char)s[i] > 0x7e)
			return errno = EINVAL, -1;	/* 7.1: explain-string
							 * may hold SP */
		if (s[i] != '%') {
			if (put(out, sz, &o, s + i++, 1, 0) == -1)
				return -1;
			continue;
		}
		if (++i == n)
			return errno = EINVAL, -1;
		if (s[i] == '%' || s[i] == '_' || s[i] == '-') {
			if (put(out, sz, &o, s[i] == '%' ? "%" : s[i] == '_' ?
			    " " : "%20", s[i] == '-' ? 3 : 1, 0) == -1)
				return -1;
			i++;
			continue;
		}
		if (s[i++] != '{' || i == n)
			return errno = EINVAL, -1;
		l = s[i++];
		esc = l >= 'A' && l <= 'Z';
		if (esc)
			l = (char)(l - 'A' + 'a');
		for (keep = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if ((keep = keep * 10 + (unsigned long)(s[i] - '0')) >
			    255)
				return errno = EINVAL, -1;
		if (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9' && keep == 0)
			return errno = EINVAL, -1;	/* 7.3: zero parts */
		rev = i < n && (s[i] == 'r' || s[i] == 'R');
		if (rev)
			i++;
		for (nd = 0; i < n && is_delim(s[i]); i++)
			if (nd < sizeof delims)
				delims[nd++] = s[i];
		if (i == n || s[i++] != '}')
			return errno = EINVAL, -1;
		if (nd == 0)
			delims[nd++] = '.';
		if (letter_value(q, domain, l, exp, v, sizeof v) == -1 ||
		    transform(v, delims, nd, keep, rev, esc, out, sz,
		    &o) == -1)
			return errno = EINVAL, -1;
	}
	out[o] = '\0';
	return 0;
}

/* ---- parsing (RFC 7208 4.6.1, 12) ---- */

static int
alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int
digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* cidr - "/" then a length without a leading zero, at most max */
static int
cidr(const char *p, size_t n, int max)
{
	int v = 0;

	if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v > max ? -1 : v;
}

/* toplabel_ok - 4.6.1's domain-end for a spec ending in a literal: a
 * last label of letters, digits and hyphens, not all digits */
static int
toplabel_ok(const char *p, size_t n)
{
	size_t s;
	int letter = 0;

	if (n > 0 && p[n - 1] == '.')
		n--;
	for (s = n; s > 0 && p[s - 1] != '.'; s--)
		;
	if (s == n || s == 0 || p[s] == '-' || p[n - 1] == '-')
		return 0;
	for (size_t i = s; i < n; i++) {
		if (!alpha(p[i]) && !digit(p[i]) && p[i] != '-')
			return 0;
		letter |= alpha(p[i]) || p[i] == '-';
	}
	return letter;
}

/* spec_ok - a domain-spec: a valid macro-string ending in a macro or a
 * top label */
static int
spec_ok(const char *p, size_t n)
{
	static const struct spf_req dummy = { "192.0.2.1", "a@b.example",
	    "b.example", "b.example", "b.example", NULL, NULL };
	char tmp[2048];

	if (n == 0 || spf_macro(&dummy, "b.example", p, n, 0, tmp,
	    sizeof tmp) == -1)
		return 0;
	return p[n - 1] == '}' || toplabel_ok(p, n);
}

/* digits_at_end - the length of a "/N" (one slash) or "//N" suffix of
 * p[0..n) made of digits, or 0 */
static size_t
digits_at_end(const char *p, size_t n, int two)
{
	size_t d = 0;

	while (d < n && digit(p[n - 1 - d]))
		d++;
	if (d == 0 || d == n || p[n - 1 - d] != '/')
		return 0;
	if (two)
		return d + 2 <= n && p[n - 2 - d] == '/' ? d + 2 : 0;
	return d + 2 <= n && p[n - 2 - d] == '/' ? 0 : d + 1;
}

/* split_cidr - arg[0..n) into the domain-spec and a dual-cidr-length
 * (a, mx), read from the end: a domain-spec may hold '/' and ':' (7.1)
 * but a CIDR length is digits; 0 or -1 */
static int
split_cidr(struct term *t, const char *p, size_t n)
{
	size_t k;

	if ((k = digits_at_end(p, n, 1)) > 0) {
		if ((t->c6 = cidr(p + n - k + 2, k - 2, 128)) == -1)
			return -1;
		n -= k;
	}
	if ((k = digits_at_end(p, n, 0)) > 0) {
		if ((t->c4 = cidr(p + n - k + 1, k - 1, 32)) == -1)
			return -1;
		n -= k;
	}
	t->arg = n > 0 ? p : NULL;
	t->alen = n;
	return 0;
}

/* ipnet - ip4:/ip6: network[/len]; 0 or -1 */
static int
ipnet(struct term *t, const char *p, size_t n)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	const char *sl = memchr(p, '/', n);
	size_t al = sl ? (size_t)(sl - p) : n;
	int v6 = t->m == M_IP6;

	if (al == 0 || al >= sizeof tmp)
		return -1;
	memcpy(tmp, p, al);
	tmp[al] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, t->net) != 1)
		return -1;
	if (sl != NULL && ((v6 ? (t->c6 = cidr(sl + 1, n - al - 1, 128)) :
	    (t->c4 = cidr(sl + 1, n - al - 1, 32))) == -1))
		return -1;
	return 0;
}

/* mech_parse - one directive (without its qualifier); 0 or -1 */
static int
mech_parse(struct term *t, const char *p, size_t n)
{
	size_t nl, k;
	const char *arg;
	size_t al;

	for (nl = 0; nl < n && p[nl] != ':' && p[nl] != '/'; nl++)
		;
	for (k = 0; k < sizeof mech_names / sizeof mech_names[0]; k++)
		if (strlen(mech_names[k]) == nl &&
		    strncasecmp(p, mech_names[k], nl) == 0)
			break;
	if (k == sizeof mech_names / sizeof mech_names[0])
		return -1;
	t->m = (enum mech)k;
	t->c4 = 32, t->c6 = 128;
	t->arg = NULL, t->alen = 0;
	arg = p + nl + (nl < n && p[nl] == ':');
	al = (size_t)(p + n - arg);
	if (nl < n && p[nl] == ':' && al == 0)
		return -1;		/* "a:" */
	switch (t->m) {
	case M_ALL:
		return nl == n ? 0 : -1;
	case M_INCLUDE:
	case M_EXISTS:
		if (nl == n || p[nl] != ':' || !spec_ok(arg, al))
			return -1;
		t->arg = arg, t->alen = al;
		return 0;
	case M_PTR:
		if (nl < n && (p[nl] != ':' || !spec_ok(arg, al)))
			return -1;
		t->arg = nl < n ? arg : NULL, t->alen = nl < n ? al : 0;
		return 0;
	case M_A:
	case M_MX:
		if (nl < n && p[nl] == '/')
			arg = p + nl, al = n - nl;
		if (split_cidr(t, arg, al) == -1)
			return -1;
		if (nl < n && p[nl] == '/')
			t->arg = NULL, t->alen = 0;
		return t->arg == NULL || spec_ok(t->arg, t->alen) ? 0 : -1;
	case M_IP4:
	case M_IP6:
		if (nl == n || p[nl] != ':')
			return -1;
		return ipnet(t, arg, al);
	}
	return -1;
}

/* term_parse - one term into r; 0 or -1 (syntax) */
static int
term_parse(struct rec *r, const char *p, size_t n)
{
	size_t nl;
	struct term *t;
	char q = '+';

	for (nl = 0; nl < n && (alpha(p[nl]) || (nl > 0 && (digit(p[nl]) ||
	    p[nl] == '-' || p[nl] == '_' || p[nl] == '.'))); nl++)
		;
	if (nl > 0 && nl < n && p[nl] == '=') {	/* a modifier */
		const char *v = p + nl + 1;
		size_t vl = n - nl - 1;
		int redir = nl == 8 && strncasecmp(p, "redirect", 8) == 0;
		int exp = nl == 3 && strncasecmp(p, "exp", 3) == 0;
		char tmp[2048];
		static const struct spf_req dummy = { "192.0.2.1",
		    "a@b.example", "b.example", "b.example", "b.example",
		    NULL, NULL };

		if ((redir || exp) && !spec_ok(v, vl))
			return -1;
		if (!redir && !exp && spf_macro(&dummy, "b.example", v, vl,
		    0, tmp, sizeof tmp) == -1)
			return -1;	/* unknown: ignored, but valid */
		if ((redir && r->redir) || (exp && r->exp))
			return -1;	/* 6: at most once each */
		if (redir)
			r->redir = v, r->rlen = vl;
		if (exp)
			r->exp = v, r->elen = vl;
		return 0;
	}
	if (r->n == SPF_TERMS_MAX)
		return -1;
	if (n > 0 && strchr("+-~?", p[0])) {
		q = p[0];
		p++, n--;
	}
	t = &r->t[r->n];
	memset(t, 0, sizeof *t);
	t->q = q;
	if (n == 0 || mech_parse(t, p, n) == -1)
		return -1;
	r->n++;
	return 0;
}

/* rec_parse - "v=spf1" and its terms (the caller checked the version) */
static int
rec_parse(struct rec *r, const char *p, size_t n)
{
	size_t i = 6, s;

	r->n = 0;
	r->redir = r->exp = NULL;
	while (i < n) {
		if (p[i] == ' ') {
			i++;
			continue;
		}
		for (s = i; i < n && p[i] != ' '; i++)
			if ((unsigned char)p[i] < 0x21 ||
			    (unsigned char)p[i] > 0x7e)
				return -1;
		if (term_parse(r, p + s, i - s) == -1)
			return -1;
	}
	return 0;
}

/* ---- evaluation (RFC 7208 4, 5) ---- */

static int
in_net(const uint8_t *a, const uint8_t *net, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, net, (size_t)full) != 0)
		return 0;
	return rest == 0 ||
	    ((a[full] ^ net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* name_ok - a name to ask for: 4.3, labels of 1..63 bytes */
static int
name_ok(const char *d)
{
	size_t n = strlen(d), l = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (d[i] == '.') {
			if (l == 0 && i + 1 < n)
				return 0;
			l = 0;
		} else if (++l > 63)
			return 0;
	return 1;
}

/* expand - a term's domain-spec, or the current domain; long names lose
 * labels on the left (4.8); 0 or -1 */
static int
expand(struct ctx *c, const char *domain, const char *spec, size_t n,
    char out[DNS_NAME_BUF])
{
	char tmp[2048];
	const char *p = tmp;
	size_t l;

	if (spec == NULL) {
		if (strlen(domain) >= DNS_NAME_BUF)
			return -1;
		memcpy(out, domain, strlen(domain) + 1);
		return 0;
	}
	if (spf_macro(c->q, domain, spec, n, 0, tmp, sizeof tmp) == -1)
		return -1;
	l = strlen(tmp);
	if (l > 0 && tmp[l - 1] == '.')
		tmp[--l] = '\0';
	while (l > 253 && (p = strchr(p, '.')) != NULL) {
		p++;
		l = strlen(p);
	}
	if (p == NULL || l == 0)
		return -1;
	memcpy(out, p, l + 1);
	return 0;
}

/* count - one more term that queries DNS: 0, or -1 over the limit */
static int
count(struct ctx *c)
{
	return ++c->o->lookups > SPF_LOOKUP_MAX ? -1 : 0;
}

/* ask - a lookup for a term; 1 some records, 0 none (a void lookup,
 * counted), -1 temperror, -2 too many void lookups */
static int
ask(struct ctx *c, const char *name, uint16_t type, int isvoid)
{
	c->q->dns(c->q->arg, name, type, &c->a);
	if (c->a.st == DA_TEMP)
		return -1;
	if (c->a.st == DA_OK && c->a.n > 0)
		return 1;
	if (isvoid && ++c->o->voids > SPF_VOID_MAX)
		return -2;
	return 0;
}

/* addr_match - any address of name's records in the client's family
 * within the CIDR; 1, 0, or an ask() error */
static int
addr_match(struct ctx *c, const char *name, const struct term *t,
    int isvoid)
{
	uint16_t ty = c->v6 ? DNS_T_AAAA : DNS_T_A;
	int r;

	if ((r = ask(c, name, ty, isvoid)) <= 0)
		return r;
	for (size_t i = 0; i < c->a.n; i++)
		if (c->a.rr[i].type == ty && in_net(c->ip, c->a.rr[i].ip,
		    c->v6 ? t->c6 : t->c4))
			return 1;
	return 0;
}

static enum spf_result check_host(struct ctx *, const char *, unsigned,
    int);

/* mx_match - 5.4: the exchanges' addresses */
static int
mx_match(struct ctx *c, const char *name, const struct term *t)
{
	char hosts[MX_NAMES_MAX][DNS_NAME_BUF];
	size_t nh = 0;
	int r;

	if ((r = ask(c, name, DNS_T_MX, 1)) <= 0)
		return r;
	for (size_t i = 0; i < c->a.n; i++) {
		if (c->a.rr[i].type != DNS_T_MX)
			continue;
		if (nh == MX_NAMES_MAX)
			return -3;	/* 4.6.4: more than 10: permerror */
		memcpy(hosts[nh++], c->a.rr[i].name, DNS_NAME_BUF);
	}
	for (size_t i = 0; i < nh; i++)
		if (hosts[i][0] != '\0' &&
		    (r = addr_match(c, hosts[i], t, 0)) != 0)
			return r;
	return 0;
}

/* exists_match - 5.7: an A record, whatever the client's family */
static int
exists_match(struct ctx *c, const char *name)
{
	int r;

	if ((r = ask(c, name, DNS_T_A, 1)) <= 0)
		return r;
	for (size_t i = 0; i < c->a.n; i++)
		if (c->a.rr[i].type == DNS_T_A)
			return 1;
	return 0;
}

/* ip_match - ip4/ip6: never across families (5.6) */
static int
ip_match(const struct ctx *c, const struct term *t)
{
	if ((t->m == M_IP6) != c->v6)
		return 0;
	return in_net(c->ip, t->net, t->m == M_IP6 ? t->c6 : t->c4);
}

/* term_match - 1 match, 0 none, or a result to return at once (as
 * -1 - result) */
static int
term_match(struct ctx *c, const char *domain, const struct term *t,
    unsigned depth)
{
	char name[DNS_NAME_BUF];
	enum spf_result ir;
	int r;

	if (t->m == M_ALL)
		return 1;
	if (t->m == M_IP4 || t->m == M_IP6)
		return ip_match(c, t);
	if (count(c) == -1)
		return why(c, SPF_PERMERROR, "too many DNS lookups"),
		    -1 - SPF_PERMERROR;
	if (expand(c, domain, t->arg, t->alen, name) == -1)
		return why(c, SPF_PERMERROR, "bad domain-spec"),
		    -1 - SPF_PERMERROR;
	switch (t->m) {
	case M_INCLUDE:
		ir = check_host(c, name, depth + 1, 0);
		if (ir == SPF_PASS)
			return 1;
		if (ir == SPF_TEMPERROR)
			return -1 - SPF_TEMPERROR;
		if (ir == SPF_PERMERROR || ir == SPF_NONE)
			return why(c, SPF_PERMERROR, "include without a "
			    "usable record"), -1 - SPF_PERMERROR;
		return 0;
	case M_A:
		r = name_ok(name) ? addr_match(c, name, t, 1) : 0;
		break;
	case M_MX:
		r = name_ok(name) ? mx_match(c, name, t) : 0;
		break;
	case M_EXISTS:
		r = name_ok(name) ? exists_match(c, name) : 0;
		break;
	default: {	/* ptr */
		char got[DNS_NAME_BUF];

		r = name_ok(name) ? ptr_check(c->q, name, got, sizeof got,
		    &c->a) : 0;
		if (r == -1)
			r = ++c->o->voids > SPF_VOID_MAX ? -2 : 0;
		break;
	}
	}
	if (r == -1)
		return why(c, SPF_TEMPERROR, "DNS error"), -1 - SPF_TEMPERROR;
	if (r == -2)
		return why(c, SPF_PERMERROR, "too many void lookups"),
		    -1 - SPF_PERMERROR;
	if (r == -3)
		return why(c, SPF_PERMERROR, "too many MX names"),
		    -1 - SPF_PERMERROR;
	return r;
}

/* explain - 6.2: the exp= text for a fail; errors leave it empty */
static void
explain(struct ctx *c, const char *domain, const struct rec *r)
{
	char name[DNS_NAME_BUF], text[DNSANS_TXT_MAX];

	c->o->expl[0] = '\0';
	if (r->exp == NULL || expand(c, domain, r->exp, r->elen, name) == -1 ||
	    !name_ok(name))
		return;
	c->q->dns(c->q->arg, name, DNS_T_TXT, &c->a);
	if (c->a.st != DA_OK || c->a.n != 1)
		return;
	memcpy(text, c->a.txt + c->a.rr[0].off, c->a.rr[0].len);
	if (spf_macro(c->q, domain, text, c->a.rr[0].len, 1, c->o->expl,
	    sizeof c->o->expl) == -1)
		c->o->expl[0] = '\0';
}

static enum spf_result
qual(char q)
{
	switch (q) {
	case '-':
		return SPF_FAIL;
	case '~':
		return SPF_SOFTFAIL;
	case '?':
		return SPF_NEUTRAL;
	default:
		return SPF_PASS;
	}
}

/* find_record - the one SPF record of domain into rec (4.4, 4.5) */
static enum spf_result
find_record(struct ctx *c, const char *domain, char *text, size_t *len)
{
	size_t found = 0;

	c->q->dns(c->q->arg, domain, DNS_T_TXT, &c->a);
	if (c->a.st == DA_TEMP)
		return why(c, SPF_TEMPERROR, "DNS error");
	if (c->a.st == DA_NXDOMAIN)
		return why(c, SPF_NONE, "no such domain");
	for (size_t i = 0; i < c->a.n; i++) {
		const char *t = c->a.txt + c->a.rr[i].off;
		size_t l = c->a.rr[i].len;

		if (c->a.rr[i].type != DNS_T_TXT || l < 6 ||
		    strncasecmp(t, "v=spf1", 6) != 0 || (l > 6 && t[6] != ' '))
			continue;
		if (found++ > 0)
			return why(c, SPF_PERMERROR, "several records");
		memcpy(text, t, l);
		*len = l;
	}
	return found ? SPF_PASS : why(c, SPF_NONE, "no SPF record");
}

/* check_host - RFC 7208 4; top: this result is the check's own (its
 * explanation is wanted) */
static enum spf_result
check_host(struct ctx *c, const char *domain, unsigned depth, int top)
{
	char text[DNSANS_TXT_MAX], name[DNS_NAME_BUF];
	struct rec r;
	size_t len = 0;
	enum spf_result res;
	int m;

	if (depth > SPF_DEPTH_MAX)
		return why(c, SPF_PERMERROR, "too deep");
	if (!name_ok(domain))
		return why(c, SPF_NONE, "bad domain");
	if ((res = find_record(c, domain, text, &len)) != SPF_PASS)
		return res;
	if (rec_parse(&r, text, len) == -1)
		return why(c, SPF_PERMERROR, "syntax error");
	for (size_t i = 0; i < r.n; i++) {
		if ((m = term_match(c, domain, &r.t[i], depth)) < 0)
			return (enum spf_result)(-1 - m);
		if (m == 0)
			continue;
		res = qual(r.t[i].q);
		if (res == SPF_FAIL && top)
			explain(c, domain, &r);
		return why(c, res, "matched");
	}
	if (r.redir == NULL)
		return why(c, SPF_NEUTRAL, "no match");
	if (count(c) == -1)
		return why(c, SPF_PERMERROR, "too many DNS lookups");
	if (expand(c, domain, r.redir, r.rlen, name) == -1)
		return why(c, SPF_PERMERROR, "bad redirect");
	res = check_host(c, name, depth + 1, top);
	return res == SPF_NONE ? why(c, SPF_PERMERROR, "redirect to no "
	    "record") : res;
}

/* spf_check - see spf.h */
enum spf_result
spf_check(const struct spf_req *q, struct spf_out *o)
{
	static struct ctx c;

	memset(o, 0, sizeof *o);
	c.q = q;
	c.o = o;
	c.err = 0;
	if (client_ip(q->ip, c.ip, &c.v6) == -1)
		return o->why = "bad address", o->r = SPF_PERMERROR;
	/* 4.3: a domain that is not a multi-label name: none */
	if (strchr(q->domain, '.') == NULL || q->domain[0] == '[')
		return o->why = "not a domain name", o->r = SPF_NONE;
	o->r = check_host(&c, q->domain, 0, 1);
	return o->r;
}
