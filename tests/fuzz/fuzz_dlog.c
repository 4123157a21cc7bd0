/* fuzz_dlog: the status code finder, the log line reader and the
 * logger's time stamp reader (lib/dlog.c) over any bytes: no read outside
 * the input, the outputs always terminated and within their size, a time
 * found never before 1970. */
#include <stdint.h>
#include <string.h>

#include "dlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	char d[DLOG_DSN_MAX], v[16];
	long long t;
	static const char *keys[] = { "id", "to", "text", "", "prog" };

	if (dlog_dsn((const char *)p, n, d) && strlen(d) >= DLOG_DSN_MAX)
		__builtin_trap();
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (dlog_get((const char *)p, n, keys[i], v, sizeof v) &&
		    strlen(v) >= sizeof v)
			__builtin_trap();
	if (dlog_time((const char *)p, n, &t) && t < 0)
		__builtin_trap();
	return 0;
}
