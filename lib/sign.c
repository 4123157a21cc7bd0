/* sign: the key table of sandmail-sign and the records it exchanges
 * with send.  The table is read before the sandbox; requests come from
 * send, which reads messages from the queue: they are checked like any
 * peer's bytes, and a request carries only a hash, never message text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dkim.h"
#include "job.h"
#include "rec.h"
#include "sign.h"

/* word - the next blank-separated word of a line */
static int
word(const char **p, const char *e, const char **w, size_t *n)
{
	while (*p < e && (**p == ' ' || **p == '\t'))
		(*p)++;
	*w = *p;
	while (*p < e && **p != ' ' && **p != '\t')
		(*p)++;
	*n = (size_t)(*p - *w);
	return *n > 0;
}

/* name_ok - a domain or selector: letters, digits, '-', '.', '_' */
static int
name_ok(const char *p, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n > max || p[0] == '.' || p[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return 0;
	}
	return 1;
}

static void
lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + ('a' - 'A'));
}

/* one_line - "DOMAIN SELECTOR KEYFILE" into k */
static int
one_line(struct sign_key *k, const char *p, const char *e, const char *dir,
    sign_load_fn *load, const char **why)
{
	const char *d, *s, *f, *x;
	size_t dn, sn, fn, xn;
	struct buf path = BUF_INIT(4096);
	int a;

	if (!word(&p, e, &d, &dn) || !word(&p, e, &s, &sn) ||
	    !word(&p, e, &f, &fn) || word(&p, e, &x, &xn))
		return *why = "want: DOMAIN SELECTOR KEYFILE", -1;
	if (!name_ok(d, dn, SIGN_DOMAIN_MAX) || !name_ok(s, sn, SIGN_SEL_MAX))
		return *why = "bad domain or selector", -1;
	/* name_ok let no NUL through: strndup copies all n */
	if ((k->domain = strndup(d, dn)) == NULL ||
	    (k->selector = strndup(s, sn)) == NULL)
		return *why = "out of memory", -1;
	lower(k->domain);
	k->k = NULL;
	k->alg = DKIM_RSA_SHA256;
	if (load == NULL)
		return 0;
	if ((f[0] != '/' && (buf_puts(&path, dir) == -1 ||
	    buf_putc(&path, '/') == -1)) || buf_put(&path, f, fn) == -1 ||
	    buf_cstr(&path) == -1) {
		buf_free(&path);
		return *why = "key path too long", -1;
	}
	k->k = load(path.p, why);
	buf_free(&path);
	if (k->k == NULL)
		return -1;
	if ((a = dkim_key_alg(k->k, DKIM_RSA_SIGN_MIN)) == -1)
		return *why = errno == ERANGE ? "RSA key under 2048 bits" :
		    "not an RSA or Ed25519 key", -1;
	k->alg = (enum dkim_alg)a;
	return 0;
}

/* sign_table_parse - every line of the table */
int
sign_table_parse(struct sign_keys *ks, const char *p, size_t n,
    const char *dir, sign_load_fn *load, size_t *line, const char **why)
{
	const char *e = p + n, *nl, *end;
	size_t i;

	ks->v = NULL, ks->n = 0;
	for (*line = 1; p < e; p = nl + 1, (*line)++) {
		if ((nl = memchr(p, '\n', (size_t)(e - p))) == NULL)
			nl = e;
		end = nl;
		if (memchr(p, '#', (size_t)(end - p)) != NULL)
			end = memchr(p, '#', (size_t)(end - p));
		while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\r'))
			end--;
		for (i = 0; p + i < end && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		if (p + i == end)
			continue;
		if (ks->n == SIGN_KEYS_MAX)
			return *why = "too many keys", -1;
		if (ks->v == NULL && (ks->v = calloc(SIGN_KEYS_MAX,
		    sizeof *ks->v)) == NULL)
			return *why = "out of memory", -1;
		if (one_line(&ks->v[ks->n], p, end, dir, load, why) == -1) {
			ks->n++;	/* so that free sees its fields */
			return -1;
		}
		ks->n++;
	}
	return 0;
}

void
sign_keys_free(struct sign_keys *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++) {
		free(ks->v[i].domain);
		free(ks->v[i].selector);
		EVP_PKEY_free(ks->v[i].k);
	}
	free(ks->v);
	ks->v = NULL, ks->n = 0;
}

/* sign_find - keys of one domain, in table order */
const struct sign_key *
sign_find(const struct sign_keys *ks, const char *domain, size_t *i)
{
	for (; *i < ks->n; (*i)++)
		if (strcasecmp(ks->v[*i].domain, domain) == 0)
			return &ks->v[(*i)++];
	return NULL;
}

