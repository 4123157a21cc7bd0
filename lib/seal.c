/* seal: the todo/ file's trailer and CRC32C (seal.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "rec.h"
#include "seal.h"

static uint32_t	table[256];

static void
table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		table[i] = c;
	}
}

static uint32_t
crc_soft(uint32_t c, const unsigned char *p, size_t n)
{
	if (table[1] == 0)
		table_init();
	while (n-- > 0)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t
crc_hard(uint32_t c, const unsigned char *p, size_t n)
{
	uint64_t c64 = c, w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
	}
	c = (uint32_t)c64;
	while (n-- > 0)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

static int
have_hard(void)
{
	static int have = -1;

	if (have == -1)
		have = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	return have;
}
#else
static uint32_t
crc_hard(uint32_t c, const unsigned char *p, size_t n)
{
	return crc_soft(c, p, n);
}

static int
have_hard(void)
{
	return 0;
}
#endif

/* crc32c_sw - the same without the instruction (a table) */
uint32_t
crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	return ~crc_soft(~crc, p, n);
}

/* crc32c - CRC-32C of p[0..n) continuing from crc */
uint32_t
crc32c(uint32_t crc, const void *p, size_t n)
{
	uint32_t c = ~crc;

	c = have_hard() ? crc_hard(c, p, n) : crc_soft(c, p, n);
	return ~c;
}

/* seal_reserve - room for the header */
int
seal_reserve(struct buf *b)
{
	static const unsigned char z[SEAL_LEN];

	return buf_put(b, z, sizeof z);
}

/* seal_fill - the header at b[start..), over the envelope after it: the
 * fields are packed over the reserved bytes (rec.h), b's length kept */
int
seal_fill(struct buf *b, size_t start, const struct seal *s)
{
	static const char pad[QID_MAX];
	size_t idn = strnlen(s->id, sizeof s->id), end = b->len, elen;
	uint32_t crc;
	int r;

	if (idn == 0 || idn > QID_MAX || start > end ||
	    end - start < SEAL_LEN || (elen = end - start - SEAL_LEN) >
	    UINT32_MAX)
		return errno = EINVAL, -1;
	b->len = start;
	r = buf_put(b, SEAL_MAGIC, 7) == -1 || pk_u8(b, (uint8_t)idn) == -1 ||
	    buf_put(b, s->id, idn) == -1 ||
	    buf_put(b, pad, QID_MAX - idn) == -1 ||
	    buf_put(b, s->boot, SEAL_BOOT) == -1 || pk_u64(b, s->size) == -1 ||
	    pk_u32(b, s->crc) == -1 || pk_u32(b, (uint32_t)elen) == -1;
	/* the CRC of the header so far, then of the envelope after it */
	crc = crc32c(crc32c(0, b->p + start, b->len - start),
	    b->p + start + SEAL_LEN, elen);
	r = r || pk_u32(b, crc) == -1;
	b->len = end;
	return r ? -1 : 0;
}

/* seal_split - the seal at the start of p[0..n), if there is one */
int
seal_split(const void *p, size_t n, struct seal *s, size_t *off,
    size_t *len)
{
	const unsigned char *id;
	const void *boot;
	struct cur c;
	uint32_t elen, crc;
	uint8_t idn;

	memset(s, 0, sizeof *s);
	*off = 0;
	*len = n;
	if (n < 7 || memcmp(p, SEAL_MAGIC, 7) != 0)
		return 0;
	if (n < SEAL_LEN)
		return -1;
	cur_init(&c, (const char *)p + 7, SEAL_LEN - 7);
	if (cur_u8(&c, &idn) == -1 || cur_raw(&c, (const void **)&id,
	    QID_MAX) == -1 || cur_raw(&c, &boot, SEAL_BOOT) == -1 ||
	    cur_u64(&c, &s->size) == -1 || cur_u32(&c, &s->crc) == -1 ||
	    cur_u32(&c, &elen) == -1 || cur_u32(&c, &crc) == -1)
		return -1;
	if (elen != n - SEAL_LEN || crc != crc32c(crc32c(0, p, SEAL_LEN - 4),
	    (const char *)p + SEAL_LEN, elen))
		return -1;
	if (idn == 0 || idn > QID_MAX)
		return -1;
	for (size_t i = 0; i < QID_MAX; i++)	/* the id, then zeros */
		if (i < idn ? id[i] == '\0' : id[i] != '\0')
			return -1;
	memcpy(s->id, id, idn);
	memcpy(s->boot, boot, SEAL_BOOT);
	*off = SEAL_LEN;
	*len = n - SEAL_LEN;
	return 1;
}

/* seal_env - the envelope and seal of a todo/ file */
int
seal_env(struct env *e, const void *p, size_t n, struct seal *s)
{
	size_t off, len;
	int k;

	env_init(e);
	if ((k = seal_split(p, n, s, &off, &len)) == -1)
		return errno = EPROTO, -1;
	return env_decode(e, (const char *)p + off, len) == -1 ? -1 : k;
}

/* boot_id - this boot's id, from its text form (a UUID) */
int
boot_id(uint8_t out[SEAL_BOOT])
{
	char t[64];
	const char *end;
	size_t k;
	ssize_t n;
	int fd;

	memset(out, 0, SEAL_BOOT);
	if ((fd = open("/proc/sys/kernel/random/boot_id",
	    O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, t, sizeof t - 1);
	close(fd);
	if (n <= 0)
		return -1;
	while (n > 0 && t[n - 1] == '\n')
		n--;
	/* 32 hex digits with dashes between, and nothing else */
	if (sodium_hex2bin(out, SEAL_BOOT, t, (size_t)n, "-", &k, &end) != 0 ||
	    k != SEAL_BOOT || end != t + n) {
		memset(out, 0, SEAL_BOOT);
		return errno = EPROTO, -1;
	}
	return 0;
}
