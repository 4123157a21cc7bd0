/* dkim: tag lists, canonicalization, signature fields and key operations
 * of DKIM (RFC 6376, RFC 8463, RFC 8301), shared by the signer, the admin
 * tool and, later, the verifier.  Every input is bounded by its caller's
 * length; nothing here touches files.  Cryptography is OpenSSL (EVP) and
 * libsodium (base64): nothing hand-written. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "buf.h"
#include "dkim.h"

#define WSP(c)	((c) == ' ' || (c) == '\t')
#define FWS(c)	(WSP(c) || (c) == '\r' || (c) == '\n')

/* tagname - ALPHA *ALNUMPUNC (3.2) */
static int
tagname_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || !((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z'))
		return 0;
	for (i = 1; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') &&
		    !(c >= '0' && c <= '9') && c != '_')
			return 0;
	}
	return 1;
}

/* tagval_ok - VALCHAR (%x21-3A / %x3C-7E) and inner folding only */
static int
tagval_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (FWS(c))
			continue;
		if (c < 0x21 || c > 0x7e || c == ';')
			return 0;
	}
	return 1;
}

/* dkim_tags_parse - RFC 6376 3.2 tag-list */
int
dkim_tags_parse(struct dkim_tags *tl, const char *p, size_t n)
{
	size_t i = 0, j, k, e;

	tl->n = 0;
	while (i < n) {
		struct dkim_tag *t;

		while (i < n && FWS(p[i]))
			i++;
		if (i == n)
			break;		/* a trailing ";" or whitespace */
		for (e = i; e < n && p[e] != ';'; e++)
			;
		/* p[i..e) is one tag-spec: name [FWS] = [FWS] value [FWS] */
		for (j = i; j < e && p[j] != '='; j++)
			;
		if (j == e)
			return errno = EINVAL, -1;
		for (k = j; k > i && FWS(p[k - 1]); k--)
			;
		if (!tagname_ok(p + i, k - i))
			return errno = EINVAL, -1;
		if (tl->n == DKIM_TAGS_MAX)
			return errno = E2BIG, -1;
		t = &tl->t[tl->n];
		t->name = p + i, t->nlen = k - i;
		for (j++; j < e && FWS(p[j]); j++)
			;
		for (k = e; k > j && FWS(p[k - 1]); k--)
			;
		if (!tagval_ok(p + j, k - j))
			return errno = EINVAL, -1;
		t->val = p + j, t->vlen = k - j;
		for (k = 0; k < tl->n; k++)	/* 3.2: duplicates are errors */
			if (tl->t[k].nlen == t->nlen &&
			    memcmp(tl->t[k].name, t->name, t->nlen) == 0)
				return errno = EINVAL, -1;
		tl->n++;
		i = e < n ? e + 1 : e;
	}
	return 0;
}

/* dkim_tag_get - a tag by name (tag names are case-sensitive, 3.2) */
const struct dkim_tag *
dkim_tag_get(const struct dkim_tags *tl, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < tl->n; i++)
		if (tl->t[i].nlen == n && memcmp(tl->t[i].name, name, n) == 0)
			return &tl->t[i];
	return NULL;
}

/* dkim_fields_split - header fields, each without its final line end */
int
dkim_fields_split(struct dkim_fields *fs, const char *m, size_t n)
{
	size_t i = 0, e, c;

	fs->n = 0;
	fs->body = n;
	while (i < n) {
		if (m[i] == '\n' || (m[i] == '\r' && i + 1 < n &&
		    m[i + 1] == '\n')) {
			fs->body = i + (m[i] == '\r' ? 2 : 1);
			return 0;
		}
		/* a field runs to an LF not followed by whitespace */
		for (e = i; e < n; e++)
			if (m[e] == '\n' && (e + 1 == n || !WSP(m[e + 1])))
				break;
		if (fs->n == DKIM_FIELDS_MAX)
			return errno = E2BIG, -1;
		fs->f[fs->n].p = m + i;
		c = e;
		if (c < n && c > i && m[c - 1] == '\r')
			c--;
		fs->f[fs->n].n = c - i;
		{
			const char *colon = memchr(m + i, ':', c - i);
			size_t nl = colon ? (size_t)(colon - (m + i)) : c - i;

			while (nl > 0 && WSP(m[i + nl - 1]))
				nl--;
			fs->f[fs->n].nlen = nl;
			fs->f[fs->n].v = colon ?
			    (size_t)(colon - (m + i)) + 1 : 0;
		}
		fs->n++;
		i = e < n ? e + 1 : n;
	}
	return 0;
}

