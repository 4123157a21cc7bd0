/* dnstxt: the TXT records (RFC 1035 3.3.14) of a DNS answer, for the
 * policy records of MTA-STS (_mta-sts) and TLS reporting (_smtp._tls).
 * Apart from any I/O, like dns.c, so the fuzzer drives it. */
#ifndef SANDMAIL_DNSTXT_H
#define SANDMAIL_DNSTXT_H

#include <stddef.h>
#include <stdint.h>

#define DNS_T_TXT	16
#define DNS_TXT_MAX	4096	/* bytes of one record's joined strings */
#define DNS_TXT_RECS	8	/* records kept */

struct dns_txt {
	int		rcode;
	int		tc;		/* truncated: ask again over TCP */
	uint32_t	ttl;		/* the lowest TTL of the kept records */
	size_t		n;
	size_t		len[DNS_TXT_RECS];
	char		txt[DNS_TXT_RECS][DNS_TXT_MAX];
};

/* dns_txt_parse: an answer to our query (id, qname, TXT, IN): the TXT
 * records owned by qname (or a CNAME of it), each record's strings
 * joined; longer records and those past DNS_TXT_RECS are dropped and
 * counted in n as well, so a caller that wants exactly one sees there
 * were more.  0, or -1 if malformed or not the answer to our question. */
int	dns_txt_parse(const uint8_t *p, size_t n, uint16_t id,
	    const char *qname, struct dns_txt *t);

#endif
