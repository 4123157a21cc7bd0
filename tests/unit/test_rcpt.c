/* test_rcpt: lib/rcpt.c, the recipient decision smtpd and send share,
 * on tables built by the real compiler (cdb/compile.c): every kind of
 * address, case and extension variants, and the value parsers' edges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../cdb/compile.h"
#include "rcpt.h"

static char dir[64];

enum { D, A, V, L, M, R, NT };
static const char *const names[NT] = {
	"domains", "aliases", "virtual", "localusers", "moved", "routes",
};
static const char *const texts[NT] = {
	"test.example local\n"
	"virt.example virtual\n"
	"virt2.example virtual\n",
	"abuse alice\n"
	"team@test.example alice, bob@remote.example\n"
	"fwd@test.example carol@virt.example, x@remote.example\n"
	"archive@test.example /var/mail/archive/\n"
	"info@virt.example carol\n",
	"carol@virt.example /var/vmail/carol\n"
	"lmtp@virt.example lmtp:unix:/run/dovecot/lmtp\n"
	"@virt2.example /var/vmail/all/\n",
	"alice 1001:1001:/home/alice\n"
	"www-data 33:33:/var/www/\n",
	"gone@test.example new@elsewhere.example\n",
	"routed.example [127.0.0.1]:25\n"
	".sub.routed.example [127.0.0.1]:25\n"
	"* [127.0.0.1]:2525\n",
};
static struct tbl tabs[NT];
static struct rcpt_tabs rt;

static void
build(int i)
{
	const struct cdbc_table *ct = cdbc_find(names[i]);
	struct cdbc_out o = { NULL, 0, 0 };
	struct buf err = BUF_INIT(65536);
	char path[256];

	assert_non_null(ct);
	if (cdbc_parse(ct, names[i], texts[i], strlen(texts[i]), &o,
	    &err) != 0) {
		buf_cstr(&err);
		fail_msg("%s: %s", names[i], err.p);
	}
	snprintf(path, sizeof path, "%s/%s.cdb", dir, names[i]);
	assert_int_equal(cdbc_write(path, ct->mode, &o), 0);
	cdbc_free(&o);
	buf_free(&err);
	assert_int_equal(tbl_open(&tabs[i], path), 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/test_rcpt.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	for (int i = 0; i < NT; i++)
		build(i);
	rt = (struct rcpt_tabs){ &tabs[D], &tabs[A], &tabs[V], &tabs[L],
	    &tabs[M], &tabs[R], "mx.test", "-+" };
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	for (int i = 0; i < NT; i++)
		tbl_close(&tabs[i]);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *const kinds[] = {
	"REMOTE", "ROUTED", "ALIAS", "USER", "VIRTUAL", "MOVED", "UNKNOWN",
	"BADENTRY", "TEMP",
};

static void
test_resolve(void **state)
{
	static const struct {
		const char *addr;
		unsigned flags;
		enum rcpt_kind kind;
		const char *val;	/* NULL: not checked */
		uint32_t uid;
		int pm;
	} rows[] = {
		{ "alice@test.example", 0, RK_USER, "/home/alice/Maildir/",
		    1001, 0 },
		{ "Alice@TEST.Example", 0, RK_USER, "/home/alice/Maildir/",
		    1001, 0 },
		{ "alice+news@test.example", 0, RK_USER, NULL, 1001, 0 },
		{ "ALICE-news-x@test.example", 0, RK_USER, NULL, 1001, 0 },
		{ "www-data@test.example", 0, RK_USER, "/var/www/Maildir/",
		    33, 0 },
		{ "www-data-x@test.example", 0, RK_USER, NULL, 33, 0 },
		{ "alice@localhost", 0, RK_USER, NULL, 1001, 0 },
		{ "alice@MX.test", 0, RK_USER, NULL, 1001, 0 },
		/* a bare alias: in every local domain (issue 18 item 7) */
		{ "abuse@test.example", 0, RK_ALIAS, "alice", 0, 0 },
		{ "abuse@localhost", 0, RK_ALIAS, "alice", 0, 0 },
		{ "Abuse+x@localhost", 0, RK_ALIAS, "alice", 0, 0 },
		{ "abuse@virt.example", 0, RK_UNKNOWN, NULL, 0, 0 },
		{ "abuse@test.example", RCPT_NOALIAS, RK_UNKNOWN, NULL, 0, 0 },
		{ "team@test.example", 0, RK_ALIAS,
		    "alice,bob@remote.example", 0, 0 },
		{ "archive@test.example", 0, RK_ALIAS, "/var/mail/archive/",
		    0, 0 },
		{ "info@virt.example", 0, RK_ALIAS, "carol", 0, 0 },
		{ "carol@virt.example", 0, RK_VIRTUAL, "/var/vmail/carol/", 0,
		    0 },
		{ "Carol+x@Virt.Example", 0, RK_VIRTUAL, "/var/vmail/carol/",
		    0, 0 },
		{ "dave@virt.example", 0, RK_UNKNOWN, NULL, 0, 0 },
		/* a virtual user delivered over LMTP: the value as it is */
		{ "lmtp@virt.example", 0, RK_VIRTUAL,
		    "lmtp:unix:/run/dovecot/lmtp", 0, 0 },
		{ "anyone@virt2.example", 0, RK_VIRTUAL, "/var/vmail/all/", 0,
		    0 },
		{ "gone@test.example", 0, RK_MOVED, "new@elsewhere.example",
		    0, 0 },
		{ "gone-x@test.example", 0, RK_MOVED, NULL, 0, 0 },
		{ "nosuch@test.example", 0, RK_UNKNOWN, NULL, 0, 0 },
		{ "postmaster@test.example", 0, RK_UNKNOWN, NULL, 0, 1 },
		{ "PostMaster@virt.example", 0, RK_ALIAS,
		    "postmaster@mx.test", 0, 1 },
		{ "\"a%b\"@test.example", 0, RK_UNKNOWN, NULL, 0, 0 },
		{ "\"alice@x\"@test.example", 0, RK_UNKNOWN, NULL, 0, 0 },
		{ "x@routed.example", 0, RK_ROUTED, NULL, 0, 0 },
		{ "x@a.sub.routed.example", 0, RK_ROUTED, NULL, 0, 0 },
		{ "\"a!b\"@routed.example", 0, RK_REMOTE, NULL, 0, 0 },
		{ "x@remote.example", 0, RK_REMOTE, NULL, 0, 0 },
		{ "alice@[127.0.0.1]", 0, RK_REMOTE, NULL, 0, 0 },
	};
	struct rcpt_res r;
	struct addr a;
	size_t i;

	(void)state;
	buf_init(&r.val, 65536);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *s = rows[i].addr;

		if (addr_parse_mailbox(s, strlen(s), 0, &a) != ADDR_OK)
			fail_msg("%s: does not parse", s);
		if (rcpt_resolve(&rt, &a, rows[i].flags, &r) != rows[i].kind ||
		    r.kind != rows[i].kind)
			fail_msg("%s: %s, want %s", s, kinds[r.kind],
			    kinds[rows[i].kind]);
		if (rows[i].val != NULL && !buf_eq(&r.val, rows[i].val))
			fail_msg("%s: %.*s, want %s", s, (int)r.val.len,
			    r.val.p, rows[i].val);
		if (rows[i].kind == RK_USER && r.uid != rows[i].uid)
			fail_msg("%s: uid %u", s, r.uid);
		if (r.postmaster != rows[i].pm)
			fail_msg("%s: postmaster %d", s, r.postmaster);
		if ((r.kind == RK_VIRTUAL) != (r.virt && r.kind == RK_VIRTUAL))
			fail_msg("%s: virt", s);
	}
	/* the null path and an empty domain are not ours */
	memset(&a, 0, sizeof a);
	a.null = 1;
	assert_int_equal(rcpt_resolve(&rt, &a, 0, &r), RK_REMOTE);
	buf_free(&r.val);
}

