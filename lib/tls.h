/* tls: the OpenSSL code shared by smtpd, pop3d (servers) and remote
 * (client).  TLS 1.2 and 1.3 only.  Contexts are made before the sandbox
 * (certificates and CA files are read then); a connection's reads and
 * writes go through io.h ops, so the protocol code does not change.
 * Implemented in lib/tls.c (the TLS issue). */
#ifndef SANDMAIL_TLS_H
#define SANDMAIL_TLS_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "tlsa.h"

struct tlsconn {
	SSL	*ssl;
	int	 fd;
	int	 timeout_ms;	/* per read/write wait; -1 none */
};

/* tls_init: load OpenSSL's configuration and seed its random generator;
 * the ctx functions call it, a program may call it earlier.  0 or -1. */
int	tls_init(void);

/* Server context from PEM files; NULL with a reason in err. */
SSL_CTX	*tls_server_ctx(const char *certfile, const char *keyfile,
	    char *err, size_t errsz);

/* A server context that follows its files: tls_reload_get makes it at
 * the first call and again when the certificate or key file changed on
 * disk (device, inode, size, modification or change time); if the new
 * files do not load, the old context stays (logged, as a missing file
 * is once).  NULL: no certificate configured or none ever loaded.
 * *changed (may be NULL) is set to 1 when a new context was made. */
struct tls_reload {
	SSL_CTX		*ctx;
	struct stat	 cert, key;
	int		 tried;
};
SSL_CTX	*tls_reload_get(struct tls_reload *, const char *certfile,
	    const char *keyfile, int *changed);
/* Client context: cafile NULL means the system store ($SSL_CERT_FILE or
 * OpenSSL's default cert.pem, loaded now as one file: a hashed directory
 * would be read during verification, inside the sandbox). */
SSL_CTX	*tls_client_ctx(const char *cafile, char *err, size_t errsz);

/* Handshakes on fd: 0, or -1 with a reason in err. */
int	tls_accept(struct tlsconn *, SSL_CTX *, int fd, int timeout_ms,
	    char *err, size_t errsz);
/* verify: 0 opportunistic, TLS_ENFORCE (1) check the chain and the
 * name sni, TLS_CHECK check them but go on whatever they say (then
 * tls_verified tells: MTA-STS testing mode, RFC 8461 5) */
enum { TLS_ENFORCE = 1, TLS_CHECK = 2 };
int	tls_connect(struct tlsconn *, SSL_CTX *, int fd, const char *sni,
	    int verify, int timeout_ms, char *err, size_t errsz);
/* tls_verified: 0 if the chain and name checks of the connection
 * passed, else -1 with OpenSSL's reason in err */
int	tls_verified(const struct tlsconn *, char *err, size_t errsz);

/* tls_connect_dane: the client side, the server's certificate checked
 * against TLSA records (RFC 7671, 7672) by OpenSSL's DANE code: DANE-EE
 * matches the server's own certificate or key, names unchecked; DANE-TA
 * a certificate of its chain, the name then being host (the TLSA base
 * domain, also sent as SNI) or one of alt[nalt] (RFC 7672 3.2.2: the
 * MX host name when the records were found at its CNAME-expanded name,
 * the next-hop domain; NULL, "" or host itself are skipped).  ctx must have had tls_dane_ctx.
 * 0, or -1 with a reason. */
int	tls_connect_dane(struct tlsconn *, SSL_CTX *, int fd, const char *host,
	    const char *const *alt, size_t nalt, const struct tlsa *recs,
	    size_t n, int timeout_ms, char *err, size_t errsz);
/* tls_dane_ctx: make ctx able to verify with TLSA records; 0 or -1 */
int	tls_dane_ctx(SSL_CTX *ctx);

/* io.h ops: ctx is the struct tlsconn */
ssize_t	tls_read_op(int fd, void *p, size_t n, void *ctx);
ssize_t	tls_write_op(int fd, void *p, size_t n, void *ctx);

const char *tls_version(const struct tlsconn *);	/* "TLSv1.3" */
const char *tls_cipher(const struct tlsconn *);
void	tls_close(struct tlsconn *);	/* close_notify, free */
void	tls_abort(struct tlsconn *);	/* free, no close_notify */

/*
 * TLS_SBX_RULES: the system calls a TLS connection needs beyond sbx_base
 * once its context is made (sbx.h): put it in the program's table, e.g.
 *	static const struct sbx_rule rules[] = { TLS_SBX_RULES ..., SBX_LAST };
 * Found by running the handshakes of tests/unit/test_tls.c in a sandboxed
 * child: OpenSSL 3 uses read/write on the socket, poll for the waits,
 * fcntl F_GETFL/F_SETFL (O_NONBLOCK), getrandom and clock_gettime, all in
 * sbx_base already; getpid (fork detection) too.  Kept as a macro so a
 * later OpenSSL that needs more is fixed in one place.
 */
#define TLS_SBX_RULES	/* nothing beyond sbx_base with OpenSSL 3.0 */

#endif