/* dkim_field_is - the field's name, case-insensitively */
int
dkim_field_is(const struct dkim_field *f, const char *name, size_t n)
{
	return f->v != 0 && f->nlen == n && strncasecmp(f->p, name, n) == 0;
}

/* dkim_field_value - see dkim.h */
const char *
dkim_field_value(const struct dkim_field *f, size_t *len)
{
	size_t v = f->v != 0 ? f->v : f->n;

	*len = f->n - v;
	return f->p + v;
}

/* canon_simple - the field as it is, line ends made CRLF */
static int
canon_simple(const char *p, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r') &&
		    buf_putc(out, '\r') == -1)
			return -1;
		if (buf_putc(out, p[i]) == -1)
			return -1;
	}
	return 0;
}

/* canon_relaxed - 3.4.2: lower-case name, unfold, one SP for each run of
 * whitespace, none at the ends of the value or around the colon */
static int
canon_relaxed(const char *p, size_t n, struct buf *out)
{
	const char *colon = memchr(p, ':', n);
	size_t i, nl, v;
	int wsp = 0, any = 0;

	nl = colon ? (size_t)(colon - p) : n;
	v = colon ? nl + 1 : n;
	while (nl > 0 && FWS(p[nl - 1]))
		nl--;
	for (i = 0; i < nl; i++) {
		char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		if (buf_putc(out, c) == -1)
			return -1;
	}
	if (buf_putc(out, ':') == -1)
		return -1;
	for (i = v; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n')
			continue;
		if (WSP(p[i])) {
			wsp = 1;
			continue;
		}
		if (wsp && any && buf_putc(out, ' ') == -1)
			return -1;
		if (buf_putc(out, p[i]) == -1)
			return -1;
		wsp = 0, any = 1;
	}
	return 0;
}

/* dkim_canon_header - one field into out */
int
dkim_canon_header(enum dkim_canon c, const char *p, size_t n,
    struct buf *out, int crlf)
{
	if ((c == DKIM_SIMPLE ? canon_simple(p, n, out) :
	    canon_relaxed(p, n, out)) == -1)
		return -1;
	return crlf ? buf_put(out, "\r\n", 2) : 0;
}

/* dkim_body_init - start a body hash */
int
dkim_body_init(struct dkim_body *b, enum dkim_canon c)
{
	memset(b, 0, sizeof *b);
	b->c = c;
	if ((b->md = EVP_MD_CTX_new()) == NULL)
		return errno = ENOMEM, -1;
	if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
		return errno = EIO, -1;
	}
	return 0;
}

static int
body_flush(struct dkim_body *b)
{
	if (b->olen > 0 && EVP_DigestUpdate(b->md, b->out, b->olen) != 1)
		return errno = EIO, -1;
	b->olen = 0;
	return 0;
}

static int
body_out(struct dkim_body *b, const char *p, size_t n)
{
	if (b->olen + n > sizeof b->out && body_flush(b) == -1)
		return -1;
	memcpy(b->out + b->olen, p, n);
	b->olen += n;
	b->any = 1;
	return 0;
}

/* body_char - one byte of line content (a CR or LF ends no line here) */
static int
body_char(struct dkim_body *b, char c)
{
	if (b->c == DKIM_RELAXED && WSP(c)) {
		b->wsp = 1;
		return 0;
	}
	/* the empty lines before this were inside the body after all */
	for (; b->nempty > 0; b->nempty--)
		if (body_out(b, "\r\n", 2) == -1)
			return -1;
	if (b->wsp && body_out(b, " ", 1) == -1)
		return -1;
	b->wsp = 0;
	b->data = 1;
	return body_out(b, &c, 1);
}

