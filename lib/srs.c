/* srs: the Sender Rewriting Scheme (see srs.h).  The format and the hash
 * are libsrs2's, which postsrsd uses: HMAC-SHA1 (OpenSSL) of the
 * lowercased fields, its first 24 bits in base64; the day in two base32
 * characters.  Hashes and stamps are compared without regard to case, as
 * libsrs2 does, since some hops lowercase local parts. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "srs.h"

#define SRS_DAY		86400
#define SRS_DATA_MAX	1024	/* bytes hashed: fields of one local part */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int
srs_keys_load(struct srs_keys *k, const char *t, size_t n)
{
	size_t i = 0, b, e;

	memset(k, 0, sizeof *k);
	while (i < n && k->n < SRS_SECRETS_MAX) {
		for (b = i; i < n && t[i] != '\n'; i++)
			;
		e = i++;
		if (e > b && t[e - 1] == '\r')
			e--;
		if (e == b)
			continue;
		if (e - b > SRS_SECRET_MAX) {
			srs_keys_wipe(k);
			return errno = EINVAL, -1;
		}
		memcpy(k->k[k->n], t + b, e - b);
		k->len[k->n++] = e - b;
	}
	if (k->n == 0)
		return errno = EINVAL, -1;
	return 0;
}

void
srs_keys_wipe(struct srs_keys *k)
{
	volatile unsigned char *p = (volatile unsigned char *)k;

	for (size_t i = 0; i < sizeof *k; i++)
		p[i] = 0;
}

