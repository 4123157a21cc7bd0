/* inject: the message side of sandmail-inject (the sendmail command):
 * reading the message from its caller, line ends made LF, the lone-dot
 * end of input, the header section completed (From:, Date:, Message-ID:)
 * and cleaned (Bcc: gone), and the recipients of -t.  No I/O here except
 * through the sink a caller gives, so unit tests and the fuzz target run
 * it on memory. */
#ifndef SANDMAIL_INJECT_H
#define SANDMAIL_INJECT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "env.h"

#define INJ_HDR_MAX	(1024 * 1024)	/* the header section we hold */

/* inj_sink: write n bytes on; 0 or -1 */
typedef int inj_sink(void *ctx, const void *, size_t);

/* lnorm: CRLF -> LF, bare CR kept, a last line given its LF, and (with
 * dot set) a line of one "." ending the input, as sendmail without -i */
enum lnorm_state { LN_BOL, LN_MID, LN_CR, LN_DOT, LN_DOTCR };

struct lnorm {
	enum lnorm_state st;
	int		 dot;		/* a lone dot ends input */
	int		 ended;		/* it did */
	int		 eightbit;	/* a byte over 127 went through */
};

void	lnorm_init(struct lnorm *, int dot);
/* lnorm_feed: 0, or -1 if the sink failed; stops at the lone dot */
int	lnorm_feed(struct lnorm *, const char *, size_t, inj_sink *, void *);
/* lnorm_end: at EOF, the pending bytes and a last LF */
int	lnorm_end(struct lnorm *, inj_sink *, void *);

/* What the header completion needs to know. */
struct inj_opts {
	int		 tflag;		/* -t: recipients from the headers */
	const char	*from_addr;	/* the address a From: we add names */
	const char	*fullname;	/* -F or the gecos name; may be NULL */
	const char	*hostname;	/* right side of a Message-ID */
	time_t		 now;
	const char	*uniq;		/* left side's unique part */
};

/* The header section as read, then split where the body starts. */
struct inj_msg {
	struct lnorm	 ln;
	struct buf	 hb;		/* normalised bytes so far */
	size_t		 scan;		/* next line of hb to look at */
	size_t		 hstart;	/* the first field (after "From ") */
	size_t		 hend;		/* end of the fields */
	size_t		 bstart;	/* start of the body in hb */
	int		 ready;		/* hend/bstart known */
	int		 blank;		/* a blank line separated them */
};

void	inj_msg_init(struct inj_msg *, int dot);
void	inj_msg_free(struct inj_msg *);
/* inj_msg_feed: bytes read before the header section is complete;
 * 0, or -1 with errno E2BIG when the header section is too long */
int	inj_msg_feed(struct inj_msg *, const char *, size_t);
/* inj_msg_eof: the input ended (or the lone dot did); 0 or -1 */
int	inj_msg_eof(struct inj_msg *);

/* inj_rcpt_cb: called with each address found by -t */
typedef int inj_rcpt_cb(void *ctx, const char *addr, size_t n);

/* inj_headers: the header fields h[0..n) rewritten into out (without the
 * blank line): Bcc:, Resent-Bcc:, Return-Path: and Content-Length:
 * dropped; From:, Date: and Message-ID: added when missing.  With -t,
 * each address of To:, Cc: and Bcc: (or of the Resent- ones, when there
 * are any) goes to cb.  0, or an enum hdr_err (an address-list it could
 * not read), or HDR_TOOLONG when out is full. */
int	inj_headers(const struct inj_opts *, const char *h, size_t n,
	    struct buf *out, inj_rcpt_cb *cb, void *ctx);

/* inj_qualify: addr as a mailbox for the envelope: "root" becomes
 * root@domain, a quoted local part is unquoted and quoted again only
 * where RFC 5321 needs it; the result is appended to out.  0 or an
 * enum addr_err. */
int	inj_qualify(const char *addr, size_t n, const char *domain,
	    struct buf *out);

/* inj_date: an RFC 5322 date-time for t in local time, appended */
int	inj_date(struct buf *, time_t t);

#endif
