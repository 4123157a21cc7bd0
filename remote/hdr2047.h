/* hdr2047: 8-bit header fields as RFC 2047 encoded-words (UTF-8 only;
 * unstructured fields, and the phrases and comments of address fields),
 * for the 7-bit downgrade.  Fields use LF line ends, as in the queue. */
#ifndef SANDMAIL_REMOTE_HDR2047_H
#define SANDMAIL_REMOTE_HDR2047_H

#include <stddef.h>

#include "buf.h"

/* hdr2047_field: one whole field (name, colon, value with its
 * continuation lines, final LF) appended to o, as it is if it is 7-bit,
 * else encoded; 0, or -1 with *why set (an 8-bit address, an 8-bit
 * structured field, not UTF-8, out of memory) */
int	hdr2047_field(struct buf *o, const char *f, size_t fn,
	    const char **why);

#endif
