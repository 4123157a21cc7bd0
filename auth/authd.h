/* authd: the serving loop of sandmail-auth and the pieces it shares with
 * sandmail-passwd (hash parameters, the users text table). */
#ifndef SANDMAIL_AUTHD_H
#define SANDMAIL_AUTHD_H

#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "tbl.h"

#define AUTHD_HASH_MAX	256	/* a crypto_pwhash_str string is < 128 */

struct authd {
	struct tbl	 users;
	unsigned long	 delay_ms;	/* auth_fail_delay */
	unsigned long	 max_fail;	/* auth_max_failures */
	unsigned long	 failures;	/* in this connection */
	int		 timeout_ms;	/* auth_idle_timeout */
	char		 dummy[AUTHD_HASH_MAX];	/* for unknown logins */
};

/* The hash parameters: passwd_opslimit, passwd_memlimit (bytes). */
struct pwparams {
	unsigned long long	ops;
	size_t			mem;
};

void	pw_params(const struct conf *, struct pwparams *);
/* pw_dummy: an argon2id string with these parameters, random salt and
 * hash: verifying against it costs what a real one costs, and matches
 * no password.  0 or -1. */
int	pw_dummy(const struct pwparams *, char *out, size_t outsz);
/* auth_delay_ms: auth_fail_delay ("250ms", "1", "2s"), default 1 s */
unsigned long auth_delay_ms(const struct conf *);

/* authd_run: greet, then answer requests on in/out until EOF; an exit code */
int	authd_run(struct authd *, int in, int out);

/* users_login_ok: a login fit for the users table (no space, ':', '#',
 * control bytes; 1..255 octets) */
int	users_login_ok(const char *, size_t);
/* users_update: the text table in with login's line replaced (or added
 * at the end) by "login hash"; other lines kept byte for byte.  hash NULL
 * removes the line.  *found says whether it was there.  0 or -1. */
int	users_update(const char *in, size_t n, const char *login,
	    const char *hash, struct buf *out, int *found);

#endif
