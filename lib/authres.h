/* authres: the verdicts of one received message and their record, the
 * Authentication-Results header field (RFC 8601).  DKIM signatures are
 * verified here with lib/dkim.c (keys fetched through a dnsans_fn, RFC
 * 6376 3.6.2); SPF (lib/spf.c) and DMARC (lib/dmarc.c) results are
 * filled in by the caller.  No I/O. */
#ifndef SANDMAIL_AUTHRES_H
#define SANDMAIL_AUTHRES_H

#include <stddef.h>
#include <time.h>

#include "addr.h"
#include "arc.h"
#include "buf.h"
#include "dkim.h"
#include "dmarc.h"
#include "dnsans.h"
#include "spf.h"

#define AR_DKIM_MAX	8	/* signatures verified; more are counted */

enum ar_dkim {
	ARD_NONE, ARD_PASS, ARD_FAIL, ARD_NEUTRAL, ARD_TEMPERROR,
	ARD_PERMERROR
};

struct ar_sig {
	enum ar_dkim	 r;
	const char	*why;
	char		 d[256], s[64], b[9];	/* b: the first 8 of b= */
};

struct authres {
	/* SPF: of the MAIL FROM identity (or postmaster@HELO) and HELO */
	int		 spf_done;
	struct spf_out	 spf;
	char		 mailfrom[ADDR_PATH_MAX + 16];	/* the identity */
	int		 helo_done;
	struct spf_out	 spf_helo;
	char		 helo[256];
	/* DKIM */
	struct ar_sig	 sig[AR_DKIM_MAX];
	size_t		 nsig, nsig_all;
	const char	*dkim_why;	/* no signature checked: why */
	/* ARC (recorded only) */
	int		 arc_done;
	struct arc_out	 arc;
	/* DMARC */
	int		 dmarc_done;
	struct dmarc_out dmarc;
	char		 from[DNS_NAME_BUF];
};

/* ar_dkim_verify - every DKIM-Signature field of msg (at most
 * AR_DKIM_MAX of them), each with its key from DNS */
void	ar_dkim_verify(struct authres *, const char *msg, size_t n,
	    dnsans_fn *, void *, time_t now);
/* ar_dkim_name - "pass", "fail" ... */
const char *ar_dkim_name(enum ar_dkim);

/* ar_header - the whole field, "Authentication-Results: ID;\n\t..." with
 * LF line ends, appended to out; 0 or -1 */
int	ar_header(const struct authres *, const char *authserv_id,
	    struct buf *out);

/* ar_is_ours - whether the field p[0..n) ("Name: value", folded lines
 * kept) is an Authentication-Results field that claims authserv_id (a
 * forgery, or an earlier pass of ours: RFC 8601 5 says remove it) */
int	ar_is_ours(const char *p, size_t n, const char *authserv_id);

#endif
