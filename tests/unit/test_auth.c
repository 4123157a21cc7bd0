/* test_auth: SASL decoding (base64, PLAIN), the auth records, the users
 * text table editing, and a whole check through authd_run over a socket
 * pair with a real CDB table. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <cdb.h>
#include <fcntl.h>
#include <sodium.h>

#include "authc.h"
#include "../../auth/authd.h"
#include "rec.h"

#define S(x)	x, sizeof x - 1

static const struct {
	const char *in;
	size_t n;
	const char *out;	/* NULL: refused */
	size_t outn;
	int err;
} b64[] = {
	{ S("="), "", 0, 0 },			/* RFC 4954: empty response */
	{ S(""), NULL, 0, EINVAL },
	{ S("YQ=="), "a", 1, 0 },
	{ S("YWI="), "ab", 2, 0 },
	{ S("YWJj"), "abc", 3, 0 },
	{ S("AGEAYg=="), "\0a\0b", 4, 0 },	/* NULs survive */
	{ S("YQ"), NULL, 0, EINVAL },		/* padding required */
	{ S("YQ="), NULL, 0, EINVAL },
	{ S("Y Q=="), NULL, 0, EINVAL },	/* no white space */
	{ S("YQ==\r\n"), NULL, 0, EINVAL },	/* bare CR LF */
	{ S("YQ==YQ=="), NULL, 0, EINVAL },	/* data after padding */
	{ S("Y!=="), NULL, 0, EINVAL },
	{ S("====")	, NULL, 0, EINVAL },
	{ S("\xc3\xa9YQ="), NULL, 0, EINVAL },	/* 8-bit */
	{ S("YQ\0="), NULL, 0, EINVAL },	/* NUL inside */
	{ S("YWJjZA=="), NULL, 0, E2BIG },	/* 4 bytes, max 3 */
};

static void
test_b64(void **state)
{
	struct buf out = BUF_INIT(100);
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof b64 / sizeof b64[0]; i++) {
		errno = 0;
		r = auth_b64_decode(b64[i].in, b64[i].n, &out,
		    b64[i].err == E2BIG ? 3 : 100);
		if (b64[i].out == NULL) {
			if (r != -1 || errno != b64[i].err)
				fail_msg("case %zu (%s): r %d errno %d", i,
				    b64[i].in, r, errno);
		} else {
			if (r != 0)
				fail_msg("case %zu (%s) refused", i,
				    b64[i].in);
			assert_int_equal(out.len, b64[i].outn);
			assert_memory_equal(out.p, b64[i].out, out.len);
		}
	}
	buf_free(&out);
}

static void
test_b64_roundtrip(void **state)
{
	struct buf enc = BUF_INIT(1024), dec = BUF_INIT(1024);
	unsigned char raw[256];
	size_t n;

	(void)state;
	for (n = 0; n < sizeof raw; n++)
		raw[n] = (unsigned char)(255 - n);
	for (n = 1; n <= sizeof raw; n += 37) {
		enc.len = 0;
		assert_int_equal(auth_b64_encode(&enc, raw, n), 0);
		assert_int_equal(enc.len % 4, 0);
		assert_int_equal(auth_b64_decode(enc.p, enc.len, &dec, 1024),
		    0);
		assert_int_equal(dec.len, n);
		assert_memory_equal(dec.p, raw, n);
	}
	/* at the limit and one over */
	enc.len = 0;
	assert_int_equal(auth_b64_encode(&enc, raw, 255), 0);
	assert_int_equal(auth_b64_decode(enc.p, enc.len, &dec, 255), 0);
	assert_int_equal(auth_b64_decode(enc.p, enc.len, &dec, 254), -1);
	assert_int_equal(errno, E2BIG);
	buf_free(&enc);
	buf_free(&dec);
}

