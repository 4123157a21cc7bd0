/* lwork: a reusable maildir delivery worker, forked by sandmail-lspawn.
 *
 * A worker serves exactly one key (uid, gid, maildir path) for its whole
 * life.  As the recipient it opens the maildir, confines itself to it
 * (Landlock, then a seccomp filter that names the maildir's descriptors
 * and its socket), delivers the job it was forked for, and then serves
 * further jobs for the same key that lspawn sends on its socket (fd 1):
 *
 *   lspawn -> worker  LJOB, with the message fd (as send -> lspawn)
 *   worker -> lspawn  LRES, no fd: K, Z or X, one per job
 *
 * It exits after lspawn_max_use deliveries, after a temporary failure,
 * on EOF, on a bad job, or when no job came for the backstop idle time
 * (lspawn retires idle workers itself before that). */
#ifndef SANDMAIL_LWORK_H
#define SANDMAIL_LWORK_H

#include <stdint.h>

#include "job.h"

/* A worker's exit status, without a result, when its maildir is no
 * longer the one at the job's path (moved, removed or replaced): it did
 * not deliver, and lspawn gives the job to a fresh worker. */
#define LWORK_EXIT_STALE	99
#define LWORK_SOCK	1	/* the worker's socket to lspawn */

struct lwork {
	const char	*host;		/* for maildir names */
	unsigned long long idle;	/* seconds without a job: exit */
	unsigned long	 max_use;	/* deliveries, then exit */
};

/* lwork_run: in the forked child, already the recipient, with the first
 * job's message on fd 0, the socket on LWORK_SOCK and the log on fd 2
 * (nothing else open): set up, deliver first, then serve.  Never
 * returns. */
void	lwork_run(const struct lwork *, const struct ljob *first)
	    __attribute__((noreturn));
struct maildir;
struct stat;
/* lwork_enter: as the recipient: open (and make) the maildir dest, with
 * *st its stat, then Landlock and the worker's filter (recvmsg and
 * sendmsg on LWORK_SOCK).  NULL, or what failed with errno set.  The
 * probe calls it as a worker does. */
const char *lwork_enter(struct maildir *, const char *dest, struct stat *st);
/* lwork_fail: report what (with strerror(err) unless 0) as the first
 * job's temporary failure, and _exit 111 */
void	lwork_fail(const struct ljob *, const char *what, int err)
	    __attribute__((noreturn));

#endif
