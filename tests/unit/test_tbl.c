/* test_tbl: lib/tbl.c lookups on tables built by cdb/compile.c in a
 * temporary directory, and the compiler's checks on their own. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../cdb/compile.h"
#include "tbl.h"

static char dir[64];

/* build - compile text as table name into dir/name.cdb and open it */
static void
build(struct tbl *t, const char *name, const char *text)
{
	const struct cdbc_table *ct = cdbc_find(name);
	struct cdbc_out o = { NULL, 0, 0 };
	struct buf err = BUF_INIT(65536);
	char path[256];
	int n;

	assert_non_null(ct);
	n = cdbc_parse(ct, name, text, strlen(text), &o, &err);
	if (n != 0) {
		buf_cstr(&err);
		fail_msg("%s: %d errors: %s", name, n, err.p);
	}
	snprintf(path, sizeof path, "%s/%s.cdb", dir, name);
	assert_int_equal(cdbc_write(path, ct->mode, &o), 0);
	cdbc_free(&o);
	buf_free(&err);
	assert_int_equal(tbl_open(t, path), 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/test_tbl.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* expect - a lookup's result: want NULL means not found */
static void
expect(int r, const struct buf *v, const char *want, const char *what)
{
	if (want == NULL) {
		if (r != 0)
			fail_msg("%s: found, want none", what);
		return;
	}
	if (r != 1)
		fail_msg("%s: %d, want %s", what, r, want);
	if (!buf_eq(v, want))
		fail_msg("%s: got %.*s want %s", what, (int)v->len, v->p, want);
}

static void
test_domain(void **state)
{
	static const struct { const char *q, *want; } rows[] = {
		{ "example.org", "local" },
		{ "EXAMPLE.ORG", "local" },
		{ "example.org.", "local" },
		{ "a.sub.example.org", "sub" },
		{ "x.y.sub.example.org", "sub" },
		{ "sub.example.org", "star" },
		{ "deep.v.example", "v" },
		{ "v.example", "virtual" },
		{ "[192.0.2.1]", "lit" },
		{ "[192.0.2.2]", "star" },
		{ "other", "star" },
		{ "", NULL },
	};
	struct buf v = BUF_INIT(1024);
	struct tbl t;
	size_t i;

	(void)state;
	build(&t, "routes", "example.org [127.0.0.1]:1\n"
	    ".sub.example.org [127.0.0.1]:2\n* [127.0.0.1]:3\n");
	tbl_close(&t);
	/* tls_policy has the same keys and simple values */
	build(&t, "tls_policy", "Example.org none\n.sub.example.org may\n"
	    "v.example encrypt\n.v.example verify\n* may\n");
	assert_int_equal(tbl_domain(&t, "a.sub.example.org", &v), 1);
	assert_true(buf_eq(&v, "may"));
	tbl_close(&t);
	/* and any value through the low-level table */
	{
		struct cdbc_out o = { NULL, 0, 0 };
		char path[256];

		cdbc_add(&o, "example.org", 11, "local", 5, 1);
		cdbc_add(&o, ".sub.example.org", 16, "sub", 3, 2);
		cdbc_add(&o, "v.example", 9, "virtual", 7, 3);
		cdbc_add(&o, ".v.example", 10, "v", 1, 4);
		cdbc_add(&o, "[192.0.2.1]", 11, "lit", 3, 5);
		cdbc_add(&o, "*", 1, "star", 4, 6);
		snprintf(path, sizeof path, "%s/raw.cdb", dir);
		assert_int_equal(cdbc_write(path, 0644, &o), 0);
		cdbc_free(&o);
		assert_int_equal(tbl_open(&t, path), 0);
	}
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
		expect(tbl_domain(&t, rows[i].q, &v), &v, rows[i].want,
		    rows[i].q);
	tbl_close(&t);
	buf_free(&v);
}

static void
test_addr(void **state)
{
	static const struct {
		const char *local, *domain, *seps, *want;
		enum tbl_match how;
	} rows[] = {
		{ "alice", "example.org", "-+", "/m/alice/", TBL_EXACT },
		{ "Alice", "EXAMPLE.ORG", "-+", "/m/alice/", TBL_EXACT },
		{ "alice-x", "example.org", "-+", "/m/alice/", TBL_EXT },
		{ "alice+x-y", "example.org", "-+", "/m/alice/", TBL_EXT },
		{ "alice-x", "example.org", "", "/m/catch/", TBL_DOMAIN },
		{ "alice-x", "example.org", NULL, "/m/catch/", TBL_DOMAIN },
		{ "info-desk-2", "example.org", "-", "/m/desk/", TBL_EXT },
		{ "Info-Desk", "example.org", "-", "/m/desk/", TBL_EXACT },
		{ "bob", "example.org", "-", "/m/catch/", TBL_DOMAIN },
		{ "-", "example.org", "-", "/m/catch/", TBL_DOMAIN },
		{ "bob", "example.net", "-", NULL, TBL_EXACT },
		{ "a.b.", "example.net", "-", "/m/ab/", TBL_EXACT },
		{ "x", "[192.0.2.1]", "-", "/m/lit/", TBL_EXACT },
		{ "x", "[IPv6:::1]", "-", "/m/lit6/", TBL_EXACT },
	};
	struct buf v = BUF_INIT(1024);
	enum tbl_match how;
	struct tbl t;
	size_t i;
	int r;

	(void)state;
	build(&t, "virtual", "alice@example.org /m/alice/\n"
	    "Info-Desk@Example.org /m/desk/\n@example.org /m/catch/\n"
	    "\"a.b.\"@example.net /m/ab/\nx@[192.0.2.1] /m/lit/\n"
	    "x@[IPv6:::1] /m/lit6/\n");
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		how = (enum tbl_match)99;
		r = tbl_addr(&t, rows[i].local, rows[i].domain, rows[i].seps,
		    &v, &how);
		expect(r, &v, rows[i].want, rows[i].local);
		if (r == 1 && how != rows[i].how)
			fail_msg("row %zu: how %d", i, (int)how);
	}
	tbl_close(&t);
	/* aliases: bare local parts, for any local domain */
	build(&t, "aliases", "Postmaster: root\nroot alice, |/bin/true\n");
	expect(tbl_addr(&t, "postmaster", "", "-", &v, NULL), &v, "root",
	    "postmaster");
	expect(tbl_addr(&t, "root", "", "-", &v, NULL), &v,
	    "alice,|/bin/true", "root");
	expect(tbl_addr(&t, "root", "example.org", "-", &v, NULL), &v, NULL,
	    "root@example.org");
	tbl_close(&t);
	buf_free(&v);
}

static void
test_ip(void **state)
{
	static const struct { const char *q, *want; } rows[] = {
		{ "127.0.0.1", "lo" },
		{ "127.255.255.255", "lo" },
		{ "126.255.255.255", "any4" },
		{ "10.1.2.3", "host" },
		{ "10.1.2.4", "net24" },
		{ "10.1.3.4", "net8" },
		{ "::ffff:10.1.2.3", "host" },
		{ "::FFFF:10.1.3.4", "net8" },
		{ "::1", "lo6" },
		{ "::2", NULL },
		{ "2001:db8::1", "doc" },
		{ "2001:DB8:0:0::ffff", "doc" },
		{ "2001:db9::", NULL },
		{ "fe80::1", "ll" },
		{ "febf:ffff::1", "ll" },
		{ "fec0::1", NULL },
		{ "", NULL },
		{ "example.org", NULL },
		{ "10.1.2.3/32", NULL },
		{ "1.2.3.4 ", NULL },
	};
	struct buf v = BUF_INIT(1024);
	struct tbl t;
	size_t i;

	(void)state;
	build(&t, "relayclients", "127.0.0.0/8 lo\n10.0.0.0/8 net8\n"
	    "10.1.2.0/24 net24\n10.1.2.3 host\n::1 lo6\n"
	    "2001:0DB8::/32 doc\nfe80::/10 ll\n0.0.0.0/0 any4\n");
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
		expect(tbl_ip(&t, rows[i].q, &v), &v, rows[i].want,
		    rows[i].q);
	tbl_close(&t);
	buf_free(&v);
}

static void
test_ip_key(void **state)
{
	static const struct { const char *in, *want; } rows[] = {
		{ "127.0.0.1", "127.0.0.1/32" },
		{ "127.0.0.0/8", "127.0.0.0/8" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "::1", "::1/128" },
		{ "::/0", "::/0" },
		{ "2001:0DB8:0000::/32", "2001:db8::/32" },
		{ "::ffff:10.0.0.1", "10.0.0.1/32" },
		{ "::ffff:10.0.0.0/104", "10.0.0.0/8" },
		{ "127.0.0.1/8", NULL },	/* host bits set */
		{ "127.0.0.0/33", NULL },
		{ "::/129", NULL },
		{ "::ffff:10.0.0.0/95", NULL },
		{ "10.0.0.0/", NULL },
		{ "10.0.0.0/x", NULL },
		{ "10.0.0.0/-8", NULL },
		{ "10.0.0.0/08x", NULL },
		{ "10.0.0.0/0008", NULL },
		{ "10.0.0", NULL },
		{ "", NULL },
		{ "/8", NULL },
		{ "example.org", NULL },
	};
	struct buf k = BUF_INIT(256);
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		k.len = 0;
		r = tbl_ip_key(rows[i].in, &k);
		if (rows[i].want == NULL) {
			if (r != -1 || errno != EINVAL)
				fail_msg("ip_key %s: accepted", rows[i].in);
			continue;
		}
		assert_int_equal(r, 0);
		if (!buf_eq(&k, rows[i].want))
			fail_msg("ip_key %s: got %.*s", rows[i].in,
			    (int)k.len, k.p);
	}
	buf_free(&k);
}

