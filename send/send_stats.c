/* send_stats: the queue's gauges for sandmail-metrics, written every
 * metrics_interval to lock/send.stats (0644, by a rename, "key value"
 * lines): the entries of todo/, info/, bounce/ and hold/, the arrival
 * time of the oldest message, the deliveries in flight and the time it
 * was written.  Only send can read info/ and knows what is in flight;
 * metrics, another user, reads this file and nothing else of the queue.
 * info/ and mess/ hold the whole queue, so their figures come from
 * send's index: the messages it knows, and their arrival times (each
 * learnt when the message is loaded; once after a start, one look at
 * mess/ times the messages recovered).  todo/, bounce/ and hold/ hold
 * only what is passing through (a split, a report, a hold), and are
 * counted by name, without a stat, at most STATS_SCAN_MAX each. */
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

/* count - the entries of dir */
static unsigned long long
count(int qfd, const char *dir)
{
	unsigned long long n = 0;
	struct dirent *d;
	DIR *dp;
	int fd;

	if ((fd = openat(qfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while (n < STATS_SCAN_MAX && (d = readdir(dp)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

/* recovered - the arrival (mess/ID's time) of each message the index
 * has not seen loaded yet; once, after a start */
static void
recovered(struct send *s)
{
	struct dirent *d;
	struct stat st;
	struct msg *m;
	DIR *dp;
	int fd;

	s->stats_known = 1;
	if ((fd = openat(s->qfd, "mess", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((d = readdir(dp)) != NULL)
		if (send_idok(d->d_name) && (m = idx_get(&s->idx,
		    d->d_name)) != NULL && m->arrival == 0 &&
		    fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime > 0)
			idx_arrival(&s->idx, m, (uint64_t)st.st_mtime);
	closedir(dp);
}

/* send_stats - see send_srv.h */
void
send_stats(struct send *s, uint64_t now)
{
	char b[512];
	int n, fd;

	if (!s->stats_known)
		recovered(s);
	n = snprintf(b, sizeof b, "todo %llu\ninfo %llu\nbounce %llu\n"
	    "hold %llu\noldest %llu\nactive_local %u\nactive_remote %u\n"
	    "time %llu\n", count(s->qfd, "todo"),
	    (unsigned long long)s->idx.n, count(s->qfd, "bounce"),
	    count(s->qfd, "hold"),
	    (unsigned long long)idx_oldest(&s->idx), s->nlocal, s->nremote,
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
