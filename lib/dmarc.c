/* dmarc: RFC 7489 policy evaluation (lib/dmarc.h).  The record is a DKIM
 * style tag list, parsed by lib/dkim.c's parser. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#include "dkim.h"
#include "dmarc.h"
#include "dnsans.h"
#include "rfc5322.h"

static int
tag_eq(const struct dkim_tag *t, const char *s)
{
	return t != NULL && t->vlen == strlen(s) &&
	    strncasecmp(t->val, s, t->vlen) == 0;
}

static int
policy_of(const struct dkim_tag *t, enum dmarc_policy *p)
{
	if (tag_eq(t, "none"))
		*p = DMARC_P_NONE;
	else if (tag_eq(t, "quarantine"))
		*p = DMARC_P_QUARANTINE;
	else if (tag_eq(t, "reject"))
		*p = DMARC_P_REJECT;
	else
		return -1;
	return 0;
}

/* dmarc_rec_parse - see dmarc.h */
/* rua_ok - the bytes of a plain mailbox: local@domain, nothing that
 * needs escaping in a URI or a log line */
static int
rua_ok(const char *a, size_t n)
{
	const char *at = memchr(a, '@', n);

	if (n == 0 || n >= sizeof ((struct dmarc_rec *)0)->rua[0] ||
	    at == NULL || at == a || at == a + n - 1 ||
	    memchr(at + 1, '@', (size_t)(a + n - at - 1)) != NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' &&
		    a[i] <= 'Z') || (a[i] >= '0' && a[i] <= '9') ||
		    strchr("@.-_+=", a[i]) != NULL) || a[i] == '\0')
			return 0;
	return 1;
}

/* rua_size - a dmarc-uri's size limit (6.3: "!" 1*DIGIT [k/m/g/t],
 * units of 2^10 ...) in p[0..n) (after the '!') into *v; 0, or -1
 * (malformed, or beyond 64 bits) */
static int
rua_size(const char *p, size_t n, unsigned long long *v)
{
	static const char units[] = "kmgt";
	const char *u;
	size_t i;
	unsigned sh = 0;

	*v = 0;
	for (i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		if (__builtin_mul_overflow(*v, 10ull, v) ||
		    __builtin_add_overflow(*v, (unsigned long long)(p[i] - '0'),
		    v))
			return -1;
	if (i == 0)
		return -1;
	if (i + 1 == n && p[i] != '\0' &&
	    (u = strchr(units, p[i] | 0x20)) != NULL)
		sh = 10 * (unsigned)(u - units + 1), i++;
	if (i != n || (sh > 0 && *v > ULLONG_MAX >> sh))
		return -1;
	*v <<= sh;
	return 0;
}

/* rua_parse - rua=: comma-separated URIs (6.3), "mailto:" ones kept
 * with their size limits */
static void
rua_parse(const char *v, size_t n, struct dmarc_rec *r)
{
	size_t i = 0, b, e, k;
	unsigned long long max;

	while (i < n && r->nrua < DMARC_RUA_MAX) {
		for (b = i; i < n && v[i] != ','; i++)
			;
		e = i++;
		while (b < e && (v[b] == ' ' || v[b] == '\t' ||
		    v[b] == '\r' || v[b] == '\n'))
			b++;
		while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t' ||
		    v[e - 1] == '\r' || v[e - 1] == '\n'))
			e--;
		if (e - b < 7 || strncasecmp(v + b, "mailto:", 7) != 0)
			continue;
		b += 7;
		for (k = b; k < e && v[k] != '!'; k++)
			;
		if (!rua_ok(v + b, k - b) || (k < e &&
		    rua_size(v + k + 1, e - k - 1, &max) == -1))
			continue;
		memcpy(r->rua[r->nrua], v + b, k - b);
		r->rua[r->nrua][k - b] = '\0';
		r->rua_max[r->nrua++] = k < e ? max : 0;
	}
}