static void
test_get_missing_changed(void **state)
{
	struct buf v = BUF_INIT(1024), small = BUF_INIT(3);
	struct tbl t, t2;
	char path[256];

	(void)state;
	/* a missing file is an empty table, until it appears */
	snprintf(path, sizeof path, "%s/users.cdb", dir);
	unlink(path);
	assert_int_equal(tbl_open(&t, path), 0);
	assert_int_equal(t.fd, -1);
	assert_int_equal(tbl_get(&t, "bob", 3, &v), 0);
	assert_int_equal(tbl_domain(&t, "x.org", &v), 0);
	assert_int_equal(tbl_ip(&t, "127.0.0.1", &v), 0);
	assert_int_equal(tbl_addr(&t, "a", "b", "-", &v, NULL), 0);
	assert_int_equal(tbl_changed(&t), 0);
	build(&t2, "users", "bob $argon2id$v=19$m=65536,t=2,p=1$x$y\n");
	assert_int_equal(tbl_changed(&t), 1);
	tbl_close(&t);
	/* exact keys; a value too big for the buffer is E2BIG */
	expect(tbl_get(&t2, "bob", 3, &v), &v,
	    "$argon2id$v=19$m=65536,t=2,p=1$x$y", "bob");
	assert_int_equal(tbl_get(&t2, "Bob", 3, &v), 0);
	assert_int_equal(tbl_get(&t2, "bob", 3, &small), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(tbl_changed(&t2), 0);
	/* replaced by rename: changed */
	build(&t, "users", "bob $argon2id$new\n");
	assert_int_equal(tbl_changed(&t2), 1);
	assert_int_equal(tbl_changed(&t), 0);
	tbl_close(&t);
	/* removed: changed */
	unlink(path);
	assert_int_equal(tbl_changed(&t2), 1);
	tbl_close(&t2);
	/* not a CDB at all: tbl_open fails */
	snprintf(path, sizeof path, "%s/junk.cdb", dir);
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs("junk", f);
		fclose(f);
	}
	assert_int_equal(tbl_open(&t, path), -1);
	buf_free(&v);
	buf_free(&small);
}