/* body_eol - end of a line: 3.4.3/3.4.4, trailing empty lines deferred */
static int
body_eol(struct dkim_body *b)
{
	b->wsp = 0;
	if (!b->data) {
		b->nempty++;
		return 0;
	}
	b->data = 0;
	return body_out(b, "\r\n", 2);
}

/* dkim_body_update - more body bytes, LF or CRLF line ends */
int
dkim_body_update(struct dkim_body *b, const void *v, size_t n)
{
	const char *p = v;
	size_t i;

	for (i = 0; i < n; i++) {
		if (b->cr) {
			b->cr = 0;
			if (p[i] == '\n') {
				if (body_eol(b) == -1)
					return -1;
				continue;
			}
			if (body_char(b, '\r') == -1)	/* a bare CR */
				return -1;
		}
		if (p[i] == '\r')
			b->cr = 1;
		else if (p[i] == '\n') {
			if (body_eol(b) == -1)
				return -1;
		} else if (body_char(b, p[i]) == -1)
			return -1;
	}
	return 0;
}

/* dkim_body_final - finish the last line, the empty-body rules, the hash */
int
dkim_body_final(struct dkim_body *b, unsigned char h[DKIM_HASHLEN])
{
	unsigned int len = 0;
	int r = -1;

	if (b->cr && body_char(b, '\r') == -1)
		goto out;
	b->cr = 0;
	if (b->data && body_eol(b) == -1)	/* no final line end */
		goto out;
	/* 3.4.3: an empty simple body is one CRLF; relaxed stays empty */
	if (b->c == DKIM_SIMPLE && !b->any && body_out(b, "\r\n", 2) == -1)
		goto out;
	if (body_flush(b) == -1)
		goto out;
	if (EVP_DigestFinal_ex(b->md, h, &len) != 1 || len != DKIM_HASHLEN) {
		errno = EIO;
		goto out;
	}
	r = 0;
out:
	dkim_body_free(b);
	return r;
}

