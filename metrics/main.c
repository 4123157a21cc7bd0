/* sandmail-metrics: sandmail's counters for Prometheus.  Follows the log
 * files named by metrics_log (as svlogd or make run write them: renamed
 * or truncated files are followed like tail -F), reads the queue gauges
 * send writes to QUEUE/lock/send.stats, and every metrics_interval
 * writes metrics_file (the text format of node_exporter's textfile
 * collector, by an atomic rename); with metrics_listen, answers
 * GET /metrics on that loopback address.  Holds no secret; reads only
 * log lines and send's stats; sandboxed: no exec, no connect, no new
 * sockets (doc/design.md, "Metrics"). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "buf.h"
#include "conf.h"
#include "exitcode.h"
#include "listen.h"
#include "log.h"
#include "mstat.h"
#include "sbx.h"

#define LOGS_MAX	32
#define PART_MAX	65536	/* a line longer than this is skipped */
#define OUT_MAX		(1024 * 1024)
#define REQ_MAX		4096

struct follow {
	char		*path;
	int		 fd;
	dev_t		 dev;
	ino_t		 ino;
	struct buf	 part;	/* a line not yet ended */
	int		 skip;	/* in an overlong line: drop to its end */
};

static struct follow logs[LOGS_MAX];
static size_t nlogs;
static struct mt mt;
static struct mt_gauges gauges;
static struct buf out = BUF_INIT(OUT_MAX);
static char *statspath, *outpath;
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
feed(struct follow *f, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl != NULL ? (size_t)(nl - p) : n;

		if (!f->skip && buf_put(&f->part, p, len) == -1) {
			f->part.len = 0;
			f->skip = 1;
		}
		if (nl == NULL)
			return;
		if (!f->skip)
			mt_line(&mt, f->part.p, f->part.len);
		f->part.len = 0;
		f->skip = 0;
		p += len + 1, n -= len + 1;
	}
}

static void
drain(struct follow *f)
{
	char b[16384];
	ssize_t k;

	while ((k = read(f->fd, b, sizeof b)) > 0)
		feed(f, b, (size_t)k);
}

/* follow_one - what was added; a file renamed away is read to its end
 * and the new one from its start (twice at most a round: a file that
 * keeps moving waits for the next); a truncated one from its start */
static void
follow_one(struct follow *f)
{
	struct stat st, cur;

	for (int round = 0; round < 2; round++) {
		if (f->fd == -1) {
			if ((f->fd = open(f->path, O_RDONLY | O_CLOEXEC)) == -1)
				return;
			if (fstat(f->fd, &st) == 0)
				f->dev = st.st_dev, f->ino = st.st_ino;
		}
		drain(f);
		if (stat(f->path, &st) == 0 && st.st_dev == f->dev &&
		    st.st_ino == f->ino)
			break;
		close(f->fd);
		f->fd = -1;
		f->part.len = 0;
		f->skip = 0;
	}
	if (f->fd != -1 && fstat(f->fd, &cur) == 0 &&
	    cur.st_size < lseek(f->fd, 0, SEEK_CUR)) {
		(void)lseek(f->fd, 0, SEEK_SET);
		f->part.len = 0;
		f->skip = 0;
		drain(f);
	}
}

static void
read_stats(void)
{
	char b[4096];
	ssize_t k;
	int fd;

	if ((fd = open(statspath, O_RDONLY | O_CLOEXEC)) == -1) {
		memset(&gauges, 0, sizeof gauges);
		return;
	}
	k = read(fd, b, sizeof b);
	close(fd);
	if (k <= 0 || mt_gauges_parse(&gauges, b, (size_t)k) == -1)
		memset(&gauges, 0, sizeof gauges);
}

static void
refresh(void)
{
	for (size_t i = 0; i < nlogs; i++)
		follow_one(&logs[i]);
	read_stats();
	out.len = 0;
	if (mt_render(&mt, &gauges, (unsigned long long)time(NULL), &out)
	    == -1)
		die_temp("render", "too big");
}