static const struct {
	const char *m;
	size_t n;
	int err;			/* 0: accepted */
	const char *cid, *pw;
} plain[] = {
	{ S("\0alice\0secret"), 0, "alice", "secret" },
	{ S("alice\0alice\0secret"), 0, "alice", "secret" },
	{ S("bob\0alice\0secret"), EPERM, NULL, NULL },	/* act as bob */
	{ S("alic\0alice\0secret"), EPERM, NULL, NULL },
	{ S("\0alice\0sec\0ret"), EINVAL, NULL, NULL },	/* third NUL */
	{ S("\0alice\0"), EINVAL, NULL, NULL },		/* empty password */
	{ S("\0\0secret"), EINVAL, NULL, NULL },	/* empty authcid */
	{ S("alice\0secret"), EINVAL, NULL, NULL },	/* one NUL */
	{ S("alicesecret"), EINVAL, NULL, NULL },
	{ S(""), EINVAL, NULL, NULL },
	{ S("\0"), EINVAL, NULL, NULL },
	{ S("\0\0"), EINVAL, NULL, NULL },
	{ S("\0al ice\0p\xc3\xa4ss\r\n"), 0, "al ice", "p\xc3\xa4ss\r\n" },
};

static void
test_plain(void **state)
{
	struct auth_plain p;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		errno = 0;
		r = auth_plain(&p, plain[i].m, plain[i].n);
		if (plain[i].err) {
			if (r != -1 || errno != plain[i].err)
				fail_msg("case %zu: r %d errno %d", i, r,
				    errno);
			continue;
		}
		if (r != 0)
			fail_msg("case %zu refused", i);
		assert_int_equal(p.clen, strlen(plain[i].cid));
		assert_memory_equal(p.authcid, plain[i].cid, p.clen);
		assert_int_equal(p.plen, strlen(plain[i].pw));
		assert_memory_equal(p.passwd, plain[i].pw, p.plen);
	}
}

