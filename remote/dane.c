/* dane: the per-host TLS decision of RFC 7672 2.2 for rspawn's workers. */
#include <stdio.h>

#include "dane.h"
#include "smtp.h"

/* dane_host_policy - see dane.h */
int
dane_host_policy(int pol, const struct route_host *h, char *why,
    size_t whysz)
{
	if (pol != TLS_DANE && pol != TLS_DANE_ONLY)
		return pol;
	switch (h->dane) {
	case DANE_SECURE:
		return TLS_DANE_MATCH;
	case DANE_UNUSABLE:
		/* records published, none we may use: TLS without
		 * authentication, but never clear text */
		return TLS_ENCRYPT;
	case DANE_FAIL:
		/* bogus or unanswered: an attacker may be hiding them */
		snprintf(why, whysz, "4.7.5 DANE: the TLSA lookup for %s "
		    "failed (DNSSEC bogus or no answer)", h->name);
		return -1;
	default:
		if (pol == TLS_DANE)
			return TLS_MAY;
		snprintf(why, whysz, "4.7.4 DANE: %s has no DNSSEC-secure "
		    "TLSA records and the TLS policy is dane-only", h->name);
		return -1;
	}
}

/* dane_sts_policy - see dane.h */
int
dane_sts_policy(int dflt, const struct route_host *h, char *why,
    size_t whysz)
{
	int p;

	if (dflt != TLS_DANE && dflt != TLS_DANE_ONLY)
		return TLS_VERIFY;
	p = dane_host_policy(dflt, h, why, whysz);
	return p == TLS_DANE_MATCH || p == -1 ? p : TLS_VERIFY;
}

/* dane_records - see dane.h */
int
dane_records(const struct route_host *h, struct tlsa *out, size_t max)
{
	size_t n = 0;

	for (uint32_t i = 0; i < h->ntlsa && n < max; i++)
		if (tlsa_scan(h->tlsa[i], &out[n++]) == -1)
			return -1;
	return (int)n;
}