void
dkim_body_free(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

/* The headers we sign, each over-signed.  The list follows OpenDKIM's
 * defaults (RFC 6376 5.4.1's "should sign") without Received and
 * Return-Path, which relays add. */
static const char *const sign_names[] = {
	"from", "sender", "reply-to", "subject", "date", "message-id",
	"to", "cc", "mime-version", "content-type",
	"content-transfer-encoding", "content-id", "content-description",
	"in-reply-to", "references", "list-id", "list-unsubscribe",
	"list-unsubscribe-post",
};

/* dkim_sign_headers - "name:name:..." each present count plus one */
int
dkim_sign_headers(const struct dkim_fields *fs, struct buf *h)
{
	size_t i, j, k, cnt;

	for (i = 0; i < sizeof sign_names / sizeof sign_names[0]; i++) {
		size_t nl = strlen(sign_names[i]);

		cnt = 0;
		for (j = 0; j < fs->n; j++)
			cnt += dkim_field_is(&fs->f[j], sign_names[i], nl);
		/* from is always signed (5.4); the rest when present */
		if (cnt == 0 && i != 0)
			continue;
		for (k = 0; k <= cnt; k++)
			if ((h->len > 0 && buf_putc(h, ':') == -1) ||
			    buf_put(h, sign_names[i], nl) == -1)
				return -1;
	}
	return 0;
}

/* dkim_headers_hash - 3.7: the fields named in h, bottom-up, each
 * instance used once, then the signature field without a line end */
int
dkim_headers_hash(enum dkim_canon c, const struct dkim_fields *fs,
    const char *h, size_t hlen, const char *sigf, size_t siglen,
    unsigned char hash[DKIM_HASHLEN])
{
	unsigned char used[DKIM_FIELDS_MAX];
	struct buf tmp = BUF_INIT(1 << 20);
	EVP_MD_CTX *md;
	unsigned int len = 0;
	size_t i = 0, e, nl, j;
	int r = -1;

	memset(used, 0, sizeof used);
	if ((md = EVP_MD_CTX_new()) == NULL)
		return errno = ENOMEM, -1;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	while (i <= hlen) {
		for (e = i; e < hlen && h[e] != ':'; e++)
			;
		/* a name, whitespace around it ignored (h= may be folded) */
		while (i < e && FWS(h[i]))
			i++;
		for (nl = e - i; nl > 0 && FWS(h[i + nl - 1]); nl--)
			;
		for (j = fs->n; nl > 0 && j-- > 0; )
			if (!used[j] && dkim_field_is(&fs->f[j], h + i, nl))
				break;
		if (nl > 0 && j < fs->n && !used[j]) {
			used[j] = 1;
			tmp.len = 0;
			if (dkim_canon_header(c, fs->f[j].p, fs->f[j].n,
			    &tmp, 1) == -1 ||
			    EVP_DigestUpdate(md, tmp.p, tmp.len) != 1)
				goto out;
		}
		i = e + 1;
	}
	tmp.len = 0;
	if (dkim_canon_header(c, sigf, siglen, &tmp, 0) == -1 ||
	    EVP_DigestUpdate(md, tmp.p, tmp.len) != 1 ||
	    EVP_DigestFinal_ex(md, hash, &len) != 1 || len != DKIM_HASHLEN)
		goto out;
	r = 0;
out:
	if (r == -1 && errno == 0)
		errno = EIO;
	EVP_MD_CTX_free(md);
	buf_free(&tmp);
	return r;
}

/* dkim_b64_put - base64 (the original alphabet, padded) */
int
dkim_b64_put(struct buf *b, const unsigned char *p, size_t n)
{
	size_t need = sodium_base64_ENCODED_LEN(n,
	    sodium_base64_VARIANT_ORIGINAL);

	if (buf_reserve(b, need) == -1)
		return -1;
	sodium_bin2base64(b->p + b->len, need, p, n,
	    sodium_base64_VARIANT_ORIGINAL);
	b->len += need - 1;
	return 0;
}

/* dkim_b64_get - decode, whitespace and folding ignored */
int
dkim_b64_get(const char *s, size_t n, unsigned char *out, size_t max,
    size_t *len)
{
	const char *end = NULL;

	if (sodium_base642bin(out, max, s, n, " \t\r\n", len, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != s + n)
		return errno = EINVAL, -1;
	return 0;
}

static const char *
alg_name(enum dkim_alg a)
{
	return a == DKIM_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256";
}

/* dkim_sig_begin - the field with an empty b=, and its header hash */
int
dkim_sig_begin(const struct dkim_sigreq *q, const struct dkim_fields *fs,
    const char *h, const unsigned char bh[DKIM_HASHLEN], struct buf *sig,
    unsigned char hash[DKIM_HASHLEN])
{
	static const char *const cn[] = { "simple", "relaxed" };
	size_t i, col;

	sig->len = 0;
	if (buf_fmt(sig, "DKIM-Signature: v=1; a=%s; c=%s/%s; d=%s; s=%s;",
	    alg_name(q->alg), cn[q->hc], cn[q->bc], q->domain,
	    q->selector) == -1)
		return -1;
	if (q->t != 0 && buf_fmt(sig, " t=%lld;", (long long)q->t) == -1)
		return -1;
	/* h= folded at colons so no line passes 78 characters (RFC 5322) */
	if (buf_puts(sig, "\r\n\th=") == -1)
		return -1;
	for (i = 0, col = 3; h[i] != '\0'; i++) {
		if (h[i] == ':' && col > 68) {
			if (buf_puts(sig, ":\r\n\t") == -1)
				return -1;
			col = 1;
			continue;
		}
		if (buf_putc(sig, h[i]) == -1)
			return -1;
		col++;
	}
	if (buf_puts(sig, ";\r\n\tbh=") == -1 ||
	    dkim_b64_put(sig, bh, DKIM_HASHLEN) == -1 ||
	    buf_puts(sig, ";\r\n\tb=") == -1)
		return -1;
	return dkim_headers_hash(q->hc, fs, h, strlen(h), sig->p, sig->len,
	    hash);
}

/* dkim_sig_end - the signature after b=, folded every 72 characters */
int
dkim_sig_end(struct buf *sig, const unsigned char *s, size_t n)
{
	struct buf b = BUF_INIT(2 * DKIM_SIG_MAX);
	size_t i;
	int r = -1;

	if (dkim_b64_put(&b, s, n) == -1)
		goto out;
	for (i = 0; i < b.len; i += 72) {
		size_t k = b.len - i < 72 ? b.len - i : 72;

		if ((i > 0 && buf_puts(sig, "\r\n\t ") == -1) ||
		    buf_put(sig, b.p + i, k) == -1)
			goto out;
	}
	r = buf_puts(sig, "\r\n");
out:
	buf_free(&b);
	return r;
}

/* dkim_key_alg - which algorithm a key serves, its size checked */
int
dkim_key_alg(EVP_PKEY *k, int min_rsa_bits)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(k) < min_rsa_bits)
			return errno = ERANGE, -1;
		return DKIM_RSA_SHA256;
	case EVP_PKEY_ED25519:
		return DKIM_ED25519_SHA256;
	default:
		return errno = EINVAL, -1;
	}
}

