/* qinit: create the queue directory layout (sandmail-queue -i), the same
 * way for tests, `make run` and scripts/setup.  Idempotent: what exists is
 * kept and its owner and mode set again. */
#ifndef SANDMAIL_QINIT_H
#define SANDMAIL_QINIT_H

#include <sys/types.h>

struct qinit_ids {
	int	 chown;		/* as root: set owners; otherwise leave them */
	uid_t	 quid;		/* user_queue */
	gid_t	 qgid;
	uid_t	 suid;		/* user_send */
	gid_t	 sgid;
};

/* qinit: 0, or -1 with errno and *what naming the failed path */
int	qinit(const char *dir, const struct qinit_ids *, const char **what);

#endif
