/* compile: text tables -> CDB.  Run by an administrator (or make run) on
 * files the site wrote; still, every line is checked, since a table that
 * says something other than what its author meant misroutes mail.  All
 * errors are reported, each as "file:line: reason", and nothing is
 * written unless the whole table is good. */
#include <arpa/inet.h>
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "compile.h"
#include "exitcode.h"
#include "tbl.h"

#define LOGIN_MAX	255

/* ---- small checks ---- */

static int
ws(char c)
{
	return c == ' ' || c == '\t';
}

/* ctl_free - no control character (C0, DEL) in s[0..n) */
static int
ctl_free(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int
is_word(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

static int
why_is(const char **why, const char *reason)
{
	*why = reason;
	return -1;
}

/* ---- keys ---- */

/* key_domain - a domain, or ".domain" for its subdomains; lowercased */
static int
key_domain(const char *s, size_t n, struct buf *out, const char **why)
{
	size_t dot = n > 0 && s[0] == '.';

	if (domain_check(s + dot, n - dot, ADDR_UTF8) != ADDR_OK)
		return why_is(why, "not a domain name");
	return tbl_lower(out, s, n);
}

/* key_route - a domain, ".domain", "*", or an address literal (stored
 * as addr_literal_key spells it, as send looks it up) */
static int
key_route(const char *s, size_t n, struct buf *out, const char **why)
{
	if (n == 1 && s[0] == '*')
		return buf_putc(out, '*');
	if (n > 0 && s[0] == '[') {
		if (addr_literal_key(s, n, out) == -1)
			return why_is(why, "not an address literal "
			    "([192.0.2.1] or [IPv6:2001:db8::1])");
		return 0;
	}
	return key_domain(s, n, out, why);
}

/* put_addr - local@domain, lowercased (ASCII), the local part unquoted:
 * tbl_addr tries a client's local part as given and then lowercased, so
 * a lowercase key matches every spelling */
static int
put_addr(struct buf *out, const struct addr *a)
{
	if (tbl_lower(out, a->local, a->llen) == -1 || buf_putc(out, '@') == -1)
		return -1;
	return tbl_lower(out, a->domain, a->dlen);
}

/* key_addr - "local@domain" or "@domain" */
static int
key_addr(const char *s, size_t n, struct buf *out, const char **why)
{
	struct addr a;

	if (n > 0 && s[0] == '@') {
		if (domain_check(s + 1, n - 1, ADDR_UTF8) != ADDR_OK)
			return why_is(why, "not a domain name after @");
		return tbl_lower(out, s, n);
	}
	if (addr_parse_mailbox(s, n, ADDR_UTF8, &a) != ADDR_OK)
		return why_is(why, "not an address (local@domain or @domain)");
	return put_addr(out, &a);
}

/* local_ok - s[0..n) is a local part alone; its unquoted form in a */
static int
local_ok(const char *s, size_t n, struct addr *a)
{
	struct buf t = BUF_INIT(ADDR_PATH_MAX + 8);
	int ok;

	ok = buf_put(&t, s, n) == 0 && buf_puts(&t, "@x") == 0 &&
	    addr_parse_mailbox(t.p, t.len, ADDR_UTF8, a) == ADDR_OK;
	buf_free(&t);
	a->domain[0] = '\0';
	a->dlen = 0;
	return ok;
}

/* key_alias - as key_addr, or a bare local part (any local domain) */
static int
key_alias(const char *s, size_t n, struct buf *out, const char **why)
{
	struct addr a;

	if (memchr(s, '@', n) != NULL)
		return key_addr(s, n, out, why);
	if (!local_ok(s, n, &a))
		return why_is(why, "not a local part");
	return tbl_lower(out, a.local, a.llen);
}

/* key_ip - an address or CIDR block, in tbl_ip_key's normal form */
static int
key_ip(const char *s, size_t n, struct buf *out, const char **why)
{
	char t[INET6_ADDRSTRLEN + 8];

	if (n == 0 || n >= sizeof t)
		return why_is(why, "not an IP address or CIDR block");
	memcpy(t, s, n);
	t[n] = '\0';
	if (tbl_ip_key(t, out) == -1)
		return why_is(why, "not an IP address or CIDR block "
		    "(or host bits set past the prefix)");
	return 0;
}

/* key_login - a login or user name: printable, at most 255 bytes */
static int
key_login(const char *s, size_t n, struct buf *out, const char **why)
{
	if (n == 0 || n > LOGIN_MAX)
		return why_is(why, "bad length for a name");
	if (!ctl_free(s, n))
		return why_is(why, "control character in name");
	return buf_put(out, s, n);
}

/* ---- values ---- */

static int
val_domains(const char *s, size_t n, struct buf *out, const char **why)
{
	if (is_word(s, n, "local"))
		return buf_puts(out, "local");
	if (is_word(s, n, "virtual"))
		return buf_puts(out, "virtual");
	return why_is(why, "value must be local or virtual");
}

static int
val_tls(const char *s, size_t n, struct buf *out, const char **why)
{
	static const char *w[] = { "none", "may", "encrypt", "verify",
	    "dane", "dane-only" };
	size_t i;

	for (i = 0; i < sizeof w / sizeof w[0]; i++)
		if (is_word(s, n, w[i]))
			return buf_puts(out, w[i]);
	return why_is(why, "value must be none, may, encrypt, verify, dane "
	    "or dane-only");
}

static int lmtp_ok(const char *, size_t, struct buf *, const char **);

/* val_maildir - an absolute path, or an LMTP destination (lmtp_ok) */
static int
val_maildir(const char *s, size_t n, struct buf *out, const char **why)
{
	if (n > 5 && strncmp(s, "lmtp:", 5) == 0)
		return lmtp_ok(s, n, out, why);
	if (n == 0 || s[0] != '/')
		return why_is(why, "value must be an absolute maildir path "
		    "or lmtp:...");
	return buf_put(out, s, n);
}

static int
val_relay(const char *s, size_t n, struct buf *out, const char **why)
{
	(void)why;
	return n == 0 ? buf_puts(out, "relay") : buf_put(out, s, n);
}

static int
val_argon(const char *s, size_t n, struct buf *out, const char **why)
{
	if (n < 10 || strncmp(s, "$argon2id$", 10) != 0)
		return why_is(why, "value must be an $argon2id$ hash");
	if (memchr(s, ' ', n) != NULL || memchr(s, '\t', n) != NULL)
		return why_is(why, "white space in hash");
	return buf_put(out, s, n);
}

/* num_field - a decimal number below 2^32 - 1 ending at one of stop */
static int
num_field(const char **s, const char *end, unsigned long *v)
{
	const char *p = *s;
	unsigned long n = 0;

	if (p == end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned long)(*p - '0');
		if (n >= UINT32_MAX)
			return -1;
	}
	*s = p, *v = n;
	return 0;
}

/* val_localuser - "uid:gid:home" */
static int
val_localuser(const char *s, size_t n, struct buf *out, const char **why)
{
	const char *p = s, *end = s + n;
	unsigned long uid, gid;

	if (num_field(&p, end, &uid) == -1 || p == end || *p++ != ':' ||
	    num_field(&p, end, &gid) == -1 || p == end || *p++ != ':')
		return why_is(why, "value must be uid:gid:home (numbers)");
	if (p == end || *p != '/')
		return why_is(why, "home must be an absolute path");
	return buf_fmt(out, "%lu:%lu:%.*s", uid, gid, (int)(end - p), p);
}

/* port_ok - ":N" with 1 <= N <= 65535 at s[0..n) */
static int
port_ok(const char *s, size_t n)
{
	unsigned long v;
	const char *p = s + 1;

	if (n < 2 || s[0] != ':' || n > 6 || num_field(&p, s + n, &v) == -1)
		return 0;
	return p == s + n && v >= 1 && v <= 65535;
}

/* host_ok - host[:port], [addr][:port]; the normal form goes to out:
 * lowercased, an "IPv6:" tag dropped (send takes what is inside the
 * brackets as the address) */
static int
host_ok(const char *s, size_t n, struct buf *out)
{
	const char *e, *colon, *a = s + 1;
	char t[INET6_ADDRSTRLEN + 8];
	unsigned char bin[16];
	size_t k;

	if (n > 0 && s[0] == '[') {
		if ((e = memchr(s, ']', n)) == NULL)
			return 0;
		k = (size_t)(e - a);
		if (k > 5 && strncasecmp(a, "IPv6:", 5) == 0)
			a += 5, k -= 5;
		if (k == 0 || k >= sizeof t)
			return 0;
		memcpy(t, a, k);
		t[k] = '\0';
		if (inet_pton(AF_INET, t, bin) != 1 &&
		    inet_pton(AF_INET6, t, bin) != 1)
			return 0;
		e++;
		if ((size_t)(e - s) != n && !port_ok(e, n - (size_t)(e - s)))
			return 0;
		return buf_putc(out, '[') == 0 && tbl_lower(out, t, k) == 0 &&
		    buf_put(out, e - 1, n - (size_t)(e - 1 - s)) == 0;
	}
	colon = memchr(s, ':', n);
	k = colon ? (size_t)(colon - s) : n;
	if (domain_check(s, k, 0) != ADDR_OK)
		return 0;
	if (colon != NULL && !port_ok(colon, n - k))
		return 0;
	return tbl_lower(out, s, n) == 0;
}

/* lmtp_ok - "lmtp:unix:/path" (absolute, at most sun_path's 108 bytes,
 * no white space) or "lmtp:[addr][:port]"; the normal form goes to out */
static int
lmtp_ok(const char *s, size_t n, struct buf *out, const char **why)
{
	const char *p = s + 5;
	size_t k = n - 5;

	if (k > 6 && memcmp(p, "unix:/", 6) == 0 && k - 5 <= 108) {
		for (size_t i = 0; i < k; i++)
			if (ws(p[i]) || (unsigned char)p[i] < ' ')
				goto bad;
		return buf_put(out, s, n);
	}
	if (k > 0 && p[0] == '[' && buf_put(out, "lmtp:", 5) == 0 &&
	    host_ok(p, k, out))
		return 0;
bad:
	return why_is(why, "lmtp value must be lmtp:unix:/absolute/path or "
	    "lmtp:[address][:port], alone");
}

/* val_route - host[:port] | [addr]:port | empty, or an LMTP destination
 * (lmtp_ok).  Credentials live in relay_auth, which only send maps: an
 * auth= here is refused, so no secret lands in routes.cdb. */
static int
val_route(const char *s, size_t n, struct buf *out, const char **why)
{
	const char *p = s, *end = s + n, *t;
	int host = 0;

	if (n >= 5 && strncasecmp(s, "lmtp:", 5) == 0) {
		if (strncmp(s, "lmtp:", 5) != 0)
			return why_is(why, "write lmtp: in lower case");
		for (t = s; t < end && !ws(*t); t++)
			;
		if (t != end)
			return why_is(why, "lmtp value must be "
			    "lmtp:unix:/absolute/path or "
			    "lmtp:[address][:port], alone");
		return lmtp_ok(s, n, out, why);
	}

	while (p < end) {
		for (t = p; t < end && !ws(*t); t++)
			;
		if ((size_t)(t - p) >= 5 && strncasecmp(p, "auth=", 5) == 0)
			return why_is(why, "auth= moved to relay_auth "
			    "(next-hop host[:port] USER:PASS)");
		if (host++ || !host_ok(p, (size_t)(t - p), out))
			return why_is(why, "value must be host[:port] or "
			    "[address][:port]");
		for (p = t; p < end && ws(*p); p++)
			;
	}
	return 0;
}

/* key_hop - a next hop as a routes value names it: host[:port] or
 * [addr][:port], in the normal form sandmail-cdb stores in routes.cdb */
static int
key_hop(const char *s, size_t n, struct buf *out, const char **why)
{
	if (!host_ok(s, n, out))
		return why_is(why, "key must be host[:port] or [address][:port]"
		    ", as the routes value spells it");
	return 0;
}

/* val_auth - USER:PASS, both non-empty, no white space; the password
 * may hold colons */
static int
val_auth(const char *s, size_t n, struct buf *out, const char **why)
{
	const char *c = memchr(s, ':', n);
	size_t i;

	for (i = 0; i < n; i++)
		if (ws(s[i]))
			break;
	if (c == NULL || c == s || c + 1 == s + n || i != n ||
	    !ctl_free(s, n))
		return why_is(why, "value must be USER:PASS, alone");
	if ((size_t)(c - s) > 255 || n - (size_t)(c - s) - 1 > 255)
		return why_is(why, "USER and PASS: at most 255 bytes each");
	return buf_put(out, s, n);
}

/* ---- lists (aliases, senders) ---- */

enum { IT_ADDR = 1, IT_DOMAIN = 2, IT_LOCAL = 4, IT_CMD = 8, IT_PATH = 16 };

/* item_end - the end of a list item: the next comma outside quotes */
static size_t
item_end(const char *s, size_t n)
{
	size_t i;
	int q = 0;

	for (i = 0; i < n; i++) {
		if (q && s[i] == '\\' && i + 1 < n)
			i++;
		else if (s[i] == '"')
			q = !q;
		else if (!q && s[i] == ',')
			break;
	}
	return i;
}

/* put_item - check one trimmed item, append its normal form */
static int
put_item(const char *s, size_t n, unsigned kinds, struct buf *out,
    const char **why)
{
	struct addr a;

	if ((kinds & IT_PATH) && n > 0 && s[0] == '/') {
		if (s[n - 1] != '/')
			return why_is(why, "a maildir path must end in /");
		return buf_put(out, s, n);
	}
	if ((kinds & IT_DOMAIN) && n > 0 && s[0] == '@') {
		if (domain_check(s + 1, n - 1, ADDR_UTF8) != ADDR_OK)
			return why_is(why, "not a domain name after @");
		return tbl_lower(out, s, n);
	}
	if (memchr(s, '@', n) == NULL || (n > 0 && s[0] == '"' &&
	    item_end(s, n) == n && s[n - 1] == '"')) {
		if (!(kinds & IT_LOCAL) || !local_ok(s, n, &a))
			return why_is(why, "not an address");
	} else if (addr_parse_mailbox(s, n, ADDR_UTF8, &a) != ADDR_OK)
		return why_is(why, "not an address");
	return addr_format(out, &a);
}

/* val_list - comma-separated items; a |command takes the rest */
static int
list(const char *s, size_t n, unsigned kinds, struct buf *out,
    const char **why)
{
	const char *p = s, *end = s + n;
	size_t k, m;

	if (n == 0)
		return why_is(why, "empty list");
	while (p < end) {
		while (p < end && ws(*p))
			p++;
		if (out->len > 0 && buf_putc(out, ',') == -1)
			return -1;
		if ((kinds & IT_CMD) && p < end && *p == '|') {
			if (end - p < 2)
				return why_is(why, "empty command");
			return buf_put(out, p, (size_t)(end - p));
		}
		k = item_end(p, (size_t)(end - p));
		for (m = k; m > 0 && ws(p[m - 1]); m--)
			;
		if (m == 0)
			return why_is(why, "empty item in list");
		if (put_item(p, m, kinds, out, why) == -1)
			return -1;
		p += k;
		if (p < end && ++p == end)
			return why_is(why, "list ends in a comma");
	}
	return 0;
}

static int
val_aliases(const char *s, size_t n, struct buf *out, const char **why)
{
	return list(s, n, IT_ADDR | IT_LOCAL | IT_CMD | IT_PATH, out, why);
}

static int
val_senders(const char *s, size_t n, struct buf *out, const char **why)
{
	return list(s, n, IT_ADDR | IT_DOMAIN, out, why);
}

static int
val_moved(const char *s, size_t n, struct buf *out, const char **why)
{
	struct addr a;

	if (addr_parse_mailbox(s, n, ADDR_UTF8, &a) != ADDR_OK)
		return why_is(why, "value must be one address");
	return addr_format(out, &a);
}

/* ---- the tables ---- */

static const struct cdbc_table tables[] = {
	{ "domains", key_domain, val_domains, 0, 0, LK_DOMAIN, 0644 },
	{ "virtual", key_addr, val_maildir, 0, 0, LK_ADDR, 0644 },
	{ "aliases", key_alias, val_aliases, 0, 1, LK_ADDR, 0644 },
	{ "relayclients", key_ip, val_relay, 0, 0, LK_IP, 0644 },
	{ "routes", key_route, val_route, 0, 0, LK_DOMAIN, 0640 },
	{ "relay_auth", key_hop, val_auth, 0, 0, LK_EXACT, 0640 },
	{ "users", key_login, val_argon, 0, 0, LK_EXACT, 0640 },
	{ "localusers", key_login, val_localuser, 0, 0, LK_EXACT, 0644 },
	{ "moved", key_addr, val_moved, 0, 0, LK_ADDR, 0644 },
	{ "senders", key_login, val_senders, 1, 1, LK_EXACT, 0644 },
	{ "tls_policy", key_route, val_tls, 0, 0, LK_DOMAIN, 0644 },
};

const char *const cdbc_names[] = {
	"domains", "virtual", "aliases", "relayclients", "routes", "users",
	"localusers", "moved", "senders", "tls_policy", "relay_auth", NULL,
};

/* cdbc_find - a table by name */
const struct cdbc_table *
cdbc_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof tables / sizeof tables[0]; i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	return NULL;
}

