/* test_srs: the SRS format against vectors computed independently (Python's
 * hmac, libsrs2's rules), round trips, key rotation, and the parser's
 * edges: every truncation, bad characters, stale and future stamps,
 * forged hashes, local parts that would be too long; the secret file
 * (srs_keys_read); the records of sandmail-srs's protocol (srsc.h). */
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
#include <unistd.h>
#include <cmocka.h>

#include "rec.h"
#include "srs.h"
#include "srsc.h"

#define NOW	((time_t)1765000000)	/* day 20428: stamp 972, "6M" */
#define DAY	86400

static struct srs_keys keys;

static int
setup(void **state)
{
	(void)state;
	return srs_keys_load(&keys, "tops3cr3t\n", 10);
}

static enum srs_res
rev(const char *l, time_t now, unsigned maxdays, struct buf *out)
{
	return srs_reverse(&keys, l, strlen(l), now, maxdays, out);
}

static void
test_vectors(void **state)
{
	struct buf b = BUF_INIT(1024);

	(void)state;
	assert_int_equal(srs_forward(&keys, "John.Doe", 8, "Example.org", 11,
	    "fwd.test", NOW, &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	assert_string_equal(b.p, "SRS0=mQ8V=6M=Example.org=John.Doe@fwd.test");
	/* an SRS0 sender of another forwarder is guarded as SRS1 */
	b.len = 0;
	assert_int_equal(srs_forward(&keys, "SRS0=mQ8V=6M=Example.org=John.Doe",
	    33, "fwd.test", 8, "other.test", NOW, &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	assert_string_equal(b.p,
	    "SRS1=2PU2=fwd.test==mQ8V=6M=Example.org=John.Doe@other.test");
	/* and taken back: SRS1 to the first forwarder's SRS0, SRS0 home */
	assert_int_equal(rev("SRS1=2PU2=fwd.test==mQ8V=6M=Example.org=John.Doe",
	    NOW, 21, &b), SRS_OK);
	assert_string_equal(b.p, "SRS0=mQ8V=6M=Example.org=John.Doe@fwd.test");
	assert_int_equal(rev("SRS0=mQ8V=6M=Example.org=John.Doe", NOW, 21, &b),
	    SRS_OK);
	assert_string_equal(b.p, "John.Doe@Example.org");
	/* hashes and stamps as a hop may have lowercased them */
	assert_int_equal(rev("srs0=mq8v=6m=example.org=john.doe", NOW, 21, &b),
	    SRS_OK);
	assert_string_equal(b.p, "john.doe@example.org");
	buf_free(&b);
}

static void
test_sr1_of_sr1(void **state)
{
	struct buf b = BUF_INIT(1024), c = BUF_INIT(1024);

	(void)state;
	/* an SRS1 sender keeps its first forwarder, gets our hash */
	assert_int_equal(srs_forward(&keys,
	    "SRS1=xxxx=fwd.test==mQ8V=6M=Example.org=John.Doe", 48,
	    "mid.test", 8, "last.test", NOW, &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	assert_int_equal(strncmp(b.p, "SRS1=", 5), 0);
	assert_non_null(strstr(b.p, "=fwd.test==mQ8V=6M=Example.org=John.Doe"
	    "@last.test"));
	*strchr(b.p, '@') = '\0';
	assert_int_equal(rev(b.p, NOW, 21, &c), SRS_OK);
	assert_string_equal(c.p, "SRS0=mQ8V=6M=Example.org=John.Doe@fwd.test");
	buf_free(&b);
	buf_free(&c);
}

static void
test_age(void **state)
{
	struct buf b = BUF_INIT(1024);
	const char *a = "SRS0=mQ8V=6M=Example.org=John.Doe";

	(void)state;
	assert_int_equal(rev(a, NOW + 21 * DAY, 21, &b), SRS_OK);
	assert_int_equal(rev(a, NOW + 22 * DAY, 21, &b), SRS_STALE);
	assert_int_equal(rev(a, NOW + 22 * DAY, 30, &b), SRS_OK);
	/* a stamp from tomorrow is as old as 1023 days */
	assert_int_equal(rev(a, NOW - DAY, 21, &b), SRS_STALE);
	/* the stamp wraps after 1024 days: day 0 follows day 1023 */
	assert_int_equal(srs_check(a, strlen(a), NOW + (1024 - 972) * DAY, 60),
	    SRS_OK);
	assert_int_equal(srs_check(a, strlen(a), NOW + 1024 * DAY, 0), SRS_OK);
	buf_free(&b);
}

static void
test_forged(void **state)
{
	struct buf b = BUF_INIT(1024);

	(void)state;
	assert_int_equal(rev("SRS0=mQ8W=6M=Example.org=John.Doe", NOW, 21, &b),
	    SRS_BADHASH);
	/* the hash covers every field */
	assert_int_equal(rev("SRS0=mQ8V=6M=Example.org=Jane.Doe", NOW, 21, &b),
	    SRS_BADHASH);
	assert_int_equal(rev("SRS0=mQ8V=6M=Example.net=John.Doe", NOW, 21, &b),
	    SRS_BADHASH);
	assert_int_equal(rev("SRS1=2PU2=fwd.tesT==mQ8V=6M=Example.org=John.Do",
	    NOW, 21, &b), SRS_BADHASH);
	buf_free(&b);
}

static void
test_rotation(void **state)
{
	struct srs_keys k2;
	struct buf b = BUF_INIT(1024);
	const char *t = "new-secret\r\n\ntops3cr3t\n";

	(void)state;
	assert_int_equal(srs_keys_load(&k2, t, strlen(t)), 0);
	assert_int_equal(k2.n, 2);
	/* the old secret still takes back what it made ... */
	assert_int_equal(srs_reverse(&k2, "SRS0=mQ8V=6M=Example.org=John.Doe",
	    33, NOW, 21, &b), SRS_OK);
	/* ... and the first one signs */
	b.len = 0;
	assert_int_equal(srs_forward(&k2, "a", 1, "b.test", 6, "f.test", NOW,
	    &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	*strchr(b.p, '@') = '\0';
	assert_int_equal(rev(b.p, NOW, 21, &b), SRS_BADHASH);
	/* no secret, or one too long */
	assert_int_equal(srs_keys_load(&k2, "\n\r\n", 3), -1);
	{
		char big[SRS_SECRET_MAX + 2];

		memset(big, 'x', sizeof big);
		assert_int_equal(srs_keys_load(&k2, big, sizeof big), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(srs_keys_load(&k2, big, SRS_SECRET_MAX), 0);
	}
	srs_keys_wipe(&k2);
	assert_int_equal(k2.n, 0);
	buf_free(&b);
}

static void
test_syntax(void **state)
{
	static const char *const bad[] = {
		"SRS0", "SRS0=", "SRS0=mQ8V", "SRS0=mQ8V=", "SRS0=mQ8V=6M",
		"SRS0=mQ8V=6M=", "SRS0=mQ8V=6M=Example.org",
		"SRS0=mQ8V=6M=Example.org=", "SRS0=mQ8=6M=Example.org=a",
		"SRS0=mQ8VV=6M=Example.org=a", "SRS0=mQ8.=6M=Example.org=a",
		"SRS0=mQ8V=6=Example.org=a", "SRS0=mQ8V=6MM=Example.org=a",
		"SRS0=mQ8V=61=Example.org=a", "SRS0=mQ8V=6M==a",
		"SRS0=mQ8V=6M=ex ample.org=a", "SRS0=mQ8V=6M=ex@mple.org=a",
		"SRS1=2PU2=fwd.test=", "SRS1=2PU2=fwd.test=x",
		"SRS1=2PU2==mQ8V=6M=Example.org=John.Doe",
		"SRS1=2PU2=fwd.test==mQ8V=6M=Example.org=",
		"SRS1=2PU2=fwd.test", "SRS2=mQ8V=6M=Example.org=a",
		"SRS0/mQ8V=6M=Example.org=a",
	};
	static const char *const good[] = {
		"SRS0=mQ8V=6M=Example.org=John.Doe",
		"SRS0+mQ8V=6M=Example.org=a=b=c", "srs0-mQ8V=6m=e=x",
		"SRS1=2PU2=fwd.test==mQ8V=6M=Example.org=John.Doe",
		"SRS1=2PU2=fwd.test=+mQ8V=6M=Example.org=John.Doe",
	};
	const char *g = good[0];
	struct srs_parts sp;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(srs_parse(bad[i], strlen(bad[i]), &sp), -1);
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_int_equal(srs_parse(good[i], strlen(good[i]), &sp), 0);
	/* a prefix shorter than "SRS0=mQ8V=6M=Example.org=J" is malformed */
	for (size_t n = 0; n < 26; n++)
		assert_int_equal(srs_parse(g, n, &sp), -1);
	assert_int_equal(srs_parse(g, strlen(g), &sp), 0);
	assert_int_equal(sp.hostlen, 11);
	assert_memory_equal(sp.user, "John.Doe", 8);
	/* what the session may say without the secret */
	assert_int_equal(srs_check("john", 4, NOW, 21), SRS_NOTSRS);
	assert_int_equal(srs_check("SRS0=x", 6, NOW, 21), SRS_SYNTAX);
	assert_int_equal(srs_check(g, strlen(g), NOW + 99 * DAY, 21),
	    SRS_STALE);
	assert_int_equal(srs_check(g, strlen(g), NOW, 21), SRS_OK);
	/* an embedded NUL is not a base64 or host character */
	assert_int_equal(srs_parse("SRS0=mQ\0V=6M=e=x", 16, &sp), -1);
	assert_int_equal(srs_parse("SRS0=mQ8V=6M=e\0x=x", 18, &sp), -1);
}

static void
test_forward_limits(void **state)
{
	struct buf b = BUF_INIT(1024);
	char l[64];

	(void)state;
	/* a local part that needs quoting is not rewritten */
	assert_int_equal(srs_forward(&keys, "a b", 3, "x.test", 6, "f.test",
	    NOW, &b), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(srs_forward(&keys, "", 0, "x.test", 6, "f.test",
	    NOW, &b), -1);
	/* SRS0=HHHH=TT=x.test= is 20 bytes: 44 more fit in 64 */
	memset(l, 'a', sizeof l);
	assert_int_equal(srs_forward(&keys, l, 44, "x.test", 6, "f.test",
	    NOW, &b), 0);
	b.len = 0;
	assert_int_equal(srs_forward(&keys, l, 45, "x.test", 6, "f.test",
	    NOW, &b), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* pipe_with - a pipe whose read end holds n bytes of t, then EOF */
static int
pipe_with(const char *t, size_t n)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], t, n), (ssize_t)n);
	close(p[1]);
	return p[0];
}

static void
test_keys_read(void **state)
{
	static char big[SRS_SECRETS_MAX * (SRS_SECRET_MAX + 2) + 1];
	struct srs_keys k;
	int fd;

	(void)state;
	fd = pipe_with("new\r\n\nold\n", 10);
	assert_int_equal(srs_keys_read(&k, fd), 0);
	close(fd);
	assert_int_equal(k.n, 2);
	assert_int_equal(k.len[0], 3);
	assert_memory_equal(k.k[1], "old", 3);
	/* empty: no secret */
	fd = pipe_with("", 0);
	assert_int_equal(srs_keys_read(&k, fd), -1);
	close(fd);
	/* one byte more than any legal file: refused, not cut */
	memset(big, 'a', sizeof big);
	for (size_t i = 100; i < sizeof big; i += 101)
		big[i] = '\n';
	fd = pipe_with(big, sizeof big - 1);	/* the largest */
	assert_int_equal(srs_keys_read(&k, fd), 0);
	close(fd);
	fd = pipe_with(big, sizeof big);
	assert_int_equal(srs_keys_read(&k, fd), -1);
	assert_int_equal(errno, EINVAL);
	close(fd);
}

/* payload - the payload of one framed record in b */
static const unsigned char *
payload(const struct buf *b, size_t *n)
{
	const unsigned char *p = (const unsigned char *)b->p;

	assert_true(b->len >= REC_HDR);
	*n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 |
	    p[3];
	assert_int_equal(*n, b->len - REC_HDR);
	return p + REC_HDR;
}

static void
test_srsc_records(void **state)
{
	static char l[SRSC_LOCAL_MAX + 1];
	struct buf b = BUF_INIT(2048);
	const unsigned char *p;
	const char *got;
	size_t n, gl;
	enum srs_res r;
	unsigned char bad[16];

	(void)state;
	assert_int_equal(srsc_hello_encode(&b), 0);
	p = payload(&b, &n);
	assert_int_equal(srsc_hello_decode(p, n), 0);
	assert_int_equal(srsc_hello_decode(p, n - 1), -1);	/* short */
	/* requests: empty, at the limit, one over */
	memset(l, 'x', sizeof l);
	b.len = 0;
	assert_int_equal(srsc_req_encode(&b, l, 0), 0);
	p = payload(&b, &n);
	assert_int_equal(srsc_req_decode(p, n, &got, &gl), 0);
	assert_int_equal(gl, 0);
	b.len = 0;
	assert_int_equal(srsc_req_encode(&b, l, SRSC_LOCAL_MAX), 0);
	p = payload(&b, &n);
	assert_true(n <= SRSC_REC_MAX);
	assert_int_equal(srsc_req_decode(p, n, &got, &gl), 0);
	assert_int_equal(gl, SRSC_LOCAL_MAX);
	assert_int_equal(srsc_req_decode(p, n - 1, &got, &gl), -1);
	b.len = 0;
	assert_int_equal(srsc_req_encode(&b, l, SRSC_LOCAL_MAX + 1), -1);
	/* a request with a byte too many, or of the wrong type */
	b.len = 0;
	assert_int_equal(srsc_req_encode(&b, "SRS0", 4), 0);
	assert_int_equal(buf_put(&b, "", 1), 0);
	assert_int_equal(srsc_req_decode(b.p + REC_HDR, b.len - REC_HDR,
	    &got, &gl), -1);
	assert_int_equal(srsc_req_decode("c\0\0\0\0", 5, &got, &gl), -1);
	/* answers: every status, and none past SRS_ERROR */
	for (int i = SRS_OK; i <= SRS_ERROR; i++) {
		b.len = 0;
		assert_int_equal(srsc_res_encode(&b, (enum srs_res)i), 0);
		p = payload(&b, &n);
		assert_int_equal(srsc_res_decode(p, n, &r), 0);
		assert_int_equal(r, i);
	}
	bad[0] = SRSC_RES, bad[1] = SRS_ERROR + 1;
	assert_int_equal(srsc_res_decode(bad, 2, &r), -1);
	bad[1] = SRS_OK, bad[2] = 0;
	assert_int_equal(srsc_res_decode(bad, 3, &r), -1);
	assert_int_equal(srsc_res_decode(bad, 1, &r), -1);
	buf_free(&b);
}

/* a peer that greets and answers what the test wrote beforehand */
static void
test_srsc_client(void **state)
{
	struct buf b = BUF_INIT(256);
	struct srsc c;
	int sv[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);	/* as srsc.h asks of its callers */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(srsc_hello_encode(&b), 0);
	assert_int_equal(srsc_res_encode(&b, SRS_BADHASH), 0);
	assert_int_equal(srsc_res_encode(&b, SRS_OK), 0);
	assert_int_equal(write(sv[1], b.p, b.len), (ssize_t)b.len);
	srsc_attach(&c, sv[0], 5000);
	assert_int_equal(srsc_check(&c, "SRS0=x", 6), SRS_BADHASH);
	assert_int_equal(srsc_check(&c, "SRS0=y", 6), SRS_OK);
	/* the peer goes: not checked, and the connection closed */
	close(sv[1]);
	assert_int_equal(srsc_check(&c, "SRS0=z", 6), SRS_ERROR);
	assert_int_equal(c.fd, -1);
	assert_int_equal(srsc_check(&c, "SRS0=z", 6), SRS_ERROR);
	/* no connection at all */
	srsc_attach(&c, -1, 5000);
	assert_int_equal(srsc_check(&c, "SRS0=z", 6), SRS_ERROR);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_sr1_of_sr1),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_forward_limits),
		cmocka_unit_test(test_keys_read),
		cmocka_unit_test(test_srsc_records),
		cmocka_unit_test(test_srsc_client),
	};

	return cmocka_run_group_tests_name("srs", tests, setup, NULL);
}