int
dmarc_rec_parse(const char *s, size_t n, struct dmarc_rec *r)
{
	static struct dkim_tags tl;
	const struct dkim_tag *t;

	memset(r, 0, sizeof *r);
	r->pct = 100;
	if (n < 8 || strncmp(s, "v=DMARC1", 8) != 0 ||
	    dkim_tags_parse(&tl, s, n) == -1 || tl.n == 0 ||
	    tl.t[0].nlen != 1 || tl.t[0].name[0] != 'v' ||
	    !tag_eq(&tl.t[0], "DMARC1"))
		return errno = EINVAL, -1;
	if (policy_of(dkim_tag_get(&tl, "p"), &r->p) == -1) {
		/* 6.6.3: a bad p= with a rua= is p=none, else no record */
		if ((t = dkim_tag_get(&tl, "rua")) == NULL || t->vlen == 0)
			return errno = EINVAL, -1;
		r->p = DMARC_P_NONE;
	}
	r->has_sp = policy_of(dkim_tag_get(&tl, "sp"), &r->sp) == 0;
	if ((t = dkim_tag_get(&tl, "pct")) != NULL && t->vlen > 0 &&
	    t->vlen <= 3) {
		unsigned v = 0;
		size_t i;

		for (i = 0; i < t->vlen && t->val[i] >= '0' &&
		    t->val[i] <= '9'; i++)
			v = v * 10 + (unsigned)(t->val[i] - '0');
		if (i == t->vlen && v <= 100)
			r->pct = v;
	}
	/* fo= as published, when it is made of its options (6.3) */
	snprintf(r->fo, sizeof r->fo, "0");
	if ((t = dkim_tag_get(&tl, "fo")) != NULL && t->vlen > 0 &&
	    t->vlen < sizeof r->fo) {
		size_t i;

		for (i = 0; i < t->vlen && t->val[i] != '\0' &&
		    strchr("01ds:", t->val[i]) != NULL; i++)
			;
		if (i == t->vlen) {
			memcpy(r->fo, t->val, t->vlen);
			r->fo[t->vlen] = '\0';
		}
	}
	r->adkim_strict = tag_eq(dkim_tag_get(&tl, "adkim"), "s");
	r->aspf_strict = tag_eq(dkim_tag_get(&tl, "aspf"), "s");
	if ((t = dkim_tag_get(&tl, "rua")) != NULL)
		rua_parse(t->val, t->vlen, r);
	return 0;
}

