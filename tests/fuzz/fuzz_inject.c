/* fuzz_inject: sandmail-inject's parsers on arbitrary bytes: the message
 * reader (line ends, lone dot, header split) fed in two slices, the header
 * completion with -t (which walks every To:/Cc:/Bcc: address-list), and
 * the address-list parser on the raw input, each address qualified. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "env.h"

#include "../../inject/hdr.h"
#include "../../inject/inject.h"

static int
qualify(void *ctx, const char *a, size_t n)
{
	struct buf b = BUF_INIT(ENV_ADDR_MAX);

	(void)ctx;
	(void)inj_qualify(a, n, "fuzz.example", &b);
	buf_free(&b);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct inj_opts o = { .tflag = 1, .from_addr = "f@fuzz.example",
	    .fullname = "Fuzz", .hostname = "fuzz.example", .now = 0,
	    .uniq = "u" };
	struct inj_msg m;
	struct buf out = BUF_INIT(INJ_HDR_MAX + 8192);
	size_t half = size / 2;

	(void)hdr_addrlist((const char *)data, size, qualify, NULL);
	inj_msg_init(&m, size > 0 && data[0] & 1);
	if (inj_msg_feed(&m, (const char *)data, half) == 0 &&
	    (m.ready || m.ln.ended ||
	    inj_msg_feed(&m, (const char *)data + half, size - half) == 0) &&
	    (m.ready || inj_msg_eof(&m) == 0) && m.ready)
		(void)inj_headers(&o, m.hb.p ? m.hb.p + m.hstart : "",
		    m.hend - m.hstart,
		    &out, qualify, NULL);
	inj_msg_free(&m);
	buf_free(&out);
	return 0;
}
