/* send_int: the internals of sandmail-send shared by its files (and by
 * the queue tools and tests, which link send_rcpt.o and send_sched.o).
 * Nothing here is a protocol between processes; the on-disk formats of
 * info/, local/, remote/ and bounce/ are described in doc/design.md. */
#ifndef SANDMAIL_SEND_INT_H
#define SANDMAIL_SEND_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "env.h"
#include "qclient.h"

/* info/ID (since SMINFO2): the magic, u32 len + the envelope without
 * recipients (SMENV1), then one record per recipient, local and remote,
 * with the kind in byte 1.  The first version (SMRCPT1) kept info/ID as
 * the bare envelope and the records in local/ID and remote/ID, a magic
 * then one record per recipient, byte 1 zero; send and the tools still
 * read it, so a queue written by that version drains unchanged:
 *   u8 state  u8 kind  u64 next  u16 errlen  char err[SEND_ERR_MAX]
 *   u32 len  len bytes: str addr str orcpt u8 notify str dest
 *   u32 uid u32 gid str domain str sender [str orig]
 * (orig, only when it differs from addr, since the delivery log's
 * orig_to=; a record without it decodes with orig NULL)
 * The state byte is overwritten in place (then fdatasync); next and err
 * are advisory (written without a sync: after a crash an older value only
 * makes a retry come early). */
#define RC_MAGIC	"SMRCPT1\n"
#define RC_MAGIC_LEN	8
#define INFO_MAGIC	"SMINFO2\n"
#define INFO_MAGIC_LEN	8
#define INFO_FILE_MAX	(64u * 1024 * 1024)
#define SEND_ERR_MAX	200
#define RC_OFF_NEXT	2
#define RC_OFF_ERR	10
#define RC_FIXED	(RC_OFF_ERR + 2 + SEND_ERR_MAX)
#define RC_HDR		(RC_FIXED + 4)
#define RC_PAYLOAD_MAX	8192
#define RC_FILE_MAX	(64u * 1024 * 1024)

enum rc_state {
	RC_PENDING = 'P',	/* to be delivered */
	RC_WARNED = 'W',	/* to be delivered; a delay notice was made */
	RC_DONE = 'D',		/* delivered */
	RC_FAILED = 'F',	/* given up; the failure is in bounce/ID */
};

enum rc_kind { RC_LOCAL = 'L', RC_REMOTE = 'R' };

struct rcpt {
	off_t		 off;		/* of the record in its file */
	uint64_t	 next;		/* next attempt, unix time */
	uint8_t		 state, kind, notify, busy;
	char		*addr;		/* the final address */
	char		*orcpt;		/* DSN ORCPT as given, or "" */
	char		*dest;		/* local: maildir or |command */
	char		*domain;	/* remote: the domain, lowercased */
	uint32_t	 uid, gid;
	char		 err[SEND_ERR_MAX + 1];	/* last error */
	char		*sender;	/* owner-LIST@domain, or "": the
					 * message's sender */
	uint8_t		 inner;		/* the record is in info/ID (SMINFO2) */
	uint8_t		 dirty;		/* state changed, not yet written */
	char		*orig;		/* the envelope recipient addr came
					 * from (before alias, virtual and
					 * extension expansion), or NULL:
					 * addr itself */
};

int	rc_encode(struct buf *, const struct rcpt *);
/* rc_decode: a whole SMRCPT1 file into an array (appended to *v, *n); 0
 * or -1 */
int	rc_decode(const void *, size_t, uint8_t kind, struct rcpt **v,
	    size_t *n);
void	rc_free(struct rcpt *);
int	rc_pending(const struct rcpt *);
/* rc_dir: the directory whose ID file holds r's record */
const char *rc_dir(const struct rcpt *);

/* info_encode: info/ID (SMINFO2) from the envelope (its recipients are
 * not written) and the encoded records (rc_encode, kind set) */
int	info_encode(struct buf *, const struct env *, const void *recs,
	    size_t n);
