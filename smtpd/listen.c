/* listen: smtpd's own listener (-l ADDR:PORT[/MODE], repeatable).  The parent
 * keeps the tables mapped and forks, without exec, one child per
 * connection; the child connects to the queue, drops privileges and
 * installs its filter before it reads a byte (session_go).  The parent
 * never reads from a client: it accepts, counts connections overall and
 * per client address (421 over either limit), reaps children, re-maps
 * tables that changed on disk or on SIGHUP, and on SIGTERM stops
 * listening and exits while its children finish their sessions.
 *
 * TLS: the parent makes the server context once (tlsctx_get) and makes it
 * again, at accept time, when the certificate or key file changed on
 * disk, so a renewed certificate is used without a restart; the child
 * inherits it.  The child spawns sandmail-auth before its sandbox. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "listen.h"
#include "log.h"
#include "smtpd.h"

#define LISTEN_MAX	16
#define BACKLOG		1024

static volatile sig_atomic_t got_chld, got_hup, got_term;
static int lfd[LISTEN_MAX];
static unsigned lmode[LISTEN_MAX];
static size_t nlfd;
static int alarm_fd = -1;
static char alarm_msg[300];
static size_t alarm_len;

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

/* on_alarm - the whole-session limit: say so and go (async-safe) */
static void
on_alarm(int sig)
{
	static const char logl[] =
	    "prog=smtpd event=disconnect reason=\"session limit\"\n";

	ssize_t r = 0;

	(void)sig;
	if (alarm_fd >= 0)
		r = write(alarm_fd, alarm_msg, alarm_len);
	r += write(2, logl, sizeof logl - 1);
	_exit(r < 0 ? EXIT_TEMP : EXIT_OK);
}

/* alarm_tls - TLS is on: plain bytes from the alarm handler would break
 * the stream, so the session writes its 421 itself at the deadline
 * (io_timeouts); the alarm, a few seconds later, only ends the process */
void
alarm_tls(void)
{
	unsigned left = alarm(0);

	alarm_fd = -1;
	if (left > 0)
		alarm(left + 5);
}

/* mode_parse - "smtp", "submission", "smtps" (submission on implicit
 * TLS, RFC 8314) or "tls" (implicit TLS, smtp rules); 0 or -1 */
int
mode_parse(const char *m, unsigned *mode)
{
	if (strcmp(m, "smtp") == 0)
		*mode = 0;
	else if (strcmp(m, "submission") == 0)
		*mode = MODE_SUBMISSION;
	else if (strcmp(m, "smtps") == 0)
		*mode = MODE_SUBMISSION | MODE_TLS;
	else if (strcmp(m, "tls") == 0)
		*mode = MODE_TLS;
	else
		return -1;
	return 0;
}

/* The server context and the files it came from. */
static SSL_CTX *tctx;
static struct stat tcert_st, tkey_st;
static int tctx_tried;

static int
st_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* tlsctx_get - the server context (NULL: no TLS); made at the first call
 * and again when tls_cert or tls_key changed on disk (the old one is
 * kept if the new files do not load) */
SSL_CTX *
tlsctx_get(const struct smtpd_cfg *cfg)
{
	struct stat cs, ks;
	SSL_CTX *n;
	char err[512];

	if (cfg->tls_cert == NULL)
		return NULL;
	if (stat(cfg->tls_cert, &cs) == -1 || stat(cfg->tls_key, &ks) == -1) {
		if (!tctx_tried)
			log_kv("error", "op", "tls", "err", strerror(errno),
			    NULL);
		tctx_tried = 1;
		return tctx;
	}
	if (tctx_tried && st_same(&cs, &tcert_st) && st_same(&ks, &tkey_st))
		return tctx;
	tctx_tried = 1;
	tcert_st = cs;
	tkey_st = ks;
	if ((n = tls_server_ctx(cfg->tls_cert, cfg->tls_key, err,
	    sizeof err)) == NULL) {
		log_kv("error", "op", "tls", "err", err, "keeping",
		    tctx ? "old certificate" : "no tls", NULL);
		return tctx;
	}
	if (tctx != NULL) {
		SSL_CTX_free(tctx);
		log_kv("reload", "why", "certificate", NULL);
	}
	tctx = n;
	return tctx;
}

