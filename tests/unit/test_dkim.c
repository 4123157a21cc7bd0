/* test_dkim: the DKIM parts of lib/dkim.c at their edges: tag lists
 * (RFC 6376 3.2), header and body canonicalization (3.4, with the
 * examples of 3.4.5), the over-signed header list, and a sign/verify
 * round trip with each algorithm, including tampered messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "buf.h"
#include "dkim.h"

static const struct {
	const char	*in;
	int		 ok;
	size_t		 n;
} tag_cases[] = {
	{ "", 1, 0 },
	{ "v=1", 1, 1 },
	{ "v=1;", 1, 1 },
	{ "v=1; ", 1, 1 },
	{ " v = 1 ; a=rsa-sha256 ;", 1, 2 },
	{ "v=", 1, 1 },				/* an empty value */
	{ "b=abc\r\n\t def", 1, 1 },		/* folded value */
	{ "v=1;;a=b", 0, 0 },			/* an empty tag-spec */
	{ "=1", 0, 0 },				/* no name */
	{ "1v=1", 0, 0 },			/* name starts with a digit */
	{ "v", 0, 0 },				/* no = */
	{ "v=1; v=2", 0, 0 },			/* duplicate */
	{ "v=1; V=2", 1, 2 },			/* names are case-sensitive */
	{ "a_b1=x", 1, 1 },
	{ "a-b=x", 0, 0 },
	{ "v=\x01", 0, 0 },			/* control byte */
	{ "v=\xc3\xa9", 0, 0 },			/* 8-bit */
	{ "v=a=b", 1, 1 },			/* '=' is a VALCHAR */
};

static void
t_tags(void **state)
{
	struct dkim_tags tl;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof tag_cases / sizeof tag_cases[0]; i++) {
		int r = dkim_tags_parse(&tl, tag_cases[i].in,
		    strlen(tag_cases[i].in));

		if ((r == 0) != tag_cases[i].ok)
			fail_msg("case %zu \"%s\": got %d", i, tag_cases[i].in,
			    r);
		if (r == 0)
			assert_int_equal(tl.n, tag_cases[i].n);
	}
	assert_int_equal(dkim_tags_parse(&tl, " v = 1 ; bh= x y ", 17), 0);
	assert_non_null(dkim_tag_get(&tl, "bh"));
	assert_int_equal(dkim_tag_get(&tl, "bh")->vlen, 3);
	assert_memory_equal(dkim_tag_get(&tl, "bh")->val, "x y", 3);
	assert_null(dkim_tag_get(&tl, "b"));
}

static void
t_tags_max(void **state)
{
	struct dkim_tags tl;
	struct buf b = BUF_INIT(1 << 16);
	int i;

	(void)state;
	for (i = 0; i < DKIM_TAGS_MAX; i++)
		assert_int_equal(buf_fmt(&b, "t%d=x;", i), 0);
	assert_int_equal(dkim_tags_parse(&tl, b.p, b.len), 0);
	assert_int_equal(buf_puts(&b, "z=1"), 0);
	assert_int_equal(dkim_tags_parse(&tl, b.p, b.len), -1);
	assert_int_equal(errno, E2BIG);
	buf_free(&b);
}

static const struct {
	const char	*in, *relaxed, *simple;
} hdr_cases[] = {
	/* RFC 6376 3.4.5 */
	{ "A: X", "a:X\r\n", "A: X\r\n" },
	{ "B : Y\t\r\n\tZ  ", "b:Y Z\r\n", "B : Y\t\r\n\tZ  \r\n" },
	{ "Subject:", "subject:\r\n", "Subject:\r\n" },
	{ "Subject: \n a\n  b", "subject:a b\r\n", "Subject: \r\n a\r\n  b\r\n" },
	{ "X:\xc3\xa9 t", "x:\xc3\xa9 t\r\n", "X:\xc3\xa9 t\r\n" },
	{ "NoColon", "nocolon:\r\n", "NoColon\r\n" },
};

