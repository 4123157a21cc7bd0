/* route: turning lookups into an ordered list of hosts and addresses. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "route.h"
#include "tlsaname.h"

static uint32_t
min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static void
item_set(struct dres *out, const struct dns_rr *rr)
{
	struct dres_item *it = &out->it[out->n];

	it->pref = 0;
	if (rr->type == DNS_T_TLSA) {
		/* only usable records are carried (RFC 7672 3.1.3); the
		 * others still say that the host has TLSA records */
		if (!tlsa_usable(&rr->u.tlsa) ||
		    tlsa_format(&rr->u.tlsa, it->s, sizeof it->s) == -1) {
			out->nbad++;
			return;
		}
	} else if (rr->type == DNS_T_A)
		inet_ntop(AF_INET, rr->u.a, it->s, sizeof it->s);
	else if (rr->type == DNS_T_AAAA)
		inet_ntop(AF_INET6, rr->u.aaaa, it->s, sizeof it->s);
	else {
		it->pref = rr->u.mx.pref;
		memcpy(it->s, rr->u.mx.host, sizeof it->s);
	}
	out->ttl = out->n == 0 ? rr->ttl : min32(out->ttl, rr->ttl);
	out->n++;
}

/* route_from_msg - follow the CNAME chain inside the answer, then take
 * the records of qtype owned by its end */
int
route_from_msg(const struct dns_msg *m, const char *qname, uint16_t qtype,
    struct dres *out, char *follow)
{
	const char *cur = qname;
	uint32_t chain_ttl = 0x7fffffff;
	int hops = 0, moved = 1;

	memset(out, 0, offsetof(struct dres, it));
	out->why[0] = '\0';
	out->secure = (m->flags & DNS_F_AD) != 0;
	out->nbad = 0;
	while (moved && hops < CNAME_HOPS) {
		moved = 0;
		for (size_t i = 0; i < m->nrr; i++)
			if (m->rr[i].type == DNS_T_CNAME &&
			    qtype != DNS_T_CNAME &&
			    dns_name_eq(m->rr[i].name, cur)) {
				cur = m->rr[i].u.cname;
				chain_ttl = min32(chain_ttl, m->rr[i].ttl);
				moved = 1;
				hops++;
				break;
			}
	}
	snprintf(out->canon, sizeof out->canon, "%s", cur);
	for (size_t i = 0; i < m->nrr && out->n < DRES_ITEMS; i++)
		if (m->rr[i].type == qtype && dns_name_eq(m->rr[i].name, cur))
			item_set(out, &m->rr[i]);
	if (out->n > 0 || out->nbad > 0) {
		out->status = DRES_OK;
		out->ttl = min32(out->ttl, chain_ttl);
		return 0;
	}
	out->ttl = m->has_soa ? m->neg_ttl : 0;
	if (m->rcode == DNS_R_NXDOMAIN) {
		out->status = DRES_NXDOMAIN;
		return 0;
	}
	out->status = DRES_NODATA;
	if (cur != qname && !m->has_soa) {
		/* the chain goes on outside this answer */
		memcpy(follow, cur, strlen(cur) + 1);
		return 1;
	}
	return 0;
}

static int
by_pref(const void *a, const void *b)
{
	const struct dres_item *x = a, *y = b;

	return (int)x->pref - (int)y->pref;
}

/* route_order_mx - RFC 5321 5.1: lowest preference first; hosts of equal
 * preference in random order, to spread the load */
void
route_order_mx(struct dres *mx)
{
	unsigned i, j, k;

	qsort(mx->it, mx->n, sizeof mx->it[0], by_pref);
	for (i = 0; i < mx->n; i = j) {
		for (j = i + 1; j < mx->n && mx->it[j].pref == mx->it[i].pref;
		    j++)
			;
		for (k = j - 1; k > i; k--) {
			unsigned r = i + randombytes_uniform(k - i + 1);
			struct dres_item t = mx->it[k];

			mx->it[k] = mx->it[r];
			mx->it[r] = t;
		}
	}
}

/* route_null_mx - RFC 7505 3: one MX record, preference 0, host "." */
int
route_null_mx(const struct dres *mx)
{
	return mx->status == DRES_OK && mx->n == 1 && mx->it[0].s[0] == '\0';
}

static int
dupe(char **out, const char *s)
{
	return (*out = strdup(s)) == NULL ? -1 : 0;
}

static int
add_addrs(struct route_host *rh, const struct dres *d)
{
	if (d->status != DRES_OK)
		return 0;
	for (unsigned i = 0; i < d->n && rh->naddr < JOB_ADDRS_MAX; i++)
		if (dupe(&rh->addr[rh->naddr++], d->it[i].s) == -1)
			return -1;
	return 0;
}

/* an answer with addresses was validated (or there was none) */
static int
addr_secure(const struct dres *d)
{
	return d->status != DRES_OK || d->n == 0 || d->secure;
}

