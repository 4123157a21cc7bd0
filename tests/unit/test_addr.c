/* test_addr: RFC 5321 paths and mailboxes at their edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"

#define U	ADDR_UTF8
#define N	ADDR_ALLOW_NULL
#define P	ADDR_POSTMASTER

/* A row: input (len -1: strlen), flags, expected result, the expected
 * local part, domain and bytes used (NULL/0: not checked). */
struct pcase {
	const char	*in;
	int		 len;
	unsigned	 flags;
	enum addr_err	 want;
	const char	*local, *domain;
	size_t		 used;
};

static const struct pcase paths[] = {
	/* the null path and postmaster */
	{ "<>", -1, N, ADDR_OK, "", "", 2 },
	{ "<>", -1, 0, ADDR_NULL_REFUSED, NULL, NULL, 0 },
	{ "<> SIZE=10", -1, N, ADDR_OK, "", "", 2 },
	{ "< >", -1, N, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<Postmaster>", -1, P, ADDR_OK, "postmaster", "", 12 },
	{ "<POSTMASTER>", -1, P, ADDR_OK, "postmaster", "", 12 },
	{ "<Postmaster>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<postmaster@example.org>", -1, P, ADDR_OK, "postmaster",
	    "example.org", 24 },
	/* plain */
	{ "<u@example.org>", -1, 0, ADDR_OK, "u", "example.org", 15 },
	{ "<u@example.org> BODY=8BITMIME", -1, 0, ADDR_OK, "u",
	    "example.org", 15 },
	{ "<first.last@Example.ORG>", -1, 0, ADDR_OK, "first.last",
	    "Example.ORG", 24 },
	{ "<!#$%&'*+-/=?^_`{|}~@x.y>", -1, 0, ADDR_OK,
	    "!#$%&'*+-/=?^_`{|}~", "x.y", 25 },
	{ "<u@localhost>", -1, 0, ADDR_OK, "u", "localhost", 13 },
	{ "<u@a-b.c0>", -1, 0, ADDR_OK, "u", "a-b.c0", 10 },
	{ "<u@1.2.3.4>", -1, 0, ADDR_OK, "u", "1.2.3.4", 11 },
	/* not paths */
	{ "", 0, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "u@example.org", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@example.org", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@example.org >", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "< u@example.org>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@example.org>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@@example.org>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@v@example.org>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<<u@example.org>>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* dot-strings */
	{ "<.u@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u.@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u..v@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u v@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u(c)@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u,v@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* domains */
	{ "<u@x..y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@.x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@x.y.>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@-x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@x-.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@x_y.z>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@x y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* quoted local parts: kept unquoted */
	{ "<\"a b\"@x.y>", -1, 0, ADDR_OK, "a b", "x.y", 11 },
	{ "<\"a\\\"b\"@x.y>", -1, 0, ADDR_OK, "a\"b", "x.y", 12 },
	{ "<\"a\\\\b\"@x.y>", -1, 0, ADDR_OK, "a\\b", "x.y", 12 },
	{ "<\"\\a\"@x.y>", -1, 0, ADDR_OK, "a", "x.y", 10 },
	{ "<\"a@b\"@x.y>", -1, 0, ADDR_OK, "a@b", "x.y", 11 },
	{ "<\"\"@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\\", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\\\"@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\"b@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a\"b\"@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\tb\"@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\\\tb\"@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* NUL, CR, LF, controls anywhere */
	{ "<a\0b@x.y>", 9, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\0b\"@x.y>", 11, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\\\0b\"@x.y>", 12, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@x\0.y>", 8, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a\r@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a\n@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\rb\"@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\\\nb\"@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@x.y\r>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\x7f\"@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a\x01@x.y>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* address literals */
	{ "<u@[192.0.2.1]>", -1, 0, ADDR_OK, "u", "[192.0.2.1]", 15 },
	{ "<u@[IPv6:2001:db8::1]>", -1, 0, ADDR_OK, "u",
	    "[IPv6:2001:db8::1]", 22 },
	{ "<u@[ipv6:::1]>", -1, 0, ADDR_OK, "u", "[ipv6:::1]", 14 },
	{ "<u@[IPv6:::ffff:192.0.2.1]>", -1, 0, ADDR_OK, "u",
	    "[IPv6:::ffff:192.0.2.1]", 27 },
	{ "<u@[192.0.2.256]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[192.0.2]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[192.0.2.1.5]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[2001:db8::1]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[IPv6:2001:db8:::1]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[IPv6:]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[IPv6:1.2.3.4]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[x-tag:abc]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[192.0.2.1>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[192.0.2.1]x>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@[192.0.2.1\0]>", 16, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@x.[1.2.3.4]>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* source routes: accepted and dropped */
	{ "<@a.b:u@c.d>", -1, 0, ADDR_OK, "u", "c.d", 12 },
	{ "<@a.b,@e.f:u@c.d>", -1, 0, ADDR_OK, "u", "c.d", 17 },
	{ "<@a.b,e.f:u@c.d>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.b u@c.d>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@:u@c.d>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.b:>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@[1.2.3.4]:u@c.d>", -1, 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* 8-bit: only under SMTPUTF8, only valid UTF-8 */
	{ "<j\xc3\xb8rn@x.y>", -1, 0, ADDR_8BIT, NULL, NULL, 0 },
	{ "<j\xc3\xb8rn@x.y>", -1, U, ADDR_OK, "j\xc3\xb8rn", "x.y", 11 },
	{ "<u@b\xc3\xbc\x63her.de>", -1, U, ADDR_OK, "u",
	    "b\xc3\xbc\x63her.de", 14 },
	{ "<u@b\xc3\xbc\x63her.de>", -1, 0, ADDR_8BIT, NULL, NULL, 0 },
	{ "<\"\xe2\x82\xac\"@x.y>", -1, U, ADDR_OK, "\xe2\x82\xac", "x.y", 11 },
	{ "<\"\xe2\x82\xac\"@x.y>", -1, 0, ADDR_8BIT, NULL, NULL, 0 },
	{ "<\xf0\x9f\x93\xa7@x.y>", -1, U, ADDR_OK, "\xf0\x9f\x93\xa7",
	    "x.y", 10 },
	{ "<\xc0\xaf@x.y>", -1, U, ADDR_8BIT, NULL, NULL, 0 },	/* overlong */
	{ "<\xe0\x80\xaf@x.y>", -1, U, ADDR_8BIT, NULL, NULL, 0 },
	{ "<\xf0\x80\x80\xaf@x.y>", -1, U, ADDR_8BIT, NULL, NULL, 0 },
	{ "<\xed\xa0\x80@x.y>", -1, U, ADDR_8BIT, NULL, NULL, 0 }, /* D800 */
	{ "<\xf4\x90\x80\x80@x.y>", -1, U, ADDR_8BIT, NULL, NULL, 0 },
	{ "<\xff@x.y>", -1, U, ADDR_8BIT, NULL, NULL, 0 },
	{ "<\x80@x.y>", -1, U, ADDR_8BIT, NULL, NULL, 0 },
	{ "<\xc3@x.y>", -1, U, ADDR_8BIT, NULL, NULL, 0 },	/* cut short */
	{ "<\xc2\x85@x.y>", -1, U, ADDR_8BIT, NULL, NULL, 0 },	/* C1 NEL */
	{ "<\"\\\xc3\xa9\"@x.y>", -1, U, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<u@x\xc3\xa9-.y>", -1, U, ADDR_SYNTAX, NULL, NULL, 0 },
};

static void
test_paths(void **state)
{
	struct addr a;
	size_t i, used, n;
	enum addr_err e;

	(void)state;
	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		const struct pcase *c = &paths[i];

		n = c->len < 0 ? strlen(c->in) : (size_t)c->len;
		used = 9999;
		e = addr_parse_path(c->in, n, c->flags, &a, &used);
		if (e != c->want)
			fail_msg("row %zu: %s: got %d want %d", i, c->in,
			    (int)e, (int)c->want);
		if (e != ADDR_OK)
			continue;
		if (used != c->used)
			fail_msg("row %zu: %s: used %zu", i, c->in, used);
		assert_string_equal(a.local, c->local);
		assert_int_equal(a.llen, strlen(c->local));
		assert_string_equal(a.domain, c->domain);
		assert_int_equal(a.dlen, strlen(c->domain));
		assert_int_equal(a.null, strcmp(c->in, "<>") == 0 ||
		    strncmp(c->in, "<> ", 3) == 0);
		assert_int_equal(a.literal, c->domain[0] == '[');
	}
}

/* rep - a string of n copies of c, in a static buffer */
static char *
rep(char *b, char c, size_t n)
{
	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/* fmt - snprintf that must fit; returns the length */
static size_t __attribute__((format(printf, 3, 4)))
fmt(char *b, size_t sz, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(b, sz, f, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sz);
	return (size_t)n;
}

/* path_of - "<" local "@" domain ">" */
static size_t
path_of(char *out, size_t sz, const char *local, const char *domain)
{
	return fmt(out, sz, "<%s@%s>", local, domain);
}

/* a domain of exactly n bytes from 63-byte labels */
static char *
domain_of(char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (i % 64 == 63) ? '.' : 'd';
	if (n > 0 && b[n - 1] == '.')
		b[n - 1] = 'e';
	b[n] = '\0';
	return b;
}

static void
test_limits(void **state)
{
	char l[300], d[400], p[1400], q[400];
	struct addr a;
	size_t n, used;

	(void)state;
	/* local part: 64 ok, 65 too long, also quoted on the wire */
	n = path_of(p, sizeof p, rep(l, 'a', 64), "x.y");
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_OK);
	assert_int_equal(a.llen, 64);
	n = path_of(p, sizeof p, rep(l, 'a', 65), "x.y");
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_TOOLONG);
	fmt(q, sizeof q, "\"%s\"", rep(l, 'a', 62));
	n = path_of(p, sizeof p, q, "x.y");
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_OK);
	fmt(q, sizeof q, "\"%s\"", rep(l, 'a', 63));
	n = path_of(p, sizeof p, q, "x.y");
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_TOOLONG);
	/* label: 63 ok, 64 too long */
	fmt(d, sizeof d, "%s.org", rep(l, 'b', 63));
	n = path_of(p, sizeof p, "u", d);
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_OK);
	fmt(d, sizeof d, "%s.org", rep(l, 'b', 64));
	n = path_of(p, sizeof p, "u", d);
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_TOOLONG);
	/* domain_check: 255 ok, 256 too long */
	assert_int_equal(domain_check(domain_of(d, 255), 255, 0), ADDR_OK);
	assert_int_equal(domain_check(domain_of(d, 256), 256, 0),
	    ADDR_TOOLONG);
	/* path: 256 with the brackets ok, 257 too long */
	n = path_of(p, sizeof p, rep(l, 'a', 64), domain_of(d, 189));
	assert_int_equal(n, 256);
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_OK);
	assert_int_equal(used, 256);
	n = path_of(p, sizeof p, rep(l, 'a', 64), domain_of(d, 190));
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_TOOLONG);
	/* a source route counts against the path */
	fmt(q, sizeof q, "<@%s:", domain_of(d, 60));
	n = fmt(p, sizeof p, "%su@%s>", q, domain_of(d, 150));
	assert_int_equal(n, 216);
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_OK);
	n = fmt(p, sizeof p, "%su@%s>", q, domain_of(d, 191));
	assert_int_equal(addr_parse_path(p, n, 0, &a, &used), ADDR_TOOLONG);
	/* mailbox: 254 ok, 255 too long */
	n = fmt(p, sizeof p, "%s@%s", rep(l, 'a', 64),
	    domain_of(d, 189));
	assert_int_equal(addr_parse_mailbox(p, n, 0, &a), ADDR_OK);
	n = fmt(p, sizeof p, "%s@%s", rep(l, 'a', 64),
	    domain_of(d, 190));
	assert_int_equal(addr_parse_mailbox(p, n, 0, &a), ADDR_TOOLONG);
	/* UTF-8 counts octets: 32 two-byte characters is 64 */
	for (n = 0; n < 64; n += 2)
		l[n] = '\xc3', l[n + 1] = '\xa9';
	l[64] = '\0';
	n = path_of(p, sizeof p, l, "x.y");
	assert_int_equal(addr_parse_path(p, n, U, &a, &used), ADDR_OK);
	l[64] = 'a', l[65] = '\0';
	n = path_of(p, sizeof p, l, "x.y");
	assert_int_equal(addr_parse_path(p, n, U, &a, &used), ADDR_TOOLONG);
}