/* ---- entries ---- */

static char *
dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		if (n)
			memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* cdbc_add - append a copy of key and value */
int
cdbc_add(struct cdbc_out *o, const char *key, size_t klen, const char *val,
    size_t vlen, int line)
{
	struct cdbc_ent *e;
	size_t ncap;

	if (o->n == o->cap) {
		ncap = o->cap ? o->cap * 2 : 64;
		if (ncap > SIZE_MAX / sizeof *e)
			return errno = ENOMEM, -1;
		if ((e = realloc(o->e, ncap * sizeof *e)) == NULL)
			return -1;
		o->e = e, o->cap = ncap;
	}
	e = &o->e[o->n];
	e->key = dup_n(key, klen);
	e->val = dup_n(val, vlen);
	if (e->key == NULL || e->val == NULL) {
		free(e->key);
		free(e->val);
		return -1;
	}
	e->klen = klen, e->vlen = vlen, e->line = line;
	o->n++;
	return 0;
}

/* cdbc_free - release every entry */
void
cdbc_free(struct cdbc_out *o)
{
	size_t i;

	for (i = 0; i < o->n; i++) {
		free(o->e[i].key);
		free(o->e[i].val);
	}
	free(o->e);
	o->e = NULL;
	o->n = o->cap = 0;
}