/* info_decode: an info/ID image.  SMINFO2: the envelope and every
 * record (appended to *v, *n; *inner = 1).  The first version: the
 * envelope only (*inner = 0: the records are in local/ and remote/). */
int	info_decode(const void *, size_t, struct env *, struct rcpt **v,
	    size_t *n, int *inner);

/* bounce/ID: records (u32 len, payload) appended and fdatasynced:
 *   u8 action ('F' failed, 'D' delayed, 'S' delivered, 'R' relayed to
 *   a next hop without DSN) u64 time
 *   str addr str orcpt u8 notify str mta str text str sender
 * A torn last record (a crash while appending) is ignored. */
enum br_action { BR_FAILED = 'F', BR_DELAYED = 'D', BR_DELIVERED = 'S',
	BR_RELAYED = 'R' };

struct brec {
	uint8_t		 action;
	uint64_t	 time;
	char		*addr, *orcpt, *mta, *text;
	uint8_t		 notify;
	char		*sender;	/* report to this, not the sender */
};

int	br_encode(struct buf *, const struct brec *);
/* br_decode: every whole record of a file; 0 or -1 (bad record) */
int	br_decode(const void *, size_t, struct brec **v, size_t *n);
void	br_free(struct brec *, size_t n);

/* the schedule: points arrival, +first, +2first, +4first ... each step
 * at most max; sched_next is the first point after now */
uint64_t sched_next(uint64_t arrival, uint64_t now, uint64_t first,
	    uint64_t max);

/* the message index: every message send knows, with its next due time,
 * in a hash by ID and a binary heap by due time */
struct msg {
	char		 id[QID_MAX + 1];
	uint8_t		 todo;		/* todo/ID to go after a syncfs */
	uint8_t		 qdur;		/* the queue said mess/ID is durable */
	uint64_t	 due;
	uint64_t	 arrival;	/* unix time; 0: not known yet */
	size_t		 hi;		/* heap index, or IDX_NONE */
	uint32_t	 flushseq;	/* flush requests already applied */
	uint8_t		 requeue;	/* Q: every recipient due at its load */
	struct msg	*hnext;		/* hash chain */
	struct live	*live;		/* loaded, or NULL */
};

#define IDX_NONE	((size_t)-1)

struct index {
	struct msg	**tab;
	size_t		  tabsz, n;
	struct msg	**heap;
	size_t		  hn, hcap;
	uint64_t	  oldest;	/* the least arrival known, or 0 */
	int		  ostale;	/* its message went: look again */
};

void	idx_init(struct index *);
struct msg *idx_get(struct index *, const char *id);
struct msg *idx_add(struct index *, const char *id, uint64_t due);
void	idx_del(struct index *, struct msg *);
void	idx_sched(struct index *, struct msg *, uint64_t due);
void	idx_unsched(struct index *, struct msg *);
struct msg *idx_top(const struct index *);
/* idx_arrival: a message's arrival time, learnt; idx_oldest: the least
 * arrival of those known, 0 if none (it walks the hash only after the
 * oldest message went, not on each call) */
void	idx_arrival(struct index *, struct msg *, uint64_t);
uint64_t idx_oldest(struct index *);
void	idx_free(struct index *);

/* IDs: [0-9A-Za-z]{1,32} */
int	send_idok(const char *);

/* bounce composition (send_bounce.c) */
struct bctx {
	const char	*hostname;
	const char	*qid;
	const char	*to;		/* the report's recipient */
	const char	*envid;
	uint64_t	 arrival;
	uint64_t	 now;
	uint64_t	 until;		/* for delayed: retry until */
	uint8_t		 ret;		/* RET_FULL: whole message */
	int		 msgfd;		/* mess/ID, or -1 */
	const char	*boundary;	/* made from the ID if NULL */
};

typedef int bput_fn(void *ctx, const void *, size_t);

int	bounce_status(const char *text, uint8_t action, char out[16]);
int	bounce_write(const struct bctx *, const struct brec *, size_t n,
	    bput_fn *, void *ctx);
void	bounce_date(uint64_t t, char *out, size_t sz);

#endif
