/* test_io: the buffered reader and writer with a fake peer (the op
 * pointer), at line limits and with bytes cut anywhere. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "io.h"

/* A fake peer: serves src in pieces of at most chunk bytes; after the
 * data, EOF, or an error when fail is set. */
struct fake {
	const char	*src;
	size_t		 len, pos, chunk;
	int		 fail;
	char		 out[65536];	/* what a writer wrote */
	size_t		 olen, wmax;	/* wmax: bytes per write, 0: EOF */
};

static ssize_t
fake_read(int fd, void *p, size_t n, void *ctx)
{
	struct fake *f = ctx;
	size_t k = f->len - f->pos;

	(void)fd;
	if (k == 0 && f->fail)
		return errno = ECONNRESET, -1;
	if (k > n)
		k = n;
	if (k > f->chunk)
		k = f->chunk;
	memcpy(p, f->src + f->pos, k);
	f->pos += k;
	return (ssize_t)k;
}

static ssize_t
fake_write(int fd, void *p, size_t n, void *ctx)
{
	struct fake *f = ctx;
	size_t k = n < f->wmax ? n : f->wmax;

	(void)fd;
	if (f->fail)
		return errno = EPIPE, -1;
	if (k > sizeof f->out - f->olen)
		k = sizeof f->out - f->olen;
	memcpy(f->out + f->olen, p, k);
	f->olen += k;
	return (ssize_t)k;
}

static void
fake_init(struct fake *f, const char *s, size_t n, size_t chunk)
{
	memset(f, 0, sizeof *f);
	f->src = s, f->len = n, f->chunk = chunk;
}

static const size_t chunks[] = { 1, 2, 3, 7, 16384 };

/* A row: input, line limit, then the results expected in order:
 * each 1 (a line, its text), 0 (EOF) or -errno. */
static const struct {
	const char *in;
	size_t max;
	struct { int r; const char *line; } want[4];
} lines[] = {
	{ "", 10, { { 0, NULL } } },
	{ "a\n", 10, { { 1, "a\n" }, { 0, NULL } } },
	{ "\n\n", 10, { { 1, "\n" }, { 1, "\n" }, { 0, NULL } } },
	{ "a\r\nb\n", 10, { { 1, "a\r\n" }, { 1, "b\n" }, { 0, NULL } } },
	{ "a\rb\n", 10, { { 1, "a\rb\n" }, { 0, NULL } } },	/* bare CR */
	{ "a\r", 10, { { -EPROTO, NULL } } },
	{ "abc", 10, { { -EPROTO, NULL } } },		/* no LF at EOF */
	{ "abc\nde", 10, { { 1, "abc\n" }, { -EPROTO, NULL } } },
	{ "123456789\n", 10, { { 1, "123456789\n" }, { 0, NULL } } },
	{ "1234567890\nok\n", 10, { { -E2BIG, NULL }, { 1, "ok\n" },
	    { 0, NULL } } },				/* one over */
	{ "12345678901234567890\nok\n", 10, { { -E2BIG, NULL },
	    { 1, "ok\n" }, { 0, NULL } } },
	{ "1234567890", 10, { { -EPROTO, NULL } } },	/* over, then EOF */
	{ "\n", 1, { { 1, "\n" }, { 0, NULL } } },
	{ "a\n", 1, { { -E2BIG, NULL }, { 0, NULL } } },
	{ "a\0b\n", 10, { { 1, NULL }, { 0, NULL } } },	/* NUL kept */
};

