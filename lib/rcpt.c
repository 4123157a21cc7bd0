/* rcpt: where a recipient goes, decided once for smtpd and send.  In a
 * domain of ours (the domains table, the hostname, localhost), in order:
 * a local part holding '%', '!' or '@' is unknown (never routed);
 * moved (551); aliases (local@domain, the extension cut off at each
 * recipient_delimiter from the last, @domain, then, in a local domain,
 * the bare local part the same way); then a virtual domain's virtual
 * table, or a local domain's localusers (as given, lowercased, the
 * extension cut off).  postmaster of a virtual domain without an entry
 * is an alias of postmaster@hostname.  Other domains: a domain routes
 * names is forwarded for anyone, the rest is remote (relay clients
 * only, which smtpd decides).  doc/sandmail-tables.5 says the same. */
#include <string.h>
#include <strings.h>

#include "rcpt.h"

static int
routing_chars(const struct addr *a)
{
	return strpbrk(a->local, "%!@") != NULL;
}

/* lower - s[0..n) lowercased into out (ADDR_DOMAIN_MAX + 1); 0 or -1 */
static int
lower(char *out, const char *s, size_t n)
{
	size_t i;

	if (n > ADDR_DOMAIN_MAX)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') :
		    s[i];
	out[n] = '\0';
	return 0;
}

static int
same_name(const char *dom, const char *name)
{
	size_t n = strlen(dom), m = strlen(name);

	if (n > 1 && dom[n - 1] == '.')		/* "example.org." */
		n--;
	return m > 0 && n == m && strncasecmp(dom, name, n) == 0;
}

/* rcpt_domain - 'l', 'v', 0 or -1 */
int
rcpt_domain(const struct rcpt_tabs *t, const char *domain, size_t n)
{
	char dom[ADDR_DOMAIN_MAX + 1];
	struct buf v = BUF_INIT(64);
	int r;

	if (n == 0 || domain[0] == '[' || lower(dom, domain, n) == -1 ||
	    memchr(domain, '\0', n) != NULL)
		return 0;
	r = tbl_domain(t->domains, dom, &v);
	if (r == 1)
		r = v.len == 7 && strncasecmp(v.p, "virtual", 7) == 0 ? 'v' :
		    'l';
	else if (r == 0 && (same_name(dom, t->hostname) ||
	    same_name(dom, "localhost")))
		r = 'l';
	buf_free(&v);
	return r;
}

/* in_routes - the domain, or a ".parent" of it, in routes; "*" (a smart
 * host for everything) does not make every domain ours */
static int
in_routes(const struct rcpt_tabs *t, const char *dom)
{
	struct buf v = BUF_INIT(TBL_KEY_MAX * 4);
	const char *p;
	int r;

	if ((r = tbl_get(t->routes, dom, strlen(dom), &v)) == 0)
		for (p = strchr(dom, '.'); p != NULL && r == 0;
		    p = strchr(p + 1, '.'))
			r = tbl_get(t->routes, p, strlen(p), &v);
	buf_free(&v);
	return r;
}

/* rcpt_user - "uid:gid:/home" to uid, gid and "/home/Maildir/" */
int
rcpt_user(const char *v, size_t n, uint32_t *uid, uint32_t *gid,
    struct buf *path)
{
	uint64_t x[2] = { 0, 0 };
	size_t i = 0;

	for (int f = 0; f < 2; f++, i++) {
		size_t start = i;

		for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
			if ((x[f] = x[f] * 10 + (uint64_t)(v[i] - '0')) >
			    UINT32_MAX)
				return -1;
		if (i == start || i >= n || v[i] != ':')
			return -1;
	}
	if (i >= n || v[i] != '/' || memchr(v + i, '\0', n - i) != NULL)
		return -1;
	*uid = (uint32_t)x[0], *gid = (uint32_t)x[1];
	if (buf_put(path, v + i, n - i) == -1 ||
	    (path->p[path->len - 1] != '/' && buf_putc(path, '/') == -1))
		return -1;
	return buf_puts(path, "Maildir/") == -1 || buf_cstr(path) == -1 ?
	    -1 : 0;
}

/* sysuser - localusers: as given, lowercased, then the lowercased local
 * part cut at each separator from the last to the first */
static int
sysuser(const struct rcpt_tabs *t, const struct addr *a, struct buf *v)
{
	struct buf k = BUF_INIT(TBL_KEY_MAX);
	size_t base;
	int r;

	if ((r = tbl_get(t->localusers, a->local, a->llen, v)) != 0)
		goto out;
	if ((r = tbl_lower(&k, a->local, a->llen)) == -1 ||
	    (r = tbl_get(t->localusers, k.p, k.len, v)) != 0)
		goto out;
	for (base = k.len; base > 1 && r == 0; base--)
		if (strchr(t->delim, k.p[base - 1]) != NULL)
			r = tbl_get(t->localusers, k.p, base - 1, v);
out:
	buf_free(&k);
	return r;
}

static enum rcpt_kind
mailbox(const struct rcpt_tabs *t, const struct addr *a, const char *dom,
    struct rcpt_res *r)
{
	struct buf v = BUF_INIT(4096);
	int f;

