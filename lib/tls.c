/* tls: OpenSSL 3 for smtpd, pop3d (servers) and remote (client).
 *
 * TLS 1.2 and 1.3 only; for 1.2 only ECDHE key exchange with AEAD ciphers.
 * Contexts are made before the sandbox: they read the certificate, the key
 * and the CA file, load OpenSSL's configuration and seed its random
 * generator, so that afterwards a connection needs only the calls listed in
 * tls.h (TLS_SBX_RULES).  The descriptor is put in non-blocking mode for
 * the life of the connection; every wait is a poll(2) with the
 * connection's timeout, so a silent peer cannot hold a process forever. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"

/* TLS 1.2: forward secrecy and AEAD only (Mozilla "intermediate" minus
 * DHE, which needs parameters and is slow).  TLS 1.3 suites are all AEAD. */
#define TLS12_CIPHERS	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"

static void
set_err(char *err, size_t errsz, const char *what)
{
	unsigned long e;
	char ebuf[256];
	int n;

	if (err == NULL || errsz == 0)
		return;
	e = ERR_peek_last_error();
	if (e != 0) {
		ERR_error_string_n(e, ebuf, sizeof ebuf);
		n = snprintf(err, errsz, "%s: %s", what, ebuf);
	} else if (errno != 0)
		n = snprintf(err, errsz, "%s: %s", what, strerror(errno));
	else
		n = snprintf(err, errsz, "%s", what);
	if (n < 0)
		err[0] = '\0';
	/* a longer reason is cut by snprintf, which still ends in NUL */
	ERR_clear_error();
}

/* tls_init - load OpenSSL's configuration and seed its generator now */
int
tls_init(void)
{
	static int done;
	unsigned char b[16];

	if (done)
		return 0;
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
	    OPENSSL_INIT_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_LOAD_CONFIG,
	    NULL) != 1)
		return -1;
	/* instantiate the DRBGs (getrandom) before any sandbox */
	if (RAND_bytes(b, sizeof b) != 1)
		return -1;
	done = 1;
	return 0;
}

static SSL_CTX *
ctx_common(const SSL_METHOD *m, char *err, size_t errsz)
{
	SSL_CTX *ctx;

	if (tls_init() == -1) {
		set_err(err, errsz, "openssl init");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(m)) == NULL) {
		set_err(err, errsz, "SSL_CTX_new");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1) {
		set_err(err, errsz, "tls parameters");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* No compression (CRIME), no renegotiation; a peer that closes
	 * without close_notify is an EOF: SMTP and POP3 end their own data. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

/* tls_server_ctx - a server context from a PEM chain and key */
SSL_CTX *
tls_server_ctx(const char *certfile, const char *keyfile, char *err,
    size_t errsz)
{
	SSL_CTX *ctx;

	if ((ctx = ctx_common(TLS_server_method(), err, errsz)) == NULL)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_TICKET);
	/* each connection is a fresh process: no session cache, no tickets */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, certfile) != 1) {
		set_err(err, errsz, certfile);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
		set_err(err, errsz, keyfile);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		set_err(err, errsz, "key does not match certificate");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* tls_client_ctx - a client context trusting cafile or the system store */
SSL_CTX *
tls_client_ctx(const char *cafile, char *err, size_t errsz)
{
	SSL_CTX *ctx;
	const char *f;

	if ((ctx = ctx_common(TLS_client_method(), err, errsz)) == NULL)
		return NULL;
	/* The system store is loaded as one file now: a hashed directory
	 * would be opened lazily during verification, inside the sandbox. */
	f = cafile;
	if (f == NULL && (f = getenv(X509_get_default_cert_file_env())) == NULL)
		f = X509_get_default_cert_file();
	if (SSL_CTX_load_verify_locations(ctx, f, NULL) != 1) {
		if (cafile != NULL) {
			set_err(err, errsz, cafile);
			SSL_CTX_free(ctx);
			return NULL;
		}
		/* no system store: opportunistic TLS still works */
		ERR_clear_error();
	}
	return ctx;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_io: poll for what OpenSSL wants, until deadline (-1: none) */
static int
wait_io(int fd, int want, long long deadline)
{
	struct pollfd p;
	long long left;
	int r, t;

	p.fd = fd;
	p.events = want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
	p.revents = 0;
	for (;;) {
		t = -1;
		if (deadline >= 0) {
			left = deadline - now_ms();
			if (left <= 0)
				return errno = ETIMEDOUT, -1;
			t = left > 0x7fffffff ? 0x7fffffff : (int)left;
		}
		r = poll(&p, 1, t);
		if (r > 0)
			return 0;
		if (r == 0)
			return errno = ETIMEDOUT, -1;
		if (errno != EINTR)
			return -1;
	}
}

static long long
deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static int
conn_setup(struct tlsconn *c, SSL_CTX *ctx, int fd, int timeout_ms,
    char *err, size_t errsz)
{
	int fl;

	c->ssl = NULL;
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		set_err(err, errsz, "fcntl");
		return -1;
	}
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		set_err(err, errsz, "SSL_new");
		tls_close(c);
		return -1;
	}
	return 0;
}

