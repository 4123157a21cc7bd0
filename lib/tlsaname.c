/* tlsaname: the TLSA lookup names of an MX host (RFC 7672 2.2.3). */
#include <stdio.h>

#include "tlsaname.h"

#define CHAIN_HOPS	8

/* tlsaname_of - see tlsaname.h */
int
tlsaname_of(char *out, size_t outsz, unsigned port, const char *host)
{
	int n = snprintf(out, outsz, "_%u._tcp.%s", port, host);

	return n < 0 || (size_t)n >= outsz || n > 253 ? -1 : 0;
}

/* tlsaname_canon - see tlsaname.h */
const char *
tlsaname_canon(const struct dns_msg *m, const char *qname)
{
	const char *cur = qname;
	int moved = 1;

	for (int hops = 0; moved && hops < CHAIN_HOPS; hops++) {
		moved = 0;
		for (size_t i = 0; i < m->nrr; i++)
			if (m->rr[i].type == DNS_T_CNAME &&
			    dns_name_eq(m->rr[i].name, cur)) {
				cur = m->rr[i].u.cname;
				moved = 1;
				break;
			}
	}
	return cur;
}

/* tlsaname_follow - see tlsaname.h */
int
tlsaname_follow(const char *host, const char *canon, int secure)
{
	return secure && canon[0] != '\0' && !dns_name_eq(canon, host);
}

/* tlsaname_expanded - see tlsaname.h */
int
tlsaname_expanded(int asked, int failed, int secure_records)
{
	return asked && (failed || secure_records);
}