/* append to the last entry's value (a continuation line) */
static int
extend(struct cdbc_out *o, const char *s, size_t n)
{
	struct cdbc_ent *e = &o->e[o->n - 1];
	char *v;

	if (e->vlen + n + 1 > CDBC_VALUE_MAX)
		return errno = E2BIG, -1;
	if ((v = realloc(e->val, e->vlen + n + 2)) == NULL)
		return -1;
	if (e->vlen > 0)
		v[e->vlen++] = ' ';
	memcpy(v + e->vlen, s, n);
	e->vlen += n;
	v[e->vlen] = '\0';
	e->val = v;
	return 0;
}

static int
errf(struct buf *err, int *nerr, const char *name, int line,
    const char *why)
{
	/* a full err buffer only loses messages; the count stays right */
	(*nerr)++;
	if (line > 0)
		(void)buf_fmt(err, "%s:%d: %s\n", name, line, why);
	else
		(void)buf_fmt(err, "%s: %s\n", name, why);
	return 0;
}

/* one_line - an entry line: "key value" or "key: value" */
static int
one_line(struct cdbc_out *raw, const char *s, size_t n, int line)
{
	size_t k, v;

	for (k = 0; k < n && !ws(s[k]); k++)
		;
	for (v = k; v < n && ws(s[v]); v++)
		;
	if (k > 0 && s[k - 1] == ':')
		k--;
	else if (v < n && s[v] == ':' && (v + 1 == n || ws(s[v + 1])))
		for (v++; v < n && ws(s[v]); v++)
			;
	return cdbc_add(raw, s, k, s + v, n - v, line);
}

