/* fuzz_qserver: the queue protocol server (queue/qserver.c) with its real
 * writer (lib/qwrite.c) on a queue in /dev/shm: the input is everything
 * one client sends on fd 0.  After the client is gone, nothing may be left
 * in tmp/, and every todo/ID must have its mess/ID (a message is committed
 * whole or not at all). */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../queue/qinit.h"
#include "../../queue/qserver.h"

static int qfd = -1;
static char dir[] = "/dev/shm/fuzz_qserver.XXXXXX";

static int sweep(const char *, int);

/* cleanup - remove the queue at exit */
static void
cleanup(void)
{
	static const char *subs[] = { "tmp", "mess", "todo", "info", "local",
	    "remote", "bounce", "lock" };

	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		(void)sweep(subs[i], 1);
		(void)unlinkat(qfd, subs[i], AT_REMOVEDIR);
	}
	(void)rmdir(dir);
}

static void
setup(void)
{
	struct qinit_ids ids = { 0 };
	const char *what;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL ||
	    qinit(dir, &ids, &what) == -1 ||
	    (qfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
		abort();
	atexit(cleanup);
}

/* sweep - count the files of sub (removing them when rm) */
static int
sweep(const char *sub, int rm)
{
	int fd = openat(qfd, sub, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (fd == -1 || (d = fdopendir(fd)) == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (rm && unlinkat(dirfd(d), de->d_name, 0) == -1)
			abort();
	}
	closedir(d);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qsrv q;
	int p[2], out;

	if (qfd == -1)
		setup();
	if (size > 60000 || pipe(p) == -1)
		return 0;
	if (write(p[1], data, size) != (ssize_t)size)
		abort();
	close(p[1]);
	if ((out = open("/dev/null", O_WRONLY)) == -1)
		abort();
	qsrv_init(&q, qfd, -1);
	q.max_size = 2000;
	q.max_rcpt = 3;
	if (qsrv_add(&q, p[0], out, "fuzz") == -1 || qsrv_run(&q) == -1)
		abort();
	qsrv_free(&q);
	if (sweep("tmp", 0) != 0 || sweep("todo", 1) != sweep("mess", 1))
		abort();
	return 0;
}
