/* fuzz_milter: lib/milter.c's codec on arbitrary bytes, what a hostile
 * or broken milter may send: a stream of packets, the first read as the
 * negotiation, the others as replies with every action allowed.  Beyond
 * not crashing: a packet never claims more than the input, a reply text
 * is a printable 4xx/5xx line, and the changes kept stay in bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "milter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	static struct milter_res r;
	const unsigned char *d;
	size_t dn, off = 0;
	uint32_t v, a, pr;
	long k;
	char c;
	int first = 1, x;

	while ((k = milter_next(p + off, n - off, &c, &d, &dn)) > 0) {
		if ((size_t)k > n - off || d + dn != p + off + k)
			__builtin_trap();
		off += (size_t)k;
		if (first) {
			first = 0;
			if (milter_optneg(d, dn, &v, &a, &pr) == 0 &&
			    ((a & ~MA_ALL) || (pr & ~MP_ALL) || v > 6))
				__builtin_trap();
			continue;
		}
		x = milter_reply(c, d, dn, MA_ALL, &r);
		if (x == 1 && r.v == MV_REPLY) {
			size_t l = strnlen(r.reply, sizeof r.reply);

			if (l == sizeof r.reply || l < 3 ||
			    (r.reply[0] != '4' && r.reply[0] != '5'))
				__builtin_trap();
			for (size_t i = 0; i < l; i++)
				if (r.reply[i] < 0x20 || r.reply[i] >= 0x7f)
					__builtin_trap();
		}
		if (r.nmods > MILTER_MODS_MAX)
			__builtin_trap();
	}
	milter_res_free(&r);
	return 0;
}