/* split - physical lines into raw entries; 0, or -1 out of memory */
static int
split(const struct cdbc_table *t, const char *name, const char *text,
    size_t len, struct cdbc_out *raw, struct buf *err, int *nerr)
{
	const char *p = text, *end = text + len, *nl;
	size_t n, b;
	int line = 0, open = 0, r = 0;

	for (; p < end && r == 0; p = nl ? nl + 1 : end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		for (b = 0; b < n && ws(p[b]); b++)
			;
		while (n > b && ws(p[n - 1]))
			n--;
		if (n > CDBC_LINE_MAX)
			r = errf(err, nerr, name, line, "line too long");
		else if (memchr(p, '\0', n) != NULL)
			r = errf(err, nerr, name, line, "NUL byte in line");
		else if (!ctl_free(p + b, n - b))
			r = errf(err, nerr, name, line, "control character");
		else if (b == n || p[b] == '#') {
			open = open && b < n;	/* comments keep a list open */
			continue;
		} else if (b > 0 && !t->cont)
			r = errf(err, nerr, name, line,
			    "line starts with white space");
		else if (b > 0 && !open)
			r = errf(err, nerr, name, line,
			    "continuation line without an entry");
		else if (b > 0) {
			if (extend(raw, p + b, n - b) == -1)
				r = errno == E2BIG ? errf(err, nerr, name, line,
				    "value too long") : -1;
			continue;
		} else {
			r = one_line(raw, p, n, line);
			open = 1;
			continue;
		}
		open = 0;
	}
	return r;
}