static void
junk_over(const char *path)
{
	char tmp[300];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.junk", path);
	assert_non_null(f = fopen(tmp, "w"));
	fputs("junk", f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0);
}

/* a reload that cannot open the new file keeps the old mapping, is not
 * retried by tbl_changed until the file changes again, and a good file
 * then replaces the old one */
static void
test_reload_keeps_old(void **state)
{
	struct buf v = BUF_INIT(1024);
	struct tbl t, t2;
	char path[256];

	(void)state;
	snprintf(path, sizeof path, "%s/routes.cdb", dir);
	build(&t, "routes", "* [127.0.0.1]:2525\n");
	junk_over(path);
	assert_int_equal(tbl_changed(&t), 1);
	assert_int_equal(tbl_reload(&t), -1);
	expect(tbl_domain(&t, "x.org", &v), &v, "[127.0.0.1]:2525", "kept");
	assert_int_equal(tbl_changed(&t), 0);	/* the same bad file */
	assert_int_equal(tbl_reload(&t), -1);	/* a HUP tries again */
	junk_over(path);			/* changed again: look */
	assert_int_equal(tbl_changed(&t), 1);
	assert_int_equal(tbl_reload(&t), -1);
	expect(tbl_domain(&t, "x.org", &v), &v, "[127.0.0.1]:2525", "kept");
	build(&t2, "routes", "* [127.0.0.2]:2526\n");
	tbl_close(&t2);
	assert_int_equal(tbl_changed(&t), 1);
	assert_int_equal(tbl_reload(&t), 0);
	expect(tbl_domain(&t, "x.org", &v), &v, "[127.0.0.2]:2526", "new");
	assert_int_equal(tbl_changed(&t), 0);
	tbl_close(&t);
	buf_free(&v);
}