static void
test_plain_limits(void **state)
{
	char m[600];
	struct auth_plain p;

	(void)state;
	/* authcid of 255 octets is fine, 256 is not */
	m[0] = '\0';
	memset(m + 1, 'u', 255);
	m[256] = '\0';
	memcpy(m + 257, "pw", 2);
	assert_int_equal(auth_plain(&p, m, 259), 0);
	assert_int_equal(p.clen, 255);
	memset(m + 1, 'u', 256);
	m[257] = '\0';
	memcpy(m + 258, "pw", 2);
	assert_int_equal(auth_plain(&p, m, 260), -1);
	assert_int_equal(errno, E2BIG);
	/* password of 256 */
	memcpy(m, "\0u\0", 3);
	memset(m + 3, 'p', 256);
	assert_int_equal(auth_plain(&p, m, 259), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(auth_plain(&p, m, 258), 0);
}

static void
test_records(void **state)
{
	struct buf b = BUF_INIT(AUTH_REC_MAX);
	struct auth_req q;
	enum auth_status st;
	const char *t;
	size_t n;
	char big[AUTH_FIELD_MAX + 1];

	(void)state;
	assert_int_equal(auth_req_encode(&b, "pop3", S("al\0ce"), S("pw"),
	    "::1"), 0);
	assert_int_equal(auth_req_decode(&q, b.p, b.len), 0);
	assert_int_equal(q.llen, 5);
	assert_memory_equal(q.login, "al\0ce", 5);
	assert_memory_equal(q.pass, "pw", 2);
	assert_memory_equal(q.client, "::1", 3);
	/* one byte short, one byte over, wrong type */
	assert_int_equal(auth_req_decode(&q, b.p, b.len - 1), -1);
	assert_int_equal(buf_putc(&b, 'x'), 0);
	assert_int_equal(auth_req_decode(&q, b.p, b.len), -1);
	b.p[0] = 'B';
	assert_int_equal(auth_req_decode(&q, b.p, b.len - 1), -1);
	/* a field over the limit is refused on both sides */
	memset(big, 'a', sizeof big);
	b.len = 0;
	assert_int_equal(auth_req_encode(&b, "smtp", big, sizeof big, "p", 1,
	    ""), -1);
	b.len = 0;
	assert_int_equal(pk_u8(&b, 'A'), 0);
	assert_int_equal(pk_cstr(&b, "smtp"), 0);
	assert_int_equal(pk_str(&b, big, sizeof big), 0);
	assert_int_equal(pk_cstr(&b, "p"), 0);
	assert_int_equal(pk_cstr(&b, ""), 0);
	assert_int_equal(auth_req_decode(&q, b.p, b.len), -1);
	/* answers */
	b.len = 0;
	assert_int_equal(auth_ans_encode(&b, AUTH_DISCONNECT, "bye"), 0);
	assert_int_equal(auth_ans_decode(&st, &t, &n, b.p, b.len), 0);
	assert_int_equal(st, AUTH_DISCONNECT);
	assert_int_equal(n, 3);
	b.p[0] = 'Q';
	assert_int_equal(auth_ans_decode(&st, &t, &n, b.p, b.len), -1);
	buf_free(&b);
}

static const struct {
	const char *in, *login, *hash, *out;
	int found;
} upd[] = {
	{ "", "a", "H", "a H\n", 0 },
	{ "b X\n", "a", "H", "b X\na H\n", 0 },
	{ "a OLD\nb X\n", "a", "H", "a H\nb X\n", 1 },
	{ "a: OLD\n", "a", "H", "a H\n", 1 },
	{ "# a OLD\n\nab X\n", "a", "H", "# a OLD\n\nab X\na H\n", 0 },
	{ "b X", "a", "H", "b X\na H\n", 0 },		/* no final LF */
	{ "a 1\nb X\na 2\n", "a", "H", "a H\nb X\n", 1 },	/* dups */
	{ "  a OLD\n", "a", "H", "a H\n", 1 },
	{ "a\tOLD\r\nb X\n", "a", "H", "a H\nb X\n", 1 },
	{ "a OLD\nb X\n", "a", NULL, "b X\n", 1 },	/* remove */
	{ "b X\n", "a", NULL, "b X\n", 0 },
};

static void
test_users_update(void **state)
{
	struct buf out = BUF_INIT(4096);
	size_t i;
	int found;

	(void)state;
	for (i = 0; i < sizeof upd / sizeof upd[0]; i++) {
		assert_int_equal(users_update(upd[i].in, strlen(upd[i].in),
		    upd[i].login, upd[i].hash, &out, &found), 0);
		assert_int_equal(found, upd[i].found);
		assert_int_equal(buf_cstr(&out), 0);
		if (strcmp(out.p, upd[i].out) != 0)
			fail_msg("case %zu: got [%s]", i, out.p);
	}
	buf_free(&out);
}

static void
test_login_ok(void **state)
{
	char big[300];

	(void)state;
	assert_true(users_login_ok(S("alice")));
	assert_true(users_login_ok(S("alice@example.org")));
	assert_true(users_login_ok(S("\xc3\xa9l\xc3\xa8ve")));
	assert_false(users_login_ok(S("")));
	assert_false(users_login_ok(S("a b")));
	assert_false(users_login_ok(S("a:b")));
	assert_false(users_login_ok(S("#a")));
	assert_false(users_login_ok(S("a\0b")));
	assert_false(users_login_ok(S("a\r")));
	assert_false(users_login_ok(S("a\n")));
	memset(big, 'a', sizeof big);
	assert_true(users_login_ok(big, 255));
	assert_false(users_login_ok(big, 256));
}

/* A dummy hash costs what a real one does: same parameters in it. */
static void
test_dummy(void **state)
{
	struct pwparams p = { 1, 8192 };
	char d[AUTHD_HASH_MAX], real[crypto_pwhash_STRBYTES];

	(void)state;
	assert_int_equal(pw_dummy(&p, d, sizeof d), 0);
	assert_int_equal(crypto_pwhash_str(real, "x", 1, p.ops, p.mem), 0);
	/* "$argon2id$v=19$m=8,t=1,p=1$" */
	assert_memory_equal(d, real, 27);
	assert_int_equal(crypto_pwhash_str_verify(d, "x", 1), -1);
	assert_int_equal(crypto_pwhash_str_needs_rehash(d, p.ops, p.mem), 0);
}

static char tdir[] = "/tmp/test_auth.XXXXXX";

/* make_table: users.cdb with alice -> hash of "secret" */
static void
make_table(char *path, size_t n)
{
	char h[crypto_pwhash_STRBYTES];
	struct cdb_make cm;
	int fd;

	assert_non_null(mkdtemp(tdir));
	snprintf(path, n, "%s/users.cdb", tdir);
	assert_int_equal(crypto_pwhash_str(h, "secret", 6, 1, 8192), 0);
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	cdb_make_start(&cm, fd);
	cdb_make_add(&cm, "alice", 5, h, (unsigned)strlen(h));
	cdb_make_add(&cm, "bad", 3, "$argon2id$junk", 14);
	assert_int_equal(cdb_make_finish(&cm), 0);
	close(fd);
}

/* authd_run in a child, auth_check in the test */
static void
test_authd(void **state)
{
	struct authd d;
	struct authc a;
	struct pwparams p = { 1, 8192 };
	struct guard_cfg gc = { 1, 1, 100, 100, 60000, 1000 };
	char path[128], canon[AUTH_LOGIN_MAX + 1];
	int sv[2], st;
	pid_t pid;

	(void)state;
	make_table(path, sizeof path);
	memset(&d, 0, sizeof d);
	assert_int_equal(tbl_open(&d.users, path), 0);
	guard_init(&d.guard, &gc);
	d.ofd = -1;
	d.max_fail = 3;
	d.timeout_ms = 5000;
	assert_int_equal(pw_dummy(&p, d.dummy, sizeof d.dummy), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		_exit(authd_run(&d, sv[1], sv[1]));
	}
	close(sv[1]);
	auth_attach(&a, sv[0], pid);
	assert_int_equal(auth_check(&a, "pop3", S("alice"), S("secret"),
	    "127.0.0.1", canon, sizeof canon), AUTH_OK);
	assert_string_equal(canon, "alice");
	/* the lowercased login is tried; the canonical one comes back */
	assert_int_equal(auth_check(&a, "pop3", S("Alice"), S("secret"),
	    "", canon, sizeof canon), AUTH_OK);
	assert_string_equal(canon, "alice");
	/* a NUL in the password does not cut it short */
	assert_int_equal(auth_check(&a, "smtp", S("alice"), S("secret\0x"),
	    "", canon, sizeof canon), AUTH_BAD);
	assert_string_equal(canon, "");
	assert_int_equal(auth_check(&a, "smtp", S("nobody"), S("secret"),
	    "", canon, sizeof canon), AUTH_BAD);
	/* the third failure: disconnect, and the process ends */
	assert_int_equal(auth_check(&a, "smtp", S("bad"), S("secret"),
	    "", canon, sizeof canon), AUTH_DISCONNECT);
	assert_int_equal(auth_check(&a, "smtp", S("alice"), S("secret"),
	    "", canon, sizeof canon), AUTH_TEMP);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	auth_close(&a);
	tbl_close(&d.users);
	guard_free(&d.guard);
	unlink(path);
	rmdir(tdir);
}

/* guard: delays that double, lockouts per address, network and login,
 * the known (address, login) pair, the global rate, the time window */
static void
test_guard(void **state)
{
	struct guard_cfg c = { 100, 1000, 3, 5, 60000, 1000 };
	struct guard g;
	struct guard_who a, b, n3, k, x;
	long long t = 1000000;

	(void)state;
	guard_init(&g, &c);
	guard_who(&g, &a, "192.0.2.1", "alice", 5);
	assert_false(guard_locked(&g, &a, t));
	assert_int_equal(guard_fail(&g, &a, t), 100);
	assert_int_equal(guard_fail(&g, &a, t), 200);
	assert_false(guard_locked(&g, &a, t));
	assert_int_equal(guard_fail(&g, &a, t), 400);
	assert_true(guard_locked(&g, &a, t));	/* the address: 3 */
	/* the same network, another address and login: 3 of 5 */
	guard_who(&g, &b, "192.0.2.2", "bob", 3);
	assert_false(guard_locked(&g, &b, t));
	assert_int_equal(guard_score(&g, &b, t), 1 + 0 + 3);
	guard_fail(&g, &b, t);
	guard_fail(&g, &b, t);
	guard_who(&g, &n3, "192.0.2.3", "carol", 5);
	assert_true(guard_locked(&g, &n3, t));	/* the network: 5 */
	guard_who(&g, &x, "198.51.100.1", "carol", 5);
	assert_false(guard_locked(&g, &x, t));
	/* the window: counts end lockout_time after the last failure */
	assert_false(guard_locked(&g, &a, t + 60000));
	assert_false(guard_locked(&g, &n3, t + 60000));
	/* the login: carol fails from three networks, then is locked out
	 * everywhere but where she logged in from */
	guard_who(&g, &k, "203.0.113.9", "carol", 5);
	guard_ok(&g, &k, t);
	assert_int_equal(guard_score(&g, &k, t), 0);	/* known goes first */
	for (int i = 0; i < 3; i++) {
		char ip[32];

		snprintf(ip, sizeof ip, "10.%d.0.1", i);
		guard_who(&g, &x, ip, "carol", 5);
		guard_fail(&g, &x, t);
	}
	guard_who(&g, &x, "10.9.0.1", "carol", 5);
	assert_true(guard_locked(&g, &x, t));
	assert_false(guard_locked(&g, &k, t));
	/* a success forgets the address's and login's counts */
	guard_ok(&g, &x, t);
	assert_false(guard_locked(&g, &x, t));
	guard_free(&g);

	/* over auth_global_failures a minute: the longest delay at once */
	c.global = 2;
	guard_init(&g, &c);
	for (int i = 0; i < 3; i++) {
		char ip[32];

		snprintf(ip, sizeof ip, "10.1.%d.1", i);
		guard_who(&g, &x, ip, ip, strlen(ip));
		assert_int_equal(guard_fail(&g, &x, t), i < 2 ? 100 : 1000);
	}
	guard_free(&g);
}

/* A peer that is not sandmail-auth: every answer is TEMP. */
static void
test_bad_peer(void **state)
{
	struct authc a;
	char canon[64];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "\0\0\0\2Vx", 6), 6);
	auth_attach(&a, sv[0], -1);
	assert_int_equal(auth_check(&a, "pop3", S("alice"), S("secret"),
	    "", canon, sizeof canon), AUTH_TEMP);
	auth_close(&a);
	close(sv[1]);
	a.fd = -1;
	assert_int_equal(auth_check(&a, "pop3", S("alice"), S("secret"),
	    "", canon, sizeof canon), AUTH_TEMP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_b64_roundtrip),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_limits),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_users_update),
		cmocka_unit_test(test_login_ok),
		cmocka_unit_test(test_dummy),
		cmocka_unit_test(test_authd),
		cmocka_unit_test(test_guard),
		cmocka_unit_test(test_bad_peer),
	};

	if (sodium_init() < 0)
		return 1;
	/* as in smtpd and pop3d, which ignore it: a request written after
	 * sandmail-auth hung up (test_authd's last check) must be EPIPE and
	 * AUTH_TEMP, not a SIGPIPE that ends the whole test program */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
