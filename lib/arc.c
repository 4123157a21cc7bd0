/* arc: RFC 8617 5.2's validation of the chain (lib/arc.h).  The newest
 * ARC-Message-Signature is checked as a DKIM signature is (its h= may not
 * name ARC-Seal); each ARC-Seal i signs, with relaxed header
 * canonicalization, the sets 1..i in order (AAR, AMS, AS), its own field
 * last with b= emptied and no line end (5.1.1).  Seal i=1 must say
 * cv=none and every later one cv=pass; any other value fails the chain. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "arc.h"
#include "buf.h"
#include "dkim.h"
#include "dnsans.h"
#include "rfc5322.h"

enum { AAR, AMS, AS };

#define WSP(c)	((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')

static const char *const names[] = { "none", "pass", "fail" };

const char *
arc_name(enum arc_result r)
{
	return r <= ARC_FAIL ? names[r] : "fail";
}

static enum arc_result
verdict(struct arc_out *o, enum arc_result r, const char *why)
{
	o->r = r;
	o->why = why;
	return r;
}

/* instance_of - i= of an AAR value ("i=N;" first): 1..50, 0 bad */
static unsigned
instance_of(const char *v, size_t vn)
{
	const char *end = v + vn;
	unsigned i = 0;
	size_t k;

	while (v < end && WSP(*v))
		v++;
	if (end - v < 2 || v[0] != 'i' || v[1] != '=')
		return 0;
	for (v += 2, k = 0; v < end && *v >= '0' && *v <= '9' && k < 3;
	    v++, k++)
		i = i * 10 + (unsigned)(*v - '0');
	while (v < end && WSP(*v))
		v++;
	return k > 0 && v < end && *v == ';' && i <= ARC_SETS_MAX ? i : 0;
}

/* instance - i= of an AAR ("i=N;" first) or of a tag list: 1..50, 0 bad */
static unsigned
instance(const struct dkim_field *f, int kind)
{
	static struct dkim_tags tl;
	size_t vn;
	const char *v = dkim_field_value(f, &vn), *end = v + vn;
	const struct dkim_tag *t;
	unsigned i = 0;
	size_t k;

	if (kind == AAR)
		return instance_of(v, vn);
	if (dkim_tags_parse(&tl, v, (size_t)(end - v)) == -1 ||
	    (t = dkim_tag_get(&tl, "i")) == NULL || t->vlen == 0 ||
	    t->vlen > 2)
		return 0;
	for (k = 0; k < t->vlen; k++) {
		if (t->val[k] < '0' || t->val[k] > '9')
			return 0;
		i = i * 10 + (unsigned)(t->val[k] - '0');
	}
	return i <= ARC_SETS_MAX ? i : 0;
}

static int
tag_is(const struct dkim_tag *t, const char *s)
{
	return t != NULL && t->vlen == strlen(s) &&
	    strncasecmp(t->val, s, t->vlen) == 0;
}