/* write_file - metrics_file by a rename: a reader never sees half */
static void
write_file(void)
{
	char tmp[4096];
	int fd, n;
	size_t off = 0;

	n = snprintf(tmp, sizeof tmp, "%s.tmp", outpath);
	if (n < 0 || (size_t)n >= sizeof tmp)
		die_perm("metrics_file", "too long");
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644))
	    == -1) {
		log_kv("error", "op", "open", "path", tmp, "err",
		    strerror(errno), NULL);
		return;
	}
	while (off < out.len) {
		ssize_t k = write(fd, out.p + off, out.len - off);

		if (k <= 0)
			break;
		off += (size_t)k;
	}
	if (close(fd) == -1 || off < out.len || rename(tmp, outpath) == -1) {
		log_kv("error", "op", "write", "path", outpath, "err",
		    strerror(errno), NULL);
		(void)unlink(tmp);
	}
}

static void
say(int fd, const char *p, size_t n)
{
	while (n > 0) {
		struct pollfd pf = { fd, POLLOUT, 0 };
		ssize_t k;

		if (poll(&pf, 1, 2000) != 1)
			return;
		if ((k = write(fd, p, n)) <= 0) {
			if (k == -1 && errno == EAGAIN)
				continue;
			return;
		}
		p += k, n -= (size_t)k;
	}
}

/* serve - one HTTP/1.0 exchange: GET /metrics (or /), else 404; the
 * request read for at most 2 s, then the connection closed */
static void
serve(int lfd)
{
	char req[REQ_MAX + 1], hdr[256];
	size_t n = 0;
	int fd, h;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1)
		return;
	while (n < REQ_MAX && memmem(req, n, "\r\n\r\n", 4) == NULL &&
	    memmem(req, n, "\n\n", 2) == NULL) {
		struct pollfd pf = { fd, POLLIN, 0 };
		ssize_t k;

		if (poll(&pf, 1, 2000) != 1)
			break;
		if ((k = read(fd, req + n, REQ_MAX - n)) <= 0) {
			if (k == -1 && errno == EAGAIN)
				continue;
			break;
		}
		n += (size_t)k;
	}
	req[n] = '\0';
	if (strncmp(req, "GET /metrics ", 13) == 0 ||
	    strncmp(req, "GET / ", 6) == 0) {
		refresh();
		h = snprintf(hdr, sizeof hdr, "HTTP/1.0 200 OK\r\n"
		    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    out.len);
		say(fd, hdr, (size_t)h);
		say(fd, out.p, out.len);
	} else {
		static const char nf[] = "HTTP/1.0 404 Not Found\r\n"
		    "Content-Type: text/plain\r\nContent-Length: 10\r\n"
		    "Connection: close\r\n\r\nnot found\n";

		say(fd, nf, sizeof nf - 1);
	}
	close(fd);
}

/* loopback_spec - "ADDR:PORT" or "[V6]:PORT" names a loopback address
 * (checked before anything is bound) */
static int
loopback_spec(const char *spec)
{
	char host[LISTEN_IP_MAX], bin[16];
	const char *end;
	size_t n;

	if (spec[0] == '[') {
		if ((end = strchr(spec, ']')) == NULL)
			return 0;
		spec++;
	} else if ((end = strrchr(spec, ':')) == NULL)
		return 0;
	if ((n = (size_t)(end - spec)) >= sizeof host)
		return 0;
	memcpy(host, spec, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, bin) != 1 &&
	    inet_pton(AF_INET6, host, bin) != 1)
		return 0;
	return listen_is_loopback(host);
}

/* open_listen - metrics_listen, a loopback address only: the counters
 * say what the mail system does, not for the network to read */
static int
open_listen(const char *spec)
{
	int fd;

	if (!loopback_spec(spec))
		die_msg(EXIT_PERM, "metrics_listen", "not a loopback address");
	if ((fd = listen_open(spec, 16)) == -1)
		die_perm("metrics_listen", spec);
	log_kv("listen", "addr", spec, NULL);
	return fd;
}

