/* dmarc: Domain-based Message Authentication, Reporting and Conformance
 * (RFC 7489) for one received message: the RFC5322.From domain, the
 * policy record (at _dmarc.FROM, else at the organizational domain, which
 * the Public Suffix List gives through libpsl), identifier alignment
 * (relaxed or strict) of the SPF and DKIM results the caller has already
 * computed, and the disposition p=/sp= after pct= sampling.  DNS comes
 * through a dnsans_fn; no reports are sent (rua= is parsed and kept for
 * the log; ruf= is ignored). */
#ifndef SANDMAIL_DMARC_H
#define SANDMAIL_DMARC_H

#include <stddef.h>

#include <libpsl.h>

#include "dnsans.h"
#include "spf.h"

#define DMARC_DOMAINS_MAX	8	/* passing DKIM d= values considered */

enum dmarc_policy { DMARC_P_NONE, DMARC_P_QUARANTINE, DMARC_P_REJECT };

enum dmarc_result {
	DMARC_NONE,		/* no From domain or no policy record */
	DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR
};

/* rua= mailto: addresses kept: 6.2 lets a receiver limit them but asks
 * for at least two */
#define DMARC_RUA_MAX	8

struct dmarc_rec {
	enum dmarc_policy p, sp;
	int		 has_sp;
	unsigned	 pct;		/* 0..100, default 100 */
	int		 adkim_strict, aspf_strict;
	/* rua=: the first DMARC_RUA_MAX mailto: addresses, and the size
	 * limit of each ("!10m": 6.2, 6.3's dmarc-uri; 0 none) in bytes;
	 * URIs of other schemes, with '%' escapes, with bytes no plain
	 * address has, or with a malformed size are skipped */
	char		 rua[DMARC_RUA_MAX][256];
	unsigned long long rua_max[DMARC_RUA_MAX];
	size_t		 nrua;
	char		 fo[16];	/* fo= (6.3), "0" when absent or odd */
};

/* dmarc_rec_parse - one TXT record (6.3, 6.6.3); 0, or -1 when it is no
 * usable DMARC record */
int	dmarc_rec_parse(const char *, size_t, struct dmarc_rec *);

/* dmarc_from_domain - the domain of a From field's value (after the
 * colon), lower case, into out; 0, or -1 (no address, a group, several
 * addresses of different domains) */
int	dmarc_from_domain(const char *, size_t, char *out, size_t sz);

/* dmarc_orgdom - the organizational domain of d (3.2), a pointer into d
 * or d itself */
const char *dmarc_orgdom(const psl_ctx_t *, const char *d);
/* dmarc_aligned - identifier alignment of a and b (3.1) */
int	dmarc_aligned(const psl_ctx_t *, const char *a, const char *b,
	    int strict);

struct dmarc_in {
	const char	*from;		/* the From domain; NULL: none found */
	int		 from_bad;	/* several From fields or addresses */
	enum spf_result	 spf;		/* of the MAIL FROM (or HELO) */
	const char	*spf_domain;
	const char	*dkim_pass[DMARC_DOMAINS_MAX];	/* d= that passed */
	size_t		 ndkim;
	const psl_ctx_t	*psl;
	unsigned	 roll;		/* 0..99, for pct */
	dnsans_fn	*dns;
	void		*arg;
};

struct dmarc_out {
	enum dmarc_result r;
	enum dmarc_policy policy;	/* p= or sp= that applies */
	enum dmarc_policy disposition;	/* after pct: what to do on fail */
	int		 spf_aligned, dkim_aligned;
	const char	*why;
	char		 domain[DNS_NAME_BUF];	/* where the record was */
	int		 has_rec;	/* rec is the record that applied */
	struct dmarc_rec rec;
	/* a local policy set the disposition aside (RFC 7489 7.2, appendix
	 * C, PolicyOverrideType), or NULL; and what it rested on */
	const char	*override;
	char		 override_why[300];
};

/* dmarc_check - evaluate one message (6.6) */
void	dmarc_check(const struct dmarc_in *, struct dmarc_out *);
/* dmarc_name, dmarc_policy_name - as Authentication-Results writes them */
const char *dmarc_name(enum dmarc_result);
const char *dmarc_policy_name(enum dmarc_policy);

#endif
