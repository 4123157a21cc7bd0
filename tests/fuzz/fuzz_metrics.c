/* fuzz_metrics: sandmail-metrics' reading of log lines and of send's
 * stats file over any bytes, and the text rendered from what they
 * counted: no read outside the input, the output within its ceiling. */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "../../metrics/mstat.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	static struct mt m;
	struct mt_gauges g;
	struct buf b = BUF_INIT(1 << 20);

	mt_init(&m);
	for (size_t i = 0; i < 4; i++)
		mt_line(&m, (const char *)p, n);
	(void)mt_gauges_parse(&g, (const char *)p, n);
	if (mt_render(&m, &g, 0, &b) == -1)
		__builtin_trap();
	buf_free(&b);
	return 0;
}
