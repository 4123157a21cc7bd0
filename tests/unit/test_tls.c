/* test_tls: handshakes between lib/tls.c's server and client contexts over
 * a socket pair, with a certificate made here (EVP, P-256, self-signed for
 * "localhost").  The server side runs in a child under the seccomp sandbox
 * (sbx_base + TLS_SBX_RULES), so a missing system call kills it and fails
 * the test. */
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
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "io.h"
#include "sbx.h"
#include "tls.h"

static char dir[] = "/tmp/test_tls.XXXXXX";
static char certf[64], keyf[64];

static const struct sbx_rule tls_rules[] = {
	TLS_SBX_RULES
	SBX_LAST
};

static void
add_ext(X509 *x, int nid, const char *val)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, val);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* make_cert: a self-signed P-256 certificate for localhost */
static void
make_cert(void)
{
	EVP_PKEY *k;
	X509 *x;
	X509_NAME *nm;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(certf, sizeof certf, "%s/cert.pem", dir);
	snprintf(keyf, sizeof keyf, "%s/key.pem", dir);
	assert_non_null(k = EVP_EC_gen("P-256"));
	assert_non_null(x = X509_new());
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_non_null(f = fopen(certf, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	assert_non_null(f = fopen(keyf, "w"));
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

static int
setup(void **state)
{
	(void)state;
	make_cert();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(certf);
	unlink(keyf);
	rmdir(dir);
	return 0;
}

/* What the sandboxed server child does after its handshake. */
enum srv_mode { SRV_ECHO, SRV_EXPECT_FAIL, SRV_READ_TIMEOUT, SRV_EOF };

/* server_child: accept on fd under the sandbox; the exit code is the
 * verdict (0 as expected).  For SRV_EXPECT_FAIL, the reason must contain
 * want. */
static int
server_child(SSL_CTX *ctx, int fd, enum srv_mode mode, int timeout,
    const char *want)
{
	struct tlsconn c;
	struct rd r;
	struct wr w;
	struct buf line = BUF_INIT(70000);
	char err[256];
	int rc;

	if (sbx_enter(tls_rules) == -1)
		return 10;
	rc = tls_accept(&c, ctx, fd, timeout, err, sizeof err);
	if (mode == SRV_EXPECT_FAIL) {
		if (rc == 0)
			return 11;
		return want == NULL || strstr(err, want) != NULL ? 0 : 12;
	}
	if (rc == -1)
		return 13;
	rd_init(&r, fd, tls_read_op, &c);
	wr_init(&w, fd, tls_write_op, &c);
	if (mode == SRV_READ_TIMEOUT) {
		c.timeout_ms = 100;
		return rd_line(&r, &line, 1000) == -1 && errno == ETIMEDOUT ?
		    0 : 14;
	}
	if (mode == SRV_EOF)
		return rd_fill(&r) == 0 ? 0 : 15;
	/* echo lines back, upper-cased marker first, until "quit" */
	for (;;) {
		if (rd_line(&r, &line, 70000) != 1)
			return 16;
		if (wr_puts(&w, "S:") == -1 ||
		    wr_put(&w, line.p, line.len) == -1 || wr_flush(&w) == -1)
			return 17;
		if (buf_eq(&line, "quit\n"))
			break;
	}
	tls_close(&c);
	return 0;
}

static pid_t
start_server(SSL_CTX *ctx, int sv[2], enum srv_mode mode, int timeout,
    const char *want)
{
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[1]);
		_exit(server_child(ctx, sv[0], mode, timeout, want));
	}
	close(sv[0]);
	return pid;
}

static int
reap(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st)) {
		print_error("server child killed by signal %d%s\n",
		    WTERMSIG(st), WTERMSIG(st) == SIGSYS ?
		    " (seccomp: a call missing from TLS_SBX_RULES)" : "");
		return -1;
	}
	return WEXITSTATUS(st);
}

