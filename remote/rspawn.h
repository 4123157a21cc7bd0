/* rspawn: the parent of sandmail-rspawn's SMTP workers.  Takes RJOB
 * messages (with the message fd) from send on a SOCK_SEQPACKET socket,
 * hands each to a worker child (forked, not exec'd, and sandboxed),
 * preferring an idle worker that still holds a connection to the same
 * route, and passes the workers' RRES back to send. */
#ifndef SANDMAIL_REMOTE_RSPAWN_H
#define SANDMAIL_REMOTE_RSPAWN_H

#include "smtp.h"

struct rspawn_cfg {
	struct smtp_cfg	smtp;
	unsigned	max_workers;
	int		reuse_ms;	/* how long an idle worker is kept */
	unsigned	max_queued;
};

/* rspawn_run: serve on sock until EOF and every job is answered; 0 */
int	rspawn_run(const struct rspawn_cfg *, int sock);
struct conf;
/* rspawn_sandbox: user_remote, chroot to empty_dir as root, rspawn's
 * filter (rspawn_sbx.c); exits 111 on failure */
void	rspawn_sandbox(const struct conf *);
/* worker_sandbox: a worker's own, narrower filter (worker.c) */
void	worker_sandbox(void);
/* worker_run: a worker's life on its socket to rspawn; never returns */
void	worker_run(const struct smtp_cfg *, int sock)
	    __attribute__((noreturn));

#endif
