/* send_sts: send's side of MTA-STS (RFC 8461): it asks sandmail-sts for
 * a recipient domain's policy (asynchronously, like resolve) and applies
 * it to the MX hosts resolve gave before a remote job is started. */
#ifndef SANDMAIL_SEND_STS_H
#define SANDMAIL_SEND_STS_H

#include <stddef.h>
#include <stdint.h>

#include "stsmsg.h"

struct rcache;

/* ssts_init: the socket to sandmail-sts (-M fd), or -1: MTA-STS off */
void	ssts_init(int fd);
int	ssts_fd(void);
/* ssts_policy: domain's policy as sts last said, or NULL after asking
 * (the caller waits for ssts_read to report an answer) */
const struct sts_ans *ssts_policy(const char *domain, uint64_t now);
/* ssts_read: take the answers waiting on the socket (1 if any came),
 * and queue the TLS reports sts hands over */
struct send;
int	ssts_read(struct send *, uint64_t now);
/* ssts_session: how a remote job's session to domain went (rspawn's
 * status and text), told to sts when a policy applied: TLS reporting */
void	ssts_session(const char *domain, uint8_t st, const char *mta,
	    const char *text);
/* ssts_apply: the hosts of c that the policy lets us use (out->host is
 * a new array of shallow copies: free only it) and the tls_policy the
 * job carries; 0 go on, -1 defer with why */
int	ssts_apply(const struct sts_ans *, const struct rcache *c,
	    struct rcache *out, char *tls, size_t tlssz, char *why,
	    size_t whysz);

#endif
