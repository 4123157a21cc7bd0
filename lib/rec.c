/* rec: length-prefixed records and their fields. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rec.h"

/* rec_read - one record of at most limit bytes into out */
int
rec_read(struct rd *in, struct buf *out, uint32_t limit)
{
	unsigned char h[REC_HDR];
	uint32_t n;
	int r;

	if ((r = rd_full(in, h, sizeof h)) <= 0)
		return r;
	n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
	    (uint32_t)h[2] << 8 | h[3];
	if (n > limit)
		return errno = EMSGSIZE, -1;
	out->len = 0;
	if (buf_reserve(out, n) == -1)
		return -1;
	if (n > 0 && (r = rd_full(in, out->p, n)) != 1)
		return r == 0 ? (errno = EPROTO, -1) : -1;
	out->len = n;
	return 1;
}

static void
put32(unsigned char *h, uint32_t n)
{
	h[0] = n >> 24, h[1] = n >> 16, h[2] = n >> 8, h[3] = n;
}

/* rec_write - a record into a buffered writer (caller flushes) */
int
rec_write(struct wr *w, const void *p, size_t n)
{
	unsigned char h[REC_HDR];

	if (n > UINT32_MAX)
		return errno = EMSGSIZE, -1;
	put32(h, (uint32_t)n);
	if (wr_put(w, h, sizeof h) == -1 || wr_put(w, p, n) == -1)
		return -1;
	return 0;
}

/* rec_send - a whole framed record (from pk_begin/pk_finish) in writes */
int
rec_send(int fd, const struct buf *b)
{
	size_t off = 0;
	ssize_t k;

	while (off < b->len) {
		k = write(fd, b->p + off, b->len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

/* pk_u8 - append one byte */
int
pk_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

/* pk_u32 - append a big-endian u32 */
int
pk_u32(struct buf *b, uint32_t v)
{
	unsigned char h[4];

	put32(h, v);
	return buf_put(b, h, 4);
}

/* pk_u64 - append a big-endian u64 */
int
pk_u64(struct buf *b, uint64_t v)
{
	return pk_u32(b, (uint32_t)(v >> 32)) == -1 ? -1 :
	    pk_u32(b, (uint32_t)v);
}

/* pk_str - append a length-prefixed string */
int
pk_str(struct buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX)
		return errno = EMSGSIZE, -1;
	if (pk_u32(b, (uint32_t)n) == -1)
		return -1;
	return buf_put(b, p, n);
}

/* pk_cstr - append a C string as a length-prefixed string */
int
pk_cstr(struct buf *b, const char *s)
{
	return pk_str(b, s ? s : "", s ? strlen(s) : 0);
}

/* pk_begin - reserve room for a record header at the end of b */
int
pk_begin(struct buf *b)
{
	return pk_u32(b, 0);
}

/* pk_finish - fill in the header reserved at start */
int
pk_finish(struct buf *b, size_t start)
{
	size_t n;

	if (start + REC_HDR > b->len)
		return errno = EINVAL, -1;
	n = b->len - start - REC_HDR;
	if (n > UINT32_MAX)
		return errno = EMSGSIZE, -1;
	put32((unsigned char *)b->p + start, (uint32_t)n);
	return 0;
}

/* cur_init - a cursor over n bytes */
void
cur_init(struct cur *c, const void *p, size_t n)
{
	c->p = p;
	c->n = n;
}

static int
take(struct cur *c, size_t k, const unsigned char **out)
{
	if (k > c->n)
		return errno = EPROTO, -1;
	*out = c->p;
	c->p += k;
	c->n -= k;
	return 0;
}

/* cur_u8 - take one byte */
int
cur_u8(struct cur *c, uint8_t *v)
{
	const unsigned char *p;

	if (take(c, 1, &p) == -1)
		return -1;
	*v = p[0];
	return 0;
}

/* cur_u32 - take a big-endian u32 */
int
cur_u32(struct cur *c, uint32_t *v)
{
	const unsigned char *p;

	if (take(c, 4, &p) == -1)
		return -1;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return 0;
}

/* cur_u64 - take a big-endian u64 */
int
cur_u64(struct cur *c, uint64_t *v)
{
	uint32_t hi, lo;

	if (cur_u32(c, &hi) == -1 || cur_u32(c, &lo) == -1)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* cur_raw - take n bytes as they are, pointing into the record */
int
cur_raw(struct cur *c, const void **out, size_t n)
{
	const unsigned char *p;

	if (take(c, n, &p) == -1)
		return -1;
	*out = p;
	return 0;
}

/* cur_str - take a length-prefixed string, pointing into the record */
int
cur_str(struct cur *c, const char **s, size_t *n)
{
	const unsigned char *p;
	uint32_t k;

	if (cur_u32(c, &k) == -1 || take(c, k, &p) == -1)
		return -1;
	*s = (const char *)p;
	*n = k;
	return 0;
}

/* cur_cstr - take a string as a malloc'd C string; NUL inside is EPROTO */
int
cur_cstr(struct cur *c, char **out, size_t max)
{
	const char *s;
	size_t n;

	if (cur_str(c, &s, &n) == -1)
		return -1;
	if (n > max || memchr(s, '\0', n) != NULL)
		return errno = EPROTO, -1;
	if ((*out = malloc(n + 1)) == NULL)
		return -1;
	memcpy(*out, s, n);
	(*out)[n] = '\0';
	return 0;
}

/* cur_end - whether the record was consumed exactly */
int
cur_end(const struct cur *c)
{
	return c->n == 0 ? 0 : (errno = EPROTO, -1);
}
