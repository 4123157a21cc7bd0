/* policy: may this recipient be accepted?  Local and virtual domains
 * (the domains table) accept only users that exist (localusers, virtual,
 * aliases; postmaster always); domains in routes are accepted for
 * forwarding; any other domain only from a client that may relay.  A
 * local part holding '%', '!' or '@' (the percent hack, bang paths, a
 * quoted '@') is never routed anywhere: it is an unknown user here, and
 * relaying for it is refused.  Lookups touch only mapped tables. */
#include <string.h>
#include <strings.h>

#include "smtpd.h"

static int
lower_domain(const struct addr *a, char *out)
{
	size_t i;

	for (i = 0; i < a->dlen && i < ADDR_DOMAIN_MAX; i++) {
		char c = a->domain[i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[i] = '\0';
	return 0;
}

static int
routing_chars(const struct addr *a)
{
	return strpbrk(a->local, "%!@") != NULL;
}

/* in_routes - the domain, or a ".parent" of it, in routes; "*" (a smart
 * host for everything) does not make every domain ours */
static int
in_routes(struct session *s, const char *dom)
{
	struct tbl *t = &s->tabs->t[T_ROUTES];
	const char *p;
	int r;

	if ((r = tbl_get(t, dom, strlen(dom), &s->scratch)) != 0)
		return r;
	for (p = strchr(dom, '.'); p != NULL; p = strchr(p + 1, '.'))
		if ((r = tbl_get(t, p, strlen(p), &s->scratch)) != 0)
			return r;
	return 0;
}

/* offsite - the first address of an alias value whose domain is not
 * ours (a forward), copied into info; 1 found, 0 none */
static int
offsite(struct session *s, const char *v, size_t n, struct buf *info)
{
	struct buf val = BUF_INIT(TBL_KEY_MAX * 4);
	size_t i, j, k;
	const char *at;
	char dom[ADDR_DOMAIN_MAX + 1];
	int found = 0;

	for (i = 0; i < n && !found; i = j + 1) {
		for (j = i; j < n && v[j] != ','; j++)
			;
		while (i < j && v[i] == ' ')
			i++;
		k = j;
		while (k > i && v[k - 1] == ' ')
			k--;
		if (k == i || v[i] == '|' || v[i] == '/')
			continue;
		at = memchr(v + i, '@', k - i);
		if (at == NULL || (size_t)(v + k - at - 1) > ADDR_DOMAIN_MAX)
			continue;
		memcpy(dom, at + 1, (size_t)(v + k - at - 1));
		dom[v + k - at - 1] = '\0';
		if (tbl_domain(&s->tabs->t[T_DOMAINS], dom, &val) != 0)
			continue;
		info->len = 0;
		found = buf_put(info, v + i, k - i) == 0;
	}
	buf_free(&val);
	return found;
}

/* local_user - a user of a local domain: localusers by name, the
 * extension (user-ext, user+ext) removed, lowercased */
static int
local_user(struct session *s, const struct addr *a)
{
	struct tbl *t = &s->tabs->t[T_LOCALUSERS];
	struct buf k = BUF_INIT(ADDR_LOCAL_MAX + 1);
	size_t n;
	int r;

	if (tbl_lower(&k, a->local, a->llen) == -1)
		return -1;
	if ((r = tbl_get(t, k.p, k.len, &s->scratch)) == 0) {
		for (n = 0; n < k.len && strchr(EXT_SEPS, k.p[n]) == NULL;
		    n++)
			;
		if (n > 0 && n < k.len)
			r = tbl_get(t, k.p, n, &s->scratch);
	}
	buf_free(&k);
	return r;
}

static enum rcpt_verdict
local_rcpt(struct session *s, const struct addr *a, const char *dom,
    int virt, struct buf *info)
{
	enum tbl_match how;
	int r;

	if (routing_chars(a))
		return RV_UNKNOWN;
	r = tbl_addr(&s->tabs->t[T_MOVED], a->local, dom, EXT_SEPS, info,
	    &how);
	if (r != 0)
		return r == 1 ? RV_MOVED : RV_TEMP;
	if (strcasecmp(a->local, "postmaster") == 0)
		return RV_OK;
	r = tbl_addr(&s->tabs->t[T_ALIASES], a->local, dom, EXT_SEPS, info,
	    &how);
	if (r == 1) {
		struct buf v = BUF_INIT(TBL_KEY_MAX * 4);

		r = buf_put(&v, info->p, info->len) == 0 &&
		    offsite(s, v.p, v.len, info);
		buf_free(&v);
		return r ? RV_FORWARD : RV_OK;
	}
	if (r == -1)
		return RV_TEMP;
	if (virt)
		r = tbl_addr(&s->tabs->t[T_VIRTUAL], a->local, dom, EXT_SEPS,
		    info, &how);
	else
		r = local_user(s, a);
	return r == 1 ? RV_OK : r == 0 ? RV_UNKNOWN : RV_TEMP;
}

/* rcpt_check - the verdict for one recipient; info gets a moved-to or
 * forward address */
enum rcpt_verdict
rcpt_check(struct session *s, const struct addr *a, struct buf *info)
{
	char dom[ADDR_DOMAIN_MAX + 1];
	int r;

	info->len = 0;
	if (a->null)
		return RV_UNKNOWN;
	lower_domain(a, dom);
	if (!a->literal) {
		r = tbl_domain(&s->tabs->t[T_DOMAINS], dom, &s->scratch);
		if (r == -1)
			return RV_TEMP;
		if (r == 1)
			return local_rcpt(s, a, dom,
			    buf_eq(&s->scratch, "virtual"), info);
		if ((r = in_routes(s, dom)) == -1)
			return RV_TEMP;
		if (r == 1 && (!routing_chars(a) || may_relay(s)))
			return RV_OK;
	}
	return may_relay(s) ? RV_OK : RV_RELAY;
}
