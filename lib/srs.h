/* srs: the Sender Rewriting Scheme in the format of libsrs2 and postsrsd
 * (the de-facto one): a forwarded message's envelope sender local@domain
 * becomes SRS0=HHHH=TT=domain=local@SRSDOMAIN, where TT is the day (base32,
 * modulo 1024) and HHHH the first 24 bits of HMAC-SHA1(secret,
 * lowercase(TT domain local)) in base64; a sender that is already SRS0 of
 * another forwarder becomes SRS1=HHHH=forwarder==HHHH=TT=domain=local
 * (hash over lowercase(forwarder, "=HHHH=TT=domain=local")).  A bounce to
 * such an address is taken back by srs_reverse, which checks the hash with
 * every secret and the age.  srs_parse and srs_age_ok need no secret: the
 * SMTP session refuses malformed and stale addresses with them, and only
 * the processes that hold the secret (sandmail-send, and sandmail-srs,
 * which answers smtpd's sessions: srsc.h) check hashes.  Nothing here
 * opens files or reads the network (srs_keys_read reads an fd given). */
#ifndef SANDMAIL_SRS_H
#define SANDMAIL_SRS_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define SRS_HASHLEN	4	/* base64 characters of the HMAC */
#define SRS_SECRETS_MAX	8	/* lines of the secret file; the first signs */
#define SRS_SECRET_MAX	256	/* bytes of one secret */
#define SRS_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1: no longer one made */
#define SRS_SLOTS	1024	/* days the time stamp counts, then wraps */

struct srs_keys {
	unsigned char	 k[SRS_SECRETS_MAX][SRS_SECRET_MAX];
	size_t		 len[SRS_SECRETS_MAX];
	int		 n;
};

/* the parts of an SRS local part: views into it, not NUL-terminated */
struct srs_parts {
	int		 tag;		/* 0: SRS0, 1: SRS1 */
	const char	*hash;		/* SRS_HASHLEN bytes */
	const char	*stamp;		/* 2 bytes (SRS1: its inner SRS0's) */
	const char	*host;		/* SRS0: the original domain; SRS1: the
					 * first forwarder's */
	size_t		 hostlen;
	const char	*user;		/* SRS0: the original local part; SRS1:
					 * "=HHHH=TT=domain=local" */
	size_t		 userlen;
};

enum srs_res {
	SRS_OK,		/* reversed */
	SRS_NOTSRS,	/* not an SRS address: none of our business */
	SRS_SYNTAX,	/* SRS0/SRS1 but malformed */
	SRS_STALE,	/* older than the maximum age (or from the future) */
	SRS_BADHASH,	/* no secret makes that hash: forged */
	SRS_ERROR,	/* out of memory, or no secret */
};

/* srs_keys_load: one secret per line of text[0..n) (blank lines and
 * trailing CR skipped); 0, or -1 (EINVAL: none, or one too long) */
int	srs_keys_load(struct srs_keys *, const char *text, size_t n);
void	srs_keys_wipe(struct srs_keys *);
/* srs_keys_read: srs_keys_load of what fd holds (the secret file, read
 * to its end; the copy read is wiped); 0, or -1 (EINVAL also when the
 * file is larger than SRS_SECRETS_MAX lines can be) */
int	srs_keys_read(struct srs_keys *, int fd);
/* srs_is: the local part begins SRS0 or SRS1 and a separator (= + -) */
int	srs_is(const char *local, size_t n);
/* srs_parse: 0 with the parts, or -1 (malformed) */
int	srs_parse(const char *local, size_t n, struct srs_parts *);
/* srs_age_ok: the stamp is at most maxdays old at now (and not ahead) */
int	srs_age_ok(const struct srs_parts *, time_t now, unsigned maxdays);
/* srs_check: what an SMTP session can decide without the secret */
enum srs_res srs_check(const char *local, size_t n, time_t now,
	    unsigned maxdays);
/* srs_forward: the SRS address for sender local@domain, appended to out;
 * 0, or -1 (EINVAL: a local part that would need quoting; E2BIG: the
 * result's local part would be longer than SRS_LOCAL_MAX) */
int	srs_forward(const struct srs_keys *, const char *local, size_t llen,
	    const char *domain, size_t dlen, const char *srsdomain, time_t now,
	    struct buf *out);
/* srs_reverse: the address the SRS local part stands for, into out
 * (emptied first) when SRS_OK */
enum srs_res srs_reverse(const struct srs_keys *, const char *local,
	    size_t n, time_t now, unsigned maxdays, struct buf *out);
const char *srs_res_name(enum srs_res);

#endif
