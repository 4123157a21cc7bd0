/* io: buffered, bounded I/O with replaceable operations. */
#include <errno.h>
#include <poll.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

/* wait_again - poll fd for ev up to timeout_ms (-1: as long as it
 * takes); wait_fd - the same, but no wait at all for -1 */
static int
wait_again(int fd, short ev, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		return errno = ETIMEDOUT, -1;
	return r < 0 ? -1 : 0;
}

static int
wait_fd(int fd, short ev, int timeout_ms)
{
	return timeout_ms < 0 ? 0 : wait_again(fd, ev, timeout_ms);
}

/* nb_io - read (POLLIN) or write (POLLOUT) once, retried on EINTR and,
 * on EAGAIN, after waiting for fd (the timeout, or for ever) */
static ssize_t
nb_io(int fd, short ev, void *p, size_t n, const int *timeout)
{
	ssize_t r;

	for (;;) {
		r = ev == POLLIN ? read(fd, p, n) : write(fd, p, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || wait_again(fd, ev,
		    timeout != NULL ? *timeout : -1) == -1)
			return -1;
	}
}

/* io_read_fd - the default read op: read(2), with rd's timeout if ctx set */
ssize_t
io_read_fd(int fd, void *p, size_t n, void *ctx)
{
	const int *timeout = ctx;

	if (timeout != NULL && wait_fd(fd, POLLIN, *timeout) == -1)
		return -1;
	/* a non-blocking descriptor, woken for nothing or read without a
	 * timeout: nb_io waits for it */
	return nb_io(fd, POLLIN, p, n, timeout);
}

/* io_write_fd - the default write op: write(2), with wr's timeout */
ssize_t
io_write_fd(int fd, void *p, size_t n, void *ctx)
{
	const int *timeout = ctx;
	ssize_t r;

	if (timeout != NULL && wait_fd(fd, POLLOUT, *timeout) == -1)
		return -1;
	do
		r = write(fd, p, n);
	while (r == -1 && errno == EINTR);
	return r;
}

/* io_write_nb - the write op for a non-blocking descriptor: write at
 * once and wait (wr's timeout) only when it would block, so a reply
 * that fits the socket buffer, nearly every one, costs no poll */
ssize_t
io_write_nb(int fd, void *p, size_t n, void *ctx)
{
	return nb_io(fd, POLLOUT, p, n, ctx);
}

/* io_now_ms - the monotonic clock in ms, the clock of io_dl deadlines */
long long
io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* io_read_dl - the inner op, its wait cut to what is left of the
 * deadline and to the silence bound (ctx: struct io_dl) */
ssize_t
io_read_dl(int fd, void *p, size_t n, void *ctx)
{
	struct io_dl *d = ctx;
	long long left = -1;
	int orig = *d->wait, saved = orig, w, cut;
	ssize_t r;

	for (;;) {
		if (d->deadline >= 0 &&
		    (left = d->deadline - io_now_ms()) <= 0)
			return errno = ETIMEDOUT, -1;
		w = saved;
		if (left >= 0 && (w < 0 || w > left))
			w = left > INT_MAX ? INT_MAX : (int)left;
		cut = d->idle != NULL && (w < 0 || w > d->idle_ms);
		if (cut)
			w = d->idle_ms;
		*d->wait = w;
		r = d->op(fd, p, n, d->ctx);
		*d->wait = orig;
		if (r != -1 || errno != ETIMEDOUT || !cut)
			return r;
		/* silent for idle_ms: the hook, once, then the rest of
		 * the wait (the per-read one less what has passed) */
		d->idle(d->idle_ctx);
		d->idle = NULL;
		if (saved > 0)
			saved -= d->idle_ms;
	}
}

/* rd_init - a reader on fd; op NULL means read(2) with rd->timeout_ms */
void
rd_init(struct rd *r, int fd, io_op *op, void *ctx)
{
	r->fd = fd;
	r->timeout_ms = -1;
	r->op = op ? op : io_read_fd;
	r->ctx = op ? ctx : &r->timeout_ms;
	r->pos = r->len = 0;
}

/* wr_init - a writer on fd; op NULL means write(2) with wr->timeout_ms */
void
wr_init(struct wr *w, int fd, io_op *op, void *ctx)
{
	w->fd = fd;
	w->timeout_ms = -1;
	w->op = op ? op : io_write_fd;
	w->ctx = op ? ctx : &w->timeout_ms;
	w->len = 0;
}

/* rd_fill - read more into the buffer when it is empty */
int
rd_fill(struct rd *r)
{
	ssize_t n;

	if (r->pos < r->len)
		return (int)(r->len - r->pos);
	r->pos = r->len = 0;
	n = r->op(r->fd, r->b, sizeof r->b, r->ctx);
	if (n < 0)
		return -1;
	r->len = (size_t)n;
	return n > 0 ? 1 : 0;
}

/* rd_pending - how many bytes are buffered and not yet consumed */
size_t
rd_pending(const struct rd *r)
{
	return r->len - r->pos;
}

/* rd_discard - forget buffered bytes (STARTTLS: nothing from before) */
void
rd_discard(struct rd *r)
{
	r->pos = r->len = 0;
}

/* rd_full - read exactly n bytes */
int
rd_full(struct rd *r, void *p, size_t n)
{
	char *d = p;
	size_t got = 0, k;
	int f;

	while (got < n) {
		if ((f = rd_fill(r)) <= 0) {
			if (f == 0)
				return got == 0 ? 0 : (errno = EPROTO, -1);
			return -1;
		}
		k = r->len - r->pos;
		if (k > n - got)
			k = n - got;
		memcpy(d + got, r->b + r->pos, k);
		r->pos += k;
		got += k;
	}
	return 1;
}

/* rd_line - one LF-terminated line of at most max bytes */
int
rd_line(struct rd *r, struct buf *out, size_t max)
{
	const char *nl;
	size_t k;
	int f, toolong = 0;

	out->len = 0;
	for (;;) {
		if ((f = rd_fill(r)) <= 0) {
			if (f < 0)
				return -1;
			if (out->len == 0 && !toolong)
				return 0;
			return errno = EPROTO, -1;
		}
		nl = memchr(r->b + r->pos, '\n', r->len - r->pos);
		k = nl ? (size_t)(nl - (r->b + r->pos)) + 1 : r->len - r->pos;
		if (!toolong && out->len + k > max)
			toolong = 1;
		if (!toolong && buf_put(out, r->b + r->pos, k) == -1)
			return -1;
		r->pos += k;
		if (nl != NULL)
			break;
	}
	if (toolong) {
		out->len = 0;
		return errno = E2BIG, -1;
	}
	return 1;
}

/* wr_flush - write out everything buffered */
int
wr_flush(struct wr *w)
{
	size_t off = 0;
	ssize_t n;

	while (off < w->len) {
		n = w->op(w->fd, w->b + off, w->len - off, w->ctx);
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return -1;
		}
		off += (size_t)n;
	}
	w->len = 0;
	return 0;
}

/* wr_put - buffer n bytes, flushing as the buffer fills */
int
wr_put(struct wr *w, const void *p, size_t n)
{
	const char *s = p;
	size_t k;

	while (n > 0) {
		if (w->len == sizeof w->b && wr_flush(w) == -1)
			return -1;
		k = sizeof w->b - w->len;
		if (k > n)
			k = n;
		memcpy(w->b + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
	}
	return 0;
}

/* wr_puts - buffer a C string */
int
wr_puts(struct wr *w, const char *s)
{
	return wr_put(w, s, strlen(s));
}
