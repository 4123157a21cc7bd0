/* stsmsg: the records between sandmail-send and sandmail-sts (see
 * doc/protocols.md, "sts").  send asks for one domain's MTA-STS policy;
 * sts answers with the mode and the mx patterns that apply now (from its
 * cache, or fetched), and a short reason for the log.  send also tells
 * how sessions under a policy went, and sts hands send the TLS reports
 * to queue.  Both sides look at the first byte to tell them apart. */
#ifndef SANDMAIL_STSMSG_H
#define SANDMAIL_STSMSG_H

#include <stdint.h>

#include "buf.h"
#include "stspol.h"

#define STS_REQ_MAX	1024
#define STS_ANS_MAX	(64 * 1024)
#define STS_WHY_BUF	256

struct sts_req {
	uint32_t	qid;
	char		domain[STS_NAME_BUF];
};

struct sts_ans {
	uint32_t		qid;
	char			domain[STS_NAME_BUF];
	struct sts_policy	pol;		/* mode and mx only */
	char			why[STS_WHY_BUF];
};

/* 'R', send -> sts: how one outbound session under a policy went, for
 * TLS reporting (RFC 8460); no answer */
struct sts_res {
	char		domain[STS_NAME_BUF];	/* the policy domain */
	uint8_t		ok;
	char		type[64];	/* RFC 8460 result-type when !ok */
	char		mx[STS_NAME_BUF];	/* receiving MX host, or "" */
};

/* 'M', sts -> send: a TLS report to queue (null sender, one rcpt) */
#define STS_MAIL_MAX	(1024 * 1024)
struct sts_mail {
	char		rcpt[512];
	const char	*msg;		/* points into the record */
	size_t		 len;
};

/* each returns 0 or -1 (too big; malformed: errno EPROTO) */
int	sts_req_encode(struct buf *, const struct sts_req *);
int	sts_req_decode(const void *, size_t, struct sts_req *);
int	sts_ans_encode(struct buf *, const struct sts_ans *);
int	sts_ans_decode(const void *, size_t, struct sts_ans *);
int	sts_res_encode(struct buf *, const struct sts_res *);
int	sts_res_decode(const void *, size_t, struct sts_res *);
int	sts_mail_encode(struct buf *, const char *rcpt, const void *msg,
	    size_t len);
int	sts_mail_decode(const void *, size_t, struct sts_mail *);

#endif
