/* fuzz_remote: what a hostile SMTP server sends (replies, EHLO keywords)
 * and what a hostile sender puts in a message (the 7-bit downgrade, the
 * TLS-Required header field). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../remote/hdr2047.h"
#include "../../remote/mime7.h"
#include "../../remote/reply.h"
#include "../../remote/rtls.h"

struct src {
	const uint8_t	*p;
	size_t		 n, off;
};

static ssize_t
src_read(int fd, void *p, size_t n, void *ctx)
{
	struct src *s = ctx;
	size_t k = s->n - s->off;

	(void)fd;
	if (k > n)
		k = n;
	memcpy(p, s->p + s->off, k);
	s->off += k;
	return (ssize_t)k;
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	static struct rd rd;
	static struct reply r;
	struct src s = { p, n, 0 };
	struct ehlo e;
	struct buf out = BUF_INIT(64 * 1024 * 1024);
	const char *why;
	char one[REPLY_TEXT_MAX + 8];

	(void)rtls_header_no((const char *)p, n);
	rd_init(&rd, -1, src_read, &s);
	while (reply_read(&rd, &r) == 0) {
		ehlo_parse(&r, &e);
		reply_oneline(&r, one, sizeof one);
	}
	if (mime7_convert((const char *)p, n, &out, &why) == 0 &&
	    mime7_has8bit(out.p ? out.p : "", out.len))
		__builtin_trap();	/* a conversion must be 7-bit */
	buf_free(&out);
	/* long lines re-encoded: 7-bit in, 7-bit out */
	buf_init(&out, 64 * 1024 * 1024);
	if (mime7_reencode((const char *)p, n, MIME7_LONG, &out, &why) == 0 &&
	    !mime7_has8bit((const char *)p, n) &&
	    mime7_has8bit(out.p ? out.p : "", out.len))
		__builtin_trap();
	buf_free(&out);
	/* one header field as it is: encoded, it must be 7-bit too */
	buf_init(&out, 1 << 20);
	if (hdr2047_field(&out, (const char *)p, n, &why) == 0 &&
	    mime7_has8bit(out.p ? out.p : "", out.len))
		__builtin_trap();
	buf_free(&out);
	return 0;
}
