/* reply: SMTP replies (RFC 5321 4.2) and EHLO keywords (4.1.1.1), read
 * from a server we do not trust: codes are checked, lines and the number
 * of lines are bounded, a multiline reply must keep its code. */
#ifndef SANDMAIL_REMOTE_REPLY_H
#define SANDMAIL_REMOTE_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "io.h"

#define REPLY_LINE_MAX	2048	/* RFC 5321 says 512; be lenient */
#define REPLY_LINES_MAX	100
#define REPLY_TEXT_MAX	2048	/* kept for logs and bounces */

struct reply {
	int	code;			/* 200..599 */
	size_t	len;
	char	text[REPLY_TEXT_MAX];	/* lines' text after "NNN-", '\n'
					 * between lines, NUL-terminated */
	int	cut;			/* text did not fit */
};

/* reply_line: one line (CRLF or LF removed) -> code, final?, text.
 * 0, or -1 when it is not a reply line. */
int	reply_line(const char *line, size_t n, int *code, int *final,
	    const char **text, size_t *tlen);
/* reply_read: a whole reply from rd.  0, or -1 with errno (EPROTO: not
 * SMTP; E2BIG: too long; ETIMEDOUT; or I/O). */
int	reply_read(struct rd *, struct reply *);
/* reply_oneline: the reply as one line for a bounce: "550 5.1.1 a b" */
void	reply_oneline(const struct reply *, char *out, size_t outsz);

enum {
	EXT_PIPELINING = 0x01, EXT_SIZE = 0x02, EXT_8BITMIME = 0x04,
	EXT_DSN = 0x08, EXT_SMTPUTF8 = 0x10, EXT_STARTTLS = 0x20,
	EXT_AUTH_PLAIN = 0x40, EXT_AUTH_LOGIN = 0x80,
	EXT_ENHANCEDSTATUSCODES = 0x100, EXT_REQUIRETLS = 0x200,
};

struct ehlo {
	unsigned	ext;
	uint64_t	size;	/* SIZE's value; 0: none given */
};

/* ehlo_parse: the keywords of a 250 EHLO reply (the first line is the
 * greeting and is skipped) */
void	ehlo_parse(const struct reply *, struct ehlo *);

#endif
