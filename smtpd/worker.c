/* worker: a session's process.  Under tcpserver it serves fd 0/1 once.
 * Forked by the listener (listen.c) it serves the connection it was
 * forked for and then, when its mode needs no sandmail-auth (port 25
 * without smtpd_auth), stays: it tells the listener it is idle on its
 * socket pair and waits for the next connection there (SCM_RIGHTS), up to
 * smtpd_max_use sessions.  Everything a session needs is set up before
 * the sandbox (tables, server context), so a later session runs in the
 * same filter, under the same uid.  The queue and sandmail-auth are
 * reached over connections the listener makes when a session first needs
 * them (broker_*), closed at the end of the session; under tcpserver (or
 * with a spawned queue_program) they are made before the sandbox.
 *
 * A worker goes (EXIT_OK) when it has served smtpd_max_use sessions, when
 * it was idle smtpd_idle_worker seconds, when the listener closes its
 * socket pair (SIGTERM, a reload, the listener died), when the queue
 * connection hangs up or failed, or when the listener's generation page
 * says the tables or the certificate changed.  Each session is reset to
 * a fresh state (session_free + session_init) and the TLS object freed;
 * what a compromised worker could see of later sessions is bounded by
 * those limits (doc/sandmail-smtpd.8, SECURITY). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "authc.h"
#include "exitcode.h"
#include "fdpass.h"
#include "filter.h"
#include "log.h"
#include "smtpd.h"
#include "srsc.h"
#include "usock.h"

static int alarm_fd = -1;
static char alarm_msg[300];
static size_t alarm_len;

/* The worker's own state: what stays from one session to the next. */
static struct {
	const struct smtpd_cfg *cfg;
	struct tables	*tabs;
	struct qc	*q;
	SSL_CTX		*ctx;
	struct authc	*ac;
	unsigned	 mode;
	unsigned long	 luid;		/* MODE_LOCAL: the caller's uid */
	int		 ctl;		/* socket pair to the listener; -1 none */
	const volatile unsigned *gen;	/* the listener's generation page */
	unsigned	 mygen;
	unsigned	 uses;
	int		 closing;	/* serve no more after this one */
	int		 reuse;		/* may serve more sessions (mode) */
	int		 lazy;		/* queue and auth through the listener */
	int		 announced;	/* "I" said already for the next */
	int		 kept;		/* W.q is the session before's (kept) */
	int		 nbio;		/* client sockets are O_NONBLOCK */
	int		 srs_fd;	/* tcpserver: sandmail-srs, or -1 */
	char		 pid[24];
} W = { .ctl = -1, .srs_fd = -1 };

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

#define WORKER_TRIM_MS	1000	/* idle this long: give pages back */
#define KEPT_MS		1000	/* a kept queue connection's unused bound */

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
queue_idle_pages(struct qc *q)
{
	if (rd_pending(&q->rd) == 0 && q->wr.len == 0) {
		idle_pages(q->rd.b, sizeof q->rd.b);
		idle_pages(q->wr.b, sizeof q->wr.b);
	}
}

static void
copy_env(char *dst, size_t sz, const char *name, const char *def)
{
	const char *v = getenv(name);
	int n = snprintf(dst, sz, "%s", v && *v ? v : def);

	if (n < 0)
		dst[0] = '\0';
}

/* auth_wanted - a session of this mode may offer AUTH, so it needs a
 * sandmail-auth process of its own */
static int
auth_wanted(const struct smtpd_cfg *cfg, SSL_CTX *ctx, unsigned mode)
{
	if (mode & MODE_LOCAL)
		return 0;	/* the kernel told us who it is */
	if (!(mode & MODE_SUBMISSION) && !cfg->auth)
		return 0;
	return ctx != NULL || cfg->auth_plain_lo;
}

/* mode_reusable - a process may serve more than one session of this
 * mode: port 25 rules and no sandmail-auth (passwords never pass
 * through a reused process), and smtpd_max_use above 1 */
int
mode_reusable(const struct smtpd_cfg *cfg, unsigned mode, SSL_CTX *ctx)
{
	return cfg->max_use > 1 && !(mode & MODE_SUBMISSION) &&
	    !auth_wanted(cfg, ctx, mode);
}