static int
cmp_ent(const void *a, const void *b)
{
	const struct cdbc_ent *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);

	if (c != 0)
		return c;
	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	return x->line - y->line;
}

/* dedup - sorted entries: merge or refuse equal keys */
static int
dedup(const struct cdbc_table *t, const char *name, struct cdbc_out *o,
    struct buf *err, int *nerr)
{
	size_t i, w = 0;
	char why[128];

	for (i = 0; i < o->n; i++) {
		struct cdbc_ent *p = w ? &o->e[w - 1] : NULL, *e = &o->e[i];

		if (p == NULL || p->klen != e->klen ||
		    memcmp(p->key, e->key, e->klen) != 0) {
			o->e[w++] = *e;
			continue;
		}
		if (t->merge) {
			char *v = realloc(p->val, p->vlen + e->vlen + 2);

			if (v == NULL)
				return -1;
			v[p->vlen] = ',';
			memcpy(v + p->vlen + 1, e->val, e->vlen + 1);
			p->val = v, p->vlen += e->vlen + 1;
		} else {
			snprintf(why, sizeof why, "duplicate key (first on "
			    "line %d)", p->line);
			if (errf(err, nerr, name, e->line, why) == -1)
				return -1;
		}
		free(e->key);
		free(e->val);
	}
	o->n = w;
	return 0;
}

