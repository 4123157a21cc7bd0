/* connlim: connection counts per client address and network, and
 * per-minute rates, shared by every listener of a server through one
 * flock'd file (connlim.c has the format).  Listeners only: a forked
 * session calls lim_child before anything else. */
#ifndef SANDMAIL_CONNLIM_H
#define SANDMAIL_CONNLIM_H

#include <stddef.h>

struct lim_cfg {
	unsigned	 max_per_ip;	/* at once per /32 (IPv6: /64) */
	unsigned	 max_per_net;	/* at once per /24 (IPv6: /48) */
	unsigned	 conn_rate;	/* a minute per /32 or /64; 0 off */
	unsigned	 msg_rate;	/* MAILs a minute per /32 or /64 */
	unsigned	 msg_rate_user;	/* MAILs a minute per AUTH login */
	unsigned	 max_unauth_per_net;	/* not yet authenticated, at
					 * once per /24 or /48; 0 off */
};

/* lim_open: map the shared file at path (made 0600 if absent; counting
 * alone, logged, if it cannot be) */
void	lim_open(const char *path);
/* lim_child: in a forked child, unmap it */
void	lim_child(void);
/* lim_sweep: forget what listeners that are gone counted */
void	lim_sweep(void);
/* lim_conn: a new connection from ip: NULL and counted, or the words of
 * the limit it would pass (" from your address", " from your network",
 * " a minute from your address") */
const char *lim_conn(const struct lim_cfg *, const char *ip);
/* lim_conn_end: a connection lim_conn counted has ended */
void	lim_conn_end(const char *ip);
/* lim_unauth: a new session from ip that must authenticate (submission):
 * NULL and counted, or " unauthenticated from your network" over
 * max_unauth_per_net; lim_unauth_end: it authenticated, or ended */
const char *lim_unauth(const struct lim_cfg *, const char *ip);
void	lim_unauth_end(const char *ip);
/* lim_msg: a message from ip (login "" if none): 0 and counted, or -1
 * over a per-minute limit */
int	lim_msg(const struct lim_cfg *, const char *ip, const char *login,
	    size_t llen);

#endif