/* auth_start - the way to sandmail-auth for a session that may offer
 * AUTH (a server context, or plain AUTH allowed); NULL if none.  Under
 * the listener the connection is asked for at the first AUTH
 * (broker_auth); under tcpserver it is made here, before the sandbox. */
static struct authc *
auth_start(const struct smtpd_cfg *cfg, SSL_CTX *ctx, unsigned mode)
{
	struct authc *a;

	if (!auth_wanted(cfg, ctx, mode))
		return NULL;
	if ((a = malloc(sizeof *a)) == NULL)
		die_temp("malloc", NULL);
	auth_attach(a, -1, -1);
	if (!W.lazy && auth_connect(a, cfg->auth_sock) == -1)
		log_kv("error", "op", "auth_connect", "path", cfg->auth_sock,
		    "err", strerror(errno), NULL);
	a->timeout_ms = cfg->timeout_ms;
	return a;
}

#define BROKER_MS	10000	/* the listener answers at once */

/* broker_ask - a request to the listener (BROKER_*, then n bytes of p);
 * the descriptor it passes back (-1 if none), and *ok 1 if it said yes,
 * 0 no, -1 no answer (it is gone, or did not answer in time: this worker
 * goes after its session). */
static int
broker_ask(char what, const char *p, size_t n, int *ok)
{
	struct pollfd pf = { .fd = W.ctl, .events = POLLIN };
	char b[1 + AUTH_LOGIN_MAX + 1];
	int fd = -1, r;

	*ok = 0;
	if (W.ctl < 0 || n > AUTH_LOGIN_MAX)
		return -1;
	/* what the listener sent unasked as it stopped (a queue connection,
	 * listen_run): taken if it is what we want, else dropped */
	while (poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN) &&
	    fd_recv(W.ctl, b, 1, &fd) == 1) {
		if (b[0] == what && fd >= 0)
			return *ok = 1, fd;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	b[0] = what;
	memcpy(b + 1, p, n);
	if (write(W.ctl, b, n + 1) != (ssize_t)(n + 1)) {
		*ok = -1;	/* no listener: no answer */
		return -1;
	}
	do
		r = poll(&pf, 1, BROKER_MS);
	while (r == -1 && errno == EINTR);
	if (r != 1 || fd_recv(W.ctl, b, 1, &fd) != 1) {
		if (fd >= 0)
			close(fd);
		W.closing = 1;
		W.reuse = 0;
		*ok = -1;
		return -1;
	}
	*ok = b[0] == what;
	return fd;
}

/* unkeep - the kept queue connection becomes this session's own (use
 * 1: its first MAIL takes it) or goes (0); the session's reads lose
 * the silence bound it set */
static void
unkeep(struct session *s, int use)
{
	if (W.kept && !use)
		qc_close(W.q);
	W.kept = 0;
	s->dl.idle = NULL;
}

/* kept_idle - the session's client was silent KEPT_MS while the queue
 * connection of the session before waited for its first MAIL: it goes
 * (that MAIL then asks the listener for a new one), so a client that
 * sends no MAIL holds a queue slot for KEPT_MS at most, as it held none
 * when every session asked for its own.  Called from the session's
 * deadline layer (s->dl, lib/io.c), under plain and TLS reads alike. */
static void
kept_idle(void *ctx)
{
	unkeep(ctx, 0);
}

/* broker_queue - the session's first MAIL (or ETRN): a queue connection
 * from the listener, its greeting awaited at most smtpd_queue_wait; or
 * the one kept from the session before */
static int
broker_queue(struct session *s)
{
	int ok, fd, nb;

	if (W.q->fd >= 0 && W.kept) {
		/* the queue never speaks first: anything there (EOF: it
		 * went away meanwhile) and this connection is no use */
		struct pollfd pf = { .fd = W.q->fd, .events = POLLIN };

		unkeep(s, poll(&pf, 1, 0) == 0);
	}
	if (W.q->fd >= 0)
		return 0;
	fd = broker_ask(BROKER_QUEUE, "", 0, &ok);
	if (fd < 0 || ok != 1) {
		if (fd >= 0)
			close(fd);
		snprintf(W.q->text, sizeof W.q->text, "%s",
		    "queue: cannot connect");
		return -1;
	}
	/* non-blocking, so that its records go out without a poll before
	 * each (io_write_nb); a descriptor left blocking keeps poll-first */
	nb = fcntl(fd, F_SETFL, O_NONBLOCK) == 0;
	if (qc_attach(W.q, fd, W.cfg->queue_wait_ms) == -1) {
		log_kv("error", "op", "queue", "ip", s->ip, "err", W.q->text,
		    NULL);
		return -1;
	}
	if (nb)
		W.q->wr.op = io_write_nb;
	return 0;
}

