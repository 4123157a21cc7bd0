/* sandmail-mailq: list the queue.  One block per message: ID, size, age,
 * sender; then each recipient with its state (new, pending, warned,
 * done, bounced) and the last error send recorded.  Reads only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "seal.h"
#include "tools_common.h"

static const char *
state_word(uint8_t s)
{
	switch (s) {
	case RC_PENDING: return "pending";
	case RC_WARNED: return "pending";
	case RC_DONE: return "done";
	case RC_FAILED: return "bounced";
	}
	return "?";
}

static void
age(char *b, size_t sz, uint64_t arrival)
{
	uint64_t now = (uint64_t)time(NULL), a = now > arrival ?
	    now - arrival : 0;

	if (a < 3600)
		snprintf(b, sz, "%llum", (unsigned long long)a / 60);
	else if (a < 86400)
		snprintf(b, sz, "%lluh", (unsigned long long)a / 3600);
	else
		snprintf(b, sz, "%llud", (unsigned long long)a / 86400);
}

static long long
msize(int qfd, const char *id)
{
	struct stat st;
	char p[128];

	if (fs_path(p, sizeof p, "mess", id) == -1 ||
	    fstatat(qfd, p, &st, 0) == -1)
		return -1;
	return (long long)st.st_size;
}

/* one - print one message; dir is "info" or "todo" */
static int
one(int qfd, const char *dir, const char *id)
{
	struct buf b = BUF_INIT(64u * 1024 * 1024);
	struct rcpt *v = NULL;
	struct seal sl;
	struct env e;
	size_t n = 0;
	char a[32];
	int inner = 0;

	if (fs_read(qfd, dir, id, &b) == -1 || (dir[0] == 't' ?
	    seal_env(&e, b.p, b.len, &sl) : info_decode(b.p, b.len, &e, &v, &n,
	    &inner)) == -1) {
		buf_free(&b);
		return 0;	/* gone meanwhile, or being written */
	}
	buf_free(&b);
	age(a, sizeof a, e.arrival);
	printf("%s %lld %s <%s>%s\n", id, msize(qfd, id), a, e.sender,
	    dir[0] == 't' ? " (new)" : "");
	if (dir[0] == 't')
		for (size_t i = 0; i < e.nrcpt; i++)
			printf("\tnew\t%s\n", e.rcpt[i].addr);
	else if (inner || tools_rcpts(qfd, id, &v, &n) == 0)
		for (size_t i = 0; i < n; i++) {
			printf("\t%s\t%s%s%s%s\n", state_word(v[i].state),
			    v[i].addr, v[i].err[0] && rc_pending(&v[i]) ?
			    "\t(" : "", rc_pending(&v[i]) ? v[i].err : "",
			    v[i].err[0] && rc_pending(&v[i]) ? ")" : "");
			rc_free(&v[i]);
		}
	free(v);
	env_free(&e);
	return 1;
}

static size_t
list(int qfd, const char *dir)
{
	struct dirent *d;
	size_t n = 0;
	DIR *dp;
	int fd;

	if ((fd = openat(qfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (dp = fdopendir(fd)) == NULL)
		die_temp("opendir", dir);
	while ((d = readdir(dp)) != NULL)
		if (send_idok(d->d_name) && (dir[0] == 'i' ||
		    fs_exists(qfd, "info", d->d_name) != 1))
			n += (size_t)one(qfd, dir, d->d_name);
	closedir(dp);
	return n;
}

int
main(int argc, char *argv[])
{
	struct tools t;
	size_t n;

	log_init("mailq");
	if (tools_open(argc, argv, &t) == -1) {
		fputs("usage: sandmail-mailq [-c conf]\n", stderr);
		return EXIT_PERM;
	}
	n = list(t.qfd, "info") + list(t.qfd, "todo");
	printf("-- %zu message%s\n", n, n == 1 ? "" : "s");
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_TEMP;
}
