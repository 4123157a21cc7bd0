/* qwrite: new messages into the queue directory, crash-safe.
 *
 * Used by sandmail-queue (sandboxed: only calls on the queue directory's
 * descriptor) and by sandmail-send for its bounces.  Every path is relative
 * to qw->dirfd.  The order that makes a crash at any instant safe:
 *
 *   mess/ID      created (O_EXCL) and written: an orphan until todo/ID
 *                exists, whole or not
 *   tmp/ID.env   written and sealed (seal.h: its own CRC32C, the
 *                message's size and CRC32C, this boot's id)
 *   todo/ID      renamed from tmp/ID.env (its descriptor kept open)
 *   -- barrier: QW_SYNC_FILE (qw_publish, for a whole batch): writeback
 *      of every file of the batch started as it is prepared
 *      (sync_file_range), then one fdatasync of each mess/ID and each
 *      envelope and one fsync of mess/ and of todo/, all submitted
 *      together (syncv.h: one journal commit and its flush serve them
 *      all); nothing else of the file system is waited for.  With
 *      QW_SYNC_FS, the service's one syncfs for the whole batch
 *      (qw_rename first, then the syncfs).  Only then is a client
 *      answered.
 *
 * Either way a power loss inside the barrier may leave todo/ID durable
 * and its bytes or mess/ID's not (the file system writes them in any
 * order); no client was answered for it.  The seal tells send so
 * (send_pre.c: a seal of an earlier boot is checked against mess/ID's
 * size and CRC32C), and send drops such a message instead of delivering
 * another file's bytes.  Once the barrier has returned, every byte and
 * name of the batch is durable (fsync and fdatasync of each).  One
 * barrier, not two (the data, then the renames): two were two journal
 * commits and two disk cache flushes per commit.
 *
 * The message is written in place under mess/ID, not in tmp/ and renamed:
 * the ID is random, so the name is free without the rename, and no one
 * reads mess/ID before todo/ID (made after the barrier) names it; send
 * removes mess/ID without todo/ID or info/ID after a day (a crash while
 * it was written), as it did with a renamed one.  The directory barriers
 * are shared by every message of a batch: a batch of n costs 2n
 * fdatasyncs and two directory fsyncs in one barrier (QW_SYNC_FILE), or
 * one syncfs (QW_SYNC_FS).  A failure at any step removes what this message made
 * (flagmademess in qmail-queue). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "env.h"
#include "qwrite.h"
#include "seal.h"
#include "syncv.h"

#define PATH_ID_MAX	(QID_MAX + 16)
#define ENVENC_MAX	(64u * 1024 * 1024)

static uint8_t	boot[SEAL_BOOT];	/* zero: unknown (qw_set_boot) */

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* put62 - v in base 62, exactly w digits, most significant first */
static void
put62(char *out, uint64_t v, int w)
{
	for (int i = w - 1; i >= 0; i--) {
		out[i] = b62[v % 62];
		v /= 62;
	}
}

/* qw_newid - time in microseconds and 64 random bits, base 62 */
void
qw_newid(char id[QID_MAX + 1])
{
	struct timespec ts;
	uint64_t t, r;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
	randombytes_buf(&r, sizeof r);
	put62(id, t, 11);		/* 62^11 > 2^64: IDs sort by time */
	put62(id + 11, r, 11);
	id[22] = '\0';
}

/* qw_idok - [0-9A-Za-z]{1,32} */
int
qw_idok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= QID_MAX || strchr(b62, s[n]) == NULL)
			return 0;
	return n > 0;
}

static int
path(char *p, size_t sz, const char *dir, const char *id, const char *ext)
{
	int n = snprintf(p, sz, "%s/%s%s", dir, id, ext);

	if (n < 0 || (size_t)n >= sz)
		return errno = ENAMETOOLONG, -1;
	return 0;
}

