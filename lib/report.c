/* report.c: see report.h */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#include "report.h"

/* report_gzip - RFC 1952 around deflate (zlib's window bits + 16) */
int
report_gzip(const struct buf *in, struct buf *out)
{
	z_stream z;
	uLong bound;
	int r;

	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -1;
	bound = deflateBound(&z, (uLong)in->len) + 32;
	if (buf_reserve(out, bound) == -1) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)in->p;
	z.avail_in = (uInt)in->len;
	z.next_out = (Bytef *)out->p + out->len;
	z.avail_out = (uInt)bound;
	r = deflate(&z, Z_FINISH);
	out->len += bound - z.avail_out;
	deflateEnd(&z);
	return r == Z_STREAM_END ? 0 : -1;
}

/* report_b64 - see report.h */
int
report_b64(struct buf *m, const struct buf *bin)
{
	size_t n = sodium_base64_ENCODED_LEN(bin->len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(n);
	int r = 0;

	if (b64 == NULL)
		return -1;
	sodium_bin2base64(b64, n, (const unsigned char *)bin->p, bin->len,
	    sodium_base64_VARIANT_ORIGINAL);
	for (size_t o = 0; r == 0 && o < n - 1; o += 76)
		r = buf_put(m, b64 + o, n - 1 - o < 76 ? n - 1 - o : 76) == -1 ||
		    buf_put(m, "\n", 1) == -1 ? -1 : 0;
	free(b64);
	return r;
}