static void
test_domain_offsite(void **state)
{
	static const struct {
		const char *v, *want;	/* want NULL: none */
	} rows[] = {
		{ "alice", NULL },
		{ "alice@test.example, bob@LOCALHOST", NULL },
		{ "alice, bob@remote.example, c@x.example", "bob@remote.example" },
		{ " carol@virt.example ,\tx@remote.example ", "x@remote.example" },
		{ "/var/mail/x/, |/bin/cat a@remote.example", NULL },
		{ "\"a@b\"@test.example", NULL },
		{ "\"a,b\"@mx.test.", NULL },
		{ "", NULL },
		{ ",,", NULL },
	};
	struct buf out = BUF_INIT(1024);
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		out.len = 0;
		r = rcpt_offsite(&rt, rows[i].v, strlen(rows[i].v), &out);
		if (rows[i].want == NULL ? r != 0 : r != 1 ||
		    !buf_eq(&out, rows[i].want))
			fail_msg("%s: %d %.*s", rows[i].v, r, (int)out.len,
			    out.p);
	}
	assert_int_equal(rcpt_domain(&rt, "TEST.example", 12), 'l');
	assert_int_equal(rcpt_domain(&rt, "virt.example", 12), 'v');
	assert_int_equal(rcpt_domain(&rt, "localhost.", 10), 'l');
	assert_int_equal(rcpt_domain(&rt, "mx.test", 7), 'l');
	assert_int_equal(rcpt_domain(&rt, "mx.test.x", 9), 0);
	assert_int_equal(rcpt_domain(&rt, "[127.0.0.1]", 11), 0);
	assert_int_equal(rcpt_domain(&rt, "", 0), 0);
	assert_int_equal(rcpt_domain(&rt, "local\0host", 10), 0);
	buf_free(&out);
}

