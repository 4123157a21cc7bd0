/* authres: DKIM verification of a whole message and the
 * Authentication-Results header field (lib/authres.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "authres.h"
#include "buf.h"
#include "dkim.h"
#include "dnsans.h"
#include "rfc5322.h"

#define WSP(c)	((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')

static const char *const dkim_names[] = {
	"none", "pass", "fail", "neutral", "temperror", "permerror"
};

const char *
ar_dkim_name(enum ar_dkim r)
{
	return r <= ARD_PERMERROR ? dkim_names[r] : "permerror";
}

/* sig_tags - d=, s= and the start of b= of a signature field, for the
 * record and the key query; 0 or -1 */
static int
sig_tags(const struct dkim_field *f, struct ar_sig *sg)
{
	static struct dkim_tags tl;
	const char *colon = memchr(f->p, ':', f->n);
	const struct dkim_tag *d, *s, *b;
	size_t k = 0;

	if (colon == NULL || dkim_tags_parse(&tl, colon + 1,
	    (size_t)(f->p + f->n - colon - 1)) == -1)
		return -1;
	d = dkim_tag_get(&tl, "d");
	s = dkim_tag_get(&tl, "s");
	b = dkim_tag_get(&tl, "b");
	if (d == NULL || s == NULL || d->vlen == 0 || s->vlen == 0 ||
	    d->vlen >= sizeof sg->d || s->vlen >= sizeof sg->s)
		return -1;
	for (size_t i = 0; i < d->vlen; i++)
		sg->d[i] = (char)(d->val[i] >= 'A' && d->val[i] <= 'Z' ?
		    d->val[i] - 'A' + 'a' : d->val[i]);
	sg->d[d->vlen] = '\0';
	memcpy(sg->s, s->val, s->vlen);
	sg->s[s->vlen] = '\0';
	for (size_t i = 0; b != NULL && i < b->vlen && k < 8; i++)
		if (!WSP(b->val[i]))
			sg->b[k++] = b->val[i];
	sg->b[k] = '\0';
	return 0;
}

/* name_safe - selector and domain as a DNS name: letters, digits, '-',
 * '_' and dots (RFC 6376 3.1) */
static int
name_safe(const char *s)
{
	if (*s == '\0' || *s == '.')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		    *s == '.'))
			return 0;
	return 1;
}

/* key_get - the public key of s._domainkey.d (6.1.2) */
static enum ar_dkim
key_get(struct ar_sig *sg, dnsans_fn *dns, void *arg, EVP_PKEY **k)
{
	static struct dnsans a;
	char name[DNS_NAME_BUF];
	int n, revoked = 0, shortkey = 0;

	n = snprintf(name, sizeof name, "%s._domainkey.%s", sg->s, sg->d);
	if (n < 0 || (size_t)n >= sizeof name || n > 253 ||
	    !name_safe(sg->s) || !name_safe(sg->d))
		return sg->why = "bad selector or domain", ARD_PERMERROR;
	dns(arg, name, DNS_T_TXT, &a);
	if (a.st == DA_TEMP)
		return sg->why = "key lookup failed", ARD_TEMPERROR;
	for (size_t i = 0; a.st == DA_OK && i < a.n; i++) {
		if (a.rr[i].type != DNS_T_TXT)
			continue;
		if (dkim_pubkey_parse(a.txt + a.rr[i].off, a.rr[i].len,
		    k) == 0)
			return ARD_PASS;
		revoked |= errno == ENOKEY;
		shortkey |= errno == ERANGE;
	}
	sg->why = revoked ? "key revoked" : shortkey ? "key too short" :
	    "no key";
	return ARD_PERMERROR;
}

/* ar_dkim_verify - see authres.h */
void
ar_dkim_verify(struct authres *ar, const char *msg, size_t n,
    dnsans_fn *dns, void *arg, time_t now)
{
	static struct dkim_fields fs;
	struct dkim_verdict v;
	EVP_PKEY *k;

	ar->nsig = ar->nsig_all = 0;
	ar->dkim_why = NULL;
	if (dkim_fields_split(&fs, msg, n) == -1) {
		ar->dkim_why = "too many header fields";
		return;
	}
	for (size_t i = 0; i < fs.n; i++) {
		struct ar_sig *sg;

		if (!dkim_field_is(&fs.f[i], "dkim-signature", 14))
			continue;
		if (ar->nsig_all++ >= AR_DKIM_MAX)
			continue;
		sg = &ar->sig[ar->nsig++];
		memset(sg, 0, sizeof *sg);
		if (sig_tags(&fs.f[i], sg) == -1) {
			sg->r = ARD_PERMERROR;
			sg->why = "bad signature field";
			continue;
		}
		k = NULL;
		if ((sg->r = key_get(sg, dns, arg, &k)) != ARD_PASS)
			continue;
		dkim_verify_field(msg, n, &fs, i, k, now, &v);
		EVP_PKEY_free(k);
		sg->why = v.why;
		switch (v.r) {
		case DKIM_PASS:
			sg->r = ARD_PASS;
			break;
		case DKIM_FAIL_BODY:
		case DKIM_FAIL_SIG:
			sg->r = ARD_FAIL;
			break;
		default:
			sg->r = ARD_PERMERROR;
		}
	}
}

/* pval - a property value: as it is when it is a dot-atom or an address
 * of dot-atoms, else a quoted-string (RFC 8601 2.2, RFC 5322 3.2.4) */