/* route_tlsa - the TLSA answer that counts (RFC 7672 2.2.3, RFC 7671
 * 7): when the host name is an alias (a secure CNAME chain), the
 * records of the expanded name first; the original name's when the
 * expanded name has none (a denial, or an insecure answer) */
const struct dres *
route_tlsa(const struct rhost *h)
{
	if (tlsaname_expanded(h->tlsa_x_asked, h->tlsa_x.status == DRES_FAIL,
	    h->tlsa_x.status == DRES_OK && h->tlsa_x.secure))
		return &h->tlsa_x;
	return &h->tlsa;
}

/* route_dane - RFC 7672 2.2: TLSA records count only when the MX set
 * (h->tlsa_asked says it was secure, with dns_dnssec on), the host's
 * addresses and the TLSA answer itself are all DNSSEC-secure; a failed
 * TLSA lookup of such a host makes it unusable, whatever else */
enum job_dane
route_dane(const struct rhost *h)
{
	const struct dres *t = route_tlsa(h);

	if (!h->tlsa_asked || !addr_secure(&h->a) || !addr_secure(&h->aaaa))
		return DANE_NONE;
	if (t->status == DRES_FAIL)
		return DANE_FAIL;
	if (t->status != DRES_OK || !t->secure)
		return DANE_NONE;
	return t->n > 0 ? DANE_SECURE : DANE_UNUSABLE;
}

static int
fill_dane(struct route_host *rh, const struct rhost *h)
{
	const struct dres *t = route_tlsa(h);

	rh->dane = (uint8_t)route_dane(h);
	if (rh->dane != DANE_SECURE)
		return 0;
	if ((rh->tlsa = calloc(t->n, sizeof *rh->tlsa)) == NULL)
		return -1;
	for (unsigned i = 0; i < t->n && i < JOB_TLSA_MAX; i++)
		if (dupe(&rh->tlsa[rh->ntlsa++], t->it[i].s) == -1)
			return -1;
	/* the records of the expanded name: a DANE-TA certificate may name
	 * it instead of the MX host name (RFC 7672 3.2.2) */
	if (t == &h->tlsa_x && dupe(&rh->tlsa_name, h->xname) == -1)
		return -1;
	return 0;
}

static int
fill_host(struct route_host *rh, const struct rhost *h, int v6first)
{
	if (dupe(&rh->name, h->name) == -1 ||
	    (rh->addr = calloc(JOB_ADDRS_MAX, sizeof *rh->addr)) == NULL ||
	    fill_dane(rh, h) == -1)
		return -1;
	rh->pref = h->pref;
	rh->mx = h->mx_secure ? MX_SECURE : MX_INSECURE;
	if (v6first)
		return add_addrs(rh, &h->aaaa) | add_addrs(rh, &h->a);
	return add_addrs(rh, &h->a) | add_addrs(rh, &h->aaaa);
}

static int
usable(const struct rhost *h)
{
	return (h->a.status == DRES_OK && h->a.n > 0) ||
	    (h->aaaa.status == DRES_OK && h->aaaa.n > 0);
}

/* why no host was usable: permanent only when the domain itself (no
 * MX) exists and has no address */
static int
none_usable(struct rans *a, const struct rhost *h, unsigned n, int implicit)
{
	char text[512];

	if (implicit && n == 1 && h[0].a.status != DRES_FAIL &&
	    h[0].aaaa.status != DRES_FAIL) {
		snprintf(text, sizeof text, "5.1.2 %s has no MX and no "
		    "address", h[0].name);
		return route_fail(a, ST_PERM, text);
	}
	for (unsigned i = 0; i < n; i++)
		if (h[i].a.status == DRES_FAIL || h[i].aaaa.status == DRES_FAIL) {
			snprintf(text, sizeof text,
			    "4.4.3 address lookup for %s failed: %s", h[i].name,
			    h[i].a.status == DRES_FAIL ? h[i].a.why :
			    h[i].aaaa.why);
			return route_fail(a, ST_TEMP, text);
		}
	/* X.4.4: unable to route */
	return route_fail(a, ST_TEMP, "4.4.4 no MX host has an address");
}

/* route_finish - the hosts that have addresses, in order */
int
route_finish(struct rans *a, const struct rhost *h, unsigned n,
    int implicit, int v6first)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		k += usable(&h[i]);
	if (k == 0)
		return none_usable(a, h, n, implicit);
	a->status = ST_OK;
	if (dupe(&a->text, "") == -1 ||
	    (a->host = calloc(k, sizeof *a->host)) == NULL)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (usable(&h[i]) &&
		    fill_host(&a->host[a->nhost++], &h[i], v6first) == -1)
			return -1;
	return 0;
}

/* route_fail - status and reason, no hosts */
int
route_fail(struct rans *a, uint8_t status, const char *text)
{
	a->status = status;
	a->nhost = 0;
	a->host = NULL;
	return dupe(&a->text, text);
}
