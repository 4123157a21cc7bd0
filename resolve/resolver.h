/* resolver: sandmail-resolve's engine.  Reads RQRY records on one
 * descriptor, answers RANS records on another, with many lookups in
 * flight on UDP (TCP when an answer is truncated) in one poll loop. */
#ifndef SANDMAIL_RESOLVER_H
#define SANDMAIL_RESOLVER_H

#include <stdint.h>
#include <sys/socket.h>

#define NS_MAX	8

struct nsaddr {
	struct sockaddr_storage	sa;
	socklen_t		len;
};

struct rcfg {
	struct nsaddr	ns[NS_MAX];
	unsigned	nns;
	int		timeout_ms;	/* per attempt */
	unsigned	retries;	/* extra rounds over all servers */
	unsigned	ttl_max;	/* cap on positive TTLs */
	unsigned	neg_ttl_max;	/* cap on negative TTLs */
	unsigned	cache_size;
	unsigned	max_queries;	/* requests in flight */
	unsigned	max_sockets;	/* lookups on the wire at once */
	int		v6first;
	int		dnssec;		/* dns_dnssec: DO bit, trust AD, TLSA */
	uint16_t	mx_port;	/* the port in TLSA names (_25._tcp) */
};

/* ns_parse: "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353"; 0 or -1 */
int	ns_parse(const char *, struct nsaddr *);
/* resolver_run: serve until EOF on in and every answer is written;
 * returns 0, or -1 on a protocol error from the peer */
int	resolver_run(const struct rcfg *, int in, int out);

#endif
