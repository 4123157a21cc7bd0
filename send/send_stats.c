/* send_stats: the queue's gauges for sandmail-metrics, written every
 * metrics_interval to lock/send.stats (0644, by a rename, "key value"
 * lines): the entries of todo/, info/, bounce/ and hold/, the arrival
 * time of the oldest message (the oldest mess/ file), the deliveries in
 * flight and the time it was written.  Only send can read info/ and
 * knows what is in flight; metrics, another user, reads this file and
 * nothing else of the queue.  Entries are counted by readdir (a stat each
 * for mess/ only), at most STATS_SCAN_MAX a directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "send_srv.h"

#define STATS_SCAN_MAX	1000000

/* count - entries of dir; with oldest, the least mtime among them */
static unsigned long long
count(int qfd, const char *dir, unsigned long long *oldest)
{
	unsigned long long n = 0;
	struct dirent *d;
	struct stat st;
	DIR *dp;
	int fd;

	if ((fd = openat(qfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while (n < STATS_SCAN_MAX && (d = readdir(dp)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		n++;
		if (oldest != NULL && fstatat(fd, d->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime > 0 &&
		    (*oldest == 0 || (unsigned long long)st.st_mtime < *oldest))
			*oldest = (unsigned long long)st.st_mtime;
	}
	closedir(dp);
	return n;
}

/* send_stats - see send_srv.h */
void
send_stats(struct send *s, uint64_t now)
{
	unsigned long long oldest = 0;
	char b[512];
	int n, fd;

	(void)count(s->qfd, "mess", &oldest);
	n = snprintf(b, sizeof b, "todo %llu\ninfo %llu\nbounce %llu\n"
	    "hold %llu\noldest %llu\nactive_local %u\nactive_remote %u\n"
	    "time %llu\n", count(s->qfd, "todo", NULL),
	    count(s->qfd, "info", NULL), count(s->qfd, "bounce", NULL),
	    count(s->qfd, "hold", NULL), oldest, s->nlocal, s->nremote,
	    (unsigned long long)now);
	if (n < 0 || (size_t)n >= sizeof b)
		return;
	if ((fd = openat(s->qfd, "lock/send.stats.tmp", O_WRONLY | O_CREAT |
	    O_TRUNC | O_CLOEXEC, 0644)) == -1) {
		log_kv("warn", "op", "stats", "err", strerror(errno), NULL);
		return;
	}
	if (write(fd, b, (size_t)n) != n || close(fd) == -1 ||
	    renameat(s->qfd, "lock/send.stats.tmp", s->qfd,
	    "lock/send.stats") == -1)
		log_kv("warn", "op", "stats", "err", strerror(errno), NULL);
}