static const struct {
	const char *in;
	unsigned flags;
	enum addr_err want;
} mailboxes[] = {
	{ "u@x.y", 0, ADDR_OK },
	{ "\"a b\"@x.y", 0, ADDR_OK },
	{ "u@[10.0.0.1]", 0, ADDR_OK },
	{ "<u@x.y>", 0, ADDR_SYNTAX },
	{ "u@x.y ", 0, ADDR_SYNTAX },
	{ "u@x.y>", 0, ADDR_SYNTAX },
	{ "", 0, ADDR_SYNTAX },
	{ "u", 0, ADDR_SYNTAX },
	{ "@x.y", 0, ADDR_SYNTAX },
	{ "postmaster", P, ADDR_SYNTAX },
	{ "\xc3\xa9@x.y", 0, ADDR_8BIT },
	{ "\xc3\xa9@x.y", U, ADDR_OK },
};

static void
test_mailbox(void **state)
{
	struct addr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof mailboxes / sizeof mailboxes[0]; i++)
		if (addr_parse_mailbox(mailboxes[i].in, strlen(mailboxes[i].in),
		    mailboxes[i].flags, &a) != mailboxes[i].want)
			fail_msg("mailbox row %zu: %s", i, mailboxes[i].in);
}

static const struct {
	const char *in;
	unsigned flags;
	enum addr_err want;
} domains[] = {
	{ "example.org", 0, ADDR_OK },
	{ "x", 0, ADDR_OK },
	{ "EXAMPLE.ORG", 0, ADDR_OK },
	{ "xn--bcher-kva.de", 0, ADDR_OK },
	{ "", 0, ADDR_SYNTAX },
	{ ".", 0, ADDR_SYNTAX },
	{ "a..b", 0, ADDR_SYNTAX },
	{ "a.b.", 0, ADDR_SYNTAX },
	{ "-a.b", 0, ADDR_SYNTAX },
	{ "a-.b", 0, ADDR_SYNTAX },
	{ "a_b", 0, ADDR_SYNTAX },
	{ "[1.2.3.4]", 0, ADDR_SYNTAX },
	{ "a b", 0, ADDR_SYNTAX },
	{ "a\r", 0, ADDR_SYNTAX },
	{ "b\xc3\xbc\x63her.de", 0, ADDR_8BIT },
	{ "b\xc3\xbc\x63her.de", U, ADDR_OK },
	{ "b\xed\xa0\x80.de", U, ADDR_8BIT },
};

