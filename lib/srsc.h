/* srsc: the SRS check service's protocol (doc/protocols.md, "The SRS
 * check service") and smtpd's side of it.
 *
 * The SRS secret lives in sandmail-send, which makes SRS addresses, and
 * in sandmail-srs (srs/main.c), which only answers whether the local
 * part of an SRS address was made with it: never in an SMTP session,
 * which parses network bytes.  A session gets a connection to the
 * service from smtpd's listener (BROKER_SRS) or, under tcpserver, opens
 * it before its sandbox (usock_connect), and asks at RCPT:
 *
 *	struct srsc c;
 *	srsc_attach(&c, fd, timeout_ms);	(fd -1: every answer SRS_ERROR)
 *	switch (srsc_check(&c, local, llen)) {
 *	case SRS_OK:		250: it stands for an address we made
 *	case SRS_ERROR:		451 4.3.0: not checked now (service down)
 *	default:		550 5.1.1: forged, stale or malformed
 *	}
 *
 * Records are framed by lib/rec.h: the service's greeting G str(banner);
 * a request C str(local part); its answer c u8(enum srs_res). */
#ifndef SANDMAIL_SRSC_H
#define SANDMAIL_SRSC_H

#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "io.h"
#include "srs.h"

#define SRSC_BANNER	"sandmail-srs 1"
#define SRSC_LOCAL_MAX	512	/* srs_parse's limit on a local part */
#define SRSC_REC_MAX	(SRSC_LOCAL_MAX + 16)	/* one record's payload */

enum srsc_type {
	SRSC_HELLO = 'G',	/* service -> session: the banner */
	SRSC_REQ = 'C',		/* session -> service: check this */
	SRSC_RES = 'c',		/* service -> session: enum srs_res */
};

struct srsc {
	int	 fd;
	int	 greeted;
	struct rd rd;
	struct wr wr;
};

/* srsc_attach: talk on fd (-1: none), each answer awaited timeout_ms */
void	srsc_attach(struct srsc *, int fd, int timeout_ms);
/* srsc_check: the service's verdict on an SRS local part; SRS_ERROR when
 * it cannot be asked (no connection, a time-out, a protocol error: the
 * connection is then closed).  The caller ignores SIGPIPE. */
enum srs_res srsc_check(struct srsc *, const char *local, size_t n);
void	srsc_close(struct srsc *);

/* The records, framed (pk_begin .. pk_finish), for both sides and tests;
 * decoders: 0, or -1 with EPROTO (wrong type, short, over a limit, extra
 * bytes).  Decoders take the payload without its length. */
int	srsc_hello_encode(struct buf *);
int	srsc_hello_decode(const void *, size_t);
int	srsc_req_encode(struct buf *, const char *local, size_t n);
int	srsc_req_decode(const void *, size_t, const char **local, size_t *n);
int	srsc_res_encode(struct buf *, enum srs_res);
int	srsc_res_decode(const void *, size_t, enum srs_res *);

#endif
