/* io: buffered reading and writing on a descriptor through an operation
 * pointer (qmail's substdio), so TLS can be slid underneath and a test can
 * plug in a fake peer.  Every read is bounded by the caller. */
#ifndef SANDMAIL_IO_H
#define SANDMAIL_IO_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* An op returns bytes moved, 0 at EOF (reads), or -1 with errno. */
typedef ssize_t io_op(int fd, void *p, size_t n, void *ctx);

#define IO_BUFSIZE	16384

struct rd {
	int	 fd;
	io_op	*op;
	void	*ctx;
	int	 timeout_ms;	/* for the default op: poll first; -1 none */
	char	 b[IO_BUFSIZE];
	size_t	 pos, len;
};

struct wr {
	int	 fd;
	io_op	*op;
	void	*ctx;
	int	 timeout_ms;
	char	 b[IO_BUFSIZE];
	size_t	 len;
};

ssize_t	io_read_fd(int fd, void *p, size_t n, void *ctx);
ssize_t	io_write_fd(int fd, void *p, size_t n, void *ctx);
/* for a descriptor in O_NONBLOCK mode (io_read_fd waits on EAGAIN too):
 * write first, poll only when it would block */
ssize_t	io_write_nb(int fd, void *p, size_t n, void *ctx);

/*
 * A read op with a deadline for a whole unit (a command line, a message
 * text), over another op: a per-read timeout restarts with every byte, so
 * a client sending one byte at a time would never meet it.  Before each
 * read the inner op's wait (*wait, ms, -1 none) is cut to what is left
 * until deadline, and put back after; ETIMEDOUT once it has passed.  The
 * inner op must fail with ETIMEDOUT when its wait runs out (io_read_fd
 * and lib/tls.c's tls_read_op do), for the silence bound below.
 */
struct io_dl {
	io_op		*op;		/* the inner op and its ctx */
	void		*ctx;
	int		*wait;		/* the inner op's per-read wait */
	long long	 deadline;	/* io_now_ms() time; -1 none */
	/* a bound on one read's silence, shorter than the others: after
	 * idle_ms without a byte, idle(idle_ctx) is called once (and
	 * idle set NULL), and the read waits on; NULL: none */
	void		(*idle)(void *);
	void		*idle_ctx;
	int		 idle_ms;
};

ssize_t	io_read_dl(int fd, void *p, size_t n, void *ctx);
long long io_now_ms(void);		/* CLOCK_MONOTONIC, in ms */

void	rd_init(struct rd *, int fd, io_op *op, void *ctx);
void	wr_init(struct wr *, int fd, io_op *op, void *ctx);

int	rd_fill(struct rd *);		/* >0 bytes, 0 EOF, -1 error */
size_t	rd_pending(const struct rd *);	/* bytes buffered, unread */
void	rd_discard(struct rd *);	/* drop what is buffered */
/* rd_full: 1 all n read, 0 EOF before any byte, -1 (EPROTO if EOF cut it) */
int	rd_full(struct rd *, void *p, size_t n);
/*
 * rd_line: read up to and including LF into out (which is emptied first).
 * 1 a line (ends in LF), 0 EOF with nothing, -1 error: E2BIG when the line
 * is longer than max (the rest of the line is skipped through its LF, so
 * the caller may answer and go on), EPROTO when EOF cut a line.
 */
int	rd_line(struct rd *, struct buf *out, size_t max);

int	wr_put(struct wr *, const void *, size_t);
int	wr_puts(struct wr *, const char *);
int	wr_flush(struct wr *);

#endif