static void
test_domain(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof domains / sizeof domains[0]; i++)
		if (domain_check(domains[i].in, strlen(domains[i].in),
		    domains[i].flags) != domains[i].want)
			fail_msg("domain row %zu: %s", i, domains[i].in);
	assert_int_equal(domain_check("a\0b", 3, 0), ADDR_SYNTAX);
}

/* format: parse, format, and the output parses back to the same thing */
static const struct {
	const char *in;
	unsigned flags;
	const char *out;
} formats[] = {
	{ "<u@x.y>", 0, "u@x.y" },
	{ "<\"u\"@x.y>", 0, "u@x.y" },
	{ "<\"u.v\"@x.y>", 0, "u.v@x.y" },
	{ "<\"a b\"@x.y>", 0, "\"a b\"@x.y" },
	{ "<\"a\\\"b\"@x.y>", 0, "\"a\\\"b\"@x.y" },
	{ "<\"a\\\\b\"@x.y>", 0, "\"a\\\\b\"@x.y" },
	{ "<\".a\"@x.y>", 0, "\".a\"@x.y" },
	{ "<\"a.\"@x.y>", 0, "\"a.\"@x.y" },
	{ "<\"a..b\"@x.y>", 0, "\"a..b\"@x.y" },
	{ "<\"a@b\"@x.y>", 0, "\"a@b\"@x.y" },
	{ "<@r.s:u@[1.2.3.4]>", 0, "u@[1.2.3.4]" },
	{ "<>", N, "" },
	{ "<postmaster>", P, "postmaster" },
	{ "<\xc3\xa9@x.y>", U, "\xc3\xa9@x.y" },
	{ "<\"\xc3\xa9 \"@x.y>", U, "\"\xc3\xa9 \"@x.y" },
};