/* pk_ctx - an operation context: RSA signs the SHA-256 digest with
 * PKCS#1 v1.5 (3.3.1); Ed25519 signs the 32 hash bytes themselves
 * (PureEdDSA over the hash, RFC 8463 3) */
static int
pk_sign_rsa(EVP_PKEY *k, const unsigned char *h, unsigned char *s,
    size_t *sl)
{
	EVP_PKEY_CTX *c;
	int r = -1;

	if ((c = EVP_PKEY_CTX_new(k, NULL)) == NULL)
		return errno = ENOMEM, -1;
	if (EVP_PKEY_sign_init(c) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(c, s, sl, h, DKIM_HASHLEN) == 1)
		r = 0;
	EVP_PKEY_CTX_free(c);
	return r == 0 ? 0 : (errno = EIO, -1);
}

/* dkim_pk_sign - sign a header hash; siglen in: room, out: length */
int
dkim_pk_sign(EVP_PKEY *k, enum dkim_alg a, const unsigned char *h,
    unsigned char *s, size_t *sl)
{
	EVP_MD_CTX *m;
	int r = -1;

	if (dkim_key_alg(k, DKIM_RSA_SIGN_MIN) != (int)a)
		return errno = EINVAL, -1;
	if (a == DKIM_RSA_SHA256) {
		if ((size_t)EVP_PKEY_get_size(k) > *sl)
			return errno = E2BIG, -1;
		return pk_sign_rsa(k, h, s, sl);
	}
	if ((m = EVP_MD_CTX_new()) == NULL)
		return errno = ENOMEM, -1;
	if (EVP_DigestSignInit(m, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(m, s, sl, h, DKIM_HASHLEN) == 1)
		r = 0;
	EVP_MD_CTX_free(m);
	return r == 0 ? 0 : (errno = EIO, -1);
}

/* dkim_pk_verify - 1 the signature is good, 0 not */
int
dkim_pk_verify(EVP_PKEY *k, enum dkim_alg a, const unsigned char *h,
    const unsigned char *s, size_t sl)
{
	EVP_PKEY_CTX *c = NULL;
	EVP_MD_CTX *m = NULL;
	int ok = 0;

	if (dkim_key_alg(k, DKIM_RSA_VERIFY_MIN) != (int)a)
		return 0;
	if (a == DKIM_RSA_SHA256) {
		if ((c = EVP_PKEY_CTX_new(k, NULL)) != NULL &&
		    EVP_PKEY_verify_init(c) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1)
			ok = EVP_PKEY_verify(c, s, sl, h, DKIM_HASHLEN) == 1;
		EVP_PKEY_CTX_free(c);
		return ok;
	}
	if ((m = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(m, NULL, NULL, NULL, k) == 1)
		ok = EVP_DigestVerify(m, s, sl, h, DKIM_HASHLEN) == 1;
	EVP_MD_CTX_free(m);
	return ok;
}

static int
tag_is(const struct dkim_tag *t, const char *s)
{
	return t != NULL && t->vlen == strlen(s) &&
	    memcmp(t->val, s, t->vlen) == 0;
}

/* dkim_pubkey_parse - 3.6.1 key record: v=DKIM1 first if present,
 * k=rsa (the default) or ed25519, p= base64 */
int
dkim_pubkey_parse(const char *txt, size_t n, EVP_PKEY **out)
{
	struct dkim_tags tl;
	const struct dkim_tag *v, *k, *p;
	unsigned char raw[2048];
	const unsigned char *rp = raw;
	size_t len;

	*out = NULL;
	if (dkim_tags_parse(&tl, txt, n) == -1)
		return -1;
	v = dkim_tag_get(&tl, "v");
	if (v != NULL && (v != &tl.t[0] || !tag_is(v, "DKIM1")))
		return errno = EINVAL, -1;
	k = dkim_tag_get(&tl, "k");
	if ((p = dkim_tag_get(&tl, "p")) == NULL)
		return errno = EINVAL, -1;
	if (p->vlen == 0)
		return errno = ENOKEY, -1;
	if (dkim_b64_get(p->val, p->vlen, raw, sizeof raw, &len) == -1)
		return -1;
	if (k == NULL || tag_is(k, "rsa")) {
		*out = d2i_PUBKEY(NULL, &rp, (long)len);
		if (*out == NULL || rp != raw + len ||
		    EVP_PKEY_get_base_id(*out) != EVP_PKEY_RSA)
			goto bad;
		if (EVP_PKEY_get_bits(*out) < DKIM_RSA_VERIFY_MIN) {
			EVP_PKEY_free(*out);
			*out = NULL;
			return errno = ERANGE, -1;
		}
		return 0;
	}
	if (tag_is(k, "ed25519") && len == 32 &&
	    (*out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
	    raw, len)) != NULL)
		return 0;
bad:
	EVP_PKEY_free(*out);
	*out = NULL;
	return errno = EINVAL, -1;
}

/* dkim_pubkey_txt - "v=DKIM1; k=...; p=..." for a key */
int
dkim_pubkey_txt(EVP_PKEY *k, struct buf *b)
{
	unsigned char *der = NULL, raw[32];
	size_t rl = sizeof raw;
	int n, r = -1;

	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		if ((n = i2d_PUBKEY(k, &der)) <= 0)
			return errno = EINVAL, -1;
		r = buf_puts(b, "v=DKIM1; k=rsa; p=") == -1 ||
		    dkim_b64_put(b, der, (size_t)n) == -1 ? -1 : 0;
		OPENSSL_free(der);
		return r;
	case EVP_PKEY_ED25519:
		if (EVP_PKEY_get_raw_public_key(k, raw, &rl) != 1)
			return errno = EINVAL, -1;
		return buf_puts(b, "v=DKIM1; k=ed25519; p=") == -1 ||
		    dkim_b64_put(b, raw, rl) == -1 ? -1 : 0;
	default:
		return errno = EINVAL, -1;
	}
}