/* tblset: open by names, a forced refresh maps every table again and
 * keeps the one that cannot be opened */
static void
test_tblset(void **state)
{
	static const char *const names[] = { "domains", "moved", "nosuch" };
	struct buf v = BUF_INIT(1024);
	struct tbl t[3], x;
	struct tblset s;
	char path[256];

	(void)state;
	build(&x, "domains", "a.org local\n");
	tbl_close(&x);
	build(&x, "moved", "a@a.org b@b.org\n");
	tbl_close(&x);
	assert_int_equal(tblset_open(&s, t, dir, names, 3), 0);
	expect(tbl_domain(&t[0], "a.org", &v), &v, "local", "domains");
	assert_int_equal(t[2].fd, -1);		/* missing: empty */
	build(&x, "domains", "b.org virtual\n");
	tbl_close(&x);
	snprintf(path, sizeof path, "%s/moved.cdb", dir);
	junk_over(path);
	/* domains and nosuch mapped again, moved kept */
	assert_int_equal(tblset_refresh(&s, TBLSET_ALL), 2);
	expect(tbl_domain(&t[0], "b.org", &v), &v, "virtual", "new domains");
	assert_int_equal(tbl_get(&t[1], "a@a.org", 7, &v), 1);
	assert_int_equal(tblset_refresh(&s, TBLSET_ALL), 2);	/* kept */
	assert_int_equal(tbl_get(&t[1], "a@a.org", 7, &v), 1);
	/* NOW: only what changed, without waiting for the second */
	build(&x, "moved", "c@a.org d@b.org\n");
	tbl_close(&x);
	assert_int_equal(tblset_refresh(&s, TBLSET_NOW), 1);
	assert_int_equal(tbl_get(&t[1], "c@a.org", 7, &v), 1);
	assert_int_equal(tblset_refresh(&s, TBLSET_NOW), 0);
	junk_over(path);
	tblset_close(&s);
	/* a table that cannot be opened at start: -1, all closed */
	assert_int_equal(tblset_open(&s, t, dir, names, 3), -1);
	assert_int_equal(t[0].fd, -1);
	unlink(path);
	buf_free(&v);
}

