/* qclient: the client side of the queue protocol, used by smtpd and
 * inject to hand messages to sandmail-queue (doc/protocols.md, "queue").
 * Implemented in lib/qclient.c (the queue issue); smtpd links it. */
#ifndef SANDMAIL_QCLIENT_H
#define SANDMAIL_QCLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include "env.h"
#include "io.h"

#define QID_MAX		32	/* a queue ID: [0-9A-Za-z], at most 32 */
#define QC_TEXT_MAX	512
#define QC_STATUS_MAX	10	/* "5.123.123" and its NUL */

enum qc_status {
	QC_OK = 0,		/* committed: fsynced, todo/ID in place */
	QC_TEMP = 1,		/* not queued; say 451 */
	QC_PERM = 2,		/* not queued, and never will be: say 5xx */
};

struct qc {
	int	 fd;
	pid_t	 pid;		/* the queue child, when spawned; else -1 */
	struct rd rd;
	struct wr wr;
	char	 text[QC_TEXT_MAX];	/* the queue's reason, on TEMP/PERM */
	char	 status[QC_STATUS_MAX];	/* its RFC 3463 code, as "4.3.1" */
};

/* qc_connect: the long-lived queue service on a UNIX socket */
int	qc_connect(struct qc *, const char *sockpath);
/* qc_attach: a connection to the service already made (fd); the greeting
 * is awaited at most wait_ms (the queue is full: then -1, fd closed) */
int	qc_attach(struct qc *, int fd, int wait_ms);
/* qc_spawn: fork+exec the queue program on a socket pair (setuid mode) */
int	qc_spawn(struct qc *, const char *prog, const char *conf);
/* qc_begin: start a message; the queue answers with its ID */
int	qc_begin(struct qc *, char id[QID_MAX + 1]);
/* the same in two halves, so the caller can do something in between
 * (smtpd sends its 354 while the queue makes the file) */
int	qc_begin_send(struct qc *);
int	qc_begin_wait(struct qc *, char id[QID_MAX + 1]);
/* qc_data: message bytes (LF line ends, our Received: line first) */
int	qc_data(struct qc *, const void *, size_t);
/* qc_end: the envelope; returns an enum qc_status (text in qc->text) */
int	qc_end(struct qc *, const struct env *);
/* qc_abort: forget the message begun; the queue removes what it wrote */
int	qc_abort(struct qc *);
/* qc_flush: ask send to run the queue for a domain ("" for all) now */
int	qc_flush(struct qc *, const char *domain);
void	qc_close(struct qc *);

#endif
