/* test_sign: sandmail-sign's key table and its records with send
 * (lib/sign.c): table lines at their edges, the greeting round trip and
 * every cut of it, requests for keys held and not held, malformed ones. */
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
#include "rec.h"
#include "sign.h"

static EVP_PKEY *the_key;

static EVP_PKEY *
fake_load(const char *path, const char **why)
{
	if (strstr(path, "missing") != NULL)
		return *why = "No such file", NULL;
	EVP_PKEY_up_ref(the_key);
	return the_key;
}

static const struct {
	const char	*in;
	int		 ok;
	size_t		 n, line;
} table_cases[] = {
	{ "", 1, 0, 0 },
	{ "# only a comment\n\n   \n", 1, 0, 0 },
	{ "example.org s1 k.key\n", 1, 1, 0 },
	{ "Example.ORG s1 /abs/k.key # c\r\n", 1, 1, 0 },
	{ "a.org s1 k\nb.org s2 k\n", 1, 2, 0 },
	{ "example.org s1\n", 0, 0, 1 },		/* no key file */
	{ "example.org s1 k x\n", 0, 0, 1 },		/* a fourth word */
	{ "ok.org s k\nexa/mple.org s1 k\n", 0, 0, 2 },	/* bad domain */
	{ "example.org s;1 k\n", 0, 0, 1 },		/* bad selector */
	{ ".example.org s1 k\n", 0, 0, 1 },
	{ "example.org s1 missing.key\n", 0, 0, 1 },
};

static void
t_table(void **state)
{
	struct sign_keys ks;
	const char *why;
	size_t i, line;
	int r;

	(void)state;
	for (i = 0; i < sizeof table_cases / sizeof table_cases[0]; i++) {
		r = sign_table_parse(&ks, table_cases[i].in,
		    strlen(table_cases[i].in), "/t", fake_load, &line, &why);
		if ((r == 0) != table_cases[i].ok)
			fail_msg("case %zu: got %d", i, r);
		if (r == 0)
			assert_int_equal(ks.n, table_cases[i].n);
		else
			assert_int_equal(line, table_cases[i].line);
		sign_keys_free(&ks);
	}
	/* domains are lowercased; both keys of a domain are found */
	assert_int_equal(sign_table_parse(&ks, "A.org s1 k\nb.org x k\n"
	    "a.org s2 k\n", 32, "/t", fake_load, &line, &why), 0);
	i = 0;
	assert_non_null(sign_find(&ks, "a.ORG", &i));
	assert_string_equal(ks.v[0].domain, "a.org");
	assert_non_null(sign_find(&ks, "a.org", &i));
	assert_string_equal(ks.v[i - 1].selector, "s2");
	assert_null(sign_find(&ks, "a.org", &i));
	sign_keys_free(&ks);
}

static void
t_table_max(void **state)
{
	struct sign_keys ks;
	struct buf b = BUF_INIT(1 << 20);
	const char *why;
	size_t i, line;

	(void)state;
	for (i = 0; i < SIGN_KEYS_MAX; i++)
		assert_int_equal(buf_fmt(&b, "d%zu.org s k\n", i), 0);
	assert_int_equal(sign_table_parse(&ks, b.p, b.len, "/", NULL, &line,
	    &why), 0);
	sign_keys_free(&ks);
	assert_int_equal(buf_puts(&b, "one.more s k\n"), 0);
	assert_int_equal(sign_table_parse(&ks, b.p, b.len, "/", NULL, &line,
	    &why), -1);
	assert_int_equal(line, SIGN_KEYS_MAX + 1);
	sign_keys_free(&ks);
	buf_free(&b);
}

