/* mime7: 8-bit MIME to 7-bit MIME (RFC 6152 3, RFC 2045), for a server
 * that does not offer 8BITMIME.  Walks the MIME structure (multipart
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

/* mime7_has8bit: 1 if any byte has its high bit set (or is NUL) */
int	mime7_has8bit(const char *, size_t);
/* mime7_convert: 0, or -1 with *why set (out then holds nothing useful) */
int	mime7_convert(const char *msg, size_t n, struct buf *out,
	    const char **why);
/* the encoders, exposed for tests */
int	mime7_qp(struct buf *, const char *, size_t);
int	mime7_base64(struct buf *, const char *, size_t);
/* mime7_b64: base64 without line breaks (for encoded-words) */
int	mime7_b64(struct buf *, const char *, size_t);

#endif
