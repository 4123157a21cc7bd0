/* fuzz_dns: the DNS response parser and the route logic behind it, on
 * arbitrary bytes (what a hostile name server or a spoofer may send). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../resolve/cache.h"
#include "dns.h"
#include "../../resolve/route.h"

static struct dns_msg m;

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	static struct dres d;
	char follow[DNS_NAME_BUF], name[DNS_NAME_BUF];
	size_t off;

	if (dns_parse(p, n, &m) == 0) {
		(void)route_from_msg(&m, m.qname, m.qtype, &d, follow);
		if (d.status == DRES_OK && m.qtype == DNS_T_MX) {
			route_order_mx(&d);
			(void)route_null_mx(&d);
		}
	}
	/* every offset as the start of a name */
	for (off = 0; off < n && off < 512; off++) {
		size_t o = off;

		if (dns_name_read(p, n, &o, name) >= 0 && strlen(name) > 253)
			__builtin_trap();
	}
	return 0;
}