/* handshake: drive SSL_accept/SSL_connect to the end or the deadline */
static int
handshake(struct tlsconn *c, int server, char *err, size_t errsz)
{
	long long deadline = deadline_of(c->timeout_ms);
	int r, e;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (wait_io(c->fd, e, deadline) == -1) {
				set_err(err, errsz, "handshake");
				return -1;
			}
			continue;
		}
		if (e == SSL_ERROR_SYSCALL && errno == 0)
			errno = ECONNRESET;
		set_err(err, errsz, "handshake");
		return -1;
	}
}

/* tls_accept - the server side of a handshake on fd */
int
tls_accept(struct tlsconn *c, SSL_CTX *ctx, int fd, int timeout_ms,
    char *err, size_t errsz)
{
	if (conn_setup(c, ctx, fd, timeout_ms, err, errsz) == -1)
		return -1;
	if (handshake(c, 1, err, errsz) == -1) {
		tls_abort(c);
		return -1;
	}
	return 0;
}

static int
is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* tls_connect - the client side; verify: check chain and name sni */
int
tls_connect(struct tlsconn *c, SSL_CTX *ctx, int fd, const char *sni,
    int verify, int timeout_ms, char *err, size_t errsz)
{
	X509_VERIFY_PARAM *vp;

	if (conn_setup(c, ctx, fd, timeout_ms, err, errsz) == -1)
		return -1;
	if (sni != NULL && *sni != '\0' && !is_ip(sni) &&
	    SSL_set_tlsext_host_name(c->ssl, sni) != 1) {
		set_err(err, errsz, "sni");
		goto fail;
	}
	if (verify) {
		if (sni == NULL || *sni == '\0') {
			errno = EINVAL;
			set_err(err, errsz, "verify needs a host name");
			goto fail;
		}
		vp = SSL_get0_param(c->ssl);
		X509_VERIFY_PARAM_set_hostflags(vp,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if ((is_ip(sni) ? X509_VERIFY_PARAM_set1_ip_asc(vp, sni) :
		    SSL_set1_host(c->ssl, sni)) != 1) {
			set_err(err, errsz, "verify name");
			goto fail;
		}
		/* TLS_CHECK: OpenSSL still verifies, and keeps the result
		 * for tls_verified(), but the handshake goes on */
		SSL_set_verify(c->ssl, verify == TLS_CHECK ? SSL_VERIFY_NONE :
		    SSL_VERIFY_PEER, NULL);
	} else
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	if (handshake(c, 0, err, errsz) == -1)
		goto fail;
	if (verify == TLS_ENFORCE &&
	    SSL_get_verify_result(c->ssl) != X509_V_OK) {
		errno = EPROTO;
		set_err(err, errsz, X509_verify_cert_error_string(
		    SSL_get_verify_result(c->ssl)));
		goto fail;
	}
	return 0;
fail:
	tls_abort(c);
	return -1;
}

/* tls_verified - what the chain and name check of a TLS_CHECK
 * connection found */
int
tls_verified(const struct tlsconn *c, char *err, size_t errsz)
{
	long v = SSL_get_verify_result(c->ssl);

	if (v == X509_V_OK)
		return 0;
	set_err(err, errsz, X509_verify_cert_error_string(v));
	return -1;
}

/* tls_dane_ctx - OpenSSL's digest tables for DANE (SSL_CTX_dane_enable) */
int
tls_dane_ctx(SSL_CTX *ctx)
{
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* dane_add: the records on the connection; -1 if none was usable */
static int
dane_add(struct tlsconn *c, const struct tlsa *recs, size_t n, char *err,
    size_t errsz)
{
	int usable = 0, r;

	for (size_t i = 0; i < n; i++) {
		r = SSL_dane_tlsa_add(c->ssl, recs[i].usage, recs[i].selector,
		    recs[i].mtype, recs[i].data, recs[i].len);
		if (r < 0) {
			set_err(err, errsz, "DANE TLSA record");
			return -1;
		}
		usable += r > 0;
	}
	if (usable == 0) {
		errno = EINVAL;
		set_err(err, errsz, "DANE: no usable TLSA record");
		return -1;
	}
	ERR_clear_error();	/* the unusable ones left reasons */
	return 0;
}

/* tls_connect_dane - see tls.h */
int
tls_connect_dane(struct tlsconn *c, SSL_CTX *ctx, int fd, const char *host,
    const char *const *alt, size_t nalt, const struct tlsa *recs, size_t n,
    int timeout_ms, char *err, size_t errsz)
{
	long v;

	if (conn_setup(c, ctx, fd, timeout_ms, err, errsz) == -1)
		return -1;
	if (host == NULL || *host == '\0' || is_ip(host) ||
	    SSL_set_tlsext_host_name(c->ssl, host) != 1 ||
	    SSL_dane_enable(c->ssl, host) <= 0) {
		set_err(err, errsz, "DANE needs a host name");
		goto fail;
	}
	/* RFC 7672 3.2.2: more names a DANE-TA certificate may bear */
	for (size_t i = 0; i < nalt; i++)
		if (alt[i] != NULL && *alt[i] != '\0' && !is_ip(alt[i]) &&
		    strcasecmp(alt[i], host) != 0 &&
		    SSL_add1_host(c->ssl, alt[i]) != 1) {
			set_err(err, errsz, "DANE: a reference name");
			goto fail;
		}
	/* RFC 7672 3.1.1: DANE-EE(3) names the key, not a host */
	SSL_dane_set_flags(c->ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	if (dane_add(c, recs, n, err, errsz) == -1)
		goto fail;
	/* a failed match ends the handshake before anything is sent */
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	if (handshake(c, 0, err, errsz) == -1) {
		if ((v = SSL_get_verify_result(c->ssl)) != X509_V_OK)
			snprintf(err, errsz, "DANE verification failed: %s",
			    X509_verify_cert_error_string(v));
		goto fail;
	}
	if (SSL_get_verify_result(c->ssl) != X509_V_OK ||
	    SSL_get0_dane_authority(c->ssl, NULL, NULL) < 0) {
		errno = EPROTO;
		snprintf(err, errsz, "DANE verification failed: %s",
		    X509_verify_cert_error_string(SSL_get_verify_result(
		    c->ssl)));
		goto fail;
	}
	return 0;
fail:
	tls_abort(c);
	return -1;
}

/* io_errno: an errno for a failed SSL_read/SSL_write */
static void
io_errno(struct tlsconn *c, int e)
{
	if (e == SSL_ERROR_SYSCALL) {
		if (errno == 0)
			errno = ECONNRESET;
	} else
		errno = EPROTO;
	ERR_clear_error();
	/* no close_notify on a broken connection */
	SSL_set_quiet_shutdown(c->ssl, 1);
}

/* tls_read_op - io.h read op over TLS: bytes, 0 at close, -1 with errno */
ssize_t
tls_read_op(int fd, void *p, size_t n, void *ctx)
{
	struct tlsconn *c = ctx;
	long long deadline = deadline_of(c->timeout_ms);
	size_t got;
	int e;

	(void)fd;
	if (c->ssl == NULL)
		return errno = EBADF, -1;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(c->ssl, p, n, &got) == 1)
			return (ssize_t)got;
		e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (wait_io(c->fd, e, deadline) == -1)
				return -1;
			continue;
		}
		io_errno(c, e);
		return -1;
	}
}

