/* rtls: the sender's say in TLS (RFC 8689): the "TLS-Required: No"
 * header field, found in the message as queued (LF line ends).  No I/O:
 * unit tested in tests/unit/test_remote.c, fuzzed in fuzz_remote. */
#ifndef SANDMAIL_REMOTE_RTLS_H
#define SANDMAIL_REMOTE_RTLS_H

#include <stddef.h>

/* How much of a message is looked at for the field. */
#define RTLS_HEAD_MAX	(64 * 1024)

/* rtls_header_no: 1 if the header section of p[0..n) (up to the first
 * empty line) has a field TLS-Required whose value, unfolded and
 * without surrounding blanks, is "No" (both any case); else 0 */
int	rtls_header_no(const char *p, size_t n);

#endif
