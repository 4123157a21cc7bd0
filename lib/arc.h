/* arc: verification of an Authenticated Received Chain (RFC 8617): the
 * ARC sets a message carries (ARC-Authentication-Results, ARC-Message-
 * Signature and ARC-Seal with the same i=), their structure, the newest
 * message signature (a DKIM signature under another name, lib/dkim.c's
 * canonicalization) and every seal, keys fetched through a dnsans_fn.
 * The result is recorded (arc= in Authentication-Results); no policy
 * uses it yet.  No I/O. */
#ifndef SANDMAIL_ARC_H
#define SANDMAIL_ARC_H

#include <stddef.h>

#include "dnsans.h"

#define ARC_SETS_MAX	50	/* RFC 8617 4.2.1: i= is 1..50 */

enum arc_result { ARC_NONE, ARC_PASS, ARC_FAIL };

struct arc_out {
	enum arc_result	 r;
	const char	*why;		/* a short static reason */
	unsigned	 n;		/* sets in the chain */
	char		 d[256];	/* the newest seal's d= */
};

/* arc_verify - the chain of msg (LF or CRLF line ends) */
void	arc_verify(const char *msg, size_t n, dnsans_fn *, void *,
	    struct arc_out *);
/* arc_name - "none", "pass", "fail" */
const char *arc_name(enum arc_result);

#endif
