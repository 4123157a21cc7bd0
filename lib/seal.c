/* seal: the todo/ file's trailer and CRC32C (seal.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

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

static void
put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* seal_reserve - room for the header */
int
seal_reserve(struct buf *b)
{
	static const unsigned char z[SEAL_LEN];

	return buf_put(b, z, sizeof z);
}

/* seal_fill - the header at b[start..), over the envelope after it */
int
seal_fill(struct buf *b, size_t start, const struct seal *s)
{
	unsigned char *t, *p;
	size_t idn = strnlen(s->id, sizeof s->id), elen;

	if (idn == 0 || idn > QID_MAX || start > b->len ||
	    b->len - start < SEAL_LEN || (elen = b->len - start - SEAL_LEN) >
	    UINT32_MAX)
		return errno = EINVAL, -1;
	t = p = (unsigned char *)b->p + start;
	memset(t, 0, SEAL_LEN);
	memcpy(p, SEAL_MAGIC, 7);
	p += 7;
	*p++ = (unsigned char)idn;
	memcpy(p, s->id, idn);
	p += QID_MAX;
	memcpy(p, s->boot, SEAL_BOOT);
	p += SEAL_BOOT;
	put_be(p, s->size, 8);
	p += 8;
	put_be(p, s->crc, 4);
	p += 4;
	put_be(p, elen, 4);
	p += 4;
	/* the CRC of the header so far, then of the envelope after it */
	put_be(p, crc32c(crc32c(0, t, (size_t)(p - t)), p + 4, elen), 4);
	return 0;
}

/* seal_split - the seal at the start of p[0..n), if there is one */
int
seal_split(const void *v, size_t n, struct seal *s, size_t *off,
    size_t *len)
{
	const unsigned char *p = v, *t = p + 7;
	size_t idn;

	memset(s, 0, sizeof *s);
	*off = 0;
	*len = n;
	if (n < 7 || memcmp(p, SEAL_MAGIC, 7) != 0)
		return 0;
	if (n < SEAL_LEN || get_be(p + SEAL_LEN - 8, 4) != n - SEAL_LEN ||
	    crc32c(crc32c(0, p, SEAL_LEN - 4), p + SEAL_LEN, n - SEAL_LEN) !=
	    (uint32_t)get_be(p + SEAL_LEN - 4, 4))
		return -1;
	if ((idn = *t++) == 0 || idn > QID_MAX)
		return -1;
	for (size_t i = 0; i < QID_MAX; i++)	/* the id, then zeros */
		if (i < idn ? t[i] == '\0' : t[i] != '\0')
			return -1;
	memcpy(s->id, t, idn);
	t += QID_MAX;
	memcpy(s->boot, t, SEAL_BOOT);
	t += SEAL_BOOT;
	s->size = get_be(t, 8);
	s->crc = (uint32_t)get_be(t + 8, 4);
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

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* boot_id - this boot's id, from its text form (a UUID) */
int
boot_id(uint8_t out[SEAL_BOOT])
{
	char t[64];
	ssize_t n;
	int fd, k = 0, hi = -1, d, bad = 0;

	memset(out, 0, SEAL_BOOT);
	if ((fd = open("/proc/sys/kernel/random/boot_id",
	    O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, t, sizeof t - 1);
	close(fd);
	if (n <= 0)
		return -1;
	for (ssize_t i = 0; i < n && t[i] != '\n'; i++) {
		if (t[i] == '-')
			continue;
		if ((d = hexval((unsigned char)t[i])) == -1 || k == SEAL_BOOT) {
			bad = 1;
			break;
		}
		if (hi == -1)
			hi = d;
		else {
			out[k++] = (uint8_t)(hi << 4 | d);
			hi = -1;
		}
	}
	if (bad || k != SEAL_BOOT || hi != -1) {
		memset(out, 0, SEAL_BOOT);
		return errno = EPROTO, -1;
	}
	return 0;
}
