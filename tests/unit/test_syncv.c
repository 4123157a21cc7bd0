/* syncv: many fsyncs at once, each one's result reported on its own */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "syncv.h"

#define N	200	/* more than one submission (128 at a time) */

static int
tmpfile_fd(char *dir, int i)
{
	char p[256];
	int fd;

	snprintf(p, sizeof p, "%s/f%d", dir, i);
	fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data\n", 5), 5);
	return fd;
}

/* every file and the directory synced: all succeed */
static void
test_all(void **state)
{
	char dir[] = "/tmp/test_syncv.XXXXXX";
	struct syncv v[N + 1];

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < N; i++)
		v[i] = (struct syncv){ tmpfile_fd(dir, i), i % 2, -1 };
	v[N] = (struct syncv){ open(dir, O_RDONLY | O_DIRECTORY), 0, -1 };
	assert_true(v[N].fd >= 0);
	assert_int_equal(syncv(v, N + 1), 0);
	for (int i = 0; i <= N; i++) {
		char p[256];

		assert_int_equal(v[i].err, 0);
		close(v[i].fd);
		snprintf(p, sizeof p, "%s/f%d", dir, i);
		(void)unlink(p);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* a descriptor that cannot be synced fails alone, with its errno */
static void
test_one_fails(void **state)
{
	char dir[] = "/tmp/test_syncv.XXXXXX";
	struct syncv v[3];
	int pfd[2];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(pipe(pfd), 0);
	v[0] = (struct syncv){ tmpfile_fd(dir, 0), 1, -1 };
	v[1] = (struct syncv){ 999, 1, -1 };	/* not open */
	v[2] = (struct syncv){ tmpfile_fd(dir, 1), 0, -1 };
	assert_int_equal(syncv(v, 3), -1);
	assert_int_equal(v[0].err, 0);
	assert_int_equal(v[1].err, EBADF);
	assert_int_equal(v[2].err, 0);
	/* one alone: a plain fdatasync, its errno (EINVAL: a pipe) */
	v[0] = (struct syncv){ pfd[0], 1, -1 };
	assert_int_equal(syncv(v, 1), -1);
	assert_int_equal(v[0].err, EINVAL);
	close(pfd[0]);
	close(pfd[1]);
	assert_int_equal(syncv(v, 0), 0);
}

/* sync_file_range, as syncv.c sees it: the real one, or a write-back
 * error (EIO) for the descriptor sfr_fail_fd.  A definition in the
 * program wins over libc's for the objects linked in. */
static int sfr_fail_fd = -1;

int
sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	if (fd == sfr_fail_fd)
		return errno = EIO, -1;
	return (int)syscall(SYS_sync_file_range, fd, off, n, flags);
}

/* a write-back error sync_file_range reports is that file's result: it
 * consumed the error, and the fdatasync after it would say 0 */
static void
test_writeback_error(void **state)
{
	char dir[] = "/tmp/test_syncv.XXXXXX", p[256];
	struct syncv v[3];

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < 3; i++)
		v[i] = (struct syncv){ tmpfile_fd(dir, i), 1, -1 };
	sfr_fail_fd = v[1].fd;
	assert_int_equal(syncv(v, 3), -1);
	sfr_fail_fd = -1;
	assert_int_equal(v[0].err, 0);
	assert_int_equal(v[1].err, EIO);
	assert_int_equal(v[2].err, 0);
	for (int i = 0; i < 3; i++) {
		close(v[i].fd);
		snprintf(p, sizeof p, "%s/f%d", dir, i);
		(void)unlink(p);
	}
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all),
		cmocka_unit_test(test_one_fails),
		cmocka_unit_test(test_writeback_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
