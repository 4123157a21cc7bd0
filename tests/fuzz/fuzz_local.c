/* fuzz_local: the Delivered-To loop scan (local/deliver.c) on message
 * headers, and lspawn's cleaning of a child's report text.  The first
 * byte splits the input into a recipient and a message; the scan must
 * give the same answer whether the message comes whole or in pieces, and
 * a cleaned report holds no control byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../local/deliver.h"
#include "../../local/lspawn.h"

static int
scan(const char *rcpt, const uint8_t *p, size_t n, size_t step)
{
	struct dtscan s;

	dtscan_init(&s, rcpt);
	for (size_t i = 0; i < n; i += step)
		dtscan_feed(&s, p + i, n - i < step ? n - i : step);
	return dtscan_end(&s);
}

static void
report(const uint8_t *p, size_t n, int st)
{
	struct buf t = BUF_INIT(2 * LSPAWN_TEXT_MAX);

	if (buf_put(&t, p, n < t.max ? n : t.max) == -1)
		return;
	lspawn_result(st, &t);
	if (t.len > LSPAWN_TEXT_MAX)
		abort();
	for (size_t i = 0; i < t.len; i++)
		if ((unsigned char)t.p[i] < 0x20 || t.p[i] == 0x7f)
			abort();
	buf_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char rcpt[64];
	size_t k, step;
	int whole, st;

	if (size < 2)
		return 0;
	k = data[0] % sizeof rcpt;
	/* a wait status: an exit code or a signal */
	st = data[1] & 1 ? (data[0] & 0x7f) : (data[0] << 8);
	step = (size_t)(data[1] % 13) + 1;
	data += 2, size -= 2;
	if (k > size)
		k = size;
	memcpy(rcpt, data, k);
	rcpt[k] = '\0';
	if (k == sizeof rcpt)
		rcpt[k - 1] = '\0';
	whole = scan(rcpt, data + k, size - k, size + 1);
	if (scan(rcpt, data + k, size - k, step) != whole ||
	    scan(rcpt, data + k, size - k, 1) != whole)
		abort();
	report(data, size, st);
	return 0;
}
