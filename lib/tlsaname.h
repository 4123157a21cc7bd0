/* tlsaname: where the TLSA records of an MX host are looked for (RFC
 * 7672 2.2.3, RFC 7671 7), decided here for both resolve (which asks
 * for the job) and sandmail-tlspolicy (which shows it): at
 * _PORT._tcp.HOST, and, when HOST is an alias by a DNSSEC-secure CNAME
 * chain, at _PORT._tcp.EXPANDED first.  No I/O; unit tested in
 * tests/unit/test_tlsa.c. */
#ifndef SANDMAIL_TLSANAME_H
#define SANDMAIL_TLSANAME_H

#include <stddef.h>

#include "dns.h"

/* tlsaname_of: "_PORT._tcp.HOST" into out; 0, or -1 when it would be
 * longer than a DNS name may be (253) or than outsz */
int	tlsaname_of(char *out, size_t outsz, unsigned port, const char *host);
/* tlsaname_canon: the end of the CNAME chain from qname inside answer m
 * (at most 8 hops), qname itself when there is none */
const char *tlsaname_canon(const struct dns_msg *m, const char *qname);
/* tlsaname_follow: 1 if the expanded name canon is asked too: the
 * host's address answer was DNSSEC-secure (secure) and ended at canon,
 * a name other than host */
int	tlsaname_follow(const char *host, const char *canon, int secure);
/* tlsaname_expanded: 1 if the expanded name's answer counts instead of
 * the alias's own: it was asked and either failed (the host is then not
 * to be used) or was secure with records; 0: the alias's own records
 * count (the expanded name has none: secure denial, or insecure) */
int	tlsaname_expanded(int asked, int failed, int secure_records);

#endif