/* idle_pages - give back the whole pages inside an idle buffer.  The
 * queue client's two 16 KiB buffers hold nothing between messages (the
 * greeting's read dirtied a page); dropping the pages keeps an idle
 * session near 100 KiB.  Anonymous private memory reads back as
 * zeros, which an empty buffer does not mind. */
static void
idle_pages(void *p, size_t n)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~(pg - 1);

	if (e > a)
		(void)madvise((void *)a, e - a, MADV_DONTNEED);
}

static void
copy_env(char *dst, size_t sz, const char *name, const char *def)
{
	const char *v = getenv(name);
	int n = snprintf(dst, sz, "%s", v && *v ? v : def);

	if (n < 0)
		dst[0] = '\0';
}

/* auth_start - sandmail-auth for a session that may offer AUTH (a
 * server context, or plain AUTH allowed); NULL if none.  Before the
 * sandbox: it forks and execs. */
static struct authc *
auth_start(const struct smtpd_cfg *cfg, SSL_CTX *ctx, unsigned mode)
{
	struct authc *a;

	if (!(mode & MODE_SUBMISSION) && !cfg->auth)
		return NULL;
	if (ctx == NULL && !cfg->auth_plain_lo)
		return NULL;
	if ((a = malloc(sizeof *a)) == NULL)
		die_temp("malloc", NULL);
	if (auth_spawn(a, cfg->auth_prog, cfg->conf_path) == -1) {
		log_kv("error", "op", "auth_spawn", "prog", cfg->auth_prog,
		    "err", strerror(errno), NULL);
		a->fd = -1;
	}
	a->timeout_ms = cfg->timeout_ms;
	return a;
}

/* session_go - everything from the set-up to the end of one session:
 * the queue, the relay check, sandmail-auth, privileges, the filter;
 * never returns */
void
session_go(const struct smtpd_cfg *cfg, struct tables *tabs, int infd,
    int outfd, const char *ip, const char *port, const char *localip,
    unsigned mode)
{
	struct session *s;
	struct qc *q;
	struct buf v = BUF_INIT(TBL_KEY_MAX);
	int qok;

	signal(SIGPIPE, SIG_IGN);
	if ((s = malloc(sizeof *s)) == NULL || (q = malloc(sizeof *q)) ==
	    NULL)
		die_temp("malloc", NULL);
	qok = queue_open(q, cfg) == 0;
	if (qok && rd_pending(&q->rd) == 0 && q->wr.len == 0) {
		idle_pages(q->rd.b, sizeof q->rd.b);
		idle_pages(q->wr.b, sizeof q->wr.b);
	}
	session_init(s, cfg, tabs, q, qok, infd, outfd);
	snprintf(s->ip, sizeof s->ip, "%s", ip);
	snprintf(s->port, sizeof s->port, "%s", port);
	snprintf(s->localip, sizeof s->localip, "%s", localip);
	/* RELAYCLIENT is tcpserver's per-client word (fd 0/1 only); in the
	 * listener it would be the whole daemon's environment */
	s->relayclient = tbl_ip(&tabs->t[T_RELAY], ip, &v) == 1 ||
	    (infd == 0 && getenv("RELAYCLIENT") != NULL);
	buf_free(&v);
	s->mode = mode;
	s->ctx = tlsctx_get(cfg);
	if ((mode & MODE_TLS) && s->ctx == NULL)
		die_msg(EXIT_TEMP, "tls", "implicit TLS without a certificate");
	s->ac = auth_start(cfg, s->ctx, mode);
	log_kv("connect", "ip", s->ip, "port", s->port, "local", s->localip,
	    "relay", s->relayclient ? "yes" : "no", "mode",
	    (mode & MODE_TLS) ? ((mode & MODE_SUBMISSION) ? "smtps" : "tls") :
	    (mode & MODE_SUBMISSION) ? "submission" : "smtp", NULL);
	alarm_fd = (mode & MODE_TLS) ? -1 : outfd;	/* no plain bytes in TLS */
	alarm_len = (size_t)snprintf(alarm_msg, sizeof alarm_msg,
	    "421 4.4.2 %.200s Session time limit exceeded\r\n",
	    cfg->hostname);
	signal(SIGALRM, on_alarm);
	session_sandbox(cfg);
	alarm(cfg->session_limit);
	session_run(s);
	session_free(s);
	if (s->ac != NULL) {
		auth_close(s->ac);
		free(s->ac);
	}
	free(s);
	if (qok)
		qc_close(q);
	free(q);
	/* nothing is buffered in stdio; _exit skips the exit handlers and
	 * library destructors, which would only touch (and copy) pages the
	 * listener shares with us */
	_exit(EXIT_OK);
}