static int
fail(struct qw *q, const char *op)
{
	q->err = errno;
	q->op = op;
	return -1;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t k;

	while (n > 0) {
		k = write(fd, s, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			return errno = EIO, -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

/* ---- the pool of retired files ---- */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* qw_pool_init - an empty pool of files owned by uid */
int
qw_pool_init(struct qw_pool *pl, unsigned uid)
{
	memset(pl, 0, sizeof *pl);
	pl->uid = uid;
	pl->name = calloc(QW_POOL_MAX, sizeof *pl->name);
	return pl->name == NULL ? -1 : 0;
}

void
qw_pool_free(struct qw_pool *pl)
{
	free(pl->name);
	pl->name = NULL;
	pl->n = 0;
}

/* qw_re_walk - tmp/re.* listed: the first keep passed to fn, the rest
 * unlinked (by the queue directory's descriptor: the sandboxes allow no
 * other); r says how many went and how many are left */
int
qw_re_walk(int qdirfd, size_t keep, void (*fn)(void *, const char *),
    void *ctx, struct qw_re *r)
{
	struct dirent *d;
	char p[300];
	DIR *dp;
	int fd;

	r->gone = r->left = 0;
	if ((fd = openat(qdirfd, "tmp", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((d = readdir(dp)) != NULL) {
		if (strncmp(d->d_name, "re.", 3) != 0 || d->d_name[3] == '\0')
			continue;
		if (r->gone + r->left < keep) {
			if (fn != NULL)
				fn(ctx, d->d_name);
			r->left++;
		} else if (snprintf(p, sizeof p, "tmp/%s", d->d_name) <
		    (int)sizeof p && unlinkat(qdirfd, p, 0) == 0)
			r->gone++;
		else
			r->left++;
	}
	closedir(dp);
	return 0;
}

/* hold - one tmp/re.* name held in the pool, while there is room */
static void
hold(void *ctx, const char *name)
{
	struct qw_pool *pl = ctx;
	size_t len = strlen(name);

	if (pl->n < QW_POOL_MAX && len < sizeof pl->name[0])
		memcpy(pl->name[pl->n++], name, len + 1);
}

/* refill - the tmp/re.* names, at most QW_POOL_MAX; past keep the rest
 * are unlinked (send hands over at most QW_POOL_KEEP: past that only
 * what an older send left).  An empty scan waits 100 ms for the next;
 * keep 0 (qw_pool_drop) lists tmp/ whatever the wait and unlinks every one.
 * How many were unlinked. */
static size_t
refill(struct qw_pool *pl, int dirfd, size_t keep)
{
	struct qw_re r;

	if (keep > 0 && mono_ms() < pl->next_scan)
		return 0;
	if (qw_re_walk(dirfd, keep, hold, pl, &r) == -1)
		return 0;
	pl->next_scan = pl->n == 0 ? mono_ms() + 100 : 0;
	return r.gone;
}

/* qw_pool_drop - the file system is full (ENOSPC, EDQUOT): the pool's
 * retired files unlinked, their blocks free again: the queue's every
 * tmp/re.*, in refill's walk with nothing kept, or what the pool's own
 * drop gives back (send's).  A drained queue would otherwise keep up to
 * QW_POOL_KEEP old messages' worth of space, and refuse a message
 * bigger than what is left while it holds nothing (doc/design.md, Files
 * written again).  How many were unlinked; errno as it was. */
size_t
qw_pool_drop(struct qw_pool *pl, int qdirfd)
{
	int e = errno;
	size_t n;

	if (pl == NULL || (e != ENOSPC && e != EDQUOT))
		return 0;
	if (pl->drop != NULL)
		n = pl->drop(pl->ctx);
	else {
		pl->n = 0;
		n = refill(pl, qdirfd, 0);
	}
	pl->dropped += n;
	errno = e;
	return n;
}

/* pick - the index of a held name of this kind (tmp/re.KIND.*: m a
 * message, t an envelope; a file of the same kind is about the size it
 * will hold, so its blocks are written over, none freed or allocated),
 * else the last one */
static size_t
pick(const struct qw_pool *pl, char kind)
{
	for (size_t i = pl->n; i-- > 0;)
		if (pl->name[i][3] == kind)
			return i;
	return pl->n - 1;
}

/* take - a retired file renamed to dst and opened for writing over, or
 * -1 (the caller makes a new one); *old is its size (the caller cuts it
 * to what it wrote).  Only a plain file of our own with one link is
 * written again; anything else found there is removed (the name only:
 * what it links to is never opened to write). */
static int
take(struct qw_pool *pl, int dirfd, const char *dst, char kind,
    uint64_t *old)
{
	char src[QID_MAX + 16];
	struct stat st;
	size_t i;
	int fd, len;

	if (pl == NULL || pl->drop != NULL)
		return -1;	/* none, or not the queue's files */
	if (pl->n == 0)
		refill(pl, dirfd, QW_POOL_KEEP);
	while (pl->n > 0) {
		i = pick(pl, kind);
		len = snprintf(src, sizeof src, "tmp/%s", pl->name[i]);
		memcpy(pl->name[i], pl->name[--pl->n], sizeof pl->name[i]);
		if (len < 0 || len >= (int)sizeof src ||
		    renameat2(dirfd, src, dirfd, dst, RENAME_NOREPLACE) == -1)
			continue;	/* gone (or dst taken): the next */
		/* no O_TRUNC: a file that fails the checks is not touched,
		 * and one that passes is written over, not emptied first
		 * (an ftruncate to 0 frees every block the write then
		 * allocates again, on the service's loop) */
		fd = openat(dirfd, dst, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_nlink == 1 && st.st_uid == pl->uid) {
			pl->reused++;
			*old = (uint64_t)st.st_size;
			return fd;
		}
		if (fd >= 0)
			close(fd);
		(void)unlinkat(dirfd, dst, 0);
	}
	return -1;
}

/* create - a new file, or one from the pool of that kind, as p (O_EXCL);
 * *old is the size of what it held before (0 for a new one).  Full:
 * the pool's space back, then once more. */
static int
create(struct qw *q, const char *p, char kind, uint64_t *old)
{
	const int fl = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
	int fd;

	*old = 0;
	if ((fd = take(q->pool, q->dirfd, p, kind, old)) >= 0)
		return fd;
	if ((fd = openat(q->dirfd, p, fl, 0640)) == -1 &&
	    qw_pool_drop(q->pool, q->dirfd) > 0)
		fd = openat(q->dirfd, p, fl, 0640);
	if (fd >= 0 && q->pool != NULL)
		q->pool->made++;
	return fd;
}

/* cut - a reused file's old bytes past n removed */
static int
cut(int fd, uint64_t old, uint64_t n)
{
	return old > n ? ftruncate(fd, (off_t)n) : 0;
}

/* qw_begin - a new ID and mess/ID opened for writing (O_EXCL: an ID
 * clash takes another ID, never another message's file) */
int
qw_begin(struct qw *q, int qdirfd)
{
	return qw_begin_pool(q, qdirfd, NULL);
}

/* qw_begin_pool - the same, with files from the pool when it has some */
int
qw_begin_pool(struct qw *q, int qdirfd, struct qw_pool *pl)
{
	char p[PATH_ID_MAX];

	memset(q, 0, sizeof *q);
	q->dirfd = qdirfd;
	q->fd = -1;
	q->efd = -1;
	q->pool = pl;
	for (int tries = 0; tries < 4; tries++) {
		qw_newid(q->id);
		if (path(p, sizeof p, "mess", q->id, "") == -1)
			return fail(q, "path");
		q->fd = create(q, p, 'm', &q->old);
		if (q->fd >= 0) {
			q->made = QW_MESS;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	return fail(q, "open mess");
}

/* qw_write - message bytes into mess/ID */
int
qw_write(struct qw *q, const void *p, size_t n)
{
	if (q->fd < 0 || (q->made & QW_ENV))
		return errno = EBADF, fail(q, "write mess");
	/* full: the pool's space back, then these bytes again from where
	 * they began (a write cut short left some of them there) */
	if (write_all(q->fd, p, n) == -1 && (qw_pool_drop(q->pool,
	    q->dirfd) == 0 || lseek(q->fd, (off_t)q->size, SEEK_SET) == -1 ||
	    write_all(q->fd, p, n) == -1))
		return fail(q, "write mess");
	q->size += n;
	q->crc = crc32c(q->crc, p, n);
	return 0;
}

static void
unlink_made(struct qw *q)
{
	char p[PATH_ID_MAX];

	if ((q->made & QW_ENV) && path(p, sizeof p, "tmp", q->id, ".env") == 0)
		(void)unlinkat(q->dirfd, p, 0);
	/* todo/ID first: without it mess/ID is a harmless orphan */
	if ((q->made & QW_TODO) && path(p, sizeof p, "todo", q->id, "") == 0)
		(void)unlinkat(q->dirfd, p, 0);
	if ((q->made & QW_MESS) && path(p, sizeof p, "mess", q->id, "") == 0)
		(void)unlinkat(q->dirfd, p, 0);
	q->made = 0;
}

/* qw_abort - remove everything this message wrote */
void
qw_abort(struct qw *q)
{
	int e = errno;

	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	/* the envelope's descriptor is held only while tmp/ID.env is ours
	 * (a struct qw never begun has made == 0 and no descriptor) */
	if ((q->made & QW_ENV) && q->efd >= 0)
		close(q->efd);
	q->efd = -1;
	unlink_made(q);
	errno = e;
}

static int
abort_fail(struct qw *q, const char *op)
{
	fail(q, op);
	qw_abort(q);
	errno = q->err;
	return -1;
}

/* start - writeback of fd's dirty pages begun, not waited for: the
 * batch's files then go to the disk together and each fdatasync after
 * finds its data on its way.  Only a hint (a file system without it is
 * still made durable by the fdatasync). */
static void
start(int fd)
{
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

/* write_env - tmp/ID.env written and sealed; with QW_SYNC_FILE its
 * descriptor stays open in q->efd for qw_publish's fdatasync */
static int
write_env(struct qw *q, const struct env *e, enum qw_sync sync)
{
	struct buf b = BUF_INIT(ENVENC_MAX);
	struct seal sl;
	char p[PATH_ID_MAX];
	uint64_t old;
	int fd, r = -1;

	memset(&sl, 0, sizeof sl);
	memcpy(sl.id, q->id, sizeof sl.id);
	memcpy(sl.boot, boot, sizeof sl.boot);
	sl.size = q->size;
	sl.crc = q->crc;
	if (seal_reserve(&b) == -1 || env_encode(&b, e) == -1 ||
	    seal_fill(&b, 0, &sl) == -1) {
		buf_free(&b);
		return fail(q, "encode envelope");
	}
	if (path(p, sizeof p, "tmp", q->id, ".env") == -1 ||
	    (fd = create(q, p, 't', &old)) == -1) {
		buf_free(&b);
		return fail(q, "open envelope");
	}
	q->made |= QW_ENV;
	if ((write_all(fd, b.p, b.len) == -1 && (qw_pool_drop(q->pool,
	    q->dirfd) == 0 || lseek(fd, 0, SEEK_SET) == -1 ||
	    write_all(fd, b.p, b.len) == -1)) || cut(fd, old, b.len) == -1)
		fail(q, "write envelope");
	else if (sync == QW_SYNC_FILE) {
		start(fd);
		q->efd = fd;		/* qw_publish syncs and closes it */
		buf_free(&b);
		return 0;
	} else
		r = 0;
	if (close(fd) == -1 && r == 0)
		r = fail(q, "close envelope");
	buf_free(&b);
	return r;
}

static int
move(struct qw *q, const char *from, const char *ext, const char *to)
{
	char a[PATH_ID_MAX], b[PATH_ID_MAX];

	if (path(a, sizeof a, from, q->id, ext) == -1 ||
	    path(b, sizeof b, to, q->id, "") == -1)
		return -1;
	/* RENAME_NOREPLACE: an ID clash must fail, never replace */
	return renameat2(q->dirfd, a, q->dirfd, b, RENAME_NOREPLACE);
}

/* qw_prepare - the message complete in mess/, its envelope in tmp/;
 * with QW_SYNC_FILE both stay open, their writeback begun, for the
 * batch's fdatasyncs in qw_publish; with QW_SYNC_FS both are closed */
int
qw_prepare(struct qw *q, struct env *e, enum qw_sync sync)
{
	int fd = q->fd;

	if (fd < 0 || (q->made & QW_ENV))
		return errno = EBADF, abort_fail(q, "prepare");
	if (cut(fd, q->old, q->size) == -1)
		return abort_fail(q, "truncate mess");
	if (sync == QW_SYNC_FILE)
		start(fd);
	else {
		q->fd = -1;
		if (close(fd) == -1)
			return abort_fail(q, "close mess");
	}
	e->size = q->size;
	if (write_env(q, e, sync) == -1)
		return abort_fail(q, q->op);
	return 0;
}

/* sync_files - one message's data made durable: the fdatasync of mess/ID
 * (the size is data here; the name is synced with mess/) and of its
 * envelope, both closed */
static int
sync_files(struct qw *q)
{
	int mfd = q->fd, efd = q->efd;

	q->fd = q->efd = -1;
	if (fdatasync(mfd) == -1) {
		fail(q, "fsync mess");
		close(mfd);
		close(efd);
		return -1;
	}
	if (fdatasync(efd) == -1) {
		fail(q, "fsync envelope");
		close(mfd);
		close(efd);
		return -1;
	}
	if (close(mfd) == -1) {
		close(efd);
		return fail(q, "close mess");
	}
	if (close(efd) == -1)
		return fail(q, "close envelope");
	return 0;
}

/* leave_fail - a step of the barrier failed after the rename into
 * todo/: the commit failed (op and err say why; the client gets Z, a
 * 451), but the files stay.  send may have read todo/ID already (it
 * scans todo/ whenever it is woken, by any commit) and split it, its
 * info/ID naming mess/ID: removing them could lose a message send has
 * taken, or leave it pointing at nothing.  Left, the message is
 * delivered, and the client that sends it again makes a duplicate at
 * worst, never a loss; a power loss before its bytes were durable
 * leaves a todo/ID its seal drops (no client was answered for it). */
static void
leave_fail(struct qw *q, const char *op)
{
	fail(q, op);
	if (q->fd >= 0)
		close(q->fd);
	if (q->efd >= 0)
		close(q->efd);
	q->fd = q->efd = -1;
	q->made = 0;		/* send's now, not ours to remove */
	(void)qw_trigger(q->dirfd, "T", 1);
}

/* fail_all - a shared step failed: every message still alive fails,
 * those renamed into todo/ left for send (leave_fail), the others
 * removed */
static void
fail_all(struct qw *const *v, size_t n, const char *op)
{
	int e = errno;

	for (size_t i = 0; i < n; i++) {
		errno = e;
		if (v[i]->made & QW_TODO)
			leave_fail(v[i], op);
		else if (v[i]->made != 0)
			abort_fail(v[i], op);
	}
	errno = e;
}

/* qw_rename - the todo/ renames of n prepared messages, after a barrier
 * the caller made; those with made == 0 are skipped, those that fail are
 * aborted.  Returns how many are renamed (made == QW_MESS|QW_TODO). */
size_t
qw_rename(struct qw *const *v, size_t n)
{
	size_t live = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i]->made == 0)
			continue;
		if (move(v[i], "tmp", ".env", "todo") == -1) {
			abort_fail(v[i], "rename todo");
			continue;
		}
		v[i]->made = QW_MESS | QW_TODO;
		live++;
	}
	return live;
}

/* qw_fail - a shared step failed: every live one of n is aborted */
void
qw_fail(struct qw *const *v, size_t n, const char *op)
{
	fail_all(v, n, op);
}

/* the service's mess/ and todo/, open for its life (qw_keep_dirs): two
 * opens and two closes fewer per batch */
static int	kept_q = -1, kept_d[2] = { -1, -1 };

/* qw_keep_dirs - see qwrite.h */
int
qw_keep_dirs(int qdirfd)
{
	int m, t;

	if (qdirfd < 0) {
		if (kept_q >= 0) {
			close(kept_d[0]);
			close(kept_d[1]);
		}
		kept_q = kept_d[0] = kept_d[1] = -1;
		return 0;
	}
	if ((m = openat(qdirfd, "mess", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((t = openat(qdirfd, "todo", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		close(m);
		return -1;
	}
	if (kept_q >= 0) {
		close(kept_d[0]);
		close(kept_d[1]);
	}
	kept_q = qdirfd;
	kept_d[0] = m;
	kept_d[1] = t;
	return 0;
}

/* sync_batch - the commit of every live message of v, already renamed
 * into todo/: one fdatasync of each message and each envelope and one
 * fsync of mess/ and of todo/, submitted at once (syncv.h: on a
 * journaled file system they share one commit and its flush).  A
 * message whose file fails is failed and left for send (leave_fail);
 * 0, or -1 if a directory could not be synced (the caller fails them
 * all). */
static int
sync_batch(struct qw *const *v, size_t n)
{
	static const char *const dirs[] = { "mess", "todo" };
	struct syncv *sv;
	size_t k = 0;
	int dfd[2], r = 0, kept = v[0]->dirfd == kept_q;

	for (size_t d = 0; d < 2; d++)
		if (kept)
			dfd[d] = kept_d[d];
		else if ((dfd[d] = openat(v[0]->dirfd, dirs[d], O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC)) == -1) {
			if (d > 0)
				close(dfd[0]);
			return -1;
		}
	if ((sv = calloc(2 * n + 2, sizeof *sv)) == NULL) {
		/* in turn, as syncv would without AIO */
		for (size_t i = 0; i < n; i++)
			if (v[i]->made != 0 && sync_files(v[i]) == -1) {
				errno = v[i]->err;
				leave_fail(v[i], v[i]->op);
			}
		for (size_t d = 0; d < 2; d++) {
			if (fsync(dfd[d]) == -1)
				r = -1;
			if (!kept)
				close(dfd[d]);
		}
		return r;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i]->made != 0) {
			sv[k++] = (struct syncv){ v[i]->fd, 1, 0 };
			sv[k++] = (struct syncv){ v[i]->efd, 1, 0 };
		}
	sv[k++] = (struct syncv){ dfd[0], 0, 0 };
	sv[k++] = (struct syncv){ dfd[1], 0, 0 };
	(void)syncv(sv, k);
	k = 0;
	for (size_t i = 0; i < n; i++) {
		struct qw *q = v[i];
		int me, ee, ce;

		if (q->made == 0)
			continue;
		me = sv[k++].err;
		ee = sv[k++].err;
		ce = close(q->fd) == -1 ? errno : 0;
		if (close(q->efd) == -1 && ce == 0)
			ce = errno;
		q->fd = q->efd = -1;
		if (me != 0 || ee != 0 || ce != 0) {
			errno = me ? me : ee ? ee : ce;
			leave_fail(q, me ? "fsync mess" : ee ? "fsync envelope" :
			    "close");
		}
	}
	for (size_t d = 0; d < 2; d++, k++)
		if (sv[k].err != 0) {
			errno = sv[k].err;
			r = -1;
		}
	free(sv);
	if (!kept) {
		close(dfd[0]);
		close(dfd[1]);
	}
	return r;
}

/* announce - after the barrier: a C record (protocols.md, "The
 * trigger") for each message of the batch, so that send, splitting it,
 * knows mess/ID and its name are durable already and does not sync them
 * again, then the T that makes send look in todo/: the T in the same
 * write as the last records (one open, write and close of the FIFO per
 * batch, not two), so it still comes after every one of them.  The
 * records are only a hint: one lost (a full FIFO, no reader) costs send
 * one more fdatasync, never a promise. */
static void
announce(struct qw *const *v, size_t n)
{
	char b[PIPE_BUF];
	size_t k = 0, len;

	for (size_t i = 0; i < n; i++) {
		if (v[i]->made == 0)
			continue;
		len = strlen(v[i]->id);
		/* room for this record and the final T */
		if (k + 2 + len + 1 > sizeof b) {
			(void)qw_trigger(v[0]->dirfd, b, k);
			k = 0;
		}
		b[k++] = 'C';
		b[k++] = (char)len;
		memcpy(b + k, v[i]->id, len);
		k += len;
	}
	b[k++] = 'T';
	(void)qw_trigger(v[0]->dirfd, b, k);
}

/* qw_publish - for n messages prepared with QW_SYNC_FILE (those with
 * made == 0 are skipped): their todo/ renames, then one barrier for the
 * batch: each file's fdatasync and one fsync of mess/ and of todo/, all
 * at once.  Only these files and these two directories are waited for,
 * never the rest of the file system; a todo/ID that a power loss during
 * the barrier leaves without its bytes is dropped by its seal. */
size_t
qw_publish(struct qw *const *v, size_t n)
{
	size_t live;

	for (size_t i = 0; i < n; i++)
		if (v[i]->made != 0 && (v[i]->fd < 0 || v[i]->efd < 0)) {
			errno = EBADF;
			abort_fail(v[i], "publish");
		}
	while (n > 0 && v[0]->made == 0)	/* v[0]: a live one */
		v++, n--;
	if (n == 0)
		return 0;
	/* the envelopes' descriptors stay open across their renames */
	if (qw_rename(v, n) == 0)
		return 0;
	if (sync_batch(v, n) == -1) {
		fail_all(v, n, "fsync queue");
		return 0;
	}
	live = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i]->made != 0)
			live++;
	if (live > 0)
		announce(v, n);		/* its C records, then T */
	return live;
}

/* qw_set_boot - the boot id every seal carries from now on */
void
qw_set_boot(const uint8_t id[16])
{
	memcpy(boot, id, sizeof boot);
}

/* qw_commit - one message, durable or gone */
int
qw_commit(struct qw *q, struct env *e)
{
	struct qw *v[1] = { q };

	if (qw_prepare(q, e, QW_SYNC_FILE) == -1)
		return -1;
	if (qw_publish(v, 1) != 1) {
		errno = q->err;
		return -1;
	}
	return 0;
}

/* qw_trigger - wake send; a missing reader or a full FIFO is fine */
int
qw_trigger(int qdirfd, const void *p, size_t n)
{
	ssize_t k;
	int fd;

	if (n > PIPE_BUF)
		return errno = EINVAL, -1;
	fd = openat(qdirfd, "lock/trigger", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return errno == ENXIO ? 1 : -1;
	do
		k = write(fd, p, n);
	while (k == -1 && errno == EINTR);
	close(fd);
	if (k == -1)
		return errno == EAGAIN ? 1 : -1;
	return (size_t)k == n ? 0 : (errno = EIO, -1);
}