/* addr_domain - the domain of one mailbox's text; 0 or -1 */
static int
addr_domain(const char *p, size_t n, char *out, size_t sz)
{
	const char *lt = NULL, *gt = NULL, *at = NULL;
	size_t i, s, e, k = 0;

	for (i = 0; i < n; ) {	/* the <...> outside quotes, comments */
		if (p[i] == '"' || p[i] == '(') {
			(void)rfc5322_skip(p, n, &i);
			continue;
		}
		if (p[i] == '<' && lt == NULL)
			lt = p + i;
		else if (p[i] == '>' && lt != NULL && gt == NULL)
			gt = p + i;
		else if (p[i] == '@' && (lt == NULL || gt == NULL))
			at = p + i;	/* the last @ of the address part */
		i++;
	}
	if (lt != NULL && gt == NULL)
		return -1;
	if (at == NULL || (lt != NULL && (at < lt || at > gt)))
		return -1;
	s = (size_t)(at + 1 - p);
	e = lt != NULL ? (size_t)(gt - p) : n;
	while (s < e && (p[s] == ' ' || p[s] == '\t' || p[s] == '\r' ||
	    p[s] == '\n'))
		s++;
	for (i = s; i < e; i++) {
		char c = p[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == '(')
			break;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_'))
			return -1;
		if (k + 1 >= sz)
			return -1;
		out[k++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	while (k > 0 && out[k - 1] == '.')
		k--;
	if (k == 0 || out[0] == '.')
		return -1;
	out[k] = '\0';
	return 0;
}

/* dmarc_from_domain - see dmarc.h */
int
dmarc_from_domain(const char *p, size_t n, char *out, size_t sz)
{
	char d[DNS_NAME_BUF];
	size_t i, s = 0;
	int angle = 0, got = 0;

	for (i = 0; i <= n; i++) {	/* mailboxes split at commas */
		if (i < n && (p[i] == '"' || p[i] == '(')) {
			(void)rfc5322_skip(p, n, &i);
			i--;		/* the loop steps past it */
			continue;
		}
		if (i < n && p[i] == ':' && !angle)
			return -1;	/* a group: no single author */
		if (i < n && p[i] == '<')
			angle = 1;
		else if (i < n && p[i] == '>')
			angle = 0;
		if (i < n && (p[i] != ',' || angle))
			continue;
		if (addr_domain(p + s, (i > n ? n : i) - s, got ? d : out,
		    got ? sizeof d : sz) == -1)
			return -1;
		if (got && strcmp(d, out) != 0)
			return -1;	/* 6.6.1: authors of several domains */
		got = 1;
		s = i + 1;
	}
	return got ? 0 : -1;
}

/* dmarc_orgdom - see dmarc.h */
const char *
dmarc_orgdom(const psl_ctx_t *psl, const char *d)
{
	const char *r = psl != NULL ? psl_registrable_domain(psl, d) : NULL;

	return r != NULL ? r : d;
}

/* dmarc_aligned - see dmarc.h */
int
dmarc_aligned(const psl_ctx_t *psl, const char *a, const char *b,
    int strict)
{
	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return 0;
	if (strcasecmp(a, b) == 0)
		return 1;
	return !strict && strcasecmp(dmarc_orgdom(psl, a),
	    dmarc_orgdom(psl, b)) == 0;
}

static const char *const result_names[] = {
	"none", "pass", "fail", "temperror", "permerror"
};
static const char *const policy_names[] = { "none", "quarantine", "reject" };

const char *
dmarc_name(enum dmarc_result r)
{
	return r <= DMARC_PERMERROR ? result_names[r] : "permerror";
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	return p <= DMARC_P_REJECT ? policy_names[p] : "none";
}

/* lookup - the one DMARC record at _dmarc.d: 1 found, 0 none, -1 temp */
static int
lookup(const struct dmarc_in *in, const char *d, struct dmarc_rec *rec)
{
	static struct dnsans a;
	char name[DNS_NAME_BUF];
	size_t found = 0;
	int n;

	n = snprintf(name, sizeof name, "_dmarc.%s", d);
	if (n < 0 || (size_t)n >= sizeof name || n > 253)
		return 0;
	in->dns(in->arg, name, DNS_T_TXT, &a);
	if (a.st == DA_TEMP)
		return -1;
	if (a.st != DA_OK)
		return 0;
	for (size_t i = 0; i < a.n; i++) {
		struct dmarc_rec r;

		if (a.rr[i].type == DNS_T_TXT &&
		    dmarc_rec_parse(a.txt + a.rr[i].off, a.rr[i].len,
		    &r) == 0) {
			*rec = r;
			found++;
		}
	}
	return found == 1;	/* 6.6.3: several records are none */
}

/* dmarc_check - see dmarc.h */
void
dmarc_check(const struct dmarc_in *in, struct dmarc_out *o)
{
	struct dmarc_rec rec;
	const char *org;
	int r, sub;

	memset(o, 0, sizeof *o);
	o->r = DMARC_NONE;
	if (in->from_bad) {
		o->r = DMARC_PERMERROR;
		o->why = "no single From domain";
		return;
	}
	if (in->from == NULL) {
		o->why = "no From domain";
		return;
	}
	org = dmarc_orgdom(in->psl, in->from);
	sub = strcasecmp(org, in->from) != 0;
	snprintf(o->domain, sizeof o->domain, "%s", in->from);
	if ((r = lookup(in, in->from, &rec)) == 0 && sub) {
		snprintf(o->domain, sizeof o->domain, "%s", org);
		r = lookup(in, org, &rec);
	} else
		sub = 0;	/* the From domain's own record: p= */
	if (r == -1) {
		o->r = DMARC_TEMPERROR;
		o->why = "DNS error";
		return;
	}
	if (r == 0) {
		o->why = "no policy";
		return;
	}
	o->has_rec = 1;
	o->rec = rec;
	o->policy = sub && rec.has_sp ? rec.sp : rec.p;
	o->spf_aligned = in->spf == SPF_PASS &&
	    dmarc_aligned(in->psl, in->spf_domain, in->from, rec.aspf_strict);
	for (size_t i = 0; i < in->ndkim; i++)
		o->dkim_aligned |= dmarc_aligned(in->psl, in->dkim_pass[i],
		    in->from, rec.adkim_strict);
	if (o->spf_aligned || o->dkim_aligned) {
		o->r = DMARC_PASS;
		o->why = "aligned";
		o->disposition = DMARC_P_NONE;
		return;
	}
	o->r = DMARC_FAIL;
	o->why = "not aligned";
	o->disposition = o->policy;
	/* 6.6.4: outside the sample, one step milder */
	if (in->roll >= rec.pct && o->disposition != DMARC_P_NONE)
		o->disposition = o->disposition == DMARC_P_REJECT ?
		    DMARC_P_QUARANTINE : DMARC_P_NONE;
}
