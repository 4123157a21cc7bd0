/* netkey: a client address as the networks it belongs to, for limits
 * counted per client network (smtpd's connection and rate limits, the
 * authentication service's failure counts).  An IPv4 address (or an
 * IPv4-mapped IPv6 one) is its /32 and its /24; an IPv6 address its /64
 * (one host's share: a site gets a whole /64) and its /48.  Anything
 * else (a test's "", "unknown") is one address of its own. */
#ifndef SANDMAIL_NETKEY_H
#define SANDMAIL_NETKEY_H

#include <stdint.h>

enum netkey_kind {
	NK_HOST,		/* /32, or /64 for IPv6 */
	NK_NET,			/* /24, or /48 for IPv6 */
	NK_COUNT
};

/* 18 bytes: family tag, prefix length, 16 address bytes (masked) */
struct netkey {
	uint8_t	b[18];
};

/* netkey_of: the key of ip (text) for kind; 0, or -1 when ip is not an
 * address (the key is then that of "no address") */
int	netkey_of(const char *ip, enum netkey_kind, struct netkey *);
/* netkey_text: the key as "A.B.C.D/N" or "X::/N" (for logs) */
void	netkey_text(const struct netkey *, char *out, unsigned long outsz);
int	netkey_eq(const struct netkey *, const struct netkey *);

#endif
