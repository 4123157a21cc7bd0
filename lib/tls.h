/* tls: the OpenSSL code shared by smtpd, pop3d (servers) and remote
 * (client).  TLS 1.2 and 1.3 only.  Contexts are made before the sandbox
 * (certificates and CA files are read then); a connection's reads and
 * writes go through io.h ops, so the protocol code does not change.
 * Implemented in lib/tls.c (the TLS issue). */
#ifndef SANDMAIL_TLS_H
#define SANDMAIL_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct tlsconn {
	SSL	*ssl;
	int	 fd;
	int	 timeout_ms;	/* per read/write wait; -1 none */
};

/* Server context from PEM files; NULL with a reason in err. */
SSL_CTX	*tls_server_ctx(const char *certfile, const char *keyfile,
	    char *err, size_t errsz);
/* Client context: cafile NULL means the system store. */
SSL_CTX	*tls_client_ctx(const char *cafile, char *err, size_t errsz);

/* Handshakes on fd: 0, or -1 with a reason in err. */
int	tls_accept(struct tlsconn *, SSL_CTX *, int fd, int timeout_ms,
	    char *err, size_t errsz);
/* verify: 0 opportunistic, 1 check the chain and the name sni */
int	tls_connect(struct tlsconn *, SSL_CTX *, int fd, const char *sni,
	    int verify, int timeout_ms, char *err, size_t errsz);

/* io.h ops: ctx is the struct tlsconn */
ssize_t	tls_read_op(int fd, void *p, size_t n, void *ctx);
ssize_t	tls_write_op(int fd, void *p, size_t n, void *ctx);

const char *tls_version(const struct tlsconn *);	/* "TLSv1.3" */
const char *tls_cipher(const struct tlsconn *);
void	tls_close(struct tlsconn *);	/* close_notify, free */

#endif
