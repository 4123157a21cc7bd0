/* cache: a small bounded table of DNS outcomes.  Linear search: a few
 * thousand entries and a handful of lookups per message cost less than
 * the system calls around them. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"

struct centry {
	char		name[DNS_NAME_BUF];
	uint16_t	type;
	long long	expires;	/* 0: free slot */
	struct dres	*r;
};

static struct centry *tab;
static unsigned cap;

/* cache_init - allocate the table */
int
cache_init(unsigned max)
{
	cap = max;
	if (max == 0)
		return 0;
	tab = calloc(max, sizeof *tab);
	return tab == NULL ? -1 : 0;
}

static struct centry *
find(const char *name, uint16_t type)
{
	for (unsigned i = 0; i < cap; i++)
		if (tab[i].expires != 0 && tab[i].type == type &&
		    strcasecmp(tab[i].name, name) == 0)
			return &tab[i];
	return NULL;
}

/* cache_get - a live entry for name/type */
int
cache_get(const char *name, uint16_t type, long long now, struct dres *out)
{
	struct centry *e = find(name, type);

	if (e == NULL)
		return 0;
	if (e->expires <= now) {
		free(e->r);
		e->r = NULL;
		e->expires = 0;
		return 0;
	}
	*out = *e->r;
	out->ttl = (uint32_t)(e->expires - now);
	return 1;
}

static struct centry *
victim(long long now)
{
	struct centry *best = &tab[0];

	for (unsigned i = 0; i < cap; i++) {
		if (tab[i].expires == 0 || tab[i].expires <= now)
			return &tab[i];
		if (tab[i].expires < best->expires)
			best = &tab[i];
	}
	return best;
}

/* cache_put - remember r; TTL 0 and failures are not kept */
void
cache_put(const char *name, uint16_t type, const struct dres *r,
    long long now, uint32_t ttl_max)
{
	struct centry *e;
	uint32_t ttl = r->ttl < ttl_max ? r->ttl : ttl_max;

	if (cap == 0 || r->status == DRES_FAIL || ttl == 0 ||
	    strlen(name) >= DNS_NAME_BUF)
		return;
	if ((e = find(name, type)) == NULL)
		e = victim(now);
	if (e->r == NULL && (e->r = malloc(sizeof *e->r)) == NULL)
		return;
	*e->r = *r;
	memcpy(e->name, name, strlen(name) + 1);
	e->type = type;
	e->expires = now + ttl;
}

/* cache_count - live or stale entries held */
unsigned
cache_count(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cap; i++)
		n += tab[i].expires != 0;
	return n;
}