static void
t_hello(void **state)
{
	struct sign_keys ks, got;
	struct buf b = BUF_INIT(SIGN_HELLO_MAX);
	const char *why;
	size_t line, cut;

	(void)state;
	assert_int_equal(sign_table_parse(&ks, "a.org s1 k\nb.org s2 k\n", 22,
	    "/", fake_load, &line, &why), 0);
	assert_int_equal(sign_hello_encode(&b, &ks), 0);
	assert_int_equal(sign_hello_decode(&got, b.p, b.len), 0);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.v[1].selector, "s2");
	assert_int_equal(got.v[1].alg, ks.v[1].alg);
	assert_null(got.v[0].k);
	sign_keys_free(&got);
	for (cut = 0; cut < b.len; cut++) {
		assert_int_equal(sign_hello_decode(&got, b.p, cut), -1);
		assert_int_equal(errno, EPROTO);
	}
	assert_int_equal(buf_putc(&b, 'x'), 0);	/* one byte too many */
	assert_int_equal(sign_hello_decode(&got, b.p, b.len), -1);
	b.p[1 + 4] = 'X';			/* another banner */
	assert_int_equal(sign_hello_decode(&got, b.p, b.len - 1), -1);
	sign_keys_free(&ks);
	buf_free(&b);
}

static void
t_answer(void **state)
{
	struct sign_keys ks;
	struct buf req = BUF_INIT(SIGN_REQ_MAX), res = BUF_INIT(4096);
	unsigned char hash[DKIM_HASHLEN], sig[DKIM_SIG_MAX];
	const char *why;
	size_t line, sl, wl, cut;

	(void)state;
	randombytes_buf(hash, sizeof hash);
	assert_int_equal(sign_table_parse(&ks, "a.org s1 k\n", 11, "/",
	    fake_load, &line, &why), 0);
	/* held: a signature that verifies over the hash */
	assert_int_equal(sign_req_encode(&req, "A.org", "s1",
	    DKIM_ED25519_SHA256, hash), 0);
	assert_int_equal(sign_answer(&ks, req.p, req.len, &res), 0);
	assert_int_equal(sign_res_decode(res.p, res.len, sig, &sl, &why, &wl),
	    0);
	assert_int_equal(sl, 64);
	assert_int_equal(dkim_pk_verify(the_key, DKIM_ED25519_SHA256, hash,
	    sig, sl), 1);
	/* not held: the wrong selector, the wrong algorithm */
	req.len = res.len = 0;
	assert_int_equal(sign_req_encode(&req, "a.org", "S1",
	    DKIM_ED25519_SHA256, hash), 0);
	assert_int_equal(sign_answer(&ks, req.p, req.len, &res), 0);
	assert_int_equal(sign_res_decode(res.p, res.len, sig, &sl, &why, &wl),
	    -1);
	assert_int_equal(errno, ENOKEY);
	req.len = res.len = 0;
	assert_int_equal(sign_req_encode(&req, "a.org", "s1", DKIM_RSA_SHA256,
	    hash), 0);
	assert_int_equal(sign_answer(&ks, req.p, req.len, &res), 0);
	assert_int_equal(sign_res_decode(res.p, res.len, sig, &sl, &why, &wl),
	    -1);
	/* malformed: every cut, an extra byte, another type */
	for (cut = 0; cut < req.len; cut++)
		assert_int_equal(sign_answer(&ks, req.p, cut, &res), -1);
	assert_int_equal(buf_putc(&req, 0), 0);
	assert_int_equal(sign_answer(&ks, req.p, req.len, &res), -1);
	req.p[0] = 'G';
	assert_int_equal(sign_answer(&ks, req.p, req.len - 1, &res), -1);
	sign_keys_free(&ks);
	buf_free(&req);
	buf_free(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_table),
		cmocka_unit_test(t_table_max),
		cmocka_unit_test(t_hello),
		cmocka_unit_test(t_answer),
	};
	int r;

	if (sodium_init() < 0)
		return 1;
	the_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	r = cmocka_run_group_tests(tests, NULL, NULL);
	EVP_PKEY_free(the_key);
	return r;
}
