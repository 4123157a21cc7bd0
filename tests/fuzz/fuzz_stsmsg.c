/* fuzz_stsmsg: the send <-> sts records of lib/stsmsg.c on arbitrary
 * payloads (what a compromised sandmail-sts could write to send).  Each
 * decoder is tried; what one takes must encode again to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "stsmsg.h"

static void
same(const struct buf *b, const uint8_t *d, size_t n)
{
	/* b: a 4-byte length, then the payload */
	if (b->len != n + 4 || memcmp(b->p + 4, d, n) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct sts_ans a;
	struct buf b = BUF_INIT(STS_MAIL_MAX + 16);
	struct sts_req q;
	struct sts_res r;
	struct sts_mail m;

	if (sts_req_decode(d, n, &q) == 0 && sts_req_encode(&b, &q) == 0)
		same(&b, d, n);
	b.len = 0;
	if (sts_ans_decode(d, n, &a) == 0 && sts_ans_encode(&b, &a) == 0)
		same(&b, d, n);
	b.len = 0;
	if (sts_res_decode(d, n, &r) == 0 && sts_res_encode(&b, &r) == 0)
		same(&b, d, n);
	b.len = 0;
	if (sts_mail_decode(d, n, &m) == 0 && sts_mail_encode(&b, m.rcpt,
	    m.msg, m.len) == 0)
		same(&b, d, n);
	buf_free(&b);
	return 0;
}
