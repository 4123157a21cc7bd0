/* stsmsg: the records between sandmail-send and sandmail-sts (see
 * doc/protocols.md, "sts").  send asks for one domain's MTA-STS policy;
 * sts answers with the mode and the mx patterns that apply now (from its
 * cache, or fetched), and a short reason for the log. */
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

/* each returns 0 or -1 (too big; malformed: errno EPROTO) */
int	sts_req_encode(struct buf *, const struct sts_req *);
int	sts_req_decode(const void *, size_t, struct sts_req *);
int	sts_ans_encode(struct buf *, const struct sts_ans *);
int	sts_ans_decode(const void *, size_t, struct sts_ans *);

#endif