static int
pval(struct buf *b, const char *s)
{
	const char *p;
	int plain = *s != '\0';

	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-/=?^_`{|}~.@",
		    *p) != NULL))
			plain = 0;
	if (plain)
		return buf_puts(b, s);
	if (buf_puts(b, "\"") == -1)
		return -1;
	for (p = s; *p != '\0'; p++) {
		char c = *p >= 0x20 && *p < 0x7f ? *p : '?';

		if ((c == '"' || c == '\\') && buf_puts(b, "\\") == -1)
			return -1;
		if (buf_put(b, &c, 1) == -1)
			return -1;
	}
	return buf_puts(b, "\"");
}

/* comment - " (text)" with the text kept printable and parenthesis-free */
static int
comment(struct buf *b, const char *t)
{
	if (t == NULL || *t == '\0')
		return 0;
	if (buf_puts(b, " (") == -1)
		return -1;
	for (; *t != '\0'; t++) {
		char c = *t >= 0x20 && *t < 0x7f && *t != '(' && *t != ')' &&
		    *t != '\\' ? *t : '?';

		if (buf_put(b, &c, 1) == -1)
			return -1;
	}
	return buf_puts(b, ")");
}

static int
spf_part(struct buf *b, const struct spf_out *o, const char *prop,
    const char *val)
{
	return buf_fmt(b, ";\n\tspf=%s", spf_name(o->r)) == -1 ||
	    comment(b, o->why) == -1 || buf_fmt(b, " %s=", prop) == -1 ||
	    pval(b, val) == -1 ? -1 : 0;
}

/* ar_header - see authres.h */
int
ar_header(const struct authres *ar, const char *id, struct buf *b)
{
	size_t i;

	if (buf_puts(b, "Authentication-Results: ") == -1 ||
	    pval(b, id) == -1)
		return -1;
	if (ar->spf_done && spf_part(b, &ar->spf, "smtp.mailfrom",
	    ar->mailfrom) == -1)
		return -1;
	if (ar->helo_done && spf_part(b, &ar->spf_helo, "smtp.helo",
	    ar->helo) == -1)
		return -1;
	if (ar->nsig == 0 && (buf_puts(b, ";\n\tdkim=none") == -1 ||
	    comment(b, ar->dkim_why) == -1))
		return -1;
	for (i = 0; i < ar->nsig; i++) {
		const struct ar_sig *sg = &ar->sig[i];

		if (buf_fmt(b, ";\n\tdkim=%s", ar_dkim_name(sg->r)) == -1 ||
		    comment(b, sg->why) == -1)
			return -1;
		if (sg->d[0] != '\0' && (buf_puts(b, " header.d=") == -1 ||
		    pval(b, sg->d) == -1 || buf_puts(b, " header.s=") == -1 ||
		    pval(b, sg->s) == -1))
			return -1;
		if (sg->b[0] != '\0' && (buf_puts(b, " header.b=") == -1 ||
		    pval(b, sg->b) == -1))
			return -1;
	}
	if (ar->arc_done) {
		char c[300];

		snprintf(c, sizeof c, ar->arc.r == ARC_PASS ? "%s, %u sets, "
		    "newest d=%s" : "%s", ar->arc.why ? ar->arc.why : "",
		    ar->arc.n, ar->arc.d);
		if (buf_fmt(b, ";\n\tarc=%s", arc_name(ar->arc.r)) == -1 ||
		    comment(b, c) == -1)
			return -1;
	}
	if (ar->dmarc_done) {
		if (buf_fmt(b, ";\n\tdmarc=%s", dmarc_name(ar->dmarc.r)) == -1)
			return -1;
		if (ar->dmarc.r == DMARC_PASS || ar->dmarc.r == DMARC_FAIL) {
			char c[512];

			/* an override (RFC 7489 7.2): nothing was done, and
			 * why */
			snprintf(c, sizeof c, "p=%s dis=%s%s%s%s%s",
			    dmarc_policy_name(ar->dmarc.policy),
			    dmarc_policy_name(ar->dmarc.override ? DMARC_P_NONE :
			    ar->dmarc.disposition), ar->dmarc.override ?
			    ", override " : "", ar->dmarc.override ?
			    ar->dmarc.override : "", ar->dmarc.override ?
			    ": " : "", ar->dmarc.override ?
			    ar->dmarc.override_why : "");
			if (comment(b, c) == -1)
				return -1;
		} else if (comment(b, ar->dmarc.why) == -1)
			return -1;
		if (ar->from[0] != '\0' && (buf_puts(b, " header.from=") ==
		    -1 || pval(b, ar->from) == -1))
			return -1;
		if (ar->dmarc.override != NULL && (buf_puts(b,
		    " policy.override=") == -1 || pval(b,
		    ar->dmarc.override) == -1))
			return -1;
	}
	return buf_puts(b, "\n");
}

/* ar_is_ours - see authres.h */
int
ar_is_ours(const char *p, size_t n, const char *id)
{
	static const char name[] = "authentication-results";
	size_t i = sizeof name - 1, s, l = strlen(id);

	if (n < i || strncasecmp(p, name, i) != 0)
		return 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == n || p[i++] != ':')
		return 0;
	i = rfc5322_cfws(p, n, i);
	if (i < n && p[i] == '"') {	/* a quoted authserv-id */
		s = i + 1;
		if (rfc5322_skip(p, n, &i) == -1)
			return 0;
		return i - 1 - s == l && strncasecmp(p + s, id, l) == 0;
	}
	for (s = i; i < n && !WSP(p[i]) && p[i] != ';' && p[i] != '('; i++)
		;
	return i - s == l && strncasecmp(p + s, id, l) == 0;
}