struct errline {
	const char	*p;
	size_t		 n;
	long		 line;
	size_t		 seq;
};

static int
cmp_err(const void *a, const void *b)
{
	const struct errline *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* sort_errs - the messages appended since from, in line order (checks
 * run in passes, but a reader wants the file's order) */
static int
sort_errs(struct buf *err, size_t from, const char *name)
{
	struct errline *v = NULL;
	struct buf t = BUF_INIT(err->max);
	size_t n = 0, cap = 0, i, skip = strlen(name) + 1;
	const char *p = err->p + from, *end = err->p + err->len, *nl;
	int r = -1;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if (n == cap) {
			struct errline *nv;

			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof *v)) == NULL)
				goto out;
			v = nv;
		}
		v[n].p = p, v[n].n = (size_t)(nl - p) + 1, v[n].seq = n;
		v[n].line = (size_t)(nl - p) > skip ?
		    strtol(p + skip, NULL, 10) : 0;
		n++;
	}
	if (n < 2)
		goto done;
	qsort(v, n, sizeof *v, cmp_err);
	for (i = 0; i < n; i++)
		if (buf_put(&t, v[i].p, v[i].n) == -1)
			goto out;
	memcpy(err->p + from, t.p, t.len);
done:
	r = 0;
out:
	free(v);
	buf_free(&t);
	return r;
}

