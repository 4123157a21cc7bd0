/* authd: the serving loop of sandmail-auth and the pieces it shares with
 * sandmail-passwd (hash parameters, the users text table). */
#ifndef SANDMAIL_AUTHD_H
#define SANDMAIL_AUTHD_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "guard.h"
#include "tbl.h"

#define AUTHD_HASH_MAX	256	/* a crypto_pwhash_str string is < 128 */
#define AUTHD_WORKERS_MAX 64

struct authd {
	struct tbl	 users;
	struct guard	 guard;		/* failures across connections */
	unsigned long	 max_fail;	/* auth_max_failures per connection */
	int		 timeout_ms;	/* auth_idle_timeout */
	unsigned	 max_clients;	/* auth_max_clients */
	unsigned	 max_wait;	/* auth_max_waiting: queued checks */
	unsigned long	 wait_ms;	/* auth_max_wait: then 454 */
	/* the argon2id processes (authd_pool); none: checked inline */
	unsigned	 nworkers;
	int		 wfd[AUTHD_WORKERS_MAX];
	int		 ofd;		/* authd_opener's socket, or -1 */
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
/* auth_delay_ms: a delay setting ("250ms", "1", "2s"), default def ms */
unsigned long auth_delay_ms(const struct conf *, const char *key,
	    unsigned long def);
/* authd_settings: the service's limits and the guard's from conf */
void	authd_settings(struct authd *, const struct conf *);

/* authd_lookup: login's hash (exactly, then lowercased) into hash, the
 * key that matched into canon; 1, 0 not found, -1 error */
int	authd_lookup(struct authd *, const char *login, size_t n,
	    struct buf *hash, struct buf *canon);
/* authd_pool: fork n argon2id processes on socket pairs (before the
 * sandbox); each drops to uid/gid and enters its filter.  0 or -1. */
int	authd_pool(struct authd *, unsigned n, uid_t, gid_t);
/* authd_opener: fork the process that opens the users table at path
 * again when the service asks (before the sandbox), as uid/gid when
 * root; 0 or -1 */
int	authd_opener(struct authd *, const char *path, uid_t, gid_t);
/* auth_sbx.c: each process's confinement, exits 111 on failure.
 * authd_sandbox: the service (service: lfd is its listening socket);
 * authd_worker_enter: an argon2 worker; authd_opener_enter: the table
 * opener (0, or 1 when it kept CAP_DAC_READ_SEARCH: see auth_sbx.c) */
void	authd_sandbox(uid_t, gid_t, int lfd, int service);
void	authd_worker_enter(uid_t, gid_t);
int	authd_opener_enter(const char *path, uid_t, gid_t);
/* authd_run: one client on in/out (greet, answer until EOF); an exit code */
int	authd_run(struct authd *, int in, int out);
/* authd_serve: every client of the listening socket lfd; an exit code */
int	authd_serve(struct authd *, int lfd);

/* users_login_ok: a login fit for the users table (no space, ':', '#',
 * control bytes; 1..255 octets) */
int	users_login_ok(const char *, size_t);
/* users_update: the text table in with login's line replaced (or added
 * at the end) by "login hash"; other lines kept byte for byte.  hash NULL
 * removes the line.  *found says whether it was there.  0 or -1. */
int	users_update(const char *in, size_t n, const char *login,
	    const char *hash, struct buf *out, int *found);

#endif