static void
test_item(void **state)
{
	static const struct {
		const char *v, *want;	/* want: the items, each then '|' */
	} rows[] = {
		{ "", "" },
		{ "a", "a|" },
		{ "a, b", "a|b|" },
		{ " a ,\tb , ", "a|b|" },
		{ ",,a,,", "a|" },
		{ "\"x,y\"@d, z", "\"x,y\"@d|z|" },
		{ "\"x\\\",y\"@d,z", "\"x\\\",y\"@d|z|" },
		{ "a, |cmd x,y , ", "a||cmd x,y ,|" },
		{ "|cmd", "|cmd|" },
		{ "/p/, |c", "/p/||c|" },
		{ "\"open, x", "\"open, x|" },
	};
	struct buf got = BUF_INIT(1024);
	size_t i, pos, b, e, n;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		got.len = 0;
		pos = 0;
		n = strlen(rows[i].v);
		while (rcpt_item(rows[i].v, n, &pos, &b, &e)) {
			assert_true(b < e && e <= n && pos <= n);
			buf_put(&got, rows[i].v + b, e - b);
			buf_putc(&got, '|');
		}
		assert_int_equal(pos, n);
		if (!buf_eq(&got, rows[i].want))
			fail_msg("%s: %.*s, want %s", rows[i].v, (int)got.len,
			    got.p, rows[i].want);
	}
	buf_free(&got);
}

static void
test_user(void **state)
{
	static const struct {
		const char *v, *path;	/* path NULL: refused */
		uint32_t uid, gid;
	} rows[] = {
		{ "1:2:/h", "/h/Maildir/", 1, 2 },
		{ "1:2:/h/", "/h/Maildir/", 1, 2 },
		{ "0:0:/", "/Maildir/", 0, 0 },
		{ "4294967295:4294967295:/h", "/h/Maildir/", 4294967295u,
		    4294967295u },
		{ "4294967296:1:/h", NULL, 0, 0 },
		{ "99999999999999999999999:1:/h", NULL, 0, 0 },
		{ ":1:/h", NULL, 0, 0 },
		{ "1::/h", NULL, 0, 0 },
		{ "1:2:h", NULL, 0, 0 },
		{ "1:2:", NULL, 0, 0 },
		{ "1:2", NULL, 0, 0 },
		{ "a:1:/h", NULL, 0, 0 },
		{ "-1:1:/h", NULL, 0, 0 },
		{ "", NULL, 0, 0 },
	};
	struct buf p = BUF_INIT(4096);
	uint32_t uid, gid;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		p.len = 0;
		r = rcpt_user(rows[i].v, strlen(rows[i].v), &uid, &gid, &p);
		if (rows[i].path == NULL) {
			if (r != -1)
				fail_msg("%s: accepted", rows[i].v);
			continue;
		}
		if (r != 0 || !buf_eq(&p, rows[i].path) || uid !=
		    rows[i].uid || gid != rows[i].gid)
			fail_msg("%s: %d %.*s %u:%u", rows[i].v, r,
			    (int)p.len, p.p, uid, gid);
	}
	/* a NUL inside the home */
	assert_int_equal(rcpt_user("1:2:/a\0b", 8, &uid, &gid, &p), -1);
	buf_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_domain_offsite),
		cmocka_unit_test(test_item),
		cmocka_unit_test(test_user),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
