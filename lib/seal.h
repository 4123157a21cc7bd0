/* seal: the header that makes a todo/ file check itself and its message.
 *
 * With queue_sync syncfs, sandmail-queue renames todo/ID into place
 * before the one barrier (a syncfs) that makes the message, the envelope
 * and the name durable together.  (With queue_sync fsync, the default,
 * the message and envelope are fdatasynced before the rename, so the seal
 * is a defence only.)  A power loss inside that barrier may leave the name on disk
 * without the bytes it names: a zero or short file, an older file's bytes
 * (the files are written again, doc/design.md), or the envelope without
 * the message.  No client was answered for such a message, so it must be
 * dropped, not delivered.  The seal says which it is:
 *
 *   "SMSEAL1" | id (u8 length, 32 bytes, zero-padded) | boot id (16) |
 *   message size (u64) | CRC32C of the message (u32) |
 *   envelope length (u32) | CRC32C of all of the file but this field (u32)
 *   | the envelope (env.h)
 *
 * A header, not a trailer: no prefix of a sealed file is itself a whole
 * envelope.  A file sealed during the current boot cannot be torn
 * (nothing is lost without a reboot), so sandmail-send checks the
 * message's CRC only for files sealed in an earlier boot.  Big-endian, as
 * rec.h. */
#ifndef SANDMAIL_SEAL_H
#define SANDMAIL_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "env.h"
#include "qclient.h"

#define SEAL_MAGIC	"SMSEAL1"
#define SEAL_BOOT	16
#define SEAL_LEN	(7 + 1 + QID_MAX + SEAL_BOOT + 8 + 4 + 4 + 4)

struct seal {
	char		id[QID_MAX + 1];
	uint8_t		boot[SEAL_BOOT];
	uint64_t	size;		/* of mess/ID */
	uint32_t	crc;		/* CRC32C of mess/ID */
};

/* crc32c: CRC-32C (Castagnoli) of p[0..n), continuing from crc (0 to
 * start); the SSE4.2 instruction where the CPU has it */
uint32_t	crc32c(uint32_t crc, const void *p, size_t n);
/* crc32c_sw: the same by a table, as on CPUs without the instruction */
uint32_t	crc32c_sw(uint32_t crc, const void *p, size_t n);

/* seal_reserve: room for the header at the end of b (then the envelope
 * is encoded after it); seal_fill: the header at b[start..), over the
 * envelope that follows it to the end of b */
int	seal_reserve(struct buf *b);
int	seal_fill(struct buf *b, size_t start, const struct seal *s);
/* seal_split: 1 sealed and intact (the envelope is p[*off..*off+*len),
 * s filled), 0 no seal (a file of an older version: the envelope is the
 * whole), -1 a seal whose CRC, length or fields are wrong (a torn file) */
int	seal_split(const void *p, size_t n, struct seal *s, size_t *off,
	    size_t *len);
/* seal_env: a todo/ file's bytes: the envelope decoded into e and the
 * seal into s.  1 sealed, 0 without a seal (an older version's file),
 * -1 (errno EPROTO) a torn seal or an envelope that does not decode */
int	seal_env(struct env *e, const void *p, size_t n, struct seal *s);

/* boot_id: this boot's id (/proc/sys/kernel/random/boot_id) in out; 0,
 * or -1 with out zeroed (a zero id matches no boot: every seal is then
 * checked in full) */
int	boot_id(uint8_t out[SEAL_BOOT]);

#endif