/* session_child - in a forked child: the connection on fd */
void
session_child(const struct smtpd_cfg *cfg, struct tables *tabs, int fd,
    unsigned mode)
{
	struct sockaddr_storage peer, me;
	socklen_t pl = sizeof peer, ml = sizeof me;
	char ip[IP_MAX], port[8], lip[IP_MAX], lport[8];

	signal(SIGHUP, SIG_DFL);	/* before the unblocking */
	listen_child_reset(lfd, nlfd);
	memset(&peer, 0, sizeof peer);
	memset(&me, 0, sizeof me);
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) == -1 ||
	    getsockname(fd, (struct sockaddr *)&me, &ml) == -1)
		die_temp("getpeername", NULL);
	listen_addr_text(&peer, ip, sizeof ip, port, sizeof port);
	listen_addr_text(&me, lip, sizeof lip, lport, sizeof lport);
	session_go(cfg, tabs, fd, fd, ip, port, lip, mode);
}

/* session_ucspi - under tcpserver: fd 0 and 1, addresses from the
 * environment (TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP) */
void
session_ucspi(const struct smtpd_cfg *cfg, struct tables *tabs,
    unsigned mode)
{
	char ip[IP_MAX], port[8], lip[IP_MAX];

	copy_env(ip, sizeof ip, "TCPREMOTEIP", "");
	copy_env(port, sizeof port, "TCPREMOTEPORT", "0");
	copy_env(lip, sizeof lip, "TCPLOCALIP", "");
	session_go(cfg, tabs, 0, 1, ip, port, lip, mode);
}

/* open_one - a listening socket for "ADDR:PORT[/MODE]"; the mode, if
 * given, replaces -m's for this one */
static int
open_one(const char *spec0, unsigned *mode)
{
	char spec[256];
	char *sl;
	int fd;

	if (snprintf(spec, sizeof spec, "%s", spec0) >= (int)sizeof spec)
		die_msg(EXIT_TEMP, "listen", "address too long");
	if ((sl = strchr(spec, '/')) != NULL) {
		*sl++ = '\0';
		if (mode_parse(sl, mode) == -1)
			die_msg(EXIT_TEMP, "listen", "bad mode (want smtp, "
			    "submission, smtps or tls)");
	}
	if ((fd = listen_open(spec, BACKLOG)) == -1) {
		if (errno == EINVAL)
			die_msg(EXIT_TEMP, "listen",
			    "bad address (want ADDR:PORT)");
		die_temp("bind", spec);
	}
	log_kv("listen", "addr", spec, "mode", (*mode & MODE_TLS) ?
	    ((*mode & MODE_SUBMISSION) ? "smtps" : "tls") :
	    (*mode & MODE_SUBMISSION) ? "submission" : "smtp", NULL);
	return fd;
}

/* too_many - 421 without forking (the parent never reads the client);
 * on an implicit-TLS port a plain 421 would be noise: just close */
