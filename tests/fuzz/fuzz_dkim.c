/* fuzz_dkim: the DKIM parsers of lib/dkim.c on outside bytes.  The first
 * byte picks: a tag list (a signature or a DNS key record), a key record
 * to a public key, or a whole message split into fields, every field
 * canonicalized both ways, the body hashed both ways in two pieces, and
 * any DKIM-Signature field checked against a fixed Ed25519 key; or the
 * records between send and sandmail-sign (lib/sign.c): a greeting, a
 * request (against an empty key table) and a result. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "dkim.h"
#include "sign.h"

static EVP_PKEY *
key(void)
{
	static EVP_PKEY *k;
	static const unsigned char raw[32] = { 1, 2, 3 };

	if (k == NULL)
		k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw,
		    sizeof raw);
	return k;
}

static void
message(const char *p, size_t n)
{
	static struct dkim_fields fs;
	struct buf b = BUF_INIT(1 << 22);
	struct dkim_body body;
	struct dkim_verdict v;
	unsigned char h[DKIM_HASHLEN];
	size_t i;
	int c;

	if (dkim_fields_split(&fs, p, n) == -1)
		return;
	for (i = 0; i < fs.n; i++) {
		for (c = DKIM_SIMPLE; c <= DKIM_RELAXED; c++)
			(void)dkim_canon_header((enum dkim_canon)c, fs.f[i].p,
			    fs.f[i].n, &b, 1);
		if (dkim_field_is(&fs.f[i], "dkim-signature", 14))
			dkim_verify_field(p, n, &fs, i, key(), 0, &v);
	}
	for (c = DKIM_SIMPLE; c <= DKIM_RELAXED; c++) {
		size_t half = (n - fs.body) / 2;

		if (dkim_body_init(&body, (enum dkim_canon)c) == -1)
			abort();
		if (dkim_body_update(&body, p + fs.body, half) == -1 ||
		    dkim_body_update(&body, p + fs.body + half,
		    n - fs.body - half) == -1 || dkim_body_final(&body, h) == -1)
			abort();
	}
	(void)dkim_sign_headers(&fs, &b);
	buf_free(&b);
}

static void
records(const uint8_t *p, size_t n)
{
	static const struct sign_keys none;
	struct sign_keys ks;
	struct buf out = BUF_INIT(4096);
	unsigned char sig[DKIM_SIG_MAX];
	const char *why;
	size_t sl, wl;

	if (sign_hello_decode(&ks, p, n) == 0)
		sign_keys_free(&ks);
	(void)sign_answer(&none, p, n, &out);
	(void)sign_res_decode(p, n, sig, &sl, &why, &wl);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_tags tl;
	EVP_PKEY *k;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		if (dkim_tags_parse(&tl, (const char *)data + 1, size - 1) == 0)
			for (size_t i = 0; i < tl.n; i++)
				if (tl.t[i].name < (const char *)data + 1 ||
				    tl.t[i].val + tl.t[i].vlen >
				    (const char *)data + size)
					abort();
		break;
	case 1:
		if (dkim_pubkey_parse((const char *)data + 1, size - 1,
		    &k) == 0)
			EVP_PKEY_free(k);
		break;
	case 2:
		message((const char *)data + 1, size - 1);
		break;
	default:
		records(data + 1, size - 1);
	}
	return 0;
}
