/* spf: the Sender Policy Framework's check_host() (RFC 7208) on one
 * client address and one identity (the MAIL FROM, or the HELO name).
 * DNS comes from the caller through a dnsans_fn, so the same code runs
 * in smtpd and in the unit tests' fake zones.  Limits of RFC 7208 4.6.4:
 * at most 10 mechanisms and modifiers that cause DNS queries, at most 2
 * "void" lookups (no data or NXDOMAIN), at most 10 names of one mx and
 * (here) 10 addresses of one a, and the whole record is checked for
 * syntax before any term is evaluated (4.6).  ptr and %{p} validate the
 * client's PTR names (at most 10) as 5.5 says.  tests/integration/
 * test_spf_suite.py runs the RFC 7208 test suite against this code. */
#ifndef SANDMAIL_SPF_H
#define SANDMAIL_SPF_H

#include <stddef.h>
#include <stdint.h>

#include "dnsans.h"

#define SPF_LOOKUP_MAX	10	/* RFC 7208 4.6.4 */
#define SPF_VOID_MAX	2
#define SPF_TERMS_MAX	64	/* terms of one record: more is permerror */
#define SPF_EXPL_MAX	256	/* the explanation kept */

enum spf_result {
	SPF_NONE, SPF_NEUTRAL, SPF_PASS, SPF_FAIL, SPF_SOFTFAIL,
	SPF_TEMPERROR, SPF_PERMERROR
};

struct spf_req {
	const char	*ip;		/* the client, text IPv4 or IPv6 */
	const char	*sender;	/* local@domain (MAIL FROM or
					 * postmaster@helo) */
	const char	*helo;		/* the HELO/EHLO name */
	const char	*domain;	/* the domain checked */
	const char	*receiver;	/* %{r}: our host name */
	dnsans_fn	*dns;
	void		*arg;
};

struct spf_out {
	enum spf_result	 r;
	const char	*why;		/* a short static reason */
	unsigned	 lookups, voids;
	char		 expl[SPF_EXPL_MAX];	/* fail: exp= text, or "" */
};

/* spf_check - check_host(ip, domain, sender); the result in o->r */
enum spf_result spf_check(const struct spf_req *, struct spf_out *o);
/* spf_name - "pass", "fail" ... as RFC 8601 writes them */
const char *spf_name(enum spf_result);

/* spf_macro - expand a macro-string (RFC 7208 7) into out; exp allows
 * c, r and t.  0, or -1 (syntax: permerror) */
int	spf_macro(const struct spf_req *, const char *domain, const char *s,
	    size_t n, int exp, char *out, size_t outsz);

#endif