static void
test_format(void **state)
{
	struct buf b = BUF_INIT(1024);
	struct addr a, a2;
	size_t i, used;

	(void)state;
	for (i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		assert_int_equal(addr_parse_path(formats[i].in,
		    strlen(formats[i].in), formats[i].flags, &a, &used),
		    ADDR_OK);
		b.len = 0;
		assert_int_equal(addr_format(&b, &a), 0);
		assert_int_equal(buf_cstr(&b), 0);
		if (strcmp(b.p, formats[i].out) != 0)
			fail_msg("format row %zu: got %s", i, b.p);
		if (a.null || a.dlen == 0)
			continue;
		assert_int_equal(addr_parse_mailbox(b.p, b.len,
		    formats[i].flags, &a2), ADDR_OK);
		assert_string_equal(a.local, a2.local);
		assert_string_equal(a.domain, a2.domain);
	}
	/* a buffer too small fails whole */
	buf_free(&b);
	buf_init(&b, 4);
	assert_int_equal(addr_parse_path("<abc@x.y>", 9, 0, &a, &used),
	    ADDR_OK);
	assert_int_equal(addr_format(&b, &a), -1);
	buf_free(&b);
}

static void
test_literal_key(void **state)
{
	static const struct { const char *in; const char *want; } rows[] = {
		{ "[192.0.2.1]", "[192.0.2.1]" },
		{ "[IPv6:2001:DB8:0::1]", "[ipv6:2001:db8::1]" },
		{ "[ipv6:::1]", "[ipv6:::1]" },
		{ "[IPv6:::ffff:192.0.2.1]", "[ipv6:::ffff:192.0.2.1]" },
		{ "[192.0.2.01]", NULL },	/* inet_pton refuses */
		{ "[192.0.2.256]", NULL },
		{ "[IPv6:192.0.2.1]", NULL },
		{ "[2001:db8::1]", NULL },	/* IPv6 needs its tag */
		{ "[IPv6:]", NULL },
		{ "[]", NULL },
		{ "[", NULL },
		{ "", NULL },
		{ "192.0.2.1", NULL },
		{ "[192.0.2.1", NULL },
		{ "[192.0.2.1]x", NULL },
		{ "[tag:x]", NULL },
		{ "[IPv6:1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17]", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct buf b = BUF_INIT(64);
		int r = addr_literal_key(rows[i].in, strlen(rows[i].in), &b);

		if (rows[i].want == NULL) {
			assert_int_equal(r, -1);
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(buf_cstr(&b), 0);
		assert_string_equal(b.p, rows[i].want);
		buf_free(&b);
	}
	/* a NUL inside */
	{
		struct buf b = BUF_INIT(64);

		assert_int_equal(addr_literal_key("[1.2.3.4\0]", 10, &b), -1);
		buf_free(&b);
	}
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_string_equal(addr_strerror(ADDR_OK), "ok");
	assert_non_null(strstr(addr_strerror(ADDR_TOOLONG), "long"));
	assert_non_null(addr_strerror((enum addr_err)99));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_mailbox),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_literal_key),
	};

	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
