/* qserver: the server side of the queue protocol (doc/protocols.md,
 * "queue"), one poll() loop for any number of clients, shared by both ways
 * sandmail-queue runs: one client on fd 0/1, or the service on
 * lock/queue.sock.  Messages whose E arrived in the same loop iteration
 * are committed together, so they share their barriers (with fsync, one
 * fsync of mess/ and one of todo/ per iteration; with syncfs, one syncfs
 * per iteration). */
#ifndef SANDMAIL_QSERVER_H
#define SANDMAIL_QSERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "qwrite.h"

#define QS_GREETING	"sandmail-queue 1"
#define QS_DATA_MAX	65536	/* bytes in one D record */

struct qsess;

struct qsrv {
	int		 dirfd;		/* the queue directory */
	int		 lfd;		/* listening socket, or -1 */
	uint64_t	 max_size;	/* message bytes (D) */
	size_t		 max_rcpt;
	size_t		 max_clients;
	int		 idle_ms;	/* a silent client is dropped */
	enum qw_sync	 sync;
	int		 one_shot;	/* stop when the last client goes */
	size_t		 committed;	/* messages, for the log and tests */
	int		 trig;		/* lock/trigger, once opened, or -1 */
	struct qw_pool	*pool;		/* retired files to reuse, or NULL */
	int		 local;		/* set-uid: the client is a local user */
	uid_t		 invoker;	/* its real uid, when local */
	struct qsess	**s;
	size_t		 n, cap;
};

/* qsrv_init: defaults (35m, 100 recipients, 1000 clients, 10 min) */
void	qsrv_init(struct qsrv *, int dirfd, int lfd);
/* qsrv_add: a client reading rfd and writing wfd (the same for a
 * socket); peer names it in the log.  Sends the greeting.  0 or -1. */
int	qsrv_add(struct qsrv *, int rfd, int wfd, const char *peer);
/* qsrv_run: serve until the last client of a one-shot server is gone
 * (returns 0), or for ever; -1 on a poll error */
int	qsrv_run(struct qsrv *);
void	qsrv_free(struct qsrv *);

#endif
