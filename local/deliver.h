/* deliver: one message into one maildir, or into one program, as
 * sandmail-local does it.  The message is read with pread(2) from an fd
 * that others may share, so the file offset never matters. */
#ifndef SANDMAIL_DELIVER_H
#define SANDMAIL_DELIVER_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "maildir.h"

#define DT_FIELD_MAX	2048	/* a header field kept for the loop check */
#define DELIVER_TEXT_MAX 1000	/* the reason reported to lspawn */

/* The loop check: scans a message's header, in pieces of any size, for a
 * Delivered-To: field whose value (unfolded, trimmed, optional <>) is the
 * recipient, case-insensitively.  The header ends at the first empty
 * line (LF or CRLF). */
struct dtscan {
	const char	*rcpt;
	size_t		 rlen;
	char		 f[DT_FIELD_MAX];	/* the current field, unfolded */
	size_t		 flen;
	int		 over;		/* the field did not fit */
	int		 bol;		/* at the beginning of a line */
	int		 cr;		/* a CR began this line */
	int		 done;		/* the body has begun, or EOF */
	int		 loop;		/* found */
};

void	dtscan_init(struct dtscan *, const char *rcpt);
/* dtscan_feed: 1 when a loop is found (now or before), else 0 */
int	dtscan_feed(struct dtscan *, const void *, size_t);
/* dtscan_end: the message ended (perhaps without a newline) */
int	dtscan_end(struct dtscan *);

struct dinfo {
	const char	*qid;
	const char	*sender;
	const char	*rcpt;
	const char	*host;		/* for the maildir name */
};

/* Each returns an exit code (0, 100, 111) and a reason in why. */
int	deliver_maildir(const struct maildir *, int msgfd,
	    const struct dinfo *, const char *name, struct buf *why);
int	deliver_program(int msgfd, const struct dinfo *, const char *cmd,
	    struct buf *why);
/* deliver_loopcheck: 1 loop, 0 none, -1 read error */
int	deliver_loopcheck(int msgfd, const char *rcpt);
/* deliver_status: a wait status as an exit code: 0 and 100 as they are,
 * all else (111, other codes, signals) 111 */
int	deliver_status(int wstatus);

#endif