/* strip_b - the signature field with the b= value removed (3.7), from
 * the parsed tags' positions in the field */
static int
strip_b(const struct dkim_field *f, const struct dkim_tag *b,
    struct buf *out)
{
	size_t before = (size_t)(b->val - f->p);
	const char *rest = b->val + b->vlen;

	out->len = 0;
	return buf_put(out, f->p, before) == -1 ||
	    buf_put(out, rest, (size_t)(f->p + f->n - rest)) == -1 ? -1 : 0;
}

static enum dkim_result
verdict(struct dkim_verdict *v, enum dkim_result r, const char *why)
{
	v->r = r;
	v->why = why;
	return r;
}

static void
copy_tag(char *dst, size_t max, const struct dkim_tag *t)
{
	size_t n = t == NULL ? 0 : t->vlen < max - 1 ? t->vlen : max - 1;

	if (n > 0)
		memcpy(dst, t->val, n);
	dst[n] = '\0';
}

/* check_tags - the required tags and the values we support (3.5, 6.1.1) */
static int
check_tags(const struct dkim_tags *tl, struct dkim_verdict *v,
    enum dkim_alg *alg, enum dkim_canon *hc, enum dkim_canon *bc,
    time_t now)
{
	const struct dkim_tag *a = dkim_tag_get(tl, "a");
	const struct dkim_tag *c = dkim_tag_get(tl, "c");
	const struct dkim_tag *x = dkim_tag_get(tl, "x");
	static const char *const req[] = { "v", "a", "b", "bh", "d", "h",
	    "s" };
	size_t i;

	for (i = 0; i < sizeof req / sizeof req[0]; i++)
		if (dkim_tag_get(tl, req[i]) == NULL)
			return verdict(v, DKIM_PERMERROR, "tag missing"), -1;
	if (!tag_is(dkim_tag_get(tl, "v"), "1"))
		return verdict(v, DKIM_PERMERROR, "version"), -1;
	if (dkim_tag_get(tl, "l") != NULL)	/* a body length lets a
						 * forger append: refuse */
		return verdict(v, DKIM_PERMERROR, "l= not accepted"), -1;
	if (tag_is(a, "rsa-sha256"))
		*alg = DKIM_RSA_SHA256;
	else if (tag_is(a, "ed25519-sha256"))
		*alg = DKIM_ED25519_SHA256;
	else
		return verdict(v, DKIM_PERMERROR, "algorithm"), -1;
	*hc = *bc = DKIM_SIMPLE;
	if (c == NULL || tag_is(c, "simple") || tag_is(c, "simple/simple"))
		;
	else if (tag_is(c, "relaxed") || tag_is(c, "relaxed/simple"))
		*hc = DKIM_RELAXED;
	else if (tag_is(c, "relaxed/relaxed"))
		*hc = *bc = DKIM_RELAXED;
	else if (tag_is(c, "simple/relaxed"))
		*bc = DKIM_RELAXED;
	else
		return verdict(v, DKIM_PERMERROR, "canonicalization"), -1;
	if (x != NULL) {
		unsigned long long xt = 0;

		for (i = 0; i < x->vlen && i < 12; i++) {
			if (x->val[i] < '0' || x->val[i] > '9')
				return verdict(v, DKIM_PERMERROR, "x="), -1;
			xt = xt * 10 + (unsigned)(x->val[i] - '0');
		}
		if (x->vlen == 0 || x->vlen > 12)
			return verdict(v, DKIM_PERMERROR, "x="), -1;
		if (now > 0 && xt < (unsigned long long)now)
			return verdict(v, DKIM_PERMERROR, "expired"), -1;
	}
	return 0;
}

