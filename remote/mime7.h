/* mime7: 8-bit MIME to 7-bit MIME (RFC 6152 3, RFC 2045), for a server
 * that does not offer 8BITMIME; and MIME parts with lines longer than
 * SMTP allows re-encoded (below).  Walks the MIME structure (multipart
 * parts, message/rfc822) and re-encodes each leaf that has 8-bit bytes:
 * text types as quoted-printable, anything else as base64; 8-bit header
 * fields become RFC 2047 encoded-words where that is allowed (hdr2047.h).
 * A message with an 8-bit body that is not MIME, or with 8-bit bytes in
 * a header field that cannot be encoded, cannot be converted (the caller
 * bounces it).  Messages use LF line ends, as in the queue. */
#ifndef SANDMAIL_REMOTE_MIME7_H
#define SANDMAIL_REMOTE_MIME7_H

#include <stddef.h>

#include "buf.h"

#define MIME7_DEPTH	20	/* nested multiparts */
/* octets of a line before its CRLF (RFC 5321 4.5.3.1.6) */
#define MIME7_LINE_MAX	998

/* What mime7_reencode changes: */
#define MIME7_8BIT	0x01	/* 8-bit data (server without 8BITMIME) */
#define MIME7_LONG	0x02	/* lines over MIME7_LINE_MAX octets */

/* mime7_has8bit: 1 if any byte has its high bit set (or is NUL) */
int	mime7_has8bit(const char *, size_t);
/* mime7_haslong: 1 if a line is longer than MIME7_LINE_MAX; *col
 * carries an unended line's length between chunks (start at 0) */
int	mime7_haslong(const char *, size_t, size_t *col);
/* mime7_convert: mime7_reencode with MIME7_8BIT */
int	mime7_convert(const char *msg, size_t n, struct buf *out,
	    const char **why);
/* mime7_reencode: the message with what mode (MIME7_*) names changed:
 * MIME7_8BIT as above; MIME7_LONG re-encodes each MIME leaf with a long
 * line (text as quoted-printable, others as base64; a body already in
 * base64 or quoted-printable is wrapped again, so it decodes to the same
 * bytes) and folds long header fields at a blank.  What cannot be
 * changed that way (a body that is not MIME, a field with no blank, the
 * text around parts) is left for the caller, which breaks such lines.
 * 0, or -1 with *why set (only MIME7_8BIT can fail) */
int	mime7_reencode(const char *msg, size_t n, unsigned mode,
	    struct buf *out, const char **why);
/* the encoders, exposed for tests */
int	mime7_qp(struct buf *, const char *, size_t);
int	mime7_base64(struct buf *, const char *, size_t);
/* mime7_b64: base64 without line breaks (for encoded-words) */
int	mime7_b64(struct buf *, const char *, size_t);

#endif