static void
sandbox(void)
{
	static const struct sbx_rule rules[] = {
		/* the logs and send's stats (read), metrics_file (write and
		 * rename); no O_PATH */
		SBX_ALLOW1(openat, SCMP_A2(SCMP_CMP_MASKED_EQ, O_PATH, 0)),
		SBX_ALLOW(rename),
		SBX_ALLOW(renameat),
		SBX_ALLOW(renameat2),
		SBX_ALLOW(unlink),
		SBX_ALLOW(unlinkat),
		SBX_ALLOW(stat),
		SBX_ALLOW(statx),
		/* the loopback listener made before */
		SBX_ALLOW(accept4),
		SBX_LAST
	};

	sbx_enter_or_die(rules);
}

/* cleanup - everything given back before exit (the sanitizers' leak
 * check runs then) */
static void
cleanup(struct conf *cf, char *queue)
{
	for (size_t i = 0; i < nlogs; i++) {
		if (logs[i].fd != -1)
			close(logs[i].fd);
		buf_free(&logs[i].part);
		free(logs[i].path);
	}
	buf_free(&out);
	free(statspath);
	free(outpath);
	free(queue);
	conf_free(cf);
}

int
main(int argc, char *argv[])
{
	struct conf cf;
	int rc;
	const char *cpath = NULL, *v, *lspec;
	char *queue;
	unsigned long long interval;
	size_t it = 0;
	int ch, once = 0, lfd = -1;
	uid_t uid;
	gid_t gid;
	time_t next = 0;

	log_init("metrics");
	while ((ch = getopt(argc, argv, "c:1")) != -1) {
		if (ch == 'c')
			cpath = optarg;
		else if (ch == '1')
			once = 1;
		else {
			fputs("usage: sandmail-metrics [-1] [-c conf]\n",
			    stderr);
			return EXIT_PERM;
		}
	}
	conf_load(&cf, cpath != NULL ? cpath : conf_default_path());
	queue = conf_path(&cf, "queue", "/var/spool/sandmail");
	interval = conf_secs(&cf, "metrics_interval", 30);
	outpath = conf_path(&cf, "metrics_file", NULL);
	lspec = conf_str(&cf, "metrics_listen", NULL);
	if (interval == 0)
		interval = 30;	/* send writes no stats: the logs only */
	while ((v = conf_next(&cf, "metrics_log", &it)) != NULL) {
		if (nlogs == LOGS_MAX)
			die_perm("metrics_log", "more than 32 files");
		if ((logs[nlogs].path = strdup(v)) == NULL)
			die_temp("malloc", NULL);
		logs[nlogs].fd = -1;
		buf_init(&logs[nlogs].part, PART_MAX);
		nlogs++;
	}
	if (asprintf(&statspath, "%s/lock/send.stats", queue) == -1)
		die_temp("malloc", NULL);
	if (outpath == NULL && (lspec == NULL || lspec[0] == '\0') && !once)
		die_msg(EXIT_PERM, "conf", "neither metrics_file nor "
		    "metrics_listen is set");
	mt_init(&mt);
	if (!once && lspec != NULL && lspec[0] != '\0')
		lfd = open_listen(lspec);
	if (geteuid() == 0) {
		if (priv_lookup(conf_str(&cf, "user_metrics", "nobody"), &uid,
		    &gid) == -1)
			die_perm("user_metrics", "no such user");
		priv_drop_or_die(uid, gid);
	}
	tzset();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	sandbox();
	if (once) {
		refresh();
		if (outpath != NULL)
			write_file();
		else
			fwrite(out.p, 1, out.len, stdout);
		rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_TEMP;
		cleanup(&cf, queue);
		return rc;
	}
	log_kv("start", "logs", nlogs ? "yes" : "none", "file",
	    outpath != NULL ? outpath : "none", NULL);
	while (!stop) {
		time_t now = time(NULL);
		struct pollfd pf = { lfd, POLLIN, 0 };

		if (now >= next) {
			refresh();
			if (outpath != NULL)
				write_file();
			next = now + (time_t)interval;
		}
		if (poll(&pf, lfd >= 0 ? 1 : 0, (int)(next - now) * 1000) == 1)
			serve(lfd);
	}
	log_kv("stop", NULL);
	if (lfd >= 0)
		close(lfd);
	cleanup(&cf, queue);
	return EXIT_OK;
}
