/* authc: the client side of the password check (doc/protocols.md, "auth"),
 * for smtpd and pop3d, and the SASL decoding both need (RFC 4616 PLAIN,
 * the LOGIN mechanism).  Implemented in auth/authclient.c: a program that
 * uses it adds auth/authclient.o to its _OBJS (and to test_*_OBJS).
 *
 * The password check runs in sandmail-auth, one service for the whole
 * system that alone opens the users table (auth/serve.c).  A caller gets
 * a connection to it on its socket (auth_socket) before its sandbox
 * (auth_connect: pop3d, smtpd under tcpserver) or from smtpd's listener
 * when a client first says AUTH (auth_attach on the descriptor passed);
 * auth_check() then only reads and writes that socket, so it needs
 * nothing beyond sbx_base.
 *
 *	struct authc a;				(before priv_drop/sbx_enter)
 *	if (auth_connect(&a, "QUEUE/lock/auth.sock") == -1)
 *		a.fd = -1;			(every check is then AUTH_TEMP)
 *	...
 *	struct auth_plain p;			(AUTH PLAIN <b64>)
 *	auth_b64_decode(b64, n, &dec, AUTH_FIELD_MAX), auth_plain(&p, ...)
 *	switch (auth_check(&a, "smtp", p.authcid, p.clen, p.passwd, p.plen,
 *	    client_ip, login, sizeof login)) {
 *	case AUTH_OK:		235, the session is authenticated as login
 *	case AUTH_BAD:		535 5.7.8 (already delayed by sandmail-auth)
 *	case AUTH_DISCONNECT:	535, then 421 and close
 *	case AUTH_TEMP:		454 4.7.0
 *	}
 *	sodium_memzero the decoded buffer.  The LOGIN mechanism is two
 *	auth_b64_decode calls (user, then password) and the same check. */
#ifndef SANDMAIL_AUTHC_H
#define SANDMAIL_AUTHC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "io.h"

#define AUTH_VERSION	"sandmail-auth 1"
#define AUTH_FIELD_MAX	1024	/* login, password, service, client */
#define AUTH_REC_MAX	(4 * AUTH_FIELD_MAX + 64)
#define AUTH_LOGIN_MAX	255	/* RFC 4616: authcid at most 255 octets */

enum auth_status {
	AUTH_OK = 'K',		/* password right; login is the canonical one */
	AUTH_BAD = 'X',		/* wrong password or no such login */
	AUTH_TEMP = 'Z',	/* cannot check now: 454 / -ERR [SYS/TEMP] */
	AUTH_DISCONNECT = 'D',	/* too many failures: drop the client */
};

struct authc {
	int	 fd;
	pid_t	 pid;		/* -1 (a test's child) */
	int	 greeted;	/* its banner has been read */
	int	 timeout_ms;	/* per answer; the default is 30 s */
	struct rd rd;
	struct wr wr;
};

/* auth_sock_path: the service's socket, auth_socket in sandmail.conf or
 * QUEUE/lock/auth.sock; malloc'd, NULL when out of memory */
char	*auth_sock_path(const struct conf *);
/* auth_connect: the service on its UNIX socket at path.  0, or -1 with
 * errno (a->fd is then -1). */
int	auth_connect(struct authc *, const char *path);
/* auth_attach: use an already connected fd (tests, smtpd's listener) */
void	auth_attach(struct authc *, int fd, pid_t pid);
/*
 * auth_check: ask whether password is right for login (the caller must
 * ignore SIGPIPE: a dead sandmail-auth is then AUTH_TEMP, not a kill).  service is
 * "smtp" or "pop3" (for the log), client the peer's address (or "").
 * On AUTH_OK the canonical login is copied into canon (NUL-terminated).
 * Any protocol or I/O failure, a time-out included, is AUTH_TEMP.  Never
 * logs the password; the caller should sodium_memzero its copy.
 */
enum auth_status auth_check(struct authc *, const char *service,
	    const char *login, size_t llen, const char *pass, size_t plen,
	    const char *client, char *canon, size_t canonsz);
/* auth_close: close the socket */
void	auth_close(struct authc *);

/* The records themselves, for sandmail-auth and the tests. */
struct auth_req {
	const char	*service, *login, *pass, *client;
	size_t		 slen, llen, plen, clen;	/* into the record */
};
int	auth_req_encode(struct buf *, const char *service, const char *login,
	    size_t llen, const char *pass, size_t plen, const char *client);
/* 0, or -1 with EPROTO (wrong type, a field short, over its limit, extra
 * bytes) */
int	auth_req_decode(struct auth_req *, const void *, size_t);
int	auth_ans_encode(struct buf *, enum auth_status, const char *text);
int	auth_ans_decode(enum auth_status *, const char **text, size_t *tlen,
	    const void *, size_t);

/*
 * SASL.  auth_b64_decode: strict base64 (RFC 4648, padded, no white space)
 * of s[0..n) into out (emptied first, at most max bytes).  "=" alone is
 * the empty string (RFC 4954 4).  0, or -1 with EINVAL (bad base64) or
 * E2BIG (over max).
 */
int	auth_b64_decode(const char *s, size_t n, struct buf *out, size_t max);
int	auth_b64_encode(struct buf *, const void *, size_t);

/* auth_plain: RFC 4616 message authzid NUL authcid NUL passwd, split in
 * place (pointers into m).  authcid and passwd non-empty, each field at
 * most 255 octets, exactly two NULs.  An authzid other than empty or the
 * authcid itself is refused (EPERM): we do not act for another user.
 * 0, or -1 with EINVAL / E2BIG / EPERM. */
struct auth_plain {
	const char	*authzid, *authcid, *passwd;
	size_t		 zlen, clen, plen;
};
int	auth_plain(struct auth_plain *, const char *m, size_t n);

#endif