static void
test_rd_line(void **state)
{
	struct buf out = BUF_INIT(1 << 20);
	struct fake f;
	struct rd r;
	size_t i, c, k;
	int got;

	(void)state;
	for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		for (c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
			size_t n = strlen(lines[i].in);

			if (i == sizeof lines / sizeof lines[0] - 1)
				n = 4;
			fake_init(&f, lines[i].in, n, chunks[c]);
			rd_init(&r, -1, fake_read, &f);
			for (k = 0; k < 4; k++) {
				int want = lines[i].want[k].r;

				errno = 0;
				got = rd_line(&r, &out, lines[i].max);
				if (got == -1)
					got = -errno;
				if (got != want)
					fail_msg("row %zu chunk %zu step %zu: "
					    "%d want %d", i, chunks[c], k, got,
					    want);
				if (want == 1 && lines[i].want[k].line &&
				    !buf_eq(&out, lines[i].want[k].line))
					fail_msg("row %zu step %zu: text", i, k);
				if (want <= 0 && want != -E2BIG)
					break;
			}
		}
	}
	/* the NUL row: all four bytes arrive */
	fake_init(&f, "a\0b\n", 4, 1);
	rd_init(&r, -1, fake_read, &f);
	assert_int_equal(rd_line(&r, &out, 10), 1);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.p, "a\0b\n", 4);
	buf_free(&out);
}