static int
name_ok(const struct dkim_tag *t)
{
	if (t == NULL || t->vlen == 0 || t->vlen > 200 || t->val[0] == '.')
		return 0;
	for (size_t i = 0; i < t->vlen; i++) {
		char c = t->val[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.'))
			return 0;
	}
	return 1;
}

/* key - the key of s._domainkey.d; 0, or -1 */
static int
key(const struct dkim_tags *tl, dnsans_fn *dns, void *arg, EVP_PKEY **k)
{
	static struct dnsans a;
	const struct dkim_tag *s = dkim_tag_get(tl, "s"),
	    *d = dkim_tag_get(tl, "d");
	char q[DNS_NAME_BUF];
	int n;

	if (!name_ok(s) || !name_ok(d))
		return -1;
	n = snprintf(q, sizeof q, "%.*s._domainkey.%.*s", (int)s->vlen,
	    s->val, (int)d->vlen, d->val);
	if (n < 0 || (size_t)n >= sizeof q || n > 253)
		return -1;
	dns(arg, q, DNS_T_TXT, &a);
	for (size_t i = 0; a.st == DA_OK && i < a.n; i++)
		if (a.rr[i].type == DNS_T_TXT && dkim_pubkey_parse(a.txt +
		    a.rr[i].off, a.rr[i].len, k) == 0)
			return 0;
	return -1;
}

/* alg_of - a=; 0 or -1 */
static int
alg_of(const struct dkim_tags *tl, enum dkim_alg *alg)
{
	const struct dkim_tag *a = dkim_tag_get(tl, "a");

	if (tag_is(a, "rsa-sha256"))
		*alg = DKIM_RSA_SHA256;
	else if (tag_is(a, "ed25519-sha256"))
		*alg = DKIM_ED25519_SHA256;
	else
		return -1;
	return 0;
}

/* strip_b - the field with its b= value removed, into out */
static int
strip_b(const struct dkim_field *f, const struct dkim_tag *b,
    struct buf *out)
{
	const char *rest = b->val + b->vlen;

	out->len = 0;
	return buf_put(out, f->p, (size_t)(b->val - f->p)) == -1 ||
	    buf_put(out, rest, (size_t)(f->p + f->n - rest)) == -1 ? -1 : 0;
}

/* sig_check - verify a signature over hash with the field's key */
static int
sig_check(const struct dkim_tags *tl, const unsigned char *hash,
    dnsans_fn *dns, void *arg)
{
	const struct dkim_tag *b = dkim_tag_get(tl, "b");
	unsigned char sig[DKIM_SIG_MAX];
	enum dkim_alg alg;
	EVP_PKEY *k = NULL;
	size_t sl;
	int r;

	if (b == NULL || alg_of(tl, &alg) == -1 ||
	    dkim_b64_get(b->val, b->vlen, sig, sizeof sig, &sl) == -1 ||
	    key(tl, dns, arg, &k) == -1)
		return -1;
	r = dkim_pk_verify(k, alg, hash, sig, sl);
	EVP_PKEY_free(k);
	return r == 1 ? 0 : -1;
}

/* h_names_seal - whether an h= list names ARC-Seal (5.1.2: it may not) */
static int
h_names_seal(const struct dkim_tag *h)
{
	size_t i = 0, e, s, k;

	while (i < h->vlen) {
		for (e = i; e < h->vlen && h->val[e] != ':'; e++)
			;
		for (s = i; s < e && WSP(h->val[s]); s++)
			;
		for (k = e; k > s && WSP(h->val[k - 1]); k--)
			;
		if (k - s == 8 && strncasecmp(h->val + s, "arc-seal", 8) == 0)
			return 1;
		i = e + 1;
	}
	return 0;
}

/* ams_check - the newest ARC-Message-Signature (5.2 step 4) */
static int
ams_check(const char *msg, size_t n, const struct dkim_fields *fs,
    size_t fi, dnsans_fn *dns, void *arg)
{
	static struct dkim_tags tl;
	const struct dkim_field *f = &fs->f[fi];
	const struct dkim_tag *bh, *h, *c, *b;
	unsigned char want[DKIM_HASHLEN], got[DKIM_HASHLEN],
	    hh[DKIM_HASHLEN];
	struct buf sf = BUF_INIT(1 << 16);
	enum dkim_canon hc = DKIM_SIMPLE, bc = DKIM_SIMPLE;
	struct dkim_body body;
	size_t len, vn;
	const char *v;
	int r = -1;

	v = dkim_field_value(f, &vn);
	if (dkim_tags_parse(&tl, v, vn) ==
	    -1 || (bh = dkim_tag_get(&tl, "bh")) == NULL ||
	    (h = dkim_tag_get(&tl, "h")) == NULL ||
	    (b = dkim_tag_get(&tl, "b")) == NULL || h_names_seal(h) ||
	    dkim_tag_get(&tl, "l") != NULL)
		return -1;
	if ((c = dkim_tag_get(&tl, "c")) != NULL) {
		if (tag_is(c, "relaxed/relaxed"))
			hc = bc = DKIM_RELAXED;
		else if (tag_is(c, "relaxed") || tag_is(c, "relaxed/simple"))
			hc = DKIM_RELAXED;
		else if (tag_is(c, "simple/relaxed"))
			bc = DKIM_RELAXED;
		else if (!tag_is(c, "simple") && !tag_is(c, "simple/simple"))
			return -1;
	}
	if (dkim_b64_get(bh->val, bh->vlen, want, sizeof want, &len) == -1 ||
	    len != DKIM_HASHLEN || dkim_body_init(&body, bc) == -1)
		return -1;
	if (dkim_body_update(&body, msg + fs->body, n - fs->body) == -1) {
		dkim_body_free(&body);
		return -1;
	}
	if (dkim_body_final(&body, got) == -1 ||
	    memcmp(want, got, DKIM_HASHLEN) != 0)
		return -1;
	if (strip_b(f, b, &sf) == 0 && dkim_headers_hash(hc, fs, h->val,
	    h->vlen, sf.p, sf.len, hh) == 0 &&
	    sig_check(&tl, hh, dns, arg) == 0)
		r = 0;
	buf_free(&sf);
	return r;
}

/* seal_check - ARC-Seal i over the sets 1..i (5.1.1, 5.2 step 6) */
static int
seal_check(const struct dkim_fields *fs, size_t idx[][3], unsigned i,
    dnsans_fn *dns, void *arg, struct arc_out *o)
{
	static struct dkim_tags tl;
	const struct dkim_field *f = &fs->f[idx[i][AS]];
	const struct dkim_tag *b, *cv, *d;
	struct buf in = BUF_INIT(1 << 20), sf = BUF_INIT(1 << 16);
	unsigned char hash[DKIM_HASHLEN];
	const char *v;
	size_t vn;
	int r = -1;

	v = dkim_field_value(f, &vn);
	if (dkim_tags_parse(&tl, v, vn) ==
	    -1 || (b = dkim_tag_get(&tl, "b")) == NULL ||
	    (cv = dkim_tag_get(&tl, "cv")) == NULL ||
	    dkim_tag_get(&tl, "h") != NULL)
		return -1;
	if (!tag_is(cv, i == 1 ? "none" : "pass"))
		return -1;
	if (i == o->n && (d = dkim_tag_get(&tl, "d")) != NULL &&
	    d->vlen < sizeof o->d) {
		memcpy(o->d, d->val, d->vlen);
		o->d[d->vlen] = '\0';
	}
	for (unsigned j = 1; j <= i; j++)
		for (int k = AAR; k <= AS; k++) {
			const struct dkim_field *g = &fs->f[idx[j][k]];

			if (j == i && k == AS) {
				if (strip_b(g, b, &sf) == -1 ||
				    dkim_canon_header(DKIM_RELAXED, sf.p,
				    sf.len, &in, 0) == -1)
					goto out;
			} else if (dkim_canon_header(DKIM_RELAXED, g->p, g->n,
			    &in, 1) == -1)
				goto out;
		}
	if (EVP_Digest(in.p, in.len, hash, NULL, EVP_sha256(), NULL) == 1 &&
	    sig_check(&tl, hash, dns, arg) == 0)
		r = 0;
out:
	buf_free(&in);
	buf_free(&sf);
	return r;
}

/* sets - the field index of each ARC set's AAR, AMS, AS by i= into
 * idx, the highest i= into *n; 0, or -1 with *why */
static int
sets(const struct dkim_fields *fs, size_t idx[][3], unsigned *n,
    const char **why)
{
	static const struct { const char *name; size_t len; } kinds[3] = {
		{ "arc-authentication-results", 26 },
		{ "arc-message-signature", 21 }, { "arc-seal", 8 },
	};
	unsigned i;

	*n = 0;
	memset(idx, 0xff, (ARC_SETS_MAX + 1) * sizeof idx[0]);
	for (size_t f = 0; f < fs->n; f++)
		for (int k = AAR; k <= AS; k++) {
			if (!dkim_field_is(&fs->f[f], kinds[k].name,
			    kinds[k].len))
				continue;
			if ((i = instance(&fs->f[f], k)) == 0 ||
			    idx[i][k] != (size_t)-1)
				return *why = "bad or repeated i=", -1;
			idx[i][k] = f;
			if (i > *n)
				*n = i;
		}
	for (i = 1; i <= *n; i++)
		for (int k = AAR; k <= AS; k++)
			if (idx[i][k] == (size_t)-1)
				return *why = "incomplete set", -1;
	return 0;
}

/* aar_seg - the end of the ';'-separated segment that begins at i:
 * the index of its ';' (or n), comments and quoted strings stepped
 * over */
static size_t
aar_seg(const char *v, size_t n, size_t i)
{
	while (i < n && v[i] != ';')
		if (v[i] == '(' || v[i] == '"')
			(void)rfc5322_skip(v, n, &i);
		else
			i++;
	return i;
}

/* aar_word - the next token of p[*i..e) into w (at most wsz - 1 bytes,
 * lower case unless val, a quoted string's content as is); a key (val
 * 0) ends at '=', which is a token of its own, a value (val 1) may hold
 * '=' (an SRS address).  1 a token, 0 none left, -1 one too long */
static int
aar_word(const char *p, size_t e, size_t *i, char *w, size_t wsz, int val)
{
	size_t k = 0;

	*i = rfc5322_cfws(p, e, *i);
	if (*i >= e)
		return 0;
	if (p[*i] == '=' && !val) {
		(*i)++;
		return snprintf(w, wsz, "="), 1;
	}
	if (p[*i] == '"') {
		for ((*i)++; *i < e && p[*i] != '"'; (*i)++) {
			if (p[*i] == '\\' && *i + 1 < e)
				(*i)++;
			if (k + 1 >= wsz)
				return -1;
			w[k++] = p[*i];
		}
		if (*i < e)
			(*i)++;
		w[k] = '\0';
		return 1;
	}
	for (; *i < e && !RFC5322_WSP(p[*i]) && (val || p[*i] != '=') &&
	    p[*i] != '(' && p[*i] != '"'; (*i)++) {
		if (k + 1 >= wsz)
			return -1;
		w[k++] = (char)(!val && p[*i] >= 'A' && p[*i] <= 'Z' ?
		    p[*i] + 32 : p[*i]);
	}
	w[k] = '\0';
	return 1;
}

/* aar_domain - the domain of v (after its last '@', if any), lower
 * case, into out */
static void
aar_domain(const char *v, char *out, size_t sz)
{
	const char *at = strrchr(v, '@');

	snprintf(out, sz, "%s", at != NULL ? at + 1 : v);
	for (char *c = out; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c += 32;
}

/* aar_prop - one property of a passing method's resinfo into a; 1 if
 * that was the one its method records (the rest is not looked at) */
static int
aar_prop(const char *method, const char *prop, const char *v,
    struct arc_aar *a)
{
	if (strcmp(method, "dmarc") == 0 && strcmp(prop, "header.from") == 0)
		return aar_domain(v, a->dmarc, sizeof a->dmarc), 1;
	if (strcmp(method, "spf") == 0 && strcmp(prop, "smtp.mailfrom") == 0)
		return aar_domain(v, a->spf, sizeof a->spf), 1;
	if (strcmp(method, "spf") == 0 && strcmp(prop, "smtp.helo") == 0 &&
	    a->spf[0] == '\0')
		aar_domain(v, a->spf, sizeof a->spf);
	if (strcmp(method, "dkim") == 0 && (strcmp(prop, "header.d") == 0 ||
	    strcmp(prop, "header.i") == 0)) {
		if (a->ndkim < ARC_AAR_DKIM_MAX)
			aar_domain(v, a->dkim[a->ndkim++], sizeof a->dkim[0]);
		return 1;	/* one domain per signature */
	}
	return 0;
}

/* aar_resinfo - one "method=result (comment) ptype.prop=value ..." of
 * p[i..e): only a result "pass" is looked into */
static void
aar_resinfo(const char *p, size_t i, size_t e, struct arc_aar *a)
{
	char key[64], eq[4], val[256], method[64];
	int first = 1;

	for (;;) {
		if (aar_word(p, e, &i, key, sizeof key, 0) != 1 ||
		    aar_word(p, e, &i, eq, sizeof eq, 0) != 1 ||
		    strcmp(eq, "=") != 0 ||
		    aar_word(p, e, &i, val, sizeof val, 1) != 1)
			return;		/* the end, or not understood */
		if (first) {
			first = 0;
			snprintf(method, sizeof method, "%.*s",
			    (int)strcspn(key, "/"), key);
			if (strcasecmp(val, "pass") != 0)
				return;
		} else if (aar_prop(method, key, val, a))
			return;
	}
}

/* arc_aar_parse - see arc.h */
int
arc_aar_parse(const char *v, size_t n, struct arc_aar *a)
{
	size_t i, e;

	memset(a, 0, sizeof *a);
	/* i=N, then the authserv-id (and version): no results there */
	if (instance_of(v, n) == 0)
		return -1;
	i = aar_seg(v, n, 0);
	if (i == n)
		return -1;
	i = aar_seg(v, n, i + 1);
	while (i < n) {
		e = aar_seg(v, n, i + 1);
		aar_resinfo(v, i + 1, e, a);
		i = e;
	}
	return 0;
}

/* arc_verify - see arc.h */
void
arc_verify(const char *msg, size_t n, dnsans_fn *dns, void *arg,
    struct arc_out *o)
{
	static struct dkim_fields fs;
	static size_t idx[ARC_SETS_MAX + 1][3];
	const char *why;
	unsigned i;

	memset(o, 0, sizeof *o);
	o->r = ARC_NONE;
	if (dkim_fields_split(&fs, msg, n) == -1) {
		verdict(o, ARC_FAIL, "too many header fields");
		return;
	}
	if (sets(&fs, idx, &o->n, &why) == -1) {
		verdict(o, ARC_FAIL, why);
		return;
	}
	if (o->n == 0) {
		verdict(o, ARC_NONE, "no ARC sets");
		return;
	}
	if (ams_check(msg, n, &fs, idx[o->n][AMS], dns, arg) == -1) {
		verdict(o, ARC_FAIL, "message signature");
		return;
	}
	for (i = o->n; i >= 1; i--)
		if (seal_check(&fs, idx, i, dns, arg, o) == -1) {
			verdict(o, ARC_FAIL, "seal");
			return;
		}
	verdict(o, ARC_PASS, "chain valid");
	{
		size_t vn;
		const char *v = dkim_field_value(&fs.f[idx[o->n][AAR]], &vn);

		(void)arc_aar_parse(v, vn, &o->aar);
	}
}

/* ams_make - the new ARC-Message-Signature, signed, into ams (CRLF) */
static int
ams_make(const char *msg, size_t n, const struct dkim_fields *fs,
    unsigned i, const struct dkim_sigreq *q, dkim_signfn *sign, void *arg,
    struct buf *ams)
{
	struct buf h = BUF_INIT(8192);
	unsigned char bh[DKIM_HASHLEN];
	struct dkim_sigout o;
	struct dkim_body body;
	int r = -1;

	if (dkim_body_init(&body, DKIM_RELAXED) == -1)
		return -1;
	if (dkim_body_update(&body, msg + fs->body, n - fs->body) == -1) {
		dkim_body_free(&body);
		return -1;
	}
	if (dkim_body_final(&body, bh) == -1 ||
	    dkim_sign_headers(fs, &h) == -1 || buf_fmt(ams,
	    "ARC-Message-Signature: i=%u; a=rsa-sha256; c=relaxed/relaxed;"
	    "\r\n\td=%s; s=%s; t=%lld;\r\n\th=", i, q->domain, q->selector,
	    (long long)q->t) == -1 || buf_put(ams, h.p, h.len) == -1 ||
	    buf_puts(ams, ";\r\n\tbh=") == -1 ||
	    dkim_b64_put(ams, bh, sizeof bh) == -1 ||
	    buf_puts(ams, "; b=") == -1)
		goto out;
	if (dkim_headers_hash(DKIM_RELAXED, fs, h.p, h.len, ams->p, ams->len,
	    o.hash) == -1 || sign(arg, q, &o, 1) == -1 ||
	    dkim_sig_end(ams, o.sig, o.siglen) == -1)
		goto out;
	r = 0;
out:
	buf_free(&h);
	return r;
}

/* arc_seal - see arc.h */
int
arc_seal(const char *msg, size_t n, const char *ar, size_t arlen,
    enum arc_result cv, const struct dkim_sigreq *q, dkim_signfn *sign,
    void *arg, struct buf *out)
{
	static struct dkim_fields fs;
	static size_t idx[ARC_SETS_MAX + 1][3];
	struct buf aar = BUF_INIT(1 << 16), ams = BUF_INIT(1 << 16),
	    as = BUF_INIT(1 << 16), in = BUF_INIT(1 << 20);
	struct dkim_sigout o;
	const char *why;
	unsigned old, i;
	int r = -1;

	if (dkim_fields_split(&fs, msg, n) == -1)
		return -1;
	if (sets(&fs, idx, &old, &why) == -1 || old >= ARC_SETS_MAX)
		return errno = EINVAL, -1;
	i = old + 1;
	/* the AAR: our Authentication-Results' value, its line ends CRLF */
	while (arlen > 0 && WSP(*ar))
		ar++, arlen--;
	if (buf_fmt(&aar, "ARC-Authentication-Results: i=%u; ", i) == -1)
		goto out;
	for (size_t k = 0; k < arlen; k++)
		if ((ar[k] == '\n' && (k == 0 || ar[k - 1] != '\r') &&
		    buf_putc(&aar, '\r') == -1) || buf_putc(&aar, ar[k]) == -1)
			goto out;
	while (aar.len > 0 && WSP(aar.p[aar.len - 1]))
		aar.len--;
	if (buf_puts(&aar, "\r\n") == -1 ||
	    ams_make(msg, n, &fs, i, q, sign, arg, &ams) == -1)
		goto out;
	if (buf_fmt(&as, "ARC-Seal: i=%u; a=rsa-sha256; t=%lld; cv=%s;\r\n"
	    "\td=%s; s=%s; b=", i, (long long)q->t, i == 1 ? "none" :
	    cv == ARC_PASS ? "pass" : "fail", q->domain, q->selector) == -1)
		goto out;
	/* the seal's input (5.1.1): the sets 1..i, its own field last */
	for (unsigned j = 1; j < i; j++)
		for (int k = AAR; k <= AS; k++)
			if (dkim_canon_header(DKIM_RELAXED, fs.f[idx[j][k]].p,
			    fs.f[idx[j][k]].n, &in, 1) == -1)
				goto out;
	if (dkim_canon_header(DKIM_RELAXED, aar.p, aar.len - 2, &in, 1) ==
	    -1 || dkim_canon_header(DKIM_RELAXED, ams.p, ams.len - 2, &in,
	    1) == -1 || dkim_canon_header(DKIM_RELAXED, as.p, as.len, &in,
	    0) == -1 || EVP_Digest(in.p, in.len, o.hash, NULL, EVP_sha256(),
	    NULL) != 1 || sign(arg, q, &o, 1) == -1 ||
	    dkim_sig_end(&as, o.sig, o.siglen) == -1)
		goto out;
	r = buf_put(out, as.p, as.len) == -1 || buf_put(out, ams.p,
	    ams.len) == -1 || buf_put(out, aar.p, aar.len) == -1 ? -1 : 0;
out:
	buf_free(&aar);
	buf_free(&ams);
	buf_free(&as);
	buf_free(&in);
	return r;
}