/* sign_hello_encode - 'G', banner, u32 n, n x (domain, selector, u8 alg) */
int
sign_hello_encode(struct buf *b, const struct sign_keys *ks)
{
	size_t i;

	if (pk_u8(b, SIGN_HELLO) == -1 || pk_cstr(b, SIGN_BANNER) == -1 ||
	    pk_u32(b, (uint32_t)ks->n) == -1)
		return -1;
	for (i = 0; i < ks->n; i++)
		if (pk_cstr(b, ks->v[i].domain) == -1 ||
		    pk_cstr(b, ks->v[i].selector) == -1 ||
		    pk_u8(b, (uint8_t)ks->v[i].alg) == -1)
			return -1;
	return 0;
}

int
sign_hello_decode(struct sign_keys *ks, const void *p, size_t n)
{
	struct cur c;
	uint8_t t, a;
	uint32_t nk, i;
	char *banner = NULL;

	ks->v = NULL, ks->n = 0;
	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != SIGN_HELLO ||
	    cur_cstr(&c, &banner, 64) == -1 ||
	    strcmp(banner, SIGN_BANNER) != 0 || cur_u32(&c, &nk) == -1 ||
	    nk > SIGN_KEYS_MAX)
		goto bad;
	free(banner);
	banner = NULL;
	if (nk > 0 && (ks->v = calloc(nk, sizeof *ks->v)) == NULL)
		return -1;
	for (i = 0; i < nk; i++, ks->n++)
		if (cur_cstr(&c, &ks->v[i].domain, SIGN_DOMAIN_MAX) == -1 ||
		    cur_cstr(&c, &ks->v[i].selector, SIGN_SEL_MAX) == -1 ||
		    cur_u8(&c, &a) == -1 || a > DKIM_ED25519_SHA256) {
			ks->n++;
			goto bad;
		} else
			ks->v[i].alg = (enum dkim_alg)a;
	if (cur_end(&c) == 0)
		return 0;
bad:
	free(banner);
	sign_keys_free(ks);
	return errno = EPROTO, -1;
}

/* sign_req_encode - 'S', domain, selector, u8 alg, 32 hash bytes */
int
sign_req_encode(struct buf *b, const char *domain, const char *sel,
    enum dkim_alg a, const unsigned char *hash)
{
	if (pk_u8(b, SIGN_REQ) == -1 || pk_cstr(b, domain) == -1 ||
	    pk_cstr(b, sel) == -1 || pk_u8(b, (uint8_t)a) == -1)
		return -1;
	return buf_put(b, hash, DKIM_HASHLEN);
}

static int
res(struct buf *out, uint8_t st, const void *p, size_t n)
{
	return pk_u8(out, SIGN_RES) == -1 || pk_u8(out, st) == -1 ||
	    pk_str(out, p, n) == -1 ? -1 : 0;
}

/* sign_answer - a malformed request is -1 (the caller exits); a key we
 * do not hold is a refusal send can log */
int
sign_answer(const struct sign_keys *ks, const void *p, size_t n,
    struct buf *out)
{
	unsigned char sig[DKIM_SIG_MAX];
	const struct sign_key *k = NULL;
	const void *hash;
	const char *d, *s;
	size_t dn, sn, sl = sizeof sig, i;
	struct cur c;
	uint8_t t, a;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != SIGN_REQ ||
	    cur_str(&c, &d, &dn) == -1 || cur_str(&c, &s, &sn) == -1 ||
	    cur_u8(&c, &a) == -1 || cur_raw(&c, &hash, DKIM_HASHLEN) == -1 ||
	    cur_end(&c) == -1)
		return errno = EPROTO, -1;
	for (i = 0; i < ks->n; i++)
		if (strlen(ks->v[i].domain) == dn &&
		    strncasecmp(ks->v[i].domain, d, dn) == 0 &&
		    strlen(ks->v[i].selector) == sn &&
		    memcmp(ks->v[i].selector, s, sn) == 0 &&
		    ks->v[i].alg == a) {
			k = &ks->v[i];
			break;
		}
	if (k == NULL)
		return res(out, ST_PERM, "no such key", 11);
	if (dkim_pk_sign(k->k, k->alg, hash, sig, &sl) == -1)
		return res(out, ST_TEMP, "signing failed", 14);
	return res(out, ST_OK, sig, sl);
}

int
sign_res_decode(const void *p, size_t n, unsigned char *sig, size_t *len,
    const char **why, size_t *whylen)
{
	struct cur c;
	const char *s;
	size_t sn;
	uint8_t t, st;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != SIGN_RES || cur_u8(&c, &st) == -1 ||
	    cur_str(&c, &s, &sn) == -1 || cur_end(&c) == -1)
		return errno = EPROTO, -1;
	if (st != ST_OK) {
		*why = s, *whylen = sn;
		return errno = ENOKEY, -1;
	}
	if (sn == 0 || sn > DKIM_SIG_MAX)
		return errno = EPROTO, -1;
	memcpy(sig, s, sn);
	*len = sn;
	return 0;
}
