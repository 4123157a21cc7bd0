/* mstat: sandmail-metrics' counters, what feeds them and how they are
 * written.  Counters come from the log lines every program already
 * writes (lib/log.h, read back with lib/dlog.c); gauges of the queue come
 * from send's stats file (lock/send.stats, "key value" lines).  The
 * output is the Prometheus text exposition format, version 0.0.4. */
#ifndef SANDMAIL_MSTAT_H
#define SANDMAIL_MSTAT_H

#include <stddef.h>

#include "buf.h"

enum mt_kind { MK_LOCAL, MK_REMOTE, MK_NONE, MK_N };
enum mt_status { MS_SENT, MS_DEFERRED, MS_BOUNCED, MS_EXPIRED, MS_N };

#define MT_LABEL_MAX	100	/* bytes of one label value kept */
#define MT_SETS_MAX	64	/* label sets of one family; then "other" */
#define MT_NBUCKET	9

struct mt_set {
	char			 a[MT_LABEL_MAX + 1], b[MT_LABEL_MAX + 1];
	unsigned long long	 n;
};

struct mt_fam {
	struct mt_set	 v[MT_SETS_MAX];
	size_t		 n;
};

struct mt {
	unsigned long long	 lines, connections, accepted, queued, bytes;
	unsigned long long	 deliv[MK_N][MS_N];
	unsigned long long	 bucket[MT_NBUCKET], delay_count, delay_sum;
	struct mt_fam		 rejected;	/* stage, reason */
	struct mt_fam		 authfail;	/* service */
	struct mt_fam		 tls;		/* direction, version */
};

/* the gauges of send's stats file */
enum mt_gauge { MG_TODO, MG_INFO, MG_BOUNCE, MG_HOLD, MG_OLDEST,
	MG_ACTIVE_LOCAL, MG_ACTIVE_REMOTE, MG_TIME, MG_N };

struct mt_gauges {
	int			 have[MG_N];
	unsigned long long	 v[MG_N];
};

extern const unsigned long long mt_bucket_le[MT_NBUCKET];

void	mt_init(struct mt *);
/* mt_line: one log line (with or without a logger's timestamp in front;
 * the newline optional) counted */
void	mt_line(struct mt *, const char *p, size_t n);
/* mt_gauges_parse: send's stats file; unknown keys and bad lines are
 * skipped; 0, or -1 if no key was known */
int	mt_gauges_parse(struct mt_gauges *, const char *p, size_t n);
/* mt_render: the exposition text of the counters and gauges at time now
 * (seconds); 0 or -1 (E2BIG: the buffer's ceiling) */
int	mt_render(const struct mt *, const struct mt_gauges *,
	    unsigned long long now, struct buf *);
/* mt_label_escape: a label value as the text format wants it (\\, \",
 * \n), cut to MT_LABEL_MAX bytes of input; 0 or -1 */
int	mt_label_escape(struct buf *, const char *);

#endif
