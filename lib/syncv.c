/* syncv: many fsyncs at once through Linux native AIO (syncv.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/aio_abi.h>

#include "syncv.h"

#define SYNCV_MAX	128	/* requests in flight at once */

static aio_context_t	ctx;
static int		state;	/* 0 untried, 1 AIO ready, -1 in turn */

static int
one(struct syncv *s)
{
	int r;

	do
		r = s->data ? fdatasync(s->fd) : fsync(s->fd);
	while (r == -1 && errno == EINTR);
	s->err = r == -1 ? errno : 0;
	return r;
}

static int
in_turn(struct syncv *v, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < n; i++)
		if (one(&v[i]) == -1)
			r = -1;
	return r;
}

static int
ready(void)
{
	if (state == 0)
		state = syscall(SYS_io_setup, SYNCV_MAX, &ctx) == 0 ? 1 : -1;
	return state == 1;
}

/* chunk - at most SYNCV_MAX of them through AIO (in turn when AIO
 * cannot take the first one: then never again) */
static int
chunk(struct syncv *v, size_t n)
{
	struct iocb cb[SYNCV_MAX], *p[SYNCV_MAX];
	struct io_event ev[SYNCV_MAX];
	int wb[SYNCV_MAX];
	size_t done = 0;
	long k, sub;
	int r = 0;

	/* the files' data written out first (begun, then waited for; no
	 * cache flush, a hint that may fail): each fdatasync then has only
	 * the journal left to wait for, and they all reach the same commit
	 * before it flushes.  A data fdatasync that arrives while the
	 * commit it needs is past its flush, or already done, makes a
	 * flush of its own (jbd2, xfs): the request count is what a
	 * barrier waits for on these disks.  A write-back error it
	 * reports (EIO, ENOSPC) is that file's: it is consumed (the
	 * file's errseq cursor moves past it), and the fdatasync after it
	 * would return 0 for pages that never reached the disk.  Only a
	 * call the file system does not have (EINVAL, ESPIPE, ENOSYS) is
	 * no error. */
	for (size_t i = 0; i < n; i++) {
		wb[i] = 0;
		if (v[i].data && sync_file_range(v[i].fd, 0, 0,
		    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
		    SYNC_FILE_RANGE_WAIT_AFTER) == -1 && errno != EINVAL &&
		    errno != ESPIPE && errno != ENOSYS)
			wb[i] = errno;
	}
	memset(cb, 0, n * sizeof cb[0]);
	for (size_t i = 0; i < n; i++) {
		cb[i].aio_fildes = (uint32_t)v[i].fd;
		cb[i].aio_lio_opcode = v[i].data ? IOCB_CMD_FDSYNC :
		    IOCB_CMD_FSYNC;
		cb[i].aio_data = i;
		p[i] = &cb[i];
		v[i].err = 0;
	}
	do
		sub = syscall(SYS_io_submit, ctx, (long)n, p);
	while (sub == -1 && errno == EINTR);
	if (sub <= 0) {
		state = -1;	/* not again: in turn from now on */
		r = in_turn(v, n);
		goto out;
	}
	/* what was not taken (a file system without AIO fsync) in turn */
	if ((size_t)sub < n && in_turn(v + sub, n - (size_t)sub) == -1)
		r = -1;
	while (done < (size_t)sub) {
		k = syscall(SYS_io_getevents, ctx, 1L, (long)sub - (long)done,
		    ev, NULL);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0) {
			/* cannot happen with a valid context; never leave a
			 * request unknown: report them all failed */
			for (size_t i = 0; i < (size_t)sub; i++)
				v[i].err = EIO;
			r = -1;
			break;
		}
		for (long i = 0; i < k; i++) {
			size_t j = (size_t)ev[i].data;

			if (j < (size_t)sub && ev[i].res < 0) {
				v[j].err = (int)-ev[i].res;
				r = -1;
			}
		}
		done += (size_t)k;
	}
out:
	for (size_t i = 0; i < n; i++)
		if (wb[i] != 0) {
			if (v[i].err == 0)
				v[i].err = wb[i];
			r = -1;
		}
	return r;
}

/* syncv - every descriptor synced, at once where the kernel can */
int
syncv(struct syncv *v, size_t n)
{
	int r = 0, c;

	if (n == 1)
		return one(&v[0]);
	for (size_t i = 0; i < n; i += SYNCV_MAX) {
		size_t k = n - i < SYNCV_MAX ? n - i : SYNCV_MAX;

		c = ready() ? chunk(v + i, k) : in_turn(v + i, k);
		if (c == -1)
			r = -1;
	}
	return r;
}
