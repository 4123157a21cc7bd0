/* dlog: the delivery log's parts that send writes and sandmail-logsum
 * reads back: the enhanced status code in a reply text, and one key's
 * value in a log line (lib/log.h's quoting undone). */
#ifndef SANDMAIL_DLOG_H
#define SANDMAIL_DLOG_H

#include <stddef.h>

#define DLOG_DSN_MAX	12	/* "5.123.123" and the NUL */

/* dlog_dsn: the first RFC 3463 code (2, 4 or 5 . 1-3 digits . 1-3
 * digits, standing alone) in text[0..n) copied to out; 0 if none */
int	dlog_dsn(const char *text, size_t n, char out[DLOG_DSN_MAX]);

/* dlog_get: the value of key in line[0..n) (a bare or quoted value, its
 * escapes undone, NUL-terminated, cut to sz-1 bytes) into out; 1 if the
 * key is there, else 0.  Only whole key=value tokens count: a "key=" in
 * a quoted value is not one. */
int	dlog_get(const char *line, size_t n, const char *key, char *out,
	    size_t sz);

/* dlog_time: the time stamp a logger put in front of line[0..n), as
 * unix seconds (UTC) into *t: svlogd -tt "YYYY-MM-DD_HH:MM:SS.frac",
 * ISO 8601 "YYYY-MM-DDTHH:MM:SS" (or with a blank; a trailing Z, or
 * none: UTC), or TAI64N "@4000000065...".  1 found, 0 none (or not a
 * valid date). */
int	dlog_time(const char *line, size_t n, long long *t);

#endif