static void
t_canon_header(void **state)
{
	struct buf b = BUF_INIT(4096);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof hdr_cases / sizeof hdr_cases[0]; i++) {
		b.len = 0;
		assert_int_equal(dkim_canon_header(DKIM_RELAXED, hdr_cases[i].in,
		    strlen(hdr_cases[i].in), &b, 1), 0);
		assert_int_equal(b.len, strlen(hdr_cases[i].relaxed));
		assert_memory_equal(b.p, hdr_cases[i].relaxed, b.len);
		b.len = 0;
		assert_int_equal(dkim_canon_header(DKIM_SIMPLE, hdr_cases[i].in,
		    strlen(hdr_cases[i].in), &b, 1), 0);
		assert_int_equal(b.len, strlen(hdr_cases[i].simple));
		assert_memory_equal(b.p, hdr_cases[i].simple, b.len);
	}
	buf_free(&b);
}

/* body cases: the canonical form we expect, hashed and compared */
static const struct {
	enum dkim_canon	 c;
	const char	*in, *canon;
} body_cases[] = {
	{ DKIM_RELAXED, "", "" },
	{ DKIM_SIMPLE, "", "\r\n" },
	{ DKIM_RELAXED, "\n\n\n", "" },
	{ DKIM_SIMPLE, "\r\n\r\n", "\r\n" },
	{ DKIM_RELAXED, " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n" },
	{ DKIM_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n" },
	{ DKIM_RELAXED, "no newline", "no newline\r\n" },
	{ DKIM_SIMPLE, "no newline", "no newline\r\n" },
	{ DKIM_RELAXED, "a\n \t\nb\n", "a\r\n\r\nb\r\n" },	/* WSP line */
	{ DKIM_RELAXED, "a\n \t\n", "a\r\n" },	/* a trailing WSP line */
	{ DKIM_SIMPLE, "a\n \t\n", "a\r\n \t\r\n" },
	{ DKIM_RELAXED, "a\rb\n", "a\rb\r\n" },	/* a bare CR is data */
	{ DKIM_RELAXED, "a\r", "a\r\r\n" },
	{ DKIM_RELAXED, "a\n\nb", "a\r\n\r\nb\r\n" },
	{ DKIM_RELAXED, "\xc3\xa9  \xff\n", "\xc3\xa9 \xff\r\n" },
};

static void
hash_of(const char *p, size_t n, unsigned char h[DKIM_HASHLEN])
{
	unsigned int len;

	assert_int_equal(EVP_Digest(p, n, h, &len, EVP_sha256(), NULL), 1);
}

static void
t_body(void **state)
{
	struct dkim_body b;
	unsigned char got[DKIM_HASHLEN], want[DKIM_HASHLEN];
	size_t i, k, n, step;

	(void)state;
	for (i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
		n = strlen(body_cases[i].in);
		hash_of(body_cases[i].canon, strlen(body_cases[i].canon), want);
		/* whole, and byte by byte: the stream may be cut anywhere */
		for (step = 1; step <= n + 1; step += n ? n : 1) {
			assert_int_equal(dkim_body_init(&b, body_cases[i].c),
			    0);
			for (k = 0; k < n; k += step)
				assert_int_equal(dkim_body_update(&b,
				    body_cases[i].in + k,
				    n - k < step ? n - k : step), 0);
			assert_int_equal(dkim_body_final(&b, got), 0);
			if (memcmp(got, want, DKIM_HASHLEN) != 0)
				fail_msg("body case %zu step %zu", i, step);
		}
	}
}

static void
t_fields(void **state)
{
	static struct dkim_fields fs;
	const char *m = "From: a\r\nSubject: x\r\n y\nTo: b\n\nbody";

	(void)state;
	assert_int_equal(dkim_fields_split(&fs, m, strlen(m)), 0);
	assert_int_equal(fs.n, 3);
	assert_int_equal(fs.f[1].n, strlen("Subject: x\r\n y"));
	assert_true(dkim_field_is(&fs.f[2], "to", 2));
	assert_string_equal(m + fs.body, "body");
	/* no body at all, no final newline */
	assert_int_equal(dkim_fields_split(&fs, "A: b", 4), 0);
	assert_int_equal(fs.n, 1);
	assert_int_equal(fs.body, 4);
	assert_int_equal(fs.f[0].n, 4);
	/* a line with no colon is no field: no name matches it, and its
	 * value is empty (it once began one past the line's end) */
	assert_int_equal(dkim_fields_split(&fs, "From\nA : b\nARC-Seal", 20),
	    0);
	assert_int_equal(fs.n, 3);
	{
		size_t vn;
		const char *v;

		assert_false(dkim_field_is(&fs.f[0], "from", 4));
		v = dkim_field_value(&fs.f[0], &vn);
		assert_int_equal(vn, 0);
		assert_ptr_equal(v, fs.f[0].p + fs.f[0].n);
		/* "A : b": the value starts after the colon, not the name */
		assert_true(dkim_field_is(&fs.f[1], "a", 1));
		v = dkim_field_value(&fs.f[1], &vn);
		assert_int_equal(vn, 2);
		assert_memory_equal(v, " b", 2);
		assert_false(dkim_field_is(&fs.f[2], "arc-seal", 8));
		assert_int_equal((dkim_field_value(&fs.f[2], &vn), vn), 0);
	}
}

static void
t_fields_max(void **state)
{
	static struct dkim_fields fs;
	struct buf b = BUF_INIT(1 << 20);
	int i;

	(void)state;
	for (i = 0; i < DKIM_FIELDS_MAX; i++)
		assert_int_equal(buf_puts(&b, "X: y\n"), 0);
	assert_int_equal(dkim_fields_split(&fs, b.p, b.len), 0);
	assert_int_equal(buf_puts(&b, "X: y\n"), 0);
	assert_int_equal(dkim_fields_split(&fs, b.p, b.len), -1);
	assert_int_equal(errno, E2BIG);
	buf_free(&b);
}

static void
t_oversign(void **state)
{
	static struct dkim_fields fs;
	struct buf h = BUF_INIT(4096);
	const char *m = "Received: x\nTo: a\nTo: b\nX-Other: y\n"
	    "Subject: s\nMIME-Version: 1.0\n\n";

	(void)state;
	assert_int_equal(dkim_fields_split(&fs, m, strlen(m)), 0);
	assert_int_equal(dkim_sign_headers(&fs, &h), 0);
	assert_int_equal(buf_cstr(&h), 0);
	/* From though absent, each present name once more than present;
	 * Received and unknown fields not at all */
	assert_string_equal(h.p, "from:subject:subject:to:to:to:"
	    "mime-version:mime-version");
	buf_free(&h);
}

static int
local_sign(void *arg, const struct dkim_sigreq *q, struct dkim_sigout *o,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (dkim_pk_sign(arg, q[i].alg, o[i].hash, o[i].sig,
		    &o[i].siglen) == -1)
			return -1;
	return 0;
}

/* roundtrip - sign with a new key, verify; then tamper and verify */
static void
roundtrip(const char *type, size_t bits)
{
	static struct dkim_fields fs;
	struct dkim_sigreq q = { .hc = DKIM_RELAXED, .bc = DKIM_RELAXED,
	    .domain = "example.org", .selector = "s1", .t = 1700000000 };
	struct buf out = BUF_INIT(1 << 20), txt = BUF_INIT(4096);
	struct dkim_verdict v;
	EVP_PKEY *k, *pub;
	const char *m = "From: A <a@example.org>\nTo: b@example.net\n"
	    "Subject: hello\n  folded\n\nbody line  \n\n";
	size_t i;

	k = bits ? EVP_PKEY_Q_keygen(NULL, NULL, type, bits) :
	    EVP_PKEY_Q_keygen(NULL, NULL, type);
	assert_non_null(k);
	q.alg = (enum dkim_alg)dkim_key_alg(k, DKIM_RSA_SIGN_MIN);
	assert_int_equal(dkim_pubkey_txt(k, &txt), 0);
	assert_int_equal(dkim_pubkey_parse(txt.p, txt.len, &pub), 0);
	assert_int_equal(dkim_sign_msg(m, strlen(m), &q, 1, local_sign, k,
	    &out), 0);
	assert_int_equal(buf_puts(&out, m), 0);
	for (i = 0; i < 3; i++) {
		if (i == 1)	/* body changed */
			out.p[out.len - 4] = 'X';
		if (i == 2) {	/* body restored, header changed */
			out.p[out.len - 4] = ' ';
			memcpy(strstr(out.p, "hello"), "jello", 5);
		}
		assert_int_equal(dkim_fields_split(&fs, out.p, out.len), 0);
		assert_true(dkim_field_is(&fs.f[0], "dkim-signature", 14));
		dkim_verify_field(out.p, out.len, &fs, 0, pub, 0, &v);
		assert_int_equal(v.r, i == 0 ? DKIM_PASS : i == 1 ?
		    DKIM_FAIL_BODY : DKIM_FAIL_SIG);
	}
	assert_string_equal(v.d, "example.org");
	assert_string_equal(v.s, "s1");
	EVP_PKEY_free(k);
	EVP_PKEY_free(pub);
	buf_free(&out);
	buf_free(&txt);
}

static void
t_roundtrip_rsa(void **state)
{
	(void)state;
	roundtrip("RSA", 2048);
}

static void
t_roundtrip_ed25519(void **state)
{
	(void)state;
	roundtrip("ED25519", 0);
}

static void
t_rsa_short(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	unsigned char h[DKIM_HASHLEN] = { 0 }, s[DKIM_SIG_MAX];
	size_t sl = sizeof s;

	(void)state;
	assert_non_null(k);
	/* RFC 8301: never sign with less than 2048 bits */
	assert_int_equal(dkim_key_alg(k, DKIM_RSA_SIGN_MIN), -1);
	assert_int_equal(dkim_pk_sign(k, DKIM_RSA_SHA256, h, s, &sl), -1);
	assert_int_equal(dkim_key_alg(k, DKIM_RSA_VERIFY_MIN),
	    DKIM_RSA_SHA256);
	EVP_PKEY_free(k);
}

static void
t_pubkey(void **state)
{
	EVP_PKEY *k;

	(void)state;
	assert_int_equal(dkim_pubkey_parse("v=DKIM1; p=", 11, &k), -1);
	assert_int_equal(errno, ENOKEY);
	assert_int_equal(dkim_pubkey_parse("k=rsa; v=DKIM1; p=AAAA", 22, &k),
	    -1);	/* v= not first */
	assert_int_equal(dkim_pubkey_parse("v=DKIM1; k=ed25519; p=AAAA", 26,
	    &k), -1);	/* short key */
	assert_int_equal(dkim_pubkey_parse("v=DKIM1; k=dsa; p=AAAA", 22, &k),
	    -1);
	assert_int_equal(dkim_pubkey_parse("v=DKIM1; p=!!", 13, &k), -1);
	assert_null(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_tags),
		cmocka_unit_test(t_tags_max),
		cmocka_unit_test(t_canon_header),
		cmocka_unit_test(t_body),
		cmocka_unit_test(t_fields),
		cmocka_unit_test(t_fields_max),
		cmocka_unit_test(t_oversign),
		cmocka_unit_test(t_roundtrip_rsa),
		cmocka_unit_test(t_roundtrip_ed25519),
		cmocka_unit_test(t_rsa_short),
		cmocka_unit_test(t_pubkey),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
