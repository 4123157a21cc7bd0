/* arc: verification and sealing of an Authenticated Received Chain (RFC
 * 8617; sealing: arc_seal below).  Verification: the
 * ARC sets a message carries (ARC-Authentication-Results, ARC-Message-
 * Signature and ARC-Seal with the same i=), their structure, the newest
 * message signature (a DKIM signature under another name, lib/dkim.c's
 * canonicalization) and every seal, keys fetched through a dnsans_fn.
 * The result is recorded (arc= in Authentication-Results), and what the
 * newest set's ARC-Authentication-Results says passed is kept for a
 * local DMARC policy (arc_trusted_sealers, smtpd/verify.c).  No I/O. */
#ifndef SANDMAIL_ARC_H
#define SANDMAIL_ARC_H

#include <stddef.h>

#include "buf.h"
#include "dkim.h"
#include "dnsans.h"

#define ARC_SETS_MAX	50	/* RFC 8617 4.2.1: i= is 1..50 */

enum arc_result { ARC_NONE, ARC_PASS, ARC_FAIL };

#define ARC_AAR_DKIM_MAX	8	/* dkim=pass results kept */

/* what an ARC-Authentication-Results field says passed (RFC 8601
 * resinfo: method=pass and its property), lower case; "" if nothing */
struct arc_aar {
	char		 dmarc[256];	/* header.from of dmarc=pass */
	char		 spf[256];	/* the domain of spf=pass's
					 * smtp.mailfrom (or smtp.helo) */
	char		 dkim[ARC_AAR_DKIM_MAX][256];	/* header.d (or the
					 * domain of header.i) of dkim=pass */
	size_t		 ndkim;
};

struct arc_out {
	enum arc_result	 r;
	const char	*why;		/* a short static reason */
	unsigned	 n;		/* sets in the chain */
	char		 d[256];	/* the newest seal's d= */
	struct arc_aar	 aar;		/* the newest set's AAR, when r is
					 * ARC_PASS */
};

/* arc_verify - the chain of msg (LF or CRLF line ends) */
void	arc_verify(const char *msg, size_t n, dnsans_fn *, void *,
	    struct arc_out *);
/* arc_seal - a new ARC set (RFC 8617 5.1) for msg, the bytes as they
 * will be sent: ARC-Seal, ARC-Message-Signature and ARC-Authentication-
 * Results (from ar, our Authentication-Results field's value), CRLF-ended,
 * appended to out.  i= follows the sets msg has; cv= is none for the
 * first, else pass or fail as the verification of the chain said (cv).
 * The AMS signs the default DKIM header list (never an ARC field),
 * relaxed/relaxed; q names the rsa-sha256 key and t=; sign is asked twice
 * (the seal covers the AMS's signature).  0, or -1 (EINVAL: the sets
 * msg carries are malformed or already 50; E2BIG: they, or the new set,
 * are past this module's bounds; else sign's or memory's failure). */
int	arc_seal(const char *msg, size_t n, const char *ar, size_t arlen,
	    enum arc_result cv, const struct dkim_sigreq *q, dkim_signfn *,
	    void *, struct buf *out);
/* arc_aar_parse - an ARC-Authentication-Results value ("i=N; authserv-
 * id; resinfo; ..."), comments and quoted strings handled, into a;
 * 0, or -1 when it is no such value (a is then empty) */
int	arc_aar_parse(const char *v, size_t n, struct arc_aar *a);
/* arc_name - "none", "pass", "fail" */
const char *arc_name(enum arc_result);

#endif
