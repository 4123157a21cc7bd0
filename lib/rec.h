/* rec: the framing of every pipe between sandmail's processes.
 *
 * A record is a 4-byte big-endian length, then that many bytes of payload.
 * The reader checks the length against its limit before allocating.  A
 * payload is built and taken apart with pk_* and cur_*: u8, u32 and u64 in
 * big-endian, and strings as a u32 length and the bytes.  A decoder must
 * consume a record exactly (cur_end), so extra bytes are an error. */
#ifndef SANDMAIL_REC_H
#define SANDMAIL_REC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "io.h"

#define REC_HDR	4

/* 1 record, 0 EOF between records, -1 error (EMSGSIZE over limit) */
int	rec_read(struct rd *, struct buf *out, uint32_t limit);
int	rec_write(struct wr *, const void *, size_t);	/* buffered */
int	rec_send(int fd, const struct buf *);	/* one record, one write */

/* Building a payload into a buf (pk_* return 0 or -1 when full). */
int	pk_u8(struct buf *, uint8_t);
int	pk_u32(struct buf *, uint32_t);
int	pk_u64(struct buf *, uint64_t);
int	pk_str(struct buf *, const void *, size_t);
int	pk_cstr(struct buf *, const char *);	/* NULL packs as "" */
/* pk_begin/pk_finish: reserve the 4-byte header, then fill it in */
int	pk_begin(struct buf *);
int	pk_finish(struct buf *, size_t start);

/* Taking one apart: each returns 0, or -1 with errno EPROTO when short. */
struct cur {
	const unsigned char	*p;
	size_t			 n;
};

void	cur_init(struct cur *, const void *, size_t);
int	cur_u8(struct cur *, uint8_t *);
int	cur_u32(struct cur *, uint32_t *);
int	cur_u64(struct cur *, uint64_t *);
/* n bytes as they are (a fixed-size field): points into the record */
int	cur_raw(struct cur *, const void **, size_t n);
/* a string field: points into the record, not NUL-terminated */
int	cur_str(struct cur *, const char **, size_t *);
/* a string field copied to a C string of at most max bytes, no NUL inside */
int	cur_cstr(struct cur *, char **out, size_t max);
int	cur_end(const struct cur *);	/* 0 if all consumed */

#endif
