/* listen: what a program's own TCP listener needs (smtpd -l, pop3d -l):
 * a listening socket from "ADDR:PORT", a socket address as text, and a
 * table of forked children with their client addresses, for the limits
 * per client address.  Logging and the replies are the caller's. */
#ifndef SANDMAIL_LISTEN_H
#define SANDMAIL_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define LISTEN_IP_MAX	64	/* an address as text, with its NUL */

struct kid {
	pid_t	pid;
	char	ip[LISTEN_IP_MAX];
};

/* listen_open: a nonblocking, close-on-exec listening socket for
 * "ADDR:PORT", "[V6]:PORT" or "V6:PORT" (numeric only; SO_REUSEADDR,
 * IPV6_V6ONLY); the fd, or -1 with errno (EINVAL: not such an address) */
int	listen_open(const char *spec, int backlog);
/* listen_addr_text: ss as text (IPv4-mapped IPv6 as plain IPv4); ip is
 * "unknown" and port "0" for another family */
void	listen_addr_text(const struct sockaddr_storage *ss, char *ip,
	    size_t ipsz, char *port, size_t portsz);

/* listen_child_reset: in a forked child, close the listening fds, put
 * SIGCHLD, SIGTERM and SIGINT back to the default and unblock every
 * signal */
void	listen_child_reset(const int *lfd, size_t nlfd);

/* listen_is_loopback: the client address (text, as from listen_addr_text or
 * TCPREMOTEIP) is 127.0.0.0/8, ::1 or an IPv4-mapped 127.x.x.x */
int	listen_is_loopback(const char *ip);

/* kids_reap: wait for every ended child, dropping it from the table and
 * freeing its place in the shared counts (lim_conn_end; nothing if no
 * lim_open) */
void	kids_reap(struct kid *kids, size_t *nkids);
/* kids_count_ip: how many children serve ip */
unsigned	kids_count_ip(const struct kid *kids, size_t nkids,
	    const char *ip);
/* kids_add: a new child (the caller keeps *nkids below the table size) */
void	kids_add(struct kid *kids, size_t *nkids, pid_t pid, const char *ip);

#endif
