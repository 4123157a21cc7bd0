/* sandmail-send: the queue manager (one long-running process).
 * Run by sandmail-start with its peers' sockets: -L lspawn (SOCK_SEQPACKET),
 * -R rspawn (SOCK_SEQPACKET), -D resolve (stream), -K sign (stream).  It opens the queue
 * directory, lock/trigger and the tables, drops to user_send and enters
 * its sandbox (send_sbx.c): after that it may only use *at calls relative
 * to the queue directory (and open tables again on HUP, read-only),
 * Landlock keeps every path beneath those two; no socket(), no exec. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "exitcode.h"
#include "fsprobe.h"
#include "log.h"
#include "sbx.h"
#include "qwrite.h"
#include "send_sbx.h"
#include "send_srv.h"
#include "send_sts.h"

/* LeakSanitizer reads /proc at exit, which Landlock keeps out of reach */
SBX_NO_LEAK_CHECK


static void
on_sig(int sig)
{
	if (sig == SIGHUP)
		send_sighup = 1;
	else if (sig == SIGALRM)
		send_sigalrm = 1;
	else
		send_sigterm = 1;
}

static void
signals(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGALRM);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* delivered only inside ppoll, so no wake-up is lost */
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int
fdopt(const char *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v || n > 65535 ||
	    fcntl((int)n, F_GETFD) == -1)
		die_msg(EXIT_TEMP, "usage", "bad descriptor number");
	return (int)n;
}

static void
ids(const struct conf *cf, const char *key, const char *def, uint32_t *u,
    uint32_t *g)
{
	uid_t uu;
	gid_t gg;

	if (geteuid() != 0) {
		*u = getuid(), *g = getgid();
		return;
	}
	if (priv_lookup(conf_str(cf, key, def), &uu, &gg) == -1)
		die_msg(EXIT_TEMP, "user", conf_str(cf, key, def));
	*u = uu, *g = gg;
}

/* sync_mode - queue_sync, read as sandmail-queue reads it: 1 for syncfs */
static int
sync_mode(const struct conf *cf)
{
	const char *v = conf_str(cf, "queue_sync", "fsync");

	if (strcmp(v, "fsync") == 0)
		return 0;
	if (strcmp(v, "syncfs") == 0)
		return 1;
	die_msg(EXIT_TEMP, "config", "queue_sync: expected fsync or syncfs");
}

static void
settings(struct send *s, const struct conf *cf)
{
	static char host[256];
	struct sconf *c = &s->c;

	if (gethostname(host, sizeof host - 1) == -1)
		snprintf(host, sizeof host, "localhost");
	c->hostname = conf_str(cf, "hostname", host);
	c->delim = conf_str(cf, "recipient_delimiter", "-+");
	c->queue = conf_path(cf, "queue", "/var/spool/sandmail");
	c->tables = conf_path(cf, "tables", ".");
	c->retry_first = conf_secs(cf, "retry_first", 300);
	c->retry_max = conf_secs(cf, "retry_max", 4 * 3600);
	c->lifetime = conf_secs(cf, "queue_lifetime", 5 * 86400);
	c->delay_warning = conf_secs(cf, "delay_warning", 4 * 3600);
	c->term_wait = conf_secs(cf, "term_wait", 60);
	c->resolve_ttl = conf_secs(cf, "resolve_cache", 300);
	c->sweep_delay = conf_secs(cf, "orphan_sweep_delay", 30);
	c->stats_interval = conf_secs(cf, "metrics_interval", 30);
	c->syncfs = sync_mode(cf);
	c->conc_local = (unsigned)conf_num(cf, "concurrency_local", 10, 1,
	    1000);
	c->conc_remote = (unsigned)conf_num(cf, "concurrency_remote", 20, 1,
	    1000);
	c->conc_dest = (unsigned)conf_num(cf, "concurrency_destination", 20,
	    1, 1000);
	ids(cf, "user_vmail", "vmail", &c->vuid, &c->vgid);
	ids(cf, "user_alias", "nobody", &c->auid, &c->agid);
	c->srs_domain = conf_str(cf, "srs_domain", NULL);
	c->arc_domain = conf_str(cf, "arc_domain", NULL);
	c->authserv_id = conf_str(cf, "smtpd_authserv_id", c->hostname);
	c->srs_exclude = conf_str(cf, "srs_exclude", NULL);
	c->srs_maxdays = (unsigned)(conf_secs(cf, "srs_max_age", 21 * 86400) /
	    86400);
}

/* srs_open - srs_secret, read before the sandbox (installed: root:
 * user_send 0640, send alone reads it): the SRS secret stays in this
 * process, which holds no network connection (it parses envelopes and,
 * to sign or seal, header fields: doc/design.md, "SRS") */
