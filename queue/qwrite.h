/* qwrite: writing one new message into the queue (mess/ then todo/), the
 * way sandmail-queue does it, for sandmail-queue itself and for send's
 * bounces.  Implemented in queue/qwrite.c (the queue issue). */
#ifndef SANDMAIL_QWRITE_H
#define SANDMAIL_QWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "qclient.h"

struct qw {
	int		dirfd;		/* the queue directory */
	int		fd;		/* tmp/ID being written, or -1 */
	uint64_t	size;
	char		id[QID_MAX + 1];
};

/* qw_begin: a new ID and its file in tmp/; 0 or -1 */
int	qw_begin(struct qw *, int qdirfd);
int	qw_write(struct qw *, const void *, size_t);
/* qw_commit: fsync, rename to mess/ID, write todo/ID with env (size set
 * from what was written), fsync the directories, poke lock/trigger.
 * 0: the message is durable; -1: nothing of it is left behind. */
int	qw_commit(struct qw *, struct env *);
void	qw_abort(struct qw *);

#endif