static SSL_CTX *
server_ctx(void)
{
	char err[256];
	SSL_CTX *ctx;

	ctx = tls_server_ctx(certf, keyf, err, sizeof err);
	if (ctx == NULL)
		print_error("server ctx: %s\n", err);
	assert_non_null(ctx);
	return ctx;
}

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* A full session: verified handshake, lines both ways, close. */
static void
test_handshake_data(void **state)
{
	SSL_CTX *sctx = server_ctx(), *cctx;
	struct tlsconn c;
	struct rd r;
	struct wr w;
	struct buf line = BUF_INIT(70000);
	char err[256], big[60001];
	int sv[2];
	pid_t pid;

	(void)state;
	assert_non_null(cctx = tls_client_ctx(certf, err, sizeof err));
	pair(sv);
	pid = start_server(sctx, sv, SRV_ECHO, 5000, NULL);
	if (tls_connect(&c, cctx, sv[1], "localhost", 1, 5000, err,
	    sizeof err) == -1)
		print_error("connect: %s\n", err);
	assert_non_null(c.ssl);
	assert_string_equal(tls_version(&c), "TLSv1.3");
	assert_true(strlen(tls_cipher(&c)) > 0);
	rd_init(&r, sv[1], tls_read_op, &c);
	wr_init(&w, sv[1], tls_write_op, &c);
	assert_int_equal(wr_puts(&w, "hello\n"), 0);
	assert_int_equal(wr_flush(&w), 0);
	assert_int_equal(rd_line(&r, &line, 1000), 1);
	assert_true(buf_eq(&line, "S:hello\n"));
	/* a line bigger than one TLS record (16 KiB) and the io buffer */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\n';
	assert_int_equal(wr_put(&w, big, sizeof big), 0);
	assert_int_equal(wr_flush(&w), 0);
	assert_int_equal(rd_line(&r, &line, 70000), 1);
	assert_int_equal(line.len, sizeof big + 2);
	assert_memory_equal(line.p + 2, big, sizeof big);
	assert_int_equal(wr_puts(&w, "quit\n"), 0);
	assert_int_equal(wr_flush(&w), 0);
	assert_int_equal(rd_line(&r, &line, 1000), 1);
	assert_true(buf_eq(&line, "S:quit\n"));
	/* the server sent close_notify: EOF */
	assert_int_equal(rd_fill(&r), 0);
	tls_close(&c);
	close(sv[1]);
	assert_int_equal(reap(pid), 0);
	buf_free(&line);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* TLS 1.2 still works, with an ECDHE AEAD suite. */
static void
test_tls12(void **state)
{
	SSL_CTX *sctx = server_ctx(), *cctx;
	struct tlsconn c;
	char err[256];
	int sv[2];
	pid_t pid;

	(void)state;
	assert_non_null(cctx = tls_client_ctx(certf, err, sizeof err));
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	pair(sv);
	pid = start_server(sctx, sv, SRV_EOF, 5000, NULL);
	assert_int_equal(tls_connect(&c, cctx, sv[1], "127.0.0.1", 1, 5000,
	    err, sizeof err), 0);
	assert_string_equal(tls_version(&c), "TLSv1.2");
	assert_non_null(strstr(tls_cipher(&c), "ECDHE"));
	assert_true(strstr(tls_cipher(&c), "GCM") != NULL ||
	    strstr(tls_cipher(&c), "CHACHA20") != NULL);
	tls_close(&c);
	close(sv[1]);
	assert_int_equal(reap(pid), 0);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* A client that speaks only TLS 1.1 is refused by the server. */
static void
test_tls11_refused(void **state)
{
	SSL_CTX *sctx = server_ctx(), *cctx;
	SSL *ssl;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_non_null(cctx = SSL_CTX_new(TLS_client_method()));
	assert_int_equal(SSL_CTX_set_cipher_list(cctx,
	    "DEFAULT:@SECLEVEL=0"), 1);
	SSL_CTX_set_security_level(cctx, 0);
	assert_int_equal(SSL_CTX_set_min_proto_version(cctx, TLS1_1_VERSION),
	    1);
	assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION),
	    1);
	pair(sv);
	pid = start_server(sctx, sv, SRV_EXPECT_FAIL, 5000,
	    "unsupported protocol");
	assert_non_null(ssl = SSL_new(cctx));
	SSL_set_fd(ssl, sv[1]);
	assert_true(SSL_connect(ssl) != 1);
	SSL_free(ssl);
	close(sv[1]);
	assert_int_equal(reap(pid), 0);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* Verification: the wrong name, and an unknown CA, fail the handshake. */
static void
test_verify_fail(void **state)
{
	SSL_CTX *sctx = server_ctx(), *cctx, *sys;
	struct tlsconn c;
	char err[256];
	int sv[2];
	pid_t pid;

	(void)state;
	assert_non_null(cctx = tls_client_ctx(certf, err, sizeof err));
	pair(sv);
	pid = start_server(sctx, sv, SRV_EXPECT_FAIL, 5000, NULL);
	assert_int_equal(tls_connect(&c, cctx, sv[1], "mail.example.org", 1,
	    5000, err, sizeof err), -1);
	assert_null(c.ssl);
	close(sv[1]);
	assert_int_equal(reap(pid), 0);

	/* the system store does not know our self-signed certificate */
	assert_non_null(sys = tls_client_ctx(NULL, err, sizeof err));
	pair(sv);
	pid = start_server(sctx, sv, SRV_EXPECT_FAIL, 5000, NULL);
	assert_int_equal(tls_connect(&c, sys, sv[1], "localhost", 1,
	    5000, err, sizeof err), -1);
	close(sv[1]);
	assert_int_equal(reap(pid), 0);

	/* ... but opportunistic TLS (verify 0) accepts it */
	pair(sv);
	pid = start_server(sctx, sv, SRV_EOF, 5000, NULL);
	assert_int_equal(tls_connect(&c, sys, sv[1], "localhost", 0,
	    5000, err, sizeof err), 0);
	tls_close(&c);
	close(sv[1]);
	assert_int_equal(reap(pid), 0);
	SSL_CTX_free(sys);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* A client that never speaks: the handshake times out; so does a read. */
static void
test_timeouts(void **state)
{
	SSL_CTX *sctx = server_ctx(), *cctx;
	struct tlsconn c;
	char err[256];
	int sv[2];
	pid_t pid;

	(void)state;
	pair(sv);
	pid = start_server(sctx, sv, SRV_EXPECT_FAIL, 100, "timed out");
	assert_int_equal(reap(pid), 0);
	close(sv[1]);

	assert_non_null(cctx = tls_client_ctx(certf, err, sizeof err));
	pair(sv);
	pid = start_server(sctx, sv, SRV_READ_TIMEOUT, 5000, NULL);
	assert_int_equal(tls_connect(&c, cctx, sv[1], "localhost", 1, 5000,
	    err, sizeof err), 0);
	assert_int_equal(reap(pid), 0);
	tls_close(&c);
	close(sv[1]);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* A client that speaks plain text (or closes) is refused cleanly. */
static void
test_not_tls(void **state)
{
	SSL_CTX *sctx = server_ctx();
	int sv[2];
	pid_t pid;

	(void)state;
	pair(sv);
	pid = start_server(sctx, sv, SRV_EXPECT_FAIL, 5000, NULL);
	assert_int_equal(write(sv[1], "USER alice\r\nPASS x\r\n", 20), 20);
	assert_int_equal(reap(pid), 0);
	close(sv[1]);
	pair(sv);
	pid = start_server(sctx, sv, SRV_EXPECT_FAIL, 5000, NULL);
	close(sv[1]);
	assert_int_equal(reap(pid), 0);
	SSL_CTX_free(sctx);
}

/* Bad files give a reason, not a crash. */
static void
test_bad_files(void **state)
{
	char err[256];

	(void)state;
	assert_null(tls_server_ctx("/nonexistent/cert.pem", keyf, err,
	    sizeof err));
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));
	assert_null(tls_server_ctx(certf, "/nonexistent/key.pem", err,
	    sizeof err));
	assert_null(tls_server_ctx(keyf, keyf, err, sizeof err));
	assert_null(tls_client_ctx("/nonexistent/ca.pem", err, sizeof err));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_data),
		cmocka_unit_test(test_tls12),
		cmocka_unit_test(test_tls11_refused),
		cmocka_unit_test(test_verify_fail),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_bad_files),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
