/* qwrite: writing one new message into the queue (mess/ then todo/), the
 * way sandmail-queue does it, for sandmail-queue itself and for send's
 * bounces: the queue and send both commit messages with it, so it is
 * in lib/ (send has its own folder and user).
 *
 * One message: qw_begin, qw_write..., qw_commit (or qw_abort).
 * Many at once (group commit, sandmail-queue's service): qw_begin and
 * qw_write each, qw_prepare each, then one qw_publish for all of them
 * (QW_SYNC_FILE); or qw_rename each, then one syncfs for the whole batch
 * (QW_SYNC_FS).
 * Either way the envelopes are renamed into todo/ first, then one
 * barrier makes everything durable together: with qw_publish an
 * fdatasync of each file and an fsync of mess/ and of todo/, submitted
 * at once (nothing but these files and directories is waited for);
 * with one syncfs every other dirty page of the file system too.  No
 * order holds inside the barrier, so after a power loss in it the
 * envelope's seal (seal.h) tells a torn todo/ID from a whole one. */
#ifndef SANDMAIL_QWRITE_H
#define SANDMAIL_QWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "qclient.h"

/* what this message has put on disk so far (qw->made) */
enum {
	QW_ENV = 0x02,		/* tmp/ID.env */
	QW_MESS = 0x04,		/* mess/ID */
	QW_TODO = 0x08,		/* todo/ID */
};

/* how data reaches the disk */
enum qw_sync {
	QW_SYNC_FILE = 0,	/* fdatasync each file, fsync mess/ and
				 * todo/, in one barrier per batch (the
				 * default) */
	QW_SYNC_FS = 1,		/* one syncfs(2) for a whole batch */
};

/* files to write again instead of new ones (sandmail-queue's service):
 * tmp/re.NAME, files of this uid that sandmail-send retired from mess/
 * and todo/ once their removal was durable (doc/design.md).  On this
 * kind of queue a new inode costs far more than a rename (ext4 without
 * a journal scans every recently freed inode of the group). */
#define QW_POOL_MAX	64	/* names held */
#define QW_POOL_KEEP	128	/* send hands over no more re.*, the queue
				 * unlinks more: a big tmp/ spreads its
				 * renames over many directory blocks,
				 * each one more write */

struct qw_pool {
	unsigned	  uid;		/* the owner a reused file must have */
	char		(*name)[QID_MAX + 8];
	size_t		  n;
	uint64_t	  next_scan;	/* ms (CLOCK_MONOTONIC): not before */
	unsigned long	  reused, made;	/* for the log and tests */
	unsigned long	  dropped;	/* unlinked on a full file system */
	/* or, for a writer that keeps its retired files itself (send): no
	 * names, none of tmp/re.* taken, and on a full file system this
	 * instead (how many it unlinked) */
	size_t		(*drop)(void *ctx);
	void		 *ctx;
};

/* qw_re_walk: the tmp/re.* of the queue at qdirfd listed (every name
 * "re." and more): the first keep passed to fn (when not NULL), every
 * one after them unlinked.  0, with r->gone how many were unlinked and
 * r->left how many are still there; -1 when tmp/ cannot be listed */
struct qw_re {
	size_t		gone, left;
};
int	qw_re_walk(int qdirfd, size_t keep, void (*fn)(void *, const char *),
	    void *ctx, struct qw_re *r);

struct qw {
	int		dirfd;		/* the queue directory */
	struct qw_pool	*pool;		/* or NULL: new files only */
	int		fd;		/* mess/ID being written, or -1 */
	int		efd;		/* tmp/ID.env, prepared with QW_SYNC_FILE
					 * and not yet published, or -1 */
	uint64_t	size;
	uint32_t	crc;		/* CRC32C of the message so far */
	uint64_t	old;		/* size of the reused file, else 0 */
	char		id[QID_MAX + 1];
	unsigned	made;		/* QW_* bits: what to remove on failure */
	int		err;		/* errno of the failure */
	const char	*op;		/* the step that failed, for the log */
};

/* qw_begin: a new ID and its file mess/ID (O_EXCL); 0 or -1 */
int	qw_begin(struct qw *, int qdirfd);
/* qw_begin_pool: the same, taking mess/ID and (at qw_prepare) the
 * envelope's file from the pool when it has one; a create or write that
 * finds the file system full gives the pool's space back (qw_pool_drop)
 * and tries once more */
