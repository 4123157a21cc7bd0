/* route: from DNS outcomes to the route send asks for (no I/O).
 * MX hosts by preference with equal preferences shuffled, each host with
 * its addresses; no MX -> implicit MX (RFC 5321 5.1); null MX (RFC 7505)
 * -> permanent; an MX host without addresses is skipped. */
#ifndef SANDMAIL_RESOLVE_ROUTE_H
#define SANDMAIL_RESOLVE_ROUTE_H

#include "cache.h"
#include "dns.h"
#include "job.h"

#define CNAME_HOPS	8

/* route_from_msg: the outcome of a query for qname/qtype from answer m.
 * 0: *out is complete.  1: the answer ends in a CNAME chain without the
 * records; ask again for the name left in follow. */
int	route_from_msg(const struct dns_msg *m, const char *qname,
	    uint16_t qtype, struct dres *out, char *follow);
/* route_order_mx: sort by preference, shuffle equal preferences */
void	route_order_mx(struct dres *mx);
/* route_null_mx: 1 if the MX set is RFC 7505's "0 ." */
int	route_null_mx(const struct dres *mx);

/* One host of a route being built. */
struct rhost {
	char		name[DNS_NAME_BUF];
	uint16_t	pref;
	struct dres	a, aaaa;
	int		mx_secure;	/* dns_dnssec on and a secure MX set */
	int		tlsa_asked;	/* that, and a name TLSA can have */
	struct dres	tlsa;		/* _PORT._tcp.NAME, when asked */
	int		tlsa_x_asked;	/* NAME is an alias, securely */
	struct dres	tlsa_x;		/* _PORT._tcp.EXPANDED-NAME */
	char		xname[DNS_NAME_BUF];	/* EXPANDED-NAME, when asked */
};

/* route_tlsa: the TLSA answer of h that counts (expanded name first) */
const struct dres *route_tlsa(const struct rhost *h);
/* route_dane: what DNSSEC says of h's TLSA records (enum job_dane) */
enum job_dane route_dane(const struct rhost *h);

/* route_finish: hosts[] with their address lookups done -> the answer.
 * implicit: the host is the domain itself (no MX).  v6first: AAAA
 * addresses before A.  Fills a (allocated; rans_free releases). 0 or -1. */
int	route_finish(struct rans *a, const struct rhost *h, unsigned n,
	    int implicit, int v6first);
/* route_fail: an answer without hosts */
int	route_fail(struct rans *a, uint8_t status, const char *text);

#endif