/* broker_dns - a TCP connection to the checks' name server (verify.c) */
static int
broker_dns(struct session *s)
{
	int ok, fd;

	(void)s;
	fd = broker_ask(BROKER_DNS, "", 0, &ok);
	if (fd >= 0 && ok != 1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* broker_rate - a MAIL counted against the client's address and login */
static int
broker_rate(struct session *s)
{
	const char *u = s->auth_user ? s->auth_user : "";
	int ok, fd;

	if (W.cfg->lim.msg_rate == 0 && (W.cfg->lim.msg_rate_user == 0 ||
	    s->auth_user == NULL))
		return 0;
	fd = broker_ask(BROKER_MSG, u, strlen(u), &ok);
	if (fd >= 0)
		close(fd);
	/* no listener to count with (it stopped): not counted, not refused */
	return ok == 0 ? -1 : 0;
}

/* broker_auth - the session's first AUTH: a connection to sandmail-auth */
static int
broker_auth(struct session *s)
{
	int ok, fd;

	if (s->ac == NULL || s->ac->fd >= 0)
		return 0;
	fd = broker_ask(BROKER_AUTH, "", 0, &ok);
	if (fd < 0 || ok != 1) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	auth_attach(s->ac, fd, -1);
	s->ac->timeout_ms = W.cfg->timeout_ms;
	return 0;
}

/* broker_milter - the session's connection to milter i, made by the
 * listener (only to a configured milter) */
static int
broker_milter(struct session *s, unsigned i)
{
	char b = (char)i;
	int ok, fd;

	(void)s;
	fd = broker_ask(BROKER_MILTER, &b, 1, &ok);
	if (fd >= 0 && ok != 1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* broker_srs - the session's first SRS recipient: a connection to
 * sandmail-srs, made by the listener; the fd or -1 */
static int
broker_srs(struct session *s)
{
	int ok, fd;

	(void)s;
	fd = broker_ask(BROKER_SRS, "", 0, &ok);
	if (fd >= 0 && ok != 1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* srs_once - under tcpserver: the connection made before the sandbox,
 * handed to the session once (its one session) */
static int
srs_once(struct session *s)
{
	int fd = W.srs_fd;

	(void)s;
	W.srs_fd = -1;
	return fd;
}

/* broker_authed - tell the listener the client authenticated (no
 * answer): it counts the session no more as an unauthenticated one */
static void
broker_authed(struct session *s)
{
	char b = BROKER_AUTHED;

	(void)s;
	if (W.ctl >= 0)
		(void)!write(W.ctl, &b, 1);
}

static const char *
mode_name(unsigned mode)
{
	if (mode & MODE_LOCAL)
		return "local";
	if (mode & MODE_TLS)
		return (mode & MODE_SUBMISSION) ? "smtps" : "tls";
	return (mode & MODE_SUBMISSION) ? "submission" : "smtp";
}

/* session_begin - a fresh session on infd/outfd for the client h */
static void
session_begin(struct session *s, int qok, int infd, int outfd,
    const struct handoff *h)
{
	struct buf v = BUF_INIT(TBL_KEY_MAX);
	char use[16];

	session_init(s, W.cfg, W.tabs, W.q, qok, infd, outfd);
	if (W.nbio)		/* replies without a poll first */
		s->out.op = io_write_nb;
	snprintf(s->ip, sizeof s->ip, "%s", h->ip);
	snprintf(s->port, sizeof s->port, "%s", h->port);
	snprintf(s->localip, sizeof s->localip, "%s", h->localip);
	/* RELAYCLIENT is tcpserver's per-client word (fd 0/1 only); in the
	 * listener it would be the whole daemon's environment.  A local
	 * user may send anywhere, as with sendmail -t (Postfix turns its
	 * access controls off for -bs too) */
	s->relayclient = tbl_ip(&W.tabs->t[T_RELAY], s->ip, &v) == 1 ||
	    (infd == 0 && getenv("RELAYCLIENT") != NULL) ||
	    (W.mode & MODE_LOCAL);
	s->luid = W.luid;
	buf_free(&v);
	s->mode = W.mode;
	s->ctx = W.ctx;
	s->ac = W.ac;
	if (W.lazy) {
		s->authed = broker_authed;
		s->queue_need = broker_queue;
		s->mail_rate = broker_rate;
		s->auth_need = broker_auth;
		s->dns_tcp = broker_dns;
	}
	if (W.ctl >= 0)
		s->milter_need = broker_milter;
	if (W.cfg->srs_domain != NULL)
		s->srs_need = W.ctl >= 0 ? broker_srs : srs_once;
	snprintf(use, sizeof use, "%u", W.uses);
	if (W.mode & MODE_LOCAL)
		snprintf(use, sizeof use, "%lu", W.luid);
	log_kv("connect", "ip", s->ip, "port", s->port, "local", s->localip,
	    "relay", s->relayclient ? "yes" : "no", "mode", mode_name(W.mode),
	    "pid", W.pid, (W.mode & MODE_LOCAL) ? "uid" : "use", use, NULL);
	alarm_fd = (W.mode & MODE_TLS) ? -1 : outfd;	/* no plain bytes in TLS */
}

/* session_once - one session under the session limit (the alarm is a
 * backstop: it ends the process) */
static void
session_once(struct session *s)
{
	alarm(W.cfg->session_limit);
	session_run(s);
	alarm(0);
	alarm_fd = -1;
}

/* finish - the end of the process: nothing is buffered in stdio; _exit
 * skips the exit handlers and library destructors, which would only
 * touch (and copy) pages the listener shares with us */
static void __attribute__((noreturn))
finish(struct session *s, int qok)
{
	session_free(s);
	if (W.ac != NULL) {
		auth_close(W.ac);
		free(W.ac);
	}
	free(s);
	if (qok)
		qc_close(W.q);
	free(W.q);
	_exit(EXIT_OK);
}

/* wait_ctl - poll the listener's socket and the queue's for ms */
static int
wait_ctl(struct pollfd p[2], int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	int r;

	do
		r = ppoll(p, 2, &ts, NULL);
	while (r == -1 && errno == EINTR);
	return r;
}

/* trim - an idle worker gives back its empty buffers' pages */
static void
trim(struct session *s)
{
	idle_pages(s->in.b, sizeof s->in.b);
	idle_pages(s->out.b, sizeof s->out.b);
	queue_idle_pages(W.q);
}

/* reusable - whether this worker may serve another session after s
 * (s->qc_ok starts as the worker's own queue state and only falls) */
static int
reusable(const struct session *s)
{
	return W.reuse && !W.closing && W.uses < W.cfg->max_use && s->qc_ok &&
	    policyd_usable() &&
	    *W.gen == W.mygen && rd_pending(&W.q->rd) == 0;
}

/* ending - a session ends with QUIT: say idle before the 221 goes out,
 * so the listener hands this worker the client's next connection rather
 * than forking another (a client that reconnects at once used to beat
 * the word "I"; the connection waits on the socket pair meanwhile) */
static void
ending(struct session *s)
{
	if (W.ctl >= 0 && !s->begun && reusable(s) &&
	    write(W.ctl, "I", 1) == 1)
		W.announced = 1;
}

/* worker_next - say idle, then wait for the listener's next connection;
 * its fd, or -1: time to go.  The queue socket is watched too: it never
 * speaks first, so anything on it (EOF, mostly) means the queue went
 * away; a connection already handed over then gets our 421.  A worker
 * given its next connection within WORKER_TRIM_MS keeps its buffers'
 * pages (dropping them costs a TLB shoot-down on every CPU it ran on,
 * and page faults to get them back); one idle longer gives them back. */
static int
worker_next(struct handoff *h, int *qok, struct session *s)
{
	struct pollfd p[2] = { { .fd = W.ctl, .events = POLLIN },
	    { .fd = W.q->fd, .events = POLLIN } };
	int ms = W.cfg->idle_worker_ms;
	ssize_t n;
	int fd, r;

	if (!W.announced && write(W.ctl, "I", 1) != 1)
		return -1;
	W.announced = 0;
	if (W.closing)
		r = 0;		/* said idle, then found it must go */
	else if ((r = wait_ctl(p, ms < WORKER_TRIM_MS ? ms :
	    WORKER_TRIM_MS)) == 0 && ms > WORKER_TRIM_MS) {
		trim(s);
		/* idle: the kept queue connection goes, its slot with it */
		if (W.kept) {
			qc_close(W.q);
			W.kept = 0;
			p[1].fd = -1;
		}
		r = wait_ctl(p, ms - WORKER_TRIM_MS);
	}
	if (r == -1)
		return -1;
	if (p[1].revents != 0 && W.kept) {
		/* the queue closed the kept connection (it stopped): that
		 * one goes, not the worker, whose next session asks for a
		 * new one at its MAIL */
		qc_close(W.q);
		W.kept = 0;
		p[1].fd = -1;
		if (!(p[0].revents & POLLIN) && (r = wait_ctl(p, ms)) == -1)
			return -1;
	}
	if (p[1].revents != 0)
		*qok = 0;
	if (r == 0 || !(p[0].revents & POLLIN) || !*qok) {
		/* going (idle timeout, queue or listener gone): first make
		 * the listener's next hand-over fail (EPIPE: it forks or
		 * tries another worker), then serve one already sent */
		W.closing = 1;
		(void)shutdown(W.ctl, SHUT_RD);
		p[0].revents = 0;
		if (poll(p, 1, 0) != 1 || !(p[0].revents & POLLIN))
			return -1;
	}
	n = fd_recv(W.ctl, h, sizeof *h, &fd);
	if (n != (ssize_t)sizeof *h || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	h->ip[sizeof h->ip - 1] = '\0';
	h->port[sizeof h->port - 1] = '\0';
	h->localip[sizeof h->localip - 1] = '\0';
	return fd;
}

/* worker_loop - more sessions in this process, until a limit says go */
static void __attribute__((noreturn))
worker_loop(struct session *s, int qok)
{
	struct handoff h;
	int fd;

	for (;;) {
		if (!reusable(s)) {
			if (!W.announced)
				finish(s, qok);
			/* a connection may be on its way: serve that one */
			W.closing = 1;
		}
		session_free(s);
		/* shut, not only closed: the listener holds the socket too
		 * and counts the client until it sees it shut */
		(void)shutdown(s->in.fd, SHUT_RDWR);
		close(s->in.fd);
		/* the queue connection is kept for the next session's first
		 * MAIL (a connection, an accept and a greeting fewer per
		 * session), but only while that one is not idle: it goes
		 * after WORKER_TRIM_MS without a session (worker_next) or
		 * KEPT_MS of a session's silence before its MAIL
		 * (kept_idle); the next session asks for its own then.  It
		 * is clean: nothing pending on it, and a message begun and
		 * not ended was aborted (session_free; if that failed, it
		 * goes) */
		W.kept = W.lazy && W.q->fd >= 0 && s->qc_ok &&
		    rd_pending(&W.q->rd) == 0;
		if (W.lazy && W.q->fd >= 0 && !W.kept)
			qc_close(W.q);
		if ((fd = worker_next(&h, &qok, s)) == -1) {
			session_init(s, W.cfg, W.tabs, W.q, 0, -1, -1);
			finish(s, qok);
		}
		W.uses++;
		session_begin(s, qok, fd, fd, &h);
		if (W.kept && W.q->fd >= 0) {
			s->dl.idle = kept_idle;
			s->dl.idle_ctx = s;
			s->dl.idle_ms = KEPT_MS;
		}
		s->ending = ending;
		session_once(s);
	}
}

/* session_go - everything from the set-up to the end of one session:
 * the queue, the relay check, sandmail-auth, privileges, the filter;
 * then, in a reusable worker, the next sessions; never returns */
static void __attribute__((noreturn))
session_go(int infd, int outfd, const struct handoff *h)
{
	struct session *s;
	int qok;

	signal(SIGPIPE, SIG_IGN);
	if ((s = malloc(sizeof *s)) == NULL ||
	    (W.q = malloc(sizeof *W.q)) == NULL)
		die_temp("malloc", NULL);
	/* under the listener, the queue connection is made at the first
	 * MAIL (broker_queue): an idle client holds none of the queue's
	 * client slots.  A spawned queue (queue_program) is made here. */
	W.lazy = W.ctl >= 0 && W.cfg->queue_prog == NULL;
	if (W.lazy) {
		memset(W.q->text, 0, sizeof W.q->text);
		/* reusable() reads W.q->rd before any MAIL (not its
		 * buffers: untouched, they cost no memory) */
		rd_init(&W.q->rd, -1, NULL, NULL);
		W.q->fd = -1;
		W.q->pid = -1;
		qok = 1;
	} else if ((qok = queue_open(W.q, W.cfg) == 0))
		queue_idle_pages(W.q);
	if ((W.mode & MODE_TLS) && W.ctx == NULL)
		die_msg(EXIT_TEMP, "tls", "implicit TLS without a certificate");
	W.ac = auth_start(W.cfg, W.ctx, W.mode);
	/* under tcpserver the session cannot open sockets once sandboxed:
	 * sandmail-srs's is opened now (-1 if it is not there: every SRS
	 * recipient is then 451) */
	W.srs_fd = -1;
	if (W.ctl < 0 && W.cfg->srs_domain != NULL &&
	    (W.srs_fd = usock_connect(W.cfg->srs_sock, 0)) == -1)
		log_kv("error", "op", "srs connect", "path", W.cfg->srs_sock,
		    "err", strerror(errno), NULL);
	/* never reused when it may see a password: see mode_reusable */
	W.reuse = W.ctl >= 0 && mode_reusable(W.cfg, W.mode, W.ctx);
	W.uses = 1;
	snprintf(W.pid, sizeof W.pid, "%ld", (long)getpid());
	session_begin(s, qok, infd, outfd, h);
	s->ending = ending;
	alarm_len = (size_t)snprintf(alarm_msg, sizeof alarm_msg,
	    "421 4.4.2 %.200s Session time limit exceeded\r\n",
	    W.cfg->hostname);
	signal(SIGALRM, on_alarm);
	policyd_open();		/* the only sockets the filters get */
	dnsbl_open();
	verify_open();
	milters_open(W.ctl < 0);	/* the listener makes them */
	session_sandbox(W.cfg);
	session_once(s);
	if (W.reuse)
		worker_loop(s, qok);
	finish(s, qok);
}

/* session_forked - in a child the listener forked for the connection on
 * fd (client addresses in h); ctl (or -1) is the socket pair a reusable
 * worker waits on, gen the listener's generation page */
void
session_forked(const struct smtpd_cfg *cfg, struct tables *tabs, int fd,
    const struct handoff *h, unsigned mode, int ctl,
    const volatile unsigned *gen)
{
	W.cfg = cfg;
	W.tabs = tabs;
	W.mode = mode;
	W.ctx = tlsctx_current();
	W.ctl = ctl;
	W.gen = gen;
	W.mygen = gen != NULL ? *gen : 0;
	W.nbio = 1;		/* the listener accepts them so (listen.c) */
	session_go(fd, fd, h);
}

/* local_check - mode local is sendmail -bs: a local user's own session
 * on a pipe or terminal.  On a network connection it would make an open
 * relay of a misconfigured tcpserver line, so there it refuses to run. */
static void
local_check(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getenv("TCPREMOTEIP") != NULL ||
	    (getsockname(0, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)))
		die_msg(EXIT_TEMP, "mode", "local is for sendmail -bs, not "
		    "for a network connection");
}

/* session_ucspi - under tcpserver: fd 0 and 1, addresses from the
 * environment (TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP); or sendmail -bs
 * (mode local) */
void
session_ucspi(const struct smtpd_cfg *cfg, struct tables *tabs,
    unsigned mode)
{
	struct handoff h;

	if (mode & MODE_LOCAL)
		local_check();
	copy_env(h.ip, sizeof h.ip, "TCPREMOTEIP", "");
	copy_env(h.port, sizeof h.port, "TCPREMOTEPORT", "0");
	copy_env(h.localip, sizeof h.localip, "TCPLOCALIP", "");
	W.cfg = cfg;
	W.tabs = tabs;
	W.mode = mode;
	/* who runs us, before any privilege drop; no TLS on a pipe */
	W.luid = (unsigned long)getuid();
	W.ctx = (mode & MODE_LOCAL) ? NULL : tlsctx_get(cfg);
	W.ctl = -1;
	session_go(0, 1, &h);
}