/* the compiler's messages: every error, each file:line: reason */
static void
test_parse_errors(void **state)
{
	static const struct {
		const char *table, *text;
		int nerr;
		const char *msg;
	} rows[] = {
		{ "domains", "", 0, "" },
		{ "domains", "# only\n\n   \n", 0, "" },
		{ "domains", "a.org local\r\nb.org: virtual\r\n", 0, "" },
		{ "domains", "a.org local", 0, "" },
		{ "domains", "a.org\n", 1, "t:1: value must be local or "
		    "virtual\n" },
		{ "domains", "a.org :\n", 1, "t:1: value must be local or "
		    "virtual\n" },
		{ "domains", "a.org bogus\nb..org local\nc.org local\n", 2,
		    "t:1: value must be local or virtual\n"
		    "t:2: not a domain name\n" },
		{ "domains", "a.org local\nA.ORG local\n", 1,
		    "t:2: duplicate key (first on line 1)\n" },
		{ "domains", "a.org local\n  b\n", 1,
		    "t:2: line starts with white space\n" },
		{ "domains", "a.org lo\x01" "cal\n", 1,
		    "t:1: control character\n" },
		{ "aliases", "a b\n\n  c\n", 1,
		    "t:3: continuation line without an entry\n" },
		{ "aliases", "a b,\n# c\n  c\n", 0, "" },
		{ "aliases", ": b\n", 1, "t:1: empty key\n" },
		{ "users", "u $argon2id$x\nu $argon2id$y\n", 1,
		    "t:2: duplicate key (first on line 1)\n" },
		{ "senders", "u a@b.c\nu @d.e\n", 0, "" },
		{ "localusers", "u 1:2:/h\nv 4294967295:1:/h\n", 1,
		    "t:2: value must be uid:gid:home (numbers)\n" },
		{ "virtual", "a@b.c lmtp:unix:/run/lmtp\n"
		    "b@b.c lmtp:[127.0.0.1]:24\nc@b.c lmtp:x\n", 1,
		    "t:3: lmtp value must be lmtp:unix:/absolute/path or "
		    "lmtp:[address][:port], alone\n" },
		/* LMTP routes: a UNIX socket by absolute path, or an
		 * address literal; nothing else, nothing after it */
		{ "routes", "a.org lmtp:unix:/run/dovecot/lmtp\n"
		    "b.org lmtp:[127.0.0.1]:24\nc.org lmtp:[IPv6:::1]\n", 0,
		    "" },
		{ "routes", "a.org lmtp:unix:run/lmtp\nb.org lmtp:host:24\n"
		    "c.org lmtp:[127.0.0.1]:24 auth=u:p\nd.org lmtp:\n"
		    "e.org LMTP:[127.0.0.1]\nf.org lmtp:[127.0.0.1]:0\n", 6,
		    "t:1: lmtp value must be lmtp:unix:/absolute/path or "
		    "lmtp:[address][:port], alone\n"
		    "t:2: lmtp value must be lmtp:unix:/absolute/path or "
		    "lmtp:[address][:port], alone\n"
		    "t:3: lmtp value must be lmtp:unix:/absolute/path or "
		    "lmtp:[address][:port], alone\n"
		    "t:4: lmtp value must be lmtp:unix:/absolute/path or "
		    "lmtp:[address][:port], alone\n"
		    "t:5: write lmtp: in lower case\n"
		    "t:6: lmtp value must be lmtp:unix:/absolute/path or "
		    "lmtp:[address][:port], alone\n" },
		/* credentials: their own table, never in routes */
		{ "routes", "a.org h:587 auth=u:p\nb.org auth=u:p\n", 2,
		    "t:1: auth= moved to relay_auth (next-hop host[:port] "
		    "USER:PASS)\n"
		    "t:2: auth= moved to relay_auth (next-hop host[:port] "
		    "USER:PASS)\n" },
		{ "relay_auth", "H.org:587 u:p:w\n[IPv6:::1]:25 u:p\n"
		    "h.org u:p\n", 0, "" },
		{ "relay_auth", "h:0 u:p\nh u\nh :p\nh u:\nh u:p x\n"
		    "h.org:587 u:p\nH.ORG:587 v:q\n", 6,
		    "t:1: key must be host[:port] or [address][:port], as "
		    "the routes value spells it\n"
		    "t:2: value must be USER:PASS, alone\n"
		    "t:3: value must be USER:PASS, alone\n"
		    "t:4: value must be USER:PASS, alone\n"
		    "t:5: value must be USER:PASS, alone\n"
		    "t:7: duplicate key (first on line 6)\n" },
	};
	struct buf err = BUF_INIT(65536);
	struct cdbc_out o = { NULL, 0, 0 };
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		err.len = 0;
		n = cdbc_parse(cdbc_find(rows[i].table), "t", rows[i].text,
		    strlen(rows[i].text), &o, &err);
		cdbc_free(&o);
		assert_int_equal(buf_cstr(&err), 0);
		if (n != rows[i].nerr || strcmp(err.p, rows[i].msg) != 0)
			fail_msg("row %zu: %d errors: %s", i, n, err.p);
	}
	/* a NUL inside a line */
	err.len = 0;
	n = cdbc_parse(cdbc_find("domains"), "t", "a.org local\nb\0c x\n",
	    18, &o, &err);
	cdbc_free(&o);
	buf_cstr(&err);
	assert_int_equal(n, 1);
	assert_string_equal(err.p, "t:2: NUL byte in line\n");
	assert_null(cdbc_find("nosuch"));
	buf_free(&err);
}

static void
test_passwd(void **state)
{
	static const char pw[] =
	    "root:x:0:0:root:/root:/bin/bash\n"
	    "a:x:10:20:A:/home/a:/bin/sh\n"
	    "a:x:11:21:A:/other:/bin/sh\n"
	    "b:x:12:22::/home/b:\n";
	struct buf err = BUF_INIT(65536);
	struct cdbc_out o = { NULL, 0, 0 };

	(void)state;
	assert_int_equal(cdbc_passwd("pw", pw, sizeof pw - 1, &o, &err), 0);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.e[0].key, "a");
	assert_string_equal(o.e[0].val, "10:20:/home/a");
	assert_string_equal(o.e[1].val, "12:22:/home/b");
	cdbc_free(&o);
	assert_int_equal(cdbc_passwd("pw", "c:x:1:2::home:\nd:x\n", 18, &o,
	    &err), 2);
	cdbc_free(&o);
	buf_cstr(&err);
	assert_string_equal(err.p, "pw:1: home must be an absolute path\n"
	    "pw:2: not a passwd line (7 fields)\n");
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_ip_key),
		cmocka_unit_test(test_get_missing_changed),
		cmocka_unit_test(test_reload_keeps_old),
		cmocka_unit_test(test_tblset),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_passwd),
	};

	return cmocka_run_group_tests_name("tbl", tests, setup, teardown);
}