	if (r->virt)
		f = tbl_addr(t->virt, a->local, dom, t->delim, &v, NULL);
	else
		f = sysuser(t, a, &v);
	r->val.len = 0;
	if (f != 1)
		r->kind = f == 0 ? RK_UNKNOWN : RK_TEMP;
	else if (!r->virt)
		r->kind = rcpt_user(v.p, v.len, &r->uid, &r->gid, &r->val) ==
		    0 ? RK_USER : RK_BADENTRY;
	else if (v.len > 5 && memcmp(v.p, "lmtp:", 5) == 0 &&
	    memchr(v.p, '\0', v.len) == NULL && buf_put(&r->val, v.p, v.len) ==
	    0 && buf_cstr(&r->val) == 0)
		r->kind = RK_VIRTUAL;	/* delivered over LMTP by send */
	else if (v.len > 0 && v.p[0] == '/' && memchr(v.p, '\0', v.len) ==
	    NULL && buf_put(&r->val, v.p, v.len) == 0 &&
	    (r->val.p[r->val.len - 1] == '/' || buf_putc(&r->val, '/') == 0) &&
	    buf_cstr(&r->val) == 0)
		r->kind = RK_VIRTUAL;
	else
		r->kind = RK_BADENTRY;
	buf_free(&v);
	return r->kind;
}

/* ours - a recipient in one of our domains (dom lowercased) */
static enum rcpt_kind
ours(const struct rcpt_tabs *t, const struct addr *a, const char *dom,
    unsigned flags, struct rcpt_res *r)
{
	int f;

	if (routing_chars(a))
		return r->kind = RK_UNKNOWN;
	f = tbl_addr(t->moved, a->local, dom, t->delim, &r->val, NULL);
	if (f != 0)
		return r->kind = f == 1 ? RK_MOVED : RK_TEMP;
	if (!(flags & RCPT_NOALIAS)) {
		f = tbl_addr(t->aliases, a->local, dom, t->delim, &r->val,
		    NULL);
		if (f == 0 && !r->virt)
			f = tbl_addr(t->aliases, a->local, "", t->delim,
			    &r->val, NULL);
		if (f != 0)
			return r->kind = f == 1 ? RK_ALIAS : RK_TEMP;
	}
	if (mailbox(t, a, dom, r) != RK_UNKNOWN || !r->postmaster ||
	    !r->virt || (flags & RCPT_NOALIAS) || same_name(dom, t->hostname))
		return r->kind;
	/* postmaster of a virtual domain: the host's (RFC 5321 4.5.1) */
	r->val.len = 0;
	if (buf_puts(&r->val, "postmaster@") == -1 ||
	    buf_puts(&r->val, t->hostname) == -1)
		return r->kind = RK_TEMP;
	return r->kind = RK_ALIAS;
}

/* rcpt_resolve - see rcpt.h */
enum rcpt_kind
rcpt_resolve(const struct rcpt_tabs *t, const struct addr *a, unsigned flags,
    struct rcpt_res *r)
{
	char dom[ADDR_DOMAIN_MAX + 1];
	int k;

	r->virt = r->postmaster = 0;
	r->uid = r->gid = 0;
	r->val.len = 0;
	if (a->null || a->dlen == 0 || a->literal ||
	    lower(dom, a->domain, a->dlen) == -1)
		return r->kind = RK_REMOTE;
	if ((k = rcpt_domain(t, dom, a->dlen)) == -1)
		return r->kind = RK_TEMP;
	if (k == 0) {
		if ((k = in_routes(t, dom)) == -1)
			return r->kind = RK_TEMP;
		return r->kind = k == 1 && !routing_chars(a) ? RK_ROUTED :
		    RK_REMOTE;
	}
	r->virt = k == 'v';
	r->postmaster = strcasecmp(a->local, "postmaster") == 0;
	return ours(t, a, dom, flags, r);
}

static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

/* rcpt_item - the next target of an alias value */
int
rcpt_item(const char *v, size_t n, size_t *pos, size_t *s, size_t *e)
{
	size_t i = *pos, j, k;
	int q;

	while (i < n) {
		while (i < n && blank(v[i]))
			i++;
		if (i < n && v[i] == '|')
			j = n;		/* |command: the rest, commas too */
		else
			for (j = i, q = 0; j < n && (q || v[j] != ','); j++) {
				if (q && v[j] == '\\' && j + 1 < n)
					j++;
				else if (v[j] == '"')
					q = !q;
			}
		for (k = j; k > i && blank(v[k - 1]); k--)
			;
		*pos = j < n ? j + 1 : n;
		if (k > i) {
			*s = i, *e = k;
			return 1;
		}
		i = *pos;		/* an empty item (",,") */
	}
	*pos = n;
	return 0;
}

/* rcpt_offsite - the first address target not in a domain of ours */
int
rcpt_offsite(const struct rcpt_tabs *t, const char *v, size_t n,
    struct buf *out)
{
	size_t pos = 0, i, k;
	const char *at;
	int d;

	while (rcpt_item(v, n, &pos, &i, &k)) {
		if (v[i] == '|' || v[i] == '/')
			continue;
		if ((at = memrchr(v + i, '@', k - i)) == NULL)
			continue;	/* a bare local part: ours */
		d = rcpt_domain(t, at + 1, (size_t)(v + k - at - 1));
		if (d == -1)
			return -1;
		if (d != 0)
			continue;
		out->len = 0;
		return buf_put(out, v + i, k - i) == 0 ? 1 : -1;
	}
	return 0;
}