static void
srs_open(struct send *s, const struct conf *cf)
{
	char *path;
	int fd;

	if (s->c.srs_domain == NULL)
		return;
	if ((path = conf_path(cf, "srs_secret", "srs.secret")) == NULL)
		die_temp("malloc", NULL);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		die_temp("open", path);
	if (srs_keys_read(&s->srs, fd) == -1)
		die_msg(EXIT_TEMP, "srs_secret", "expected 1 to 8 lines of at "
		    "most 256 bytes");
	close(fd);
	free(path);
}

static void
open_all(struct send *s)
{
	if ((s->qfd = open(s->c.queue, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		die_temp("open", s->c.queue);
	/* O_RDWR: a FIFO we also hold for writing never reads EOF */
	if ((s->trig = openat(s->qfd, "lock/trigger", O_RDWR | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		die_temp("open", "lock/trigger");
	/* one send per queue: a send whose sandmail-start was killed gets
	 * TERM and may finish its work for term_wait, while the new start's
	 * send begins.  Beside it, the new one would read info/ before the
	 * old one published a split there, and never learn of that message
	 * (the installed crash test found such an info/ID left).  The lock
	 * is held until exit, on the trigger, which every send opens. */
	if (flock(s->trig, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			die_temp("flock", "lock/trigger");
		log_kv("wait", "for", "the previous send to end", NULL);
		while (flock(s->trig, LOCK_EX) == -1)
			if (errno != EINTR)
				die_temp("flock", "lock/trigger");
	}
	if (tables_open(&s->t, s->c.tables) == -1)
		die_temp("open", "tables");
	s->njobs = s->c.conc_local + s->c.conc_remote;
	if ((s->jobs = calloc(s->njobs, sizeof *s->jobs)) == NULL)
		die_temp("malloc", NULL);
	buf_init(&s->dbuf, 2 * JOB_MAX + 16384);
	buf_init(&s->tbuf, 4096);
	idx_init(&s->idx);
}

/* boot_time - when this boot began, by the wall clock */
static time_t
boot_time(void)
{
	struct timespec up;

	if (clock_gettime(CLOCK_BOOTTIME, &up) == -1)
		return 0;	/* no file is then older than the boot */
	return time(NULL) - up.tv_sec;
}

int
main(int argc, char *argv[])
{
	static struct send s;
	static struct conf cf;
	const char *cpath = NULL;
	pid_t parent = getppid();
	uint32_t uid, gid;
	int ch;

	log_init("send");
	s.lsock = s.rsock = s.dsock = s.ksock = -1;
	while ((ch = getopt(argc, argv, "c:L:R:D:K:M:")) != -1) {
		switch (ch) {
		case 'c': cpath = optarg; break;
		case 'L': s.lsock = fdopt(optarg); break;
		case 'R': s.rsock = fdopt(optarg); break;
		case 'D': s.dsock = fdopt(optarg); break;
		case 'K': s.ksock = fdopt(optarg); break;
		case 'M': ssts_init(fdopt(optarg)); break;
		default:
			die_msg(EXIT_TEMP, "usage", "sandmail-send [-c conf] "
			    "[-L fd] [-R fd] [-D fd] [-K fd] [-M fd]");
		}
	}
	memset(&cf, 0, sizeof cf);
	conf_load(&cf, cpath);
	settings(&s, &cf);
	send_pool_init(&s);
	open_all(&s);
	s.c.reuse = fs_queue_reuse(&cf, s.qfd);
	srs_open(&s, &cf);
	signals();
	tzset();
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	/* this boot: seals made in it are whole; others are checked
	 * (send_pre.c); zeros match no seal, so all are checked */
	if (boot_id(s.boot) == -1)
		log_kv("warning", "op", "boot_id", "err", strerror(errno), NULL);
	qw_set_boot(s.boot);	/* for the bounces' seals */
	s.boot_at = boot_time();
	ids(&cf, "user_send", "sandmails", &uid, &gid);
	/* lock/send.stats is for sandmail-metrics' user to read (0644);
	 * every other file send makes names its mode, none wider */
	umask(022);
	s.uid = (unsigned)send_sandbox(s.qfd, s.c.tables, uid, gid,
	    s.lsock != -1 ? parent : 0);
	/* the signer's greeting: it is sandboxed once it has written it */
	if (sdkim_hello(&s) == -1)
		die_temp("read", "sandmail-sign greeting");
	if (s.c.arc_domain != NULL && !sdkim_has_rsa(&s, s.c.arc_domain))
		log_kv("warning", "op", "arc", "domain", s.c.arc_domain, "err",
		    "no rsa key for arc_domain in the dkim table: nothing "
		    "is sealed", NULL);
	log_kv("start", "queue", s.c.queue, NULL);
	send_recover(&s);
	return send_loop(&s);
}
