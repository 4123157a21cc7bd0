/* cache: answers of sandmail-resolve by (name, type), kept for their TTL;
 * negative answers (NXDOMAIN, no data) for the SOA's negative TTL (RFC
 * 2308).  Bounded: when full, the entry closest to expiry goes. */
#ifndef SANDMAIL_RESOLVE_CACHE_H
#define SANDMAIL_RESOLVE_CACHE_H

#include <stdint.h>

#include "dns.h"

#define DRES_ITEMS	16	/* records kept for one name and type */

enum dres_status {
	DRES_OK,		/* records in it[] */
	DRES_NODATA,		/* the name exists, no record of the type */
	DRES_NXDOMAIN,		/* the name does not exist */
	DRES_FAIL,		/* SERVFAIL, REFUSED, time-out: never cached */
};

struct dres_item {
	uint16_t	pref;		/* MX only */
	char		s[DNS_NAME_BUF];	/* host, textual address, or a
					 * usable TLSA record (tlsa.h) */
};

/* The outcome of one lookup. */
struct dres {
	enum dres_status status;
	uint32_t	ttl;
	unsigned	n;
	struct dres_item it[DRES_ITEMS];
	char		why[128];	/* for DRES_FAIL */
	int		secure;		/* AD from a trusted validator, on
					 * every answer of the CNAME chain */
	unsigned	nbad;		/* TLSA: records not usable (not in
					 * it[]); DRES_OK even when n == 0 */
	char		canon[DNS_NAME_BUF];	/* the name at the end of
					 * the CNAME chain, or "" */
};

/* cache_init: at most max entries; 0 or -1 */
int	cache_init(unsigned max);
/* cache_get: 1 and *out filled when a live entry exists, else 0 */
int	cache_get(const char *name, uint16_t type, long long now,
	    struct dres *out);
/* cache_put: keep r for min(r->ttl, ttl_max) seconds (no-op for FAIL) */
void	cache_put(const char *name, uint16_t type, const struct dres *r,
	    long long now, uint32_t ttl_max);
unsigned cache_count(void);

#endif