static void
too_many(int fd, const struct smtpd_cfg *cfg, const char *ip,
    const char *why, unsigned mode)
{
	char b[300];
	int n = snprintf(b, sizeof b, "421 4.7.0 %.200s Too many "
	    "connections%s, try again later\r\n", cfg->hostname, why);

	if (n > 0 && !(mode & MODE_TLS))
		(void)send(fd, b, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	log_kv("refuse", "ip", ip, "reason", why[0] ? "max_per_ip" :
	    "max_connections", NULL);
	close(fd);
}

static void
spawn(const struct smtpd_cfg *cfg, struct tables *tabs, int fd,
    unsigned mode, struct kid *kids, size_t *nkids)
{
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	char ip[IP_MAX], port[8];
	pid_t pid;

	memset(&peer, 0, sizeof peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) == -1) {
		close(fd);
		return;
	}
	listen_addr_text(&peer, ip, sizeof ip, port, sizeof port);
	if (*nkids >= cfg->max_conn)
		return too_many(fd, cfg, ip, "", mode);
	if (kids_count_ip(kids, *nkids, ip) >= cfg->max_per_ip)
		return too_many(fd, cfg, ip, " from your address", mode);
	(void)tlsctx_get(cfg);	/* a renewed certificate, made once here */
	if ((pid = fork()) == -1) {
		log_kv("error", "op", "fork", "err", strerror(errno), NULL);
		close(fd);
		return;
	}
	if (pid == 0)
		session_child(cfg, tabs, fd, mode);	/* never returns */
	close(fd);
	kids_add(kids, nkids, pid, ip);
}

static void
accept_some(const struct smtpd_cfg *cfg, struct tables *tabs, int l,
    unsigned mode, struct kid *kids, size_t *nkids)
{
	int fd, i;

	struct timespec pause = { 0, 100 * 1000 * 1000 };

	for (i = 0; i < 64; i++) {
		fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			/* out of descriptors: the connection stays queued
			 * and poll would wake us at once, so breathe */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_kv("error", "op", "accept", "err",
				    strerror(errno), NULL);
				nanosleep(&pause, NULL);
			}
			return;
		}
		spawn(cfg, tabs, fd, mode, kids, nkids);
	}
}

static void
reload(struct tables *tabs, const struct smtpd_cfg *cfg, const char *why)
{
	struct tables nt;

	if (tables_open(&nt, cfg) == -1) {
		tables_close(&nt);
		log_kv("error", "op", "reload", "err", "keeping old tables",
		    NULL);
		return;
	}
	tables_close(tabs);
	*tabs = nt;
	log_kv("reload", "why", why, NULL);
}

static void
signals_setup(sigset_t *old)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, old);
}

/* listen_run - the listener's loop; returns at SIGTERM */
int
listen_run(const struct smtpd_cfg *cfg, struct tables *tabs,
    char **addrs, size_t naddrs, unsigned mode)
{
	struct pollfd pf[LISTEN_MAX];
	struct timespec tick = { 1, 0 };
	struct kid *kids;
	size_t nkids = 0, i;
	time_t last = time(NULL);
	sigset_t old;

	if (naddrs > LISTEN_MAX)
		die_msg(EXIT_TEMP, "listen", "too many -l addresses");
	for (nlfd = 0; nlfd < naddrs; nlfd++) {
		lmode[nlfd] = mode;
		lfd[nlfd] = open_one(addrs[nlfd], &lmode[nlfd]);
		if ((lmode[nlfd] & MODE_TLS) && tlsctx_get(cfg) == NULL)
			die_msg(EXIT_TEMP, "tls", "implicit TLS needs "
			    "tls_cert (and tls_key)");
		pf[nlfd].fd = lfd[nlfd];
		pf[nlfd].events = POLLIN;
	}
	if ((kids = calloc(cfg->max_conn, sizeof *kids)) == NULL)
		die_temp("calloc", NULL);
	signals_setup(&old);
	while (!got_term) {
		if (ppoll(pf, nlfd, &tick, &old) > 0)
			for (i = 0; i < nlfd; i++)
				if (pf[i].revents & POLLIN)
					accept_some(cfg, tabs, pf[i].fd,
					    lmode[i], kids, &nkids);
		if (got_chld)
			got_chld = 0, kids_reap(kids, &nkids);
		if (got_hup)
			got_hup = 0, reload(tabs, cfg, "hup");
		else if (time(NULL) != last) {
			last = time(NULL);
			if (tables_changed(tabs))
				reload(tabs, cfg, "changed");
		}
	}
	for (i = 0; i < nlfd; i++)
		close(lfd[i]);
	log_kv("stop", "sessions", nkids ? "finishing" : "none", NULL);
	free(kids);
	return 0;
}
