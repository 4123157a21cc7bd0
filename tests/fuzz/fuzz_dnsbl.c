/* fuzz_dnsbl: the TXT text a DNS blocklist's answer gives
 * (smtpd/dnsbl.c's dnsbl_txt) on arbitrary bytes, what a hostile name
 * server or a spoofer may send.  Beyond not crashing: the text is NUL
 * terminated within its buffer and printable ASCII. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../smtpd/filter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	char out[200];
	size_t l;

	memset(out, 'x', sizeof out);
	if (dnsbl_txt(p, n, "2.0.0.127.bl.test", out, sizeof out) != 0)
		return 0;
	if ((l = strnlen(out, sizeof out)) == sizeof out)
		__builtin_trap();
	for (size_t i = 0; i < l; i++)
		if (out[i] < 0x20 || out[i] >= 0x7f)
			__builtin_trap();
	return 0;
}