/* tls_write_op - io.h write op over TLS: bytes written or -1 with errno */
ssize_t
tls_write_op(int fd, void *p, size_t n, void *ctx)
{
	struct tlsconn *c = ctx;
	long long deadline = deadline_of(c->timeout_ms);
	size_t put;
	int e;

	(void)fd;
	if (c->ssl == NULL)
		return errno = EBADF, -1;
	if (n == 0)
		return 0;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		if (SSL_write_ex(c->ssl, p, n, &put) == 1)
			return (ssize_t)put;
		e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (wait_io(c->fd, e, deadline) == -1)
				return -1;
			continue;
		}
		if (e == SSL_ERROR_ZERO_RETURN)
			errno = EPIPE;
		io_errno(c, e);
		return -1;
	}
}

/* tls_version - "TLSv1.3", or "" with no connection */
const char *
tls_version(const struct tlsconn *c)
{
	return c->ssl ? SSL_get_version(c->ssl) : "";
}

/* tls_cipher - the cipher's name, or "" */
const char *
tls_cipher(const struct tlsconn *c)
{
	const char *s;

	if (c->ssl == NULL)
		return "";
	s = SSL_get_cipher_name(c->ssl);
	return s ? s : "";
}

/* tls_abort - free without close_notify (after an error) */
void
tls_abort(struct tlsconn *c)
{
	if (c->ssl != NULL) {
		SSL_set_quiet_shutdown(c->ssl, 1);
		tls_close(c);
	}
}

