/* dane: which TLS one host of a route gets under the policies dane and
 * dane-only (RFC 7672 2.2), from what resolve found in DNSSEC (the
 * host's enum job_dane and TLSA records, carried in the job).  No I/O:
 * unit tested in tests/unit/test_remote.c. */
#ifndef SANDMAIL_REMOTE_DANE_H
#define SANDMAIL_REMOTE_DANE_H

#include <stddef.h>

#include "job.h"
#include "tlsa.h"

/* dane_host_policy: the enum smtp_tls for host h under the job's policy
 * pol.  Policies other than dane and dane-only are returned as they are.
 * Under them: secure usable TLSA records -> TLS_DANE_MATCH (TLS required, the
 * certificate matched against them); secure records none usable ->
 * TLS_ENCRYPT; no secure records -> TLS_MAY (dane) or -1 (dane-only);
 * a failed TLSA lookup -> -1.  On -1 why holds the reason (with an RFC
 * 3463 code) and the host is not to be tried. */
int	dane_host_policy(int pol, const struct route_host *h, char *why,
	    size_t whysz);
/* dane_sts_policy: the enum smtp_tls for host h of a domain whose MTA-STS
 * policy enforces (job policy mta-sts) when remote_tls is dflt: DANE wins
 * where both exist (RFC 8461 2), so when dflt is dane or dane-only,
 * whatever dane_host_policy gives TLS_DANE_MATCH or -1 (why set) stands;
 * otherwise TLS_VERIFY, the policy's PKIX check. */
int	dane_sts_policy(int dflt, const struct route_host *h, char *why,
	    size_t whysz);
/* dane_records: h's records into out[max]; the count, or -1 if one is
 * not in tlsa.h's text form */
int	dane_records(const struct route_host *h, struct tlsa *out,
	    size_t max);

#endif