/* h_has_from - 5.4: the From field must be signed */
static int
h_has_from(const struct dkim_tag *h)
{
	size_t i = 0, e, k;

	while (i < h->vlen) {
		for (e = i; e < h->vlen && h->val[e] != ':'; e++)
			;
		while (i < e && FWS(h->val[i]))
			i++;
		for (k = e; k > i && FWS(h->val[k - 1]); k--)
			;
		if (k - i == 4 && strncasecmp(h->val + i, "from", 4) == 0)
			return 1;
		i = e + 1;
	}
	return 0;
}

/* dkim_verify_field - one signature of a message against one key */
void
dkim_verify_field(const char *msg, size_t n, const struct dkim_fields *fs,
    size_t i, EVP_PKEY *key, time_t now, struct dkim_verdict *v)
{
	const struct dkim_field *f = &fs->f[i];
	const char *colon = memchr(f->p, ':', f->n);
	struct dkim_tags tl;
	const struct dkim_tag *b, *bh, *h;
	struct dkim_body body;
	struct buf sf = BUF_INIT(1 << 16);
	unsigned char hb[DKIM_HASHLEN], want[DKIM_HASHLEN], hh[DKIM_HASHLEN];
	unsigned char sig[DKIM_SIG_MAX];
	size_t len, sl;
	enum dkim_alg alg;
	enum dkim_canon hc, bc;

	v->d[0] = v->s[0] = '\0';
	if (colon == NULL || dkim_tags_parse(&tl, colon + 1,
	    (size_t)(f->p + f->n - colon - 1)) == -1) {
		verdict(v, DKIM_PERMERROR, "tag list");
		return;
	}
	copy_tag(v->d, sizeof v->d, dkim_tag_get(&tl, "d"));
	copy_tag(v->s, sizeof v->s, dkim_tag_get(&tl, "s"));
	if (check_tags(&tl, v, &alg, &hc, &bc, now) == -1)
		return;
	b = dkim_tag_get(&tl, "b");
	bh = dkim_tag_get(&tl, "bh");
	h = dkim_tag_get(&tl, "h");
	if (!h_has_from(h)) {
		verdict(v, DKIM_PERMERROR, "From not signed");
		return;
	}
	if (dkim_b64_get(bh->val, bh->vlen, want, sizeof want, &len) == -1 ||
	    len != DKIM_HASHLEN ||
	    dkim_b64_get(b->val, b->vlen, sig, sizeof sig, &sl) == -1) {
		verdict(v, DKIM_PERMERROR, "base64");
		return;
	}
	if (dkim_body_init(&body, bc) == -1 ||
	    dkim_body_update(&body, msg + fs->body, n - fs->body) == -1 ||
	    dkim_body_final(&body, hb) == -1) {
		verdict(v, DKIM_PERMERROR, "body hash");
		return;
	}
	if (memcmp(hb, want, DKIM_HASHLEN) != 0) {
		verdict(v, DKIM_FAIL_BODY, "body hash mismatch");
		return;
	}
	if (strip_b(f, b, &sf) == -1 ||
	    dkim_headers_hash(hc, fs, h->val, h->vlen, sf.p, sf.len,
	    hh) == -1)
		verdict(v, DKIM_PERMERROR, "header hash");
	else if (dkim_pk_verify(key, alg, hh, sig, sl) != 1)
		verdict(v, DKIM_FAIL_SIG, "signature mismatch");
	else
		verdict(v, DKIM_PASS, "good");
	buf_free(&sf);
}

