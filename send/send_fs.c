/* send_fs: the crash-safe file steps of send, every path relative to the
 * queue directory's descriptor (send is sandboxed to *at calls).
 * A new file: tmp/D.ID written, then (for a whole batch) fdatasynced,
 * renamed to D/ID, and the directory fsynced before anything depends on
 * it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "send_srv.h"
#include "syncv.h"

/* fs_path - "dir/id" */
int
fs_path(char *p, size_t sz, const char *dir, const char *id)
{
	int n = snprintf(p, sz, "%s/%s", dir, id);

	if (n < 0 || (size_t)n >= sz)
		return errno = ENAMETOOLONG, -1;
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		if ((k = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
tmp_name(char *p, size_t sz, const char *dir, const char *id)
{
	int n = snprintf(p, sz, "tmp/%s.%s", dir, id);

	if (n < 0 || (size_t)n >= sz)
		return errno = ENAMETOOLONG, -1;
	return 0;
}

/* write_tmp - b as tmp/DIR.ID, not synced */
static int
write_tmp(int qfd, const char *dir, const char *id, const struct buf *b)
{
	char tmp[128];
	int fd, e;

	if (tmp_name(tmp, sizeof tmp, dir, id) == -1)
		return -1;
	/* O_NOFOLLOW: tmp/ is the queue's directory */
	fd = openat(qfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write_all(fd, b->p, b->len) == -1) {
		e = errno;
		close(fd);
		unlinkat(qfd, tmp, 0);
		return errno = e, -1;
	}
	return close(fd);
}

/* fs_write_tmp - b as tmp/DIR.ID (not synced: the caller syncs a
 * batch); full: pl's retired files' space back, then once more */
int
fs_write_tmp(int qfd, const char *dir, const char *id, const struct buf *b,
    struct qw_pool *pl)
{
	int r = write_tmp(qfd, dir, id, b);

	if (r == -1 && qw_pool_drop(pl, qfd) > 0)
		r = write_tmp(qfd, dir, id, b);
	return r;
}

/* fs_publish - rename tmp/DIR.ID to DIR/ID (replacing it) */
int
fs_publish(int qfd, const char *dir, const char *id)
{
	char tmp[128], dst[128];

	if (tmp_name(tmp, sizeof tmp, dir, id) == -1 ||
	    fs_path(dst, sizeof dst, dir, id) == -1)
		return -1;
	return renameat(qfd, tmp, qfd, dst);
}

/* fs_sync_dir - make the names in dir durable */
int
fs_sync_dir(int qfd, const char *dir)
{
	int fd, r;

	if ((fd = openat(qfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/* fs_sync_files - every path (relative to the queue) made durable: a
 * file ("dir/name") its data, by fdatasync, a directory (a name without
 * '/') its names, by fsync; writeback begun for the files first, then
 * all the syncs submitted together (syncv.h).  missing_ok: a file gone
 * meanwhile (its message ended) is no error.  0, or -1 (errno of the
 * first failure). */
int
fs_sync_files(int qfd, char (*paths)[POOL_NAME], size_t n, int missing_ok)
{
	struct syncv sv[128];
	int e = 0;
	size_t k;

	for (size_t i = 0; i < n && e == 0; i += k) {
		size_t got = 0;

		k = n - i < 128 ? n - i : 128;
		for (size_t j = 0; j < k && e == 0; j++) {
			int file = strchr(paths[i + j], '/') != NULL;
			int fd = openat(qfd, paths[i + j], O_RDONLY |
			    O_NOFOLLOW | O_CLOEXEC);

			if (fd >= 0) {
				if (file)
					(void)sync_file_range(fd, 0, 0,
					    SYNC_FILE_RANGE_WRITE);
				sv[got++] = (struct syncv){ fd, file, 0 };
			} else if (errno != ENOENT || !missing_ok || !file)
				e = errno;
		}
		if (e == 0 && syncv(sv, got) == -1)
			for (size_t j = 0; j < got && e == 0; j++)
				e = sv[j].err;
		for (size_t j = 0; j < got; j++)
			close(sv[j].fd);
	}
	return e == 0 ? 0 : (errno = e, -1);
}

/* fs_read - the whole of dir/id into b (b's max bounds it); 0, or -1
 * (ENOENT when it does not exist) */
int
fs_read(int qfd, const char *dir, const char *id, struct buf *b)
{
	char p[128];
	size_t want;
	ssize_t k;
	int fd, e;

	b->len = 0;
	if (fs_path(p, sizeof p, dir, id) == -1 ||
	    (fd = openat(qfd, p, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		if (buf_reserve(b, 8192) == -1)
			goto fail;
		want = b->cap - b->len;
		if ((k = read(fd, b->p + b->len, want)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		b->len += (size_t)k;
		/* a regular file reads short only at its end (a signal
		 * would give EINTR, not a short count, before any byte):
		 * no second read() to see 0 */
		if ((size_t)k < want)
			break;
	}
	close(fd);
	return 0;
fail:
	e = errno;
	close(fd);
	return errno = e, -1;
}

static int
open_rw(int qfd, const char *dir, const char *id)
{
	char p[128];

	if (fs_path(p, sizeof p, dir, id) == -1)
		return -1;
	return openat(qfd, p, O_WRONLY | O_CLOEXEC);
}

/* fs_mark - overwrite one state byte; with sync, make it durable (else
 * the caller syncs the file system once for a batch of marks) */
int
fs_mark(int qfd, const char *dir, const char *id, off_t off, uint8_t state,
    int sync)
{
	int fd, r;

	if ((fd = open_rw(qfd, dir, id)) == -1)
		return -1;
	r = pwrite(fd, &state, 1, off) == 1 && (!sync || fdatasync(fd) == 0) ?
	    0 : -1;
	close(fd);
	return r;
}

/* fs_advise - the advisory next time and last error, without a sync */
int
fs_advise(int qfd, const char *dir, const char *id, const struct rcpt *rc)
{
	struct buf b = BUF_INIT(RC_HDR + RC_PAYLOAD_MAX + 64);
	int fd, r = -1;

	if (rc_encode(&b, rc) == 0 && (fd = open_rw(qfd, dir, id)) != -1) {
		/* state byte and payload unchanged: write only the middle */
		r = pwrite(fd, b.p + 1, RC_FIXED - 1, rc->off + 1) ==
		    RC_FIXED - 1 ? 0 : -1;
		close(fd);
	}
	buf_free(&b);
	return r;
}

static int
append(int qfd, const char *dir, const char *id, const struct buf *b)
{
	char p[128];
	int fd, made = 0, r;

	if (fs_path(p, sizeof p, dir, id) == -1)
		return -1;
	fd = openat(qfd, p, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd >= 0)
		made = 1;
	else if (errno == EEXIST)
		fd = openat(qfd, p, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd == -1)
		return -1;
	r = write_all(fd, b->p, b->len) == 0 && fdatasync(fd) == 0 ? 0 : -1;
	close(fd);
	if (r == 0 && made)
		r = fs_sync_dir(qfd, dir);
	return r;
}

/* fs_append - one record to dir/id, durable when this returns 0; full:
 * pl's retired files' space back for the next try (not this one: an
 * append cut short may have left part of the record) */
int
fs_append(int qfd, const char *dir, const char *id, const struct buf *b,
    struct qw_pool *pl)
{
	int r = append(qfd, dir, id, b);

	if (r == -1)
		(void)qw_pool_drop(pl, qfd);
	return r;
}

/* fs_exists - 1 if dir/id exists, 0 if not, -1 on another error */
int
fs_exists(int qfd, const char *dir, const char *id)
{
	struct stat st;
	char p[128];

	if (fs_path(p, sizeof p, dir, id) == -1)
		return -1;
	if (fstatat(qfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

/* fs_unlink - remove dir/id; a missing file is fine */
int
fs_unlink(int qfd, const char *dir, const char *id)
{
	char p[128];

	if (fs_path(p, sizeof p, dir, id) == -1)
		return -1;
	if (unlinkat(qfd, p, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

static int
write_pooled(int qfd, const char *name, unsigned uid, const struct buf *b)
{
	struct stat st;
	char p[128];
	int fd, r;

	if (snprintf(p, sizeof p, "tmp/%s", name) >= (int)sizeof p)
		return errno = ENAMETOOLONG, -1;
	/* no O_TRUNC: a file that fails the checks is not touched, and
	 * one that passes is written over and cut to length after, not
	 * emptied first (freeing every block the write allocates again) */
	fd = openat(qfd, p, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1 || st.st_uid != uid) {
		close(fd);
		(void)unlinkat(qfd, p, 0);
		return errno = EPERM, -1;
	}
	r = write_all(fd, b->p, b->len);
	if (r == 0 && (uint64_t)st.st_size > b->len &&
	    ftruncate(fd, (off_t)b->len) == -1)
		r = -1;
	if (close(fd) == -1)
		r = -1;
	if (r == -1) {
		/* its name is forgotten by the caller: not left behind */
		int e = errno;

		(void)unlinkat(qfd, p, 0);
		errno = e;
	}
	return r;
}

/* fs_write_pooled - b written again into tmp/NAME, a file of send's own
 * (one link, a plain file, uid): 0, or -1 (the caller makes a new file;
 * tmp/NAME is gone, and when the file system is full every retired file
 * of pl with it, for the new file's space) */
int
fs_write_pooled(int qfd, const char *name, unsigned uid, const struct buf *b,
    struct qw_pool *pl)
{
	int r = write_pooled(qfd, name, uid, b);

	if (r == -1)
		(void)qw_pool_drop(pl, qfd);
	return r;
}

/* fs_publish_from - rename tmp/NAME to dir/id (replacing it) */
int
fs_publish_from(int qfd, const char *name, const char *dir, const char *id)
{
	char tmp[128], dst[128];

	if (snprintf(tmp, sizeof tmp, "tmp/%s", name) >= (int)sizeof tmp ||
	    fs_path(dst, sizeof dst, dir, id) == -1)
		return errno = ENAMETOOLONG, -1;
	return renameat(qfd, tmp, qfd, dst);
}

/* fs_retire - dir/id renamed to tmp/PREFIX.id instead of unlinked, to be
 * written again later (doc/design.md, "Files written again"): 1 retired,
 * 0 gone (unlinked, or not there), -1 error */
int
fs_retire(int qfd, const char *dir, const char *id, const char *prefix)
{
	char src[128], dst[128];

	if (fs_path(src, sizeof src, dir, id) == -1 ||
	    snprintf(dst, sizeof dst, "tmp/%s.%s", prefix, id) >=
	    (int)sizeof dst)
		return errno = ENAMETOOLONG, -1;
	if (renameat(qfd, src, qfd, dst) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	if (unlinkat(qfd, src, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}
