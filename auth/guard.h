/* guard: the authentication service's memory of failures, kept across
 * connections (a guesser who reconnects is still counted).  Failures are
 * counted per client address (/32; /64 for IPv6), per client network
 * (/24; /48), per login and over the whole service:
 *
 *  - a failure answer waits auth_fail_delay, doubled for each failure
 *    already counted against the client's address, network or login (up
 *    to auth_fail_delay_max), and auth_fail_delay_max outright while the
 *    whole service sees more than auth_global_failures a minute;
 *  - an address or a login with auth_lockout failures, or a network with
 *    auth_lockout_net, is locked out: no password is checked for it
 *    (right or wrong) until auth_lockout_time has passed since its last
 *    failure.  A count also starts again from zero after that time.
 *
 * A success forgets the address's and the login's failures (not the
 * network's), and is remembered for the pair (address, login) for
 * GUARD_KNOWN_DAYS: a login locked out by guesses from elsewhere is not
 * locked out for the addresses it has logged in from (a guesser could
 * otherwise lock any user out of everywhere).  The table is bounded
 * (GUARD_MAX entries): a new key takes a free slot near its hash, or the
 * one there whose last use is oldest.  Keys are
 * SipHash values under a key drawn at start, so a client cannot aim
 * collisions. */
#ifndef SANDMAIL_GUARD_H
#define SANDMAIL_GUARD_H

#include <stddef.h>
#include <stdint.h>

#define GUARD_MAX	16384
#define GUARD_KNOWN_DAYS 30

struct guard_cfg {
	unsigned long	 delay_ms;	/* auth_fail_delay */
	unsigned long	 delay_max_ms;	/* auth_fail_delay_max */
	unsigned	 lockout;	/* auth_lockout (address, login) */
	unsigned	 lockout_net;	/* auth_lockout_net */
	unsigned long	 lockout_ms;	/* auth_lockout_time */
	unsigned	 global;	/* auth_global_failures per minute */
};

struct guard_ent {
	uint64_t	 key;
	uint32_t	 count;
	long long	 last;		/* ms of the last failure */
};

struct guard {
	struct guard_cfg cfg;
	unsigned char	 hkey[16];
	struct guard_ent *e;
	size_t		 n;
	long long	 gmin;		/* the minute counted in gcount */
	unsigned	 gcount;
};

/* What one request is counted against: its address, network, login. */
struct guard_who {
	uint64_t	 k[4];		/* address, network, login, the pair */
};

void	guard_init(struct guard *, const struct guard_cfg *);
void	guard_free(struct guard *);
void	guard_who(const struct guard *, struct guard_who *, const char *ip,
	    const char *login, size_t llen);
/* guard_locked: 1 when the request must not be checked now */
int	guard_locked(struct guard *, const struct guard_who *, long long now);
/* guard_score: 0 for a login from an address it is known from, else 1
 * plus the failures counted against its address and network (the
 * waiting checks go lowest first) */
unsigned guard_score(struct guard *, const struct guard_who *, long long now);
/* guard_fail: count a failure; the delay before its answer, in ms */
unsigned long guard_fail(struct guard *, const struct guard_who *,
	    long long now);
/* guard_ok: a success */
void	guard_ok(struct guard *, const struct guard_who *, long long now);

#endif
