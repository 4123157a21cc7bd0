/* env: the envelope of one message, as smtpd and inject hand it to queue,
 * as queue writes it into todo/ID, and as send reads it back.  Encoded
 * with rec.h's fields behind a magic and version (doc/protocols.md). */
#ifndef SANDMAIL_ENV_H
#define SANDMAIL_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define ENV_MAGIC	"SMENV1"
#define ENV_ADDR_MAX	512	/* a path is 256; room for quoting */
#define ENV_FIELD_MAX	1024	/* envid, orcpt, helo, auth, client */
#define ENV_RCPT_MAX	100000

/* DSN NOTIFY (RFC 3461 4.1); 0 means not given */
enum {
	NOTIFY_SUCCESS = 0x01,
	NOTIFY_FAILURE = 0x02,
	NOTIFY_DELAY = 0x04,
	NOTIFY_NEVER = 0x08,
};

/* DSN RET (RFC 3461 4.3) */
enum env_ret { RET_NONE = 0, RET_FULL = 1, RET_HDRS = 2 };

/* flags */
enum {
	ENV_SMTPUTF8 = 0x01,	/* MAIL ... SMTPUTF8 */
	ENV_8BITMIME = 0x02,	/* BODY=8BITMIME */
	ENV_BOUNCE = 0x04,	/* a report we made ourselves */
	ENV_BINARY = 0x08,	/* BODY=BINARYMIME (not offered yet) */
	ENV_REQUIRETLS = 0x10,	/* MAIL ... REQUIRETLS (RFC 8689): relay
				 * only over verified TLS to a next hop
				 * that offers REQUIRETLS, else bounce */
	ENV_HOLD = 0x20,	/* quarantined (a milter, a policy HOLD):
				 * send puts it on hold (hold/ID) before
				 * it tries it */
	ENV_VERIFIED = 0x40,	/* smtpd checked it (smtpd_verify): its
				 * first field is our Authentication-
				 * Results; send ARC-seals it on relay */
	ENV_ARC_PASS = 0x80,	/* and the ARC chain it came with passed */
};

struct env_rcpt {
	char	*addr;		/* local@domain, quoted as needed */
	char	*orcpt;		/* "rfc822;..." as given (xtext), or "" */
	uint8_t	 notify;
};

struct env {
	char		*sender;	/* "" for the null path */
	char		*envid;		/* xtext as given, or "" */
	char		*auth;		/* authenticated user, or "" */
	char		*client;	/* client address, or "" (local) */
	char		*helo;		/* client's HELO name, or "" */
	char		*proto;		/* ESMTPSA, UTF8SMTP, local... */
	uint64_t	 arrival;	/* unix time */
	uint64_t	 size;		/* message bytes as queued */
	uint32_t	 flags;
	uint8_t		 ret;
	size_t		 nrcpt;
	struct env_rcpt	*rcpt;
};

void	env_init(struct env *);
void	env_free(struct env *);
/* env_set: replace a string field with a copy of s (0 or -1) */
int	env_set(char **field, const char *s);
int	env_add_rcpt(struct env *, const char *addr, uint8_t notify,
	    const char *orcpt);
int	env_encode(struct buf *, const struct env *);
/* env_decode: 0, or -1 with errno EPROTO on anything malformed */
int	env_decode(struct env *, const void *, size_t);

#endif
