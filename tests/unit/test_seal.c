/* test_seal: CRC32C against known values and a bitwise reference, and the
 * todo/ file's seal: round trip, every truncation, every changed byte, the
 * ID's padding and the length, files of an older version, the boot id. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "env.h"
#include "seal.h"

/* the definition, one bit at a time, to check the fast ones against */
static uint32_t
crc_ref(uint32_t crc, const unsigned char *p, size_t n)
{
	uint32_t c = ~crc;

	while (n-- > 0) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static void
test_crc32c(void **state)
{
	unsigned char b[300], z[32];

	(void)state;
	/* RFC 3720, B.4, and the usual check value */
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c_sw(0, "123456789", 9), 0xe3069283u);
	memset(z, 0, sizeof z);
	assert_int_equal(crc32c(0, z, 32), 0x8a9136aau);
	memset(z, 0xff, sizeof z);
	assert_int_equal(crc32c(0, z, 32), 0x62a8ab43u);
	assert_int_equal(crc32c(0, "", 0), 0);
	/* every length and alignment up to a few words, and in two pieces
	 * split anywhere: the same as the definition */
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (unsigned char)(i * 131 + 7);
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n + off <= 80; n++) {
			uint32_t want = crc_ref(0, b + off, n);

			assert_int_equal(crc32c(0, b + off, n), want);
			assert_int_equal(crc32c_sw(0, b + off, n), want);
			for (size_t k = 0; k <= n; k++)
				assert_int_equal(crc32c(crc32c(0, b + off, k),
				    b + off + k, n - k), want);
		}
}

static void
mkenv(struct env *e)
{
	env_init(e);
	assert_int_equal(env_set(&e->sender, "a@example.org"), 0);
	assert_int_equal(env_set(&e->proto, "ESMTP"), 0);
	assert_int_equal(env_add_rcpt(e, "b@example.org", 0, ""), 0);
	e->size = 1234;
}

static void
mkseal(struct seal *s, const char *id)
{
	memset(s, 0, sizeof *s);
	snprintf(s->id, sizeof s->id, "%s", id);
	for (int i = 0; i < SEAL_BOOT; i++)
		s->boot[i] = (uint8_t)(0xa0 + i);
	s->size = 1234;
	s->crc = 0xdeadbeef;
}

/* b = header + e's encoding, sealed with s */
static void
sealed(struct buf *b, const struct env *e, const struct seal *s)
{
	b->len = 0;
	assert_int_equal(seal_reserve(b), 0);
	assert_int_equal(env_encode(b, e), 0);
	assert_int_equal(seal_fill(b, 0, s), 0);
}

static void
test_round_trip(void **state)
{
	struct buf b = BUF_INIT(1 << 20), c = BUF_INIT(1 << 20);
	struct seal s, t;
	struct env e, d;
	size_t off, len;

	(void)state;
	mkenv(&e);
	mkseal(&s, "0QZ7uY2r5v0dA9ZkQm3pLx");
	assert_int_equal(env_encode(&c, &e), 0);
	sealed(&b, &e, &s);
	assert_int_equal(b.len, c.len + SEAL_LEN);
	assert_int_equal(seal_split(b.p, b.len, &t, &off, &len), 1);
	assert_int_equal(off, SEAL_LEN);
	assert_int_equal(len, c.len);
	assert_memory_equal(b.p + off, c.p, c.len);
	assert_string_equal(t.id, s.id);
	assert_memory_equal(t.boot, s.boot, SEAL_BOOT);
	assert_int_equal(t.size, 1234);
	assert_int_equal(t.crc, 0xdeadbeef);
	assert_int_equal(seal_env(&d, b.p, b.len, &t), 1);
	assert_string_equal(d.sender, "a@example.org");
	assert_int_equal(d.nrcpt, 1);
	env_free(&d);
	/* an ID of the longest length, and of one character */
	memset(s.id, 'x', QID_MAX);
	s.id[QID_MAX] = '\0';
	sealed(&b, &e, &s);
	assert_int_equal(seal_split(b.p, b.len, &t, &off, &len), 1);
	assert_string_equal(t.id, s.id);
	mkseal(&s, "z");
	sealed(&b, &e, &s);
	assert_int_equal(seal_split(b.p, b.len, &t, &off, &len), 1);
	assert_string_equal(t.id, "z");
	/* without a seal (an older version's todo/ file): the envelope */
	assert_int_equal(seal_split(c.p, c.len, &t, &off, &len), 0);
	assert_int_equal(off, 0);
	assert_int_equal(len, c.len);
	assert_int_equal(seal_env(&d, c.p, c.len, &t), 0);
	assert_string_equal(d.sender, "a@example.org");
	env_free(&d);
	/* the header at an offset of a bigger buffer */
	b.len = 0;
	assert_int_equal(buf_put(&b, "xyz", 3), 0);
	assert_int_equal(seal_reserve(&b), 0);
	assert_int_equal(env_encode(&b, &e), 0);
	assert_int_equal(seal_fill(&b, 3, &s), 0);
	assert_int_equal(seal_split(b.p + 3, b.len - 3, &t, &off, &len), 1);
	/* nothing to seal, or no room for the header */
	assert_int_equal(seal_fill(&b, b.len, &s), -1);
	assert_int_equal(seal_fill(&b, b.len - SEAL_LEN + 1, &s), -1);
	env_free(&e);
	buf_free(&b);
	buf_free(&c);
}