/* normalize - each raw entry through the table's checks */
static int
normalize(const struct cdbc_table *t, const char *name,
    const struct cdbc_out *raw, struct cdbc_out *out, struct buf *err,
    int *nerr)
{
	struct buf k = BUF_INIT(CDBC_VALUE_MAX), v = BUF_INIT(CDBC_VALUE_MAX);
	const char *why = NULL;
	size_t i;
	int r = 0;

	for (i = 0; i < raw->n && r == 0; i++) {
		const struct cdbc_ent *e = &raw->e[i];

		k.len = v.len = 0;
		if (e->klen == 0)
			r = errf(err, nerr, name, e->line, "empty key");
		else if (t->key(e->key, e->klen, &k, &why) == -1 ||
		    t->val(e->val, e->vlen, &v, &why) == -1)
			r = errf(err, nerr, name, e->line, why ? why :
			    "value too long");
		else
			r = cdbc_add(out, k.p, k.len, v.p ? v.p : "", v.len,
			    e->line);
		why = NULL;
	}
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* cdbc_parse - text -> sorted, checked entries; the number of errors */
int
cdbc_parse(const struct cdbc_table *t, const char *name, const char *text,
    size_t len, struct cdbc_out *out, struct buf *err)
{
	struct cdbc_out raw = { NULL, 0, 0 };
	size_t from = err->len;
	int nerr = 0;

	if (split(t, name, text, len, &raw, err, &nerr) == -1 ||
	    normalize(t, name, &raw, out, err, &nerr) == -1) {
		cdbc_free(&raw);
		return -1;
	}
	cdbc_free(&raw);
	if (out->n > 0)
		qsort(out->e, out->n, sizeof *out->e, cmp_ent);
	if (dedup(t, name, out, err, &nerr) == -1)
		return -1;
	(void)sort_errs(err, from, name);
	return nerr;
}

/* ---- localusers from passwd ---- */

/* pw_line - "name:pw:uid:gid:gecos:home:shell" -> name, "uid:gid:home" */
static int
pw_line(const char *s, size_t n, struct cdbc_out *raw, int line,
    const char **why)
{
	const char *f[8], *end = s + n, *p;
	size_t nf = 0;
	struct buf v = BUF_INIT(CDBC_LINE_MAX);
	int r;

	f[nf++] = s;
	for (p = s; p < end && nf < 8; p++)
		if (*p == ':')
			f[nf++] = p + 1;
	if (nf != 7)
		return why_is(why, "not a passwd line (7 fields)");
	f[7] = end + 1;
	/* uid 0 gets no deliveries of its own: alias root instead */
	if (f[3] - f[2] == 2 && f[2][0] == '0')
		return 0;
	if (buf_put(&v, f[2], (size_t)(f[3] - f[2])) == -1 ||
	    buf_put(&v, f[3], (size_t)(f[4] - f[3])) == -1 ||
	    buf_put(&v, f[5], (size_t)(f[6] - f[5] - 1)) == -1)
		r = -1;
	else
		r = cdbc_add(raw, s, (size_t)(f[1] - f[0] - 1), v.p, v.len,
		    line);
	buf_free(&v);
	return r;
}

/* cdbc_passwd - localusers from passwd text; the first name wins */
int
cdbc_passwd(const char *name, const char *text, size_t len,
    struct cdbc_out *out, struct buf *err)
{
	const struct cdbc_table *t = cdbc_find("localusers");
	struct cdbc_out raw = { NULL, 0, 0 }, chk = { NULL, 0, 0 };
	const char *p = text, *end = text + len, *nl, *why = NULL;
	size_t n, i, from = err->len;
	int line = 0, nerr = 0, r = 0;

	for (; p < end && r == 0; p = nl ? nl + 1 : end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n == 0 || p[0] == '#')
			continue;
		if (!ctl_free(p, n))
			r = errf(err, &nerr, name, line, "control character");
		else if (pw_line(p, n, &raw, line, &why) == -1)
			r = why ? errf(err, &nerr, name, line, why) : -1;
		why = NULL;
	}
	if (r == 0)
		r = normalize(t, name, &raw, &chk, err, &nerr);
	cdbc_free(&raw);
	/* getpwnam(3) finds the first of equal names: keep that one */
	for (i = 0; r == 0 && i < chk.n; i++) {
		size_t j;

		for (j = 0; j < out->n; j++)
			if (strcmp(out->e[j].key, chk.e[i].key) == 0)
				break;
		if (j == out->n)
			r = cdbc_add(out, chk.e[i].key, chk.e[i].klen,
			    chk.e[i].val, chk.e[i].vlen, chk.e[i].line);
	}
	cdbc_free(&chk);
	if (r == -1)
		return -1;
	if (out->n > 0)
		qsort(out->e, out->n, sizeof *out->e, cmp_ent);
	(void)sort_errs(err, from, name);
	return nerr;
}

/* ---- writing ---- */