/* body_hash - the body hash of one canonicalization, in one pass */
static int
body_hash(const char *p, size_t n, enum dkim_canon c,
    unsigned char h[DKIM_HASHLEN])
{
	struct dkim_body b;

	if (dkim_body_init(&b, c) == -1)
		return -1;
	if (dkim_body_update(&b, p, n) == -1) {
		dkim_body_free(&b);
		return -1;
	}
	return dkim_body_final(&b, h);
}

/* dkim_sign_msg - split, hash the body, build the fields, sign them */
int
dkim_sign_msg(const char *m, size_t n, const struct dkim_sigreq *q,
    size_t nq, dkim_signfn *fn, void *arg, struct buf *out)
{
	static struct dkim_fields fs;	/* 24 kB: not on the stack */
	static struct dkim_sigout o[DKIM_SIGS_MAX];
	struct buf h = BUF_INIT(4096), sig[DKIM_SIGS_MAX];
	unsigned char bh[2][DKIM_HASHLEN];
	int have[2] = { 0, 0 }, r = -1;
	size_t i;

	if (nq == 0 || nq > DKIM_SIGS_MAX)
		return errno = EINVAL, -1;
	if (dkim_fields_split(&fs, m, n) == -1)
		return -1;
	for (i = 0; i < nq; i++)
		buf_init(&sig[i], 1 << 16);
	if (dkim_sign_headers(&fs, &h) == -1 || buf_cstr(&h) == -1)
		goto out;
	for (i = 0; i < nq; i++) {
		enum dkim_canon c = q[i].bc == DKIM_SIMPLE ? DKIM_SIMPLE :
		    DKIM_RELAXED;

		if (!have[c] && body_hash(m + fs.body, n - fs.body, c,
		    bh[c]) == -1)
			goto out;
		have[c] = 1;
		if (dkim_sig_begin(&q[i], &fs, h.p, bh[c], &sig[i],
		    o[i].hash) == -1)
			goto out;
		o[i].siglen = sizeof o[i].sig;
	}
	if (fn(arg, q, o, nq) == -1)
		goto out;
	for (i = 0; i < nq; i++)
		if (dkim_sig_end(&sig[i], o[i].sig, o[i].siglen) == -1 ||
		    buf_put(out, sig[i].p, sig[i].len) == -1)
			goto out;
	r = 0;
out:
	buf_free(&h);
	for (i = 0; i < nq; i++)
		buf_free(&sig[i]);
	return r;
}
