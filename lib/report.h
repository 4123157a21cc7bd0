/* report: what the two report writers share (sandmail-sts's TLS reports,
 * RFC 8460; sandmail-dmarcrep's DMARC aggregate reports, RFC 7489 7.2):
 * the report gzipped, and the gzip as a base64 attachment body. */
#ifndef REPORT_H
#define REPORT_H

#include "buf.h"

/* report_gzip: in as one gzip member (RFC 1952) appended to out; 0 or
 * -1.  report_b64: bin as base64 in lines of 76 with LF ends (the
 * queue's line ends), appended to m; 0 or -1. */
int	report_gzip(const struct buf *in, struct buf *out);
int	report_b64(struct buf *m, const struct buf *bin);

#endif