static void
test_rd_line_long(void **state)
{
	/* lines longer than the reader's own buffer, within the limit */
	static char big[3 * IO_BUFSIZE + 2];
	struct buf out = BUF_INIT(1 << 20);
	struct fake f;
	struct rd r;

	(void)state;
	memset(big, 'x', sizeof big - 2);
	big[sizeof big - 2] = '\n';
	fake_init(&f, big, sizeof big - 1, 5000);
	rd_init(&r, -1, fake_read, &f);
	assert_int_equal(rd_line(&r, &out, sizeof big - 1), 1);
	assert_int_equal(out.len, sizeof big - 1);
	fake_init(&f, big, sizeof big - 1, 5000);
	rd_init(&r, -1, fake_read, &f);
	assert_int_equal(rd_line(&r, &out, sizeof big - 2), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(out.len, 0);
	/* the out buffer's own ceiling also stops a line */
	buf_free(&out);
	buf_init(&out, 10);
	fake_init(&f, big, sizeof big - 1, 5000);
	rd_init(&r, -1, fake_read, &f);
	assert_int_equal(rd_line(&r, &out, sizeof big), -1);
	assert_int_equal(errno, E2BIG);
	buf_free(&out);
}

static void
test_rd_errors(void **state)
{
	struct buf out = BUF_INIT(100);
	struct fake f;
	struct rd r;
	char b[8];

	(void)state;
	/* a peer error is passed up with its errno */
	fake_init(&f, "ab", 2, 1);
	f.fail = 1;
	rd_init(&r, -1, fake_read, &f);
	assert_int_equal(rd_line(&r, &out, 10), -1);
	assert_int_equal(errno, ECONNRESET);
	/* rd_full: all, nothing, cut */
	fake_init(&f, "abcdef", 6, 1);
	rd_init(&r, -1, fake_read, &f);
	assert_int_equal(rd_full(&r, b, 4), 1);
	assert_memory_equal(b, "abcd", 4);
	assert_int_equal(rd_full(&r, b, 4), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(rd_full(&r, b, 1), 0);
	assert_int_equal(rd_full(&r, b, 0), 1);
	/* rd_pending / rd_discard */
	fake_init(&f, "line\nrest", 9, 100);
	rd_init(&r, -1, fake_read, &f);
	assert_int_equal(rd_line(&r, &out, 10), 1);
	assert_int_equal(rd_pending(&r), 4);
	rd_discard(&r);
	assert_int_equal(rd_pending(&r), 0);
	assert_int_equal(rd_line(&r, &out, 10), 0);
	buf_free(&out);
}

static void
test_rd_timeout(void **state)
{
	struct buf out = BUF_INIT(100);
	struct rd r;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	rd_init(&r, p[0], NULL, NULL);
	r.timeout_ms = 10;
	assert_int_equal(rd_line(&r, &out, 10), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(write(p[1], "hi\n", 3), 3);
	close(p[1]);
	assert_int_equal(rd_line(&r, &out, 10), 1);
	assert_true(buf_eq(&out, "hi\n"));
	assert_int_equal(rd_line(&r, &out, 10), 0);
	close(p[0]);
	buf_free(&out);
}

/* A fake inner op for io_read_dl: records the wait it was given. */
struct seen {
	int	 wait;		/* the inner op's setting */
	int	 got;		/* what it was when the op ran */
	int	 calls;
};

static ssize_t
seen_read(int fd, void *p, size_t n, void *ctx)
{
	struct seen *sn = ctx;

	(void)fd;
	sn->got = sn->wait;
	sn->calls++;
	if (n > 0)
		*(char *)p = 'x';
	return n > 0 ? 1 : 0;
}

static void
test_read_dl(void **state)
{
	struct seen sn = { .wait = 60000 };
	struct io_dl d = { seen_read, &sn, &sn.wait, -1 };
	struct buf out = BUF_INIT(100);
	struct rd r;
	char c;
	int p[2];

	(void)state;
	/* no deadline: the inner op as it is */
	assert_int_equal(io_read_dl(-1, &c, 1, &d), 1);
	assert_int_equal(sn.got, 60000);
	/* a deadline 5 s away cuts a 60 s wait, and the wait comes back */
	d.deadline = io_now_ms() + 5000;
	assert_int_equal(io_read_dl(-1, &c, 1, &d), 1);
	assert_true(sn.got > 0 && sn.got <= 5000);
	assert_int_equal(sn.wait, 60000);
	/* a shorter wait is kept; "none" (-1) is cut too */
	sn.wait = 10;
	assert_int_equal(io_read_dl(-1, &c, 1, &d), 1);
	assert_int_equal(sn.got, 10);
	sn.wait = -1;
	assert_int_equal(io_read_dl(-1, &c, 1, &d), 1);
	assert_true(sn.got > 0 && sn.got <= 5000);
	assert_int_equal(sn.wait, -1);
	/* past the deadline: ETIMEDOUT without calling the op */
	d.deadline = io_now_ms() - 1;
	sn.calls = 0;
	assert_int_equal(io_read_dl(-1, &c, 1, &d), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(sn.calls, 0);
	/* over a real pipe: bytes that keep coming do not extend it */
	assert_int_equal(pipe(p), 0);
	rd_init(&r, p[0], NULL, NULL);
	r.timeout_ms = 60000;
	d = (struct io_dl){ io_read_fd, &r.timeout_ms, &r.timeout_ms,
	    io_now_ms() + 20 };
	r.op = io_read_dl;
	r.ctx = &d;
	assert_int_equal(write(p[1], "par", 3), 3);
	assert_int_equal(rd_line(&r, &out, 10), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(r.timeout_ms, 60000);
	close(p[0]);
	close(p[1]);
	buf_free(&out);
}

static int idle_calls;

static void
on_idle(void *ctx)
{
	(void)ctx;
	idle_calls++;
}

/* the silence bound: each read's wait is cut to idle_ms until it runs
 * out once; then the hook, once, and the rest of the wait */
static void
test_read_dl_idle(void **state)
{
	struct seen sn = { .wait = 60000 };
	struct io_dl d = { seen_read, &sn, &sn.wait, -1, on_idle, NULL, 50 };
	struct rd r;
	char c;
	int p[2];
	long long t0;

	(void)state;
	/* a byte comes at once: the wait was cut, the hook not called */
	assert_int_equal(io_read_dl(-1, &c, 1, &d), 1);
	assert_int_equal(sn.got, 50);
	assert_int_equal(sn.wait, 60000);
	assert_int_equal(idle_calls, 0);
	/* a shorter wait is not lengthened */
	sn.wait = 10;
	assert_int_equal(io_read_dl(-1, &c, 1, &d), 1);
	assert_int_equal(sn.got, 10);
	/* over a real non-blocking pipe: silence calls the hook once, and
	 * the read waits on for its own wait less the bound */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	rd_init(&r, p[0], NULL, NULL);
	r.timeout_ms = 120;
	d = (struct io_dl){ io_read_fd, &r.timeout_ms, &r.timeout_ms, -1,
	    on_idle, NULL, 50 };
	t0 = io_now_ms();
	assert_int_equal(io_read_dl(p[0], &c, 1, &d), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(io_now_ms() - t0 >= 110);
	assert_int_equal(idle_calls, 1);
	assert_null(d.idle);
	assert_int_equal(r.timeout_ms, 120);
	/* without the bound, a byte there is read at once (no EAGAIN) */
	assert_int_equal(write(p[1], "z", 1), 1);
	assert_int_equal(io_read_dl(p[0], &c, 1, &d), 1);
	assert_int_equal(c, 'z');
	assert_int_equal(idle_calls, 1);
	/* io_write_nb on a full non-blocking pipe: ETIMEDOUT after wr's
	 * wait, not a block */
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	{
		static char big[65536];
		int t = 20;
		ssize_t k;

		while ((k = write(p[1], big, sizeof big)) > 0)
			;
		assert_int_equal(io_write_nb(p[1], big, 1, &t), -1);
		assert_int_equal(errno, ETIMEDOUT);
	}
	close(p[0]);
	close(p[1]);
}

/* io_read_fd on a non-blocking descriptor with nothing there yet (the
 * smtpd worker's accepted sockets): with no timeout it waits for the
 * byte (EAGAIN is no error), and with one it still ends ETIMEDOUT */
static void
test_read_fd_nonblocking(void **state)
{
	int p[2], t = 30, st;
	char c = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		usleep(50 * 1000);
		_exit(write(p[1], "y", 1) == 1 ? 0 : 1);
	}
	assert_int_equal(io_read_fd(p[0], &c, 1, NULL), 1);
	assert_int_equal(c, 'y');
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(io_read_fd(p[0], &c, 1, &t), -1);
	assert_int_equal(errno, ETIMEDOUT);
	close(p[0]);
	close(p[1]);
}

static void
test_wr(void **state)
{
	static char big[IO_BUFSIZE * 2 + 10];
	struct fake f;
	struct wr w;

	(void)state;
	memset(big, 'y', sizeof big);
	fake_init(&f, NULL, 0, 0);
	f.wmax = 3;			/* short writes */
	wr_init(&w, -1, fake_write, &f);
	assert_int_equal(wr_puts(&w, "hello "), 0);
	assert_int_equal(wr_put(&w, big, sizeof big), 0);
	assert_int_equal(wr_flush(&w), 0);
	assert_int_equal(f.olen, 6 + sizeof big);
	assert_memory_equal(f.out, "hello ", 6);
	assert_memory_equal(f.out + 6, big, sizeof big);
	assert_int_equal(wr_flush(&w), 0);	/* nothing left: fine */
	/* a peer that takes nothing: EPIPE, not a loop */
	fake_init(&f, NULL, 0, 0);
	wr_init(&w, -1, fake_write, &f);
	assert_int_equal(wr_puts(&w, "x"), 0);
	assert_int_equal(wr_flush(&w), -1);
	assert_int_equal(errno, EPIPE);
	/* a failing peer */
	fake_init(&f, NULL, 0, 0);
	f.fail = 1;
	wr_init(&w, -1, fake_write, &f);
	assert_int_equal(wr_puts(&w, "x"), 0);
	assert_int_equal(wr_flush(&w), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rd_line),
		cmocka_unit_test(test_rd_line_long),
		cmocka_unit_test(test_rd_errors),
		cmocka_unit_test(test_rd_timeout),
		cmocka_unit_test(test_read_dl),
		cmocka_unit_test(test_read_dl_idle),
		cmocka_unit_test(test_read_fd_nonblocking),
		cmocka_unit_test(test_wr),
	};

	return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