/* tls_close - send close_notify (without waiting for the peer's) and free;
 * the descriptor stays open (and non-blocking): the caller owns it */
void
tls_close(struct tlsconn *c)
{
	if (c->ssl != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ERR_clear_error();
}

static int
st_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* tls_reload_get - see tls.h */
SSL_CTX *
tls_reload_get(struct tls_reload *r, const char *certfile,
    const char *keyfile, int *changed)
{
	struct stat cs, ks;
	char err[512];
	SSL_CTX *n;

	if (changed != NULL)
		*changed = 0;
	if (certfile == NULL)
		return NULL;
	if (stat(certfile, &cs) == -1 || stat(keyfile, &ks) == -1) {
		if (!r->tried)
			log_kv("error", "op", "tls", "err", strerror(errno),
			    NULL);
		r->tried = 1;
		return r->ctx;
	}
	if (r->tried && st_same(&cs, &r->cert) && st_same(&ks, &r->key))
		return r->ctx;
	r->tried = 1;
	r->cert = cs;
	r->key = ks;
	if ((n = tls_server_ctx(certfile, keyfile, err, sizeof err)) ==
	    NULL) {
		log_kv("error", "op", "tls", "err", err, "keeping",
		    r->ctx ? "old certificate" : "no tls", NULL);
		return r->ctx;
	}
	if (r->ctx != NULL) {
		SSL_CTX_free(r->ctx);
		log_kv("reload", "why", "certificate", NULL);
	}
	if (changed != NULL)
		*changed = 1;
	return r->ctx = n;
}