int
srs_keys_read(struct srs_keys *k, int fd)
{
	static unsigned char t[SRS_SECRETS_MAX * (SRS_SECRET_MAX + 2) + 1];
	volatile unsigned char *v = t;
	size_t n = 0;
	ssize_t r = 0;
	int ret;

	while (n < sizeof t && ((r = read(fd, t + n, sizeof t - n)) > 0 ||
	    (r == -1 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	if (r == -1)
		ret = -1;
	else if (n == sizeof t)
		ret = (errno = EINVAL, -1);
	else
		ret = srs_keys_load(k, (const char *)t, n);
	for (size_t i = 0; i < n; i++)
		v[i] = 0;
	return ret;
}

static int
is_sep(int c)
{
	return c == '=' || c == '+' || c == '-';
}

int
srs_is(const char *l, size_t n)
{
	return n >= 5 && lower(l[0]) == 's' && lower(l[1]) == 'r' &&
	    lower(l[2]) == 's' && (l[3] == '0' || l[3] == '1') && is_sep(l[4]);
}

/* field - p[*i..) up to the next '=' (consumed); its length, or -1 */
static long
field(const char *p, size_t n, size_t *i)
{
	size_t b = *i;

	while (*i < n && p[*i] != '=')
		(*i)++;
	if (*i == n)
		return -1;
	return (long)(*i)++ - (long)b;
}

static int
all_in(const char *s, size_t n, const char *set, int fold)
{
	for (size_t i = 0; i < n; i++) {
		int c = fold && s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i];

		if (c == '\0' || strchr(set, c) == NULL)
			return 0;
	}
	return 1;
}

static int
host_ok(const char *h, size_t n)
{
	return n > 0 && n <= 255 && all_in(h, n, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._", 0);
}

/* parse0 - "HHHH=TT=host=user" (after SRS0 and its separator) */
static int
parse0(const char *p, size_t n, struct srs_parts *sp)
{
	size_t i = 0;
	long k;

	sp->hash = p;
	if ((k = field(p, n, &i)) != SRS_HASHLEN ||
	    !all_in(p, SRS_HASHLEN, b64, 0))
		return -1;
	sp->stamp = p + i;
	if ((k = field(p, n, &i)) != 2 || !all_in(sp->stamp, 2, b32, 1))
		return -1;
	sp->host = p + i;
	if ((k = field(p, n, &i)) == -1 || !host_ok(sp->host, (size_t)k))
		return -1;
	sp->hostlen = (size_t)k;
	sp->user = p + i;
	sp->userlen = n - i;
	return sp->userlen > 0 ? 0 : -1;
}

int
srs_parse(const char *l, size_t n, struct srs_parts *sp)
{
	struct srs_parts in;
	size_t i = 5;
	long k;

	memset(sp, 0, sizeof *sp);
	if (!srs_is(l, n) || n > SRS_DATA_MAX / 2)
		return -1;
	if (l[3] == '0')
		return parse0(l + 5, n - 5, sp);
	/* SRS1 sep HHHH = host = sep' HHHH = TT = host' = user */
	sp->tag = 1;
	sp->hash = l + i;
	if ((k = field(l, n, &i)) != SRS_HASHLEN ||
	    !all_in(sp->hash, SRS_HASHLEN, b64, 0))
		return -1;
	sp->host = l + i;
	if ((k = field(l, n, &i)) == -1 || !host_ok(sp->host, (size_t)k))
		return -1;
	sp->hostlen = (size_t)k;
	sp->user = l + i;
	sp->userlen = n - i;
	if (sp->userlen < 1 || !is_sep(sp->user[0]) ||
	    parse0(sp->user + 1, sp->userlen - 1, &in) == -1)
		return -1;
	sp->stamp = in.stamp;
	return 0;
}

static unsigned
stamp_val(const char *s)
{
	unsigned v = 0;

	for (int i = 0; i < 2; i++) {
		int c = s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i];

		v = v << 5 | (unsigned)(strchr(b32, c) - b32);
	}
	return v;
}

int
srs_age_ok(const struct srs_parts *sp, time_t now, unsigned maxdays)
{
	unsigned long then = stamp_val(sp->stamp), today;

	today = (unsigned long)(now / SRS_DAY) % SRS_SLOTS;
	while (today < then)
		today += SRS_SLOTS;
	return today <= then + maxdays;
}

enum srs_res
srs_check(const char *l, size_t n, time_t now, unsigned maxdays)
{
	struct srs_parts sp;

	if (!srs_is(l, n))
		return SRS_NOTSRS;
	if (srs_parse(l, n, &sp) == -1)
		return SRS_SYNTAX;
	return srs_age_ok(&sp, now, maxdays) ? SRS_OK : SRS_STALE;
}

/* hash - base64 of the first 24 bits of HMAC-SHA1(key i, lowercase of
 * the fields joined) into h[SRS_HASHLEN]; 0 or -1 */
static int
hash(const struct srs_keys *k, int ki, const char *const *f,
    const size_t *fl, int nf, char h[SRS_HASHLEN])
{
	unsigned char d[SRS_DATA_MAX], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t dl = 0;

	for (int i = 0; i < nf; i++) {
		if (fl[i] > sizeof d - dl)
			return errno = E2BIG, -1;
		for (size_t j = 0; j < fl[i]; j++)
			d[dl++] = (unsigned char)lower(f[i][j]);
	}
	if (HMAC(EVP_sha1(), k->k[ki], (int)k->len[ki], d, dl, md,
	    &mdlen) == NULL || mdlen < 3)
		return errno = EINVAL, -1;
	h[0] = b64[md[0] >> 2];
	h[1] = b64[(md[0] & 3) << 4 | md[1] >> 4];
	h[2] = b64[(md[1] & 15) << 2 | md[2] >> 6];
	h[3] = b64[md[2] & 63];
	return 0;
}

/* hash_ok - some secret makes the hash h (compared ignoring case) */
static int
hash_ok(const struct srs_keys *k, const char *h, const char *const *f,
    const size_t *fl, int nf)
{
	char want[SRS_HASHLEN];
	int ok = 0;

	for (int ki = 0; ki < k->n; ki++) {
		unsigned diff = 0;

		if (hash(k, ki, f, fl, nf, want) == -1)
			return 0;
		for (int i = 0; i < SRS_HASHLEN; i++)
			diff |= (unsigned)(lower(want[i]) ^ lower(h[i]));
		ok |= diff == 0;
	}
	return ok;
}

static int
atom_ok(const char *l, size_t n)
{
	return n > 0 && all_in(l, n, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.", 0);
}

int
srs_forward(const struct srs_keys *k, const char *l, size_t ll,
    const char *d, size_t dl, const char *srsdom, time_t now,
    struct buf *out)
{
	struct srs_parts sp;
	const char *f[3];
	size_t fl[3], start = out->len;
	char h[SRS_HASHLEN], st[2];
	unsigned t;
	int r;

	if (k->n == 0 || !atom_ok(l, ll) || !host_ok(d, dl))
		return errno = EINVAL, -1;
	if (srs_parse(l, ll, &sp) == 0) {
		/* already SRS: guard it as SRS1 (libsrs2's "guarded") */
		f[0] = sp.tag ? sp.host : d, fl[0] = sp.tag ? sp.hostlen : dl;
		f[1] = sp.tag ? sp.user : l + 4;
		fl[1] = sp.tag ? sp.userlen : ll - 4;
		if (hash(k, 0, f, fl, 2, h) == -1)
			return -1;
		r = buf_fmt(out, "SRS1=%.4s=%.*s=%.*s", h, (int)fl[0], f[0],
		    (int)fl[1], f[1]);
	} else {
		t = (unsigned)((unsigned long)(now / SRS_DAY) % SRS_SLOTS);
		st[0] = b32[t >> 5 & 31], st[1] = b32[t & 31];
		f[0] = st, fl[0] = 2, f[1] = d, fl[1] = dl;
		f[2] = l, fl[2] = ll;
		if (hash(k, 0, f, fl, 3, h) == -1)
			return -1;
		r = buf_fmt(out, "SRS0=%.4s=%.2s=%.*s=%.*s", h, st, (int)dl, d,
		    (int)ll, l);
	}
	if (r == -1)
		return -1;
	if (out->len - start > SRS_LOCAL_MAX) {
		out->len = start;
		return errno = E2BIG, -1;
	}
	return buf_fmt(out, "@%s", srsdom);
}

enum srs_res
srs_reverse(const struct srs_keys *k, const char *l, size_t n, time_t now,
    unsigned maxdays, struct buf *out)
{
	struct srs_parts sp;
	const char *f[3];
	size_t fl[3];
	enum srs_res r;

	if ((r = srs_check(l, n, now, maxdays)) != SRS_OK)
		return r;
	if (k->n == 0)
		return SRS_ERROR;
	(void)srs_parse(l, n, &sp);
	if (sp.tag == 0) {
		f[0] = sp.stamp, fl[0] = 2, f[1] = sp.host, fl[1] = sp.hostlen;
		f[2] = sp.user, fl[2] = sp.userlen;
	} else {
		f[0] = sp.host, fl[0] = sp.hostlen;
		f[1] = sp.user, fl[1] = sp.userlen;
	}
	if (!hash_ok(k, sp.hash, f, fl, sp.tag ? 2 : 3))
		return SRS_BADHASH;
	out->len = 0;
	if (buf_fmt(out, "%s%.*s@%.*s", sp.tag ? "SRS0" : "",
	    (int)sp.userlen, sp.user, (int)sp.hostlen, sp.host) == -1 ||
	    buf_cstr(out) == -1)
		return SRS_ERROR;
	return SRS_OK;
}

const char *
srs_res_name(enum srs_res r)
{
	static const char *const names[] = { "ok", "not-srs", "syntax",
	    "stale", "bad-hash", "error" };

	return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}
