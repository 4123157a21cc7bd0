/* fuzz_stspol: the MTA-STS policy and TXT parsers and the TLSRPT TXT
 * parser on arbitrary bytes (what a hostile policy server or name server
 * may send), and MX matching against whatever policy came out. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dnstxt.h"
#include "stspol.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	static struct sts_policy pol;
	static struct dns_txt txt;
	char id[STS_ID_MAX + 1], rua[TLSRPT_RUA_MAX][TLSRPT_URI_BUF];
	char host[STS_NAME_BUF];
	const char *why, *s = (const char *)p;
	size_t nrua, hn;

	if (sts_policy_parse(s, n, &pol, &why) == 0) {
		hn = n < sizeof host - 1 ? n : sizeof host - 1;
		memcpy(host, s, hn);
		host[hn] = '\0';
		(void)sts_mx_match(&pol, host);
		for (size_t i = 0; i < pol.nmx; i++)
			(void)sts_mx_match(&pol, pol.mx[i]);
	}
	(void)sts_txt_parse(s, n, id);
	(void)tlsrpt_txt_parse(s, n, rua, &nrua);
	/* the same bytes as a DNS answer to _mta-sts.example.org TXT */
	if (n >= 2)
		(void)dns_txt_parse(p, n, (uint16_t)(p[0] << 8 | p[1]),
		    "_mta-sts.example.org", &txt);
	return 0;
}