/* fsync_dir - make a rename in dir durable */
static int
fsync_dir(const char *path)
{
	struct buf d = BUF_INIT(PATH_MAX);
	const char *slash = strrchr(path, '/');
	int fd, r = -1;

	if (slash == NULL ? buf_putc(&d, '.') :
	    buf_put(&d, path, slash == path ? 1 : (size_t)(slash - path)))
		goto out;
	if (buf_cstr(&d) == -1)
		goto out;
	if ((fd = open(d.p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto out;
	r = fsync(fd);
	close(fd);
out:
	buf_free(&d);
	return r;
}

/* tmp_name - "DIR/.BASE.tmpXXXXXX" next to path */
static int
tmp_name(struct buf *t, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) + 1 : 0;

	if (buf_put(t, path, dl) == -1 || buf_putc(t, '.') == -1 ||
	    buf_puts(t, path + dl) == -1 || buf_puts(t, ".tmpXXXXXX") == -1)
		return -1;
	return buf_cstr(t);
}

static int
make_cdb(int fd, const struct cdbc_out *o)
{
	struct cdb_make cm;
	size_t i;

	if (cdb_make_start(&cm, fd) != 0)
		return -1;
	for (i = 0; i < o->n; i++)
		if (o->e[i].klen > UINT_MAX / 2 || o->e[i].vlen > UINT_MAX / 2 ||
		    cdb_make_add(&cm, o->e[i].key, (unsigned)o->e[i].klen,
		    o->e[i].val, (unsigned)o->e[i].vlen) != 0)
			return -1;
	return cdb_make_finish(&cm) == 0 ? 0 : -1;
}

/* cdbc_write - atomically replace path with the entries of o */
int
cdbc_write(const char *path, unsigned mode, struct cdbc_out *o)
{
	struct buf t = BUF_INIT(PATH_MAX);
	struct stat st;
	int fd = -1, made = 0, e, r;

	if (tmp_name(&t, path) == -1 || (fd = mkstemp(t.p)) == -1)
		goto fail;
	made = 1;
	/* keep the mode and owner an administrator gave the old file */
	if (stat(path, &st) == 0) {
		mode = st.st_mode & 07777;
		if (fchown(fd, st.st_uid, st.st_gid) == -1 && errno != EPERM)
			goto fail;
	}
	/* durable before it becomes visible: a reader sees old or new */
	if (fchmod(fd, mode) == -1 || make_cdb(fd, o) == -1 ||
	    fsync(fd) == -1)
		goto fail;
	r = close(fd);
	fd = -1;
	if (r == -1 || rename(t.p, path) == -1)
		goto fail;
	made = 0;
	if (fsync_dir(path) == -1)
		goto fail;
	buf_free(&t);
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(t.p);
	buf_free(&t);
	errno = e;
	return -1;
}

/* read_file - a whole file of at most max bytes */
static int
read_file(const char *path, struct buf *b)
{
	char tmp[65536];
	ssize_t r;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((r = read(fd, tmp, sizeof tmp)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || buf_put(b, tmp, (size_t)r) == -1) {
			e = errno;
			close(fd);
			return errno = e, -1;
		}
	}
	close(fd);
	return 0;
}

/* compile - DIR/TABLE checked, and if save, made DIR/TABLE.cdb */
static int
compile(const char *dir, const char *table, struct buf *err, int save)
{
	const struct cdbc_table *t = cdbc_find(table);
	struct buf src = BUF_INIT(PATH_MAX), dst = BUF_INIT(PATH_MAX);
	struct buf text = BUF_INIT(CDBC_FILE_MAX);
	struct cdbc_out out = { NULL, 0, 0 };
	int n, code = EXIT_TEMP;

	if (t == NULL) {
		buf_fmt(err, "%s: unknown table\n", table);
		return EXIT_PERM;
	}
	if (buf_fmt(&src, "%s/%s", dir, table) == -1 ||
	    buf_fmt(&dst, "%s/%s.cdb", dir, table) == -1 ||
	    buf_cstr(&src) == -1 || buf_cstr(&dst) == -1) {
		buf_fmt(err, "%s/%s: path too long\n", dir, table);
		goto out;
	}
	if (read_file(src.p, &text) == -1) {
		buf_fmt(err, "%s: %s\n", src.p, errno == E2BIG ?
		    "file too large" : strerror(errno));
		code = errno == E2BIG ? EXIT_PERM : EXIT_TEMP;
		goto out;
	}
	n = cdbc_parse(t, src.p, text.p ? text.p : "", text.len, &out, err);
	if (n != 0) {
		if (n < 0)
			buf_fmt(err, "%s: out of memory\n", src.p);
		code = n < 0 ? EXIT_TEMP : EXIT_PERM;
		goto out;
	}
	if (save && cdbc_write(dst.p, t->mode, &out) == -1) {
		buf_fmt(err, "%s: %s\n", dst.p, strerror(errno));
		goto out;
	}
	code = EXIT_OK;
out:
	cdbc_free(&out);
	buf_free(&text);
	buf_free(&src);
	buf_free(&dst);
	return code;
}

/* cdbc_compile - DIR/TABLE -> DIR/TABLE.cdb; an exit code */
int
cdbc_compile(const char *dir, const char *table, struct buf *err)
{
	return compile(dir, table, err, 1);
}

/* cdbc_verify - DIR/TABLE checked as cdbc_compile would, nothing written */
int
cdbc_verify(const char *dir, const char *table, struct buf *err)
{
	return compile(dir, table, err, 0);
}