/* set the header's own CRC so that only the field under test is wrong */
static void
recrc(struct buf *b)
{
	uint32_t v = crc32c(crc32c(0, b->p, SEAL_LEN - 4), b->p + SEAL_LEN,
	    b->len - SEAL_LEN);

	for (int i = 0; i < 4; i++)
		b->p[SEAL_LEN - 1 - i] = (char)(v >> (8 * i));
}

/* a torn file: any prefix, any byte changed, zeros, a wrong field */
static void
test_torn(void **state)
{
	struct buf b = BUF_INIT(1 << 20);
	struct seal s, t;
	struct env e, d;
	unsigned char *p;
	size_t off, len;

	(void)state;
	mkenv(&e);
	mkseal(&s, "0QZ7uY2r5v0dA9ZkQm3pLx");
	sealed(&b, &e, &s);
	/* every prefix: a torn seal (from 7 bytes on), never an envelope */
	for (size_t n = 0; n < b.len; n++) {
		assert_int_equal(seal_split(b.p, n, &t, &off, &len),
		    n < 7 ? 0 : -1);
		assert_int_equal(seal_env(&d, b.p, n, &t), -1);
		env_free(&d);
	}
	/* the whole with bytes after it */
	assert_int_equal(buf_put(&b, "", 1), 0);
	assert_int_equal(seal_split(b.p, b.len, &t, &off, &len), -1);
	b.len--;
	/* every byte changed: the CRC catches it, or the magic is gone and
	 * the whole does not decode as an envelope */
	p = malloc(b.len);
	assert_non_null(p);
	for (size_t i = 0; i < b.len; i++) {
		memcpy(p, b.p, b.len);
		p[i] ^= 0x5a;
		assert_int_equal(seal_env(&d, p, b.len, &t), -1);
		env_free(&d);
	}
	/* all zeros, as a file whose blocks never reached the disk */
	memset(p, 0, b.len);
	assert_int_equal(seal_split(p, b.len, &t, &off, &len), 0);
	assert_int_equal(seal_env(&d, p, b.len, &t), -1);
	env_free(&d);
	free(p);
	/* with a right CRC: an ID not zero-padded, an empty ID, a length
	 * that is not the envelope's */
	mkseal(&s, "abc");
	sealed(&b, &e, &s);
	b.p[7 + 1 + 5] = 'q';
	recrc(&b);
	assert_int_equal(seal_split(b.p, b.len, &t, &off, &len), -1);
	sealed(&b, &e, &s);
	b.p[7] = 0;
	b.p[8] = 0;
	recrc(&b);
	assert_int_equal(seal_split(b.p, b.len, &t, &off, &len), -1);
	sealed(&b, &e, &s);
	b.p[SEAL_LEN - 5]++;
	recrc(&b);
	assert_int_equal(seal_split(b.p, b.len, &t, &off, &len), -1);
	/* an ID empty or too long is refused when sealing */
	mkseal(&s, "");
	b.len = 0;
	assert_int_equal(seal_reserve(&b), 0);
	assert_int_equal(seal_fill(&b, 0, &s), -1);
	memset(s.id, 'x', sizeof s.id);
	assert_int_equal(seal_fill(&b, 0, &s), -1);
	env_free(&e);
	buf_free(&b);
}

static void
test_boot_id(void **state)
{
	uint8_t a[SEAL_BOOT], b[SEAL_BOOT], z[SEAL_BOOT];

	(void)state;
	memset(z, 0, sizeof z);
	/* this machine's: stable, not zero (Linux always has one) */
	assert_int_equal(boot_id(a), 0);
	assert_int_equal(boot_id(b), 0);
	assert_memory_equal(a, b, SEAL_BOOT);
	assert_memory_not_equal(a, z, SEAL_BOOT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_torn),
		cmocka_unit_test(test_boot_id),
	};

	return cmocka_run_group_tests_name("seal", tests, NULL, NULL);
}