int	qw_begin_pool(struct qw *, int qdirfd, struct qw_pool *);
/* qw_pool_init: an empty pool for files owned by uid; qw_pool_free */
int	qw_pool_init(struct qw_pool *, unsigned uid);
void	qw_pool_free(struct qw_pool *);
/* qw_pool_drop: errno ENOSPC or EDQUOT (the file system full): the
 * pool's retired files unlinked (its drop, or every tmp/re.*), for a
 * writer to try once more when some were.  How many; errno kept; 0 for
 * a NULL pool or another errno.  qw's own creates and writes call it. */
size_t	qw_pool_drop(struct qw_pool *, int qdirfd);
int	qw_write(struct qw *, const void *, size_t);
/* qw_commit: fsync, rename to mess/ID, write todo/ID with env (size set
 * from what was written), fsync the directories, poke lock/trigger.
 * 0: the message is durable; -1: it is not: nothing of it is left
 * behind, unless the barrier after its rename into todo/ failed (op
 * "fsync ..." or "close"): then its files are left for send, which may
 * have taken it already, and it may be delivered (at worst a duplicate
 * of the one the caller sends again). */
int	qw_commit(struct qw *, struct env *);
void	qw_abort(struct qw *);

/* qw_prepare: the per-message half of a commit: the message complete in
 * mess/ID, the envelope (env->size set) written to tmp/ID.env; with
 * QW_SYNC_FILE both files stay open, their writeback begun, for
 * qw_publish to fdatasync; with QW_SYNC_FS both are closed.  0, or -1
 * with the message aborted (op and err say why). */
int	qw_prepare(struct qw *, struct env *, enum qw_sync);
/* qw_publish: the shared half for n messages prepared with QW_SYNC_FILE:
 * the renames to todo/, then one barrier (the fdatasync of each one's
 * two files, one fsync of mess/ and of todo/, at once), one poke of
 * lock/trigger.  (With QW_SYNC_FS the caller renames,
 * qw_rename, then makes its own syncfs.)  Messages with made == 0 are
 * skipped; each one that fails is failed with op/err set and made 0:
 * removed if it failed before its rename, else left in todo/ for send
 * (qw_commit).  Returns how many are committed; those have made ==
 * QW_MESS|QW_TODO. */
size_t	qw_publish(struct qw *const *, size_t n);
/* qw_rename: for n prepared messages: the renames to todo/ only.  Not
 * durable until the caller's barrier (a syncfs) that follows: answer no
 * client before it.  Returns how many are
 * renamed (made == QW_MESS|QW_TODO); the failed ones are aborted. */
size_t	qw_rename(struct qw *const *, size_t n);
/* qw_fail: a barrier shared by n messages failed: every live one fails
 * (op and err set, made 0): those renamed into todo/ are left there for
 * send, the others removed */
void	qw_fail(struct qw *const *, size_t n, const char *op);

/* qw_set_boot: this boot's id (seal.h's boot_id), for every envelope's
 * seal from now on; never set, the seals carry zeros, which send takes
 * for an unknown boot and checks in full */
void	qw_set_boot(const uint8_t id[16]);

/* qw_newid: a fresh queue ID, unique without coordination: the time in
 * microseconds and 64 random bits, in [0-9A-Za-z] (22 characters) */
void	qw_newid(char id[QID_MAX + 1]);
/* qw_idok: whether s is a syntactically valid queue ID */
int	qw_idok(const char *s);
/* qw_keep_dirs: mess/ and todo/ of the queue at qdirfd opened once and
 * kept for the process's life: qw_publish's barriers for that qdirfd
 * fsync them instead of opening and closing both every batch (the
 * service's; qdirfd must stay open; -1 closes them again).  0, or -1
 * (then each barrier opens its own, as without it) */
int	qw_keep_dirs(int qdirfd);
/* qw_trigger: write p[0..n) (at most PIPE_BUF) to lock/trigger without
 * blocking.  0 written; 1 no reader or the FIFO full; -1 other error. */
int	qw_trigger(int qdirfd, const void *p, size_t n);

#endif
