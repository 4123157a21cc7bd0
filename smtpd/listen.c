/* listen: smtpd's own listener (-l ADDR:PORT[/MODE], repeatable).  The
 * parent keeps the tables mapped and forks, without exec, session
 * workers; a worker drops privileges and installs its filter before it
 * reads a byte (worker.c).  The parent never reads from a client: it
 * accepts, counts busy workers (max_connections) and, with every other
 * listener of the host, connections and their rate per client address
 * and network (limits.c; 421 over a limit), hands the connection to an
 * idle worker of that listener mode over the worker's socket pair or
 * forks a new one,
 * reaps, re-maps tables that changed on disk or on SIGHUP (a new
 * generation: idle workers are closed, busy ones go after their session),
 * and on SIGTERM stops listening, closes every socket pair (idle workers
 * exit) and exits while the busy ones finish their sessions.
 *
 * It also brokers for its sessions, which can open nothing themselves:
 * on a worker's socket pair, Q asks for a connection to the queue (the
 * first MAIL), A for one to sandmail-auth (the first AUTH), S for one to
 * sandmail-srs (the first SRS recipient), M login for a
 * message to count against the rate limits; it connects without blocking
 * and passes the socket back (doc/protocols.md, "broker").  So an idle
 * client holds no queue slot.
 *
 * TLS: the parent makes the server context once (tlsctx_get) and makes it
 * again, at accept time, when the certificate or key file changed on
 * disk (also a new generation), so a renewed certificate is used without
 * a restart; the child inherits it.  A child whose session may offer AUTH
 * is never reused. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "fdpass.h"
#include "filter.h"
#include "gen.h"
#include "listen.h"
#include "log.h"
#include "smtpd.h"
#include "usock.h"

#define LISTEN_MAX	16
#define BACKLOG		1024

static volatile sig_atomic_t got_chld, got_hup, got_term;
static const struct smtpd_cfg *lcfg;	/* for the brokered connections */
static int lfd[LISTEN_MAX];
static unsigned lmode[LISTEN_MAX];
static size_t nlfd;
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

/* mode_parse - "smtp", "submission", "smtps" (submission on implicit
 * TLS, RFC 8314), "tls" (implicit TLS, smtp rules) or "local" (sendmail
 * -bs on fd 0/1: never for a listener); 0 or -1 */
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
	else if (strcmp(m, "local") == 0)
		*mode = MODE_LOCAL;
	else
		return -1;
	return 0;
}

/* The server context and the files it came from. */
static struct tls_reload tls;

static void gen_bump(void);

/* tlsctx_get - the server context (NULL: no TLS); made at the first call
 * and again when tls_cert or tls_key changed on disk (the old one is
 * kept if the new files do not load) */
SSL_CTX *
tlsctx_get(const struct smtpd_cfg *cfg)
{
	int changed;
	SSL_CTX *c = tls_reload_get(&tls, cfg->tls_cert, cfg->tls_key,
	    &changed);

	if (changed)
		gen_bump();
	return c;
}

/* tlsctx_current - the context as it is, without looking at the files
 * (in a forked session: the listener has just looked) */
SSL_CTX *
tlsctx_current(void)
{
	return tls.ctx;
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
	if (*mode & MODE_LOCAL)		/* a network client is never local */
		die_msg(EXIT_TEMP, "listen", "mode local is for sendmail -bs "
		    "on fd 0/1 only");
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
	log_kv("refuse", "ip", ip, "reason", why[0] == '\0' ?
	    "max_connections" : strstr(why, "unauth") ? "max_unauth_per_net" :
	    strstr(why, "minute") ? "smtpd_conn_rate" :
	    strstr(why, "network") ? "max_per_net" : "max_per_ip", NULL);
	close(fd);
}

/* The session processes: one per connection being served, plus the idle
 * workers waiting on their socket pairs for the next (worker.c). */
struct worker {
	pid_t		 pid;
	int		 ctl;		/* our end of its socket pair; -1: none
					 * (one session only) or retired */
	unsigned	 mode;
	int		 busy;		/* serving ip */
	unsigned	 gen;		/* the generation it was forked in */
	char		 ip[IP_MAX];
	/* the client sockets, ours too: a connection counts until the
	 * worker is gone or the socket is seen shut (conn_open), not
	 * merely because the worker said "I" (it could go on serving) */
	int		 conn;		/* its session's, or -1 */
	int		 prev;		/* the last one, said done; or -1 */
	char		 pip[IP_MAX];	/* prev's client */
	int		 unauth;	/* counted by lim_unauth (ip) */
};

static struct worker *wk;
static size_t nwk, wkcap;
static struct pollfd *wk_pf;	/* listen_run's poll set */
static size_t *wk_wi;
/* the tables and certificate generation, MAP_SHARED with the workers:
 * one that sees it change after a session goes instead of idling */
static volatile unsigned *gen;

/* map_pages - zeroed anonymous memory of its own mapping, so that a
 * forked session can unmap it (unmap_tables) */
static void *
map_pages(size_t n, int flags)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS,
	    -1, 0);

	if (p == MAP_FAILED)
		die_temp("mmap", NULL);
	return p;
}

/* unmap_tables - in a forked session: drop the listener's worker and
 * poll tables.  Otherwise the child would keep the pages the listener
 * writes after the fork (its own old copies: private memory per idle
 * session), and every such write would copy a page in the listener. */
static void
unmap_tables(void)
{
	(void)munmap(wk, wkcap * sizeof *wk);
	(void)munmap(wk_pf, (wkcap + LISTEN_MAX) * sizeof *wk_pf);
	(void)munmap(wk_wi, wkcap * sizeof *wk_wi);
	wk = NULL;
	nwk = 0;
}

/* conn_open - whether a client socket is still open both ways: a
 * worker shuts its socket down when its session ends, and a client
 * that went has closed its side (either leaves ESTABLISHED) */
static int
conn_open(int fd)
{
	struct tcp_info ti;
	socklen_t n = sizeof ti;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n) == -1)
		return 0;
	return ti.tcpi_state == TCP_ESTABLISHED;
}

/* wk_settle - the worker's last connection counts no more once it is
 * seen shut */
static void
wk_settle(struct worker *w)
{
	if (w->prev < 0 || conn_open(w->prev))
		return;
	close(w->prev);
	w->prev = -1;
	lim_conn_end(w->pip);
}

static void
wk_settle_all(void)
{
	for (size_t i = 0; i < nwk; i++)
		wk_settle(&wk[i]);
}

/* wk_busy - the connections counted against ip (NULL: all): those being
 * served, and those whose worker said done but which are not yet shut */
static unsigned
wk_busy(const char *ip)
{
	unsigned n = 0;

	for (size_t i = 0; i < nwk; i++) {
		n += wk[i].busy && (ip == NULL || strcmp(wk[i].ip, ip) == 0);
		n += wk[i].prev >= 0 && (ip == NULL ||
		    strcmp(wk[i].pip, ip) == 0);
	}
	return n;
}

/* wk_retire - close a worker's socket pair: an idle one exits at once,
 * a busy one after its session */
static void
wk_retire(struct worker *w)
{
	if (w->ctl >= 0)
		close(w->ctl);
	w->ctl = -1;
}

static void
wk_retire_idle(void)
{
	for (size_t i = 0; i < nwk; i++)
		if (!wk[i].busy)
			wk_retire(&wk[i]);
}

/* gen_bump - the tables or the certificate changed: workers made with
 * the old ones serve no more sessions */
static void
gen_bump(void)
{
	if (gen == NULL)
		return;
	(*gen)++;
	wk_retire_idle();
}

static struct worker *
wk_idle_any(void)
{
	for (size_t i = 0; i < nwk; i++)
		if (!wk[i].busy && wk[i].ctl >= 0)
			return &wk[i];
	return NULL;
}

static size_t
wk_live(void)
{
	size_t n = 0;

	for (size_t i = 0; i < nwk; i++)
		n += wk[i].busy || wk[i].ctl >= 0;
	return n;
}

static struct worker *
wk_idle(unsigned mode)
{
	for (size_t i = 0; i < nwk; i++)
		if (!wk[i].busy && wk[i].ctl >= 0 && wk[i].mode == mode &&
		    wk[i].gen == *gen)
			return &wk[i];
	return NULL;
}

/* broker - a busy worker's request: a connection to the queue, to
 * sandmail-auth or to a milter, or a message counted for the rate
 * limits */
static void
broker(struct worker *w, const char *b, size_t n)
{
	char a = b[0];
	int fd = -1;

	if (a == BROKER_MSG)
		a = lim_msg(&lcfg->lim, w->ip, b + 1, n - 1) == 0 ? BROKER_MSG :
		    BROKER_NO;
	else if (a == BROKER_DNS) {
		if ((fd = verify_tcp()) == -1)
			a = BROKER_NO;
	} else if (a == BROKER_SRS) {
		/* only where srs_domain is set */
		if (lcfg->srs_sock == NULL ||
		    (fd = usock_connect(lcfg->srs_sock, 1)) == -1) {
			log_kv("error", "op", "srs connect", "err",
			    lcfg->srs_sock == NULL ? "no srs_domain" :
			    strerror(errno), NULL);
			a = BROKER_NO;
		}
	} else if (a == BROKER_MILTER) {
		/* only a configured milter, by its index */
		if (n != 2 || (fd = milters_dial((unsigned char)b[1])) == -1) {
			log_kv("error", "op", "milter connect", "err",
			    n != 2 ? "bad request" : strerror(errno), NULL);
			a = BROKER_NO;
		}
	} else if ((fd = usock_connect(a == BROKER_QUEUE ? lcfg->queue_sock :
	    lcfg->auth_sock, 1)) == -1) {
		log_kv("error", "op", a == BROKER_QUEUE ? "queue connect" :
		    "auth connect", "err", strerror(errno), NULL);
		a = BROKER_NO;
	}
	if (fd_send(w->ctl, &a, 1, fd) == -1)
		wk_retire(w);
	if (fd >= 0)
		close(fd);
}

/* wk_gone - the worker has exited: its clients count no more */
static void
wk_gone(struct worker *w)
{
	if (w->unauth)
		lim_unauth_end(w->ip);
	w->unauth = 0;
	if (w->busy)
		lim_conn_end(w->ip);
	if (w->prev >= 0)
		lim_conn_end(w->pip);
	if (w->conn >= 0)
		close(w->conn);
	if (w->prev >= 0)
		close(w->prev);
	w->busy = 0;
	w->conn = w->prev = -1;
}

/* wk_rogue - a worker that broke the protocol: one that says it is idle
 * while the connection of its session before is still open (a worker
 * shuts it down right after its 221, long before its next session can
 * end), or says what no worker says.  Its code is not ours any more:
 * its connections are shut and it is killed (counted until reaped). */
static void
wk_rogue(struct worker *w, const char *why)
{
	char pid[24];

	snprintf(pid, sizeof pid, "%ld", (long)w->pid);
	log_kv("error", "op", "worker", "pid", pid, "err", why, "action",
	    "killed", NULL);
	if (w->conn >= 0)
		(void)shutdown(w->conn, SHUT_RDWR);
	if (w->prev >= 0)
		(void)shutdown(w->prev, SHUT_RDWR);
	(void)kill(w->pid, SIGKILL);
	wk_retire(w);
}

/* wk_idle_said - the worker says its session is over ("I", before its
 * 221): it may take the next connection now, but the one it served
 * counts until its socket is seen shut (wk_settle) */
static void
wk_idle_said(struct worker *w)
{
	wk_settle(w);
	if (w->prev >= 0)
		return wk_rogue(w, "said idle while serving");
	if (!w->busy)
		return;
	if (w->unauth)
		lim_unauth_end(w->ip);
	w->unauth = 0;
	w->prev = w->conn;
	w->conn = -1;
	snprintf(w->pip, sizeof w->pip, "%s", w->ip);
	if (w->prev < 0)
		lim_conn_end(w->ip);
	w->busy = 0;
	w->ip[0] = '\0';
	wk_settle(w);
}

/* wk_ctl_read - a worker spoke: "I" (idle), a request (broker), or EOF
 * (it is going) */
static void
wk_ctl_read(struct worker *w)
{
	char b[AUTH_LOGIN_MAX + 2];
	ssize_t n = recv(w->ctl, b, sizeof b, MSG_DONTWAIT);

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && w->busy && (b[0] == BROKER_QUEUE ||
	    b[0] == BROKER_AUTH || b[0] == BROKER_MSG ||
	    b[0] == BROKER_DNS || b[0] == BROKER_MILTER ||
	    b[0] == BROKER_SRS)) {
		broker(w, b, (size_t)n);
		return;
	}
	if (n == 1 && b[0] == BROKER_AUTHED && w->busy) {
		if (w->unauth)
			lim_unauth_end(w->ip);
		w->unauth = 0;
		return;
	}
	if (n > 0 && (n != 1 || b[0] != 'I'))
		return wk_rogue(w, "unknown request");
	if (n == 1)
		wk_idle_said(w);
	/* EOF: it is going; its clients count until it is reaped */
	if (n != 1 || w->gen != *gen || got_term)
		wk_retire(w);
}

static void
wk_reap(void)
{
	pid_t pid;
	size_t i;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < nwk; i++)
			if (wk[i].pid == pid) {
				wk_gone(&wk[i]);
				wk_retire(&wk[i]);
				wk[i] = wk[--nwk];
				break;
			}
}

/* wk_poll_set - every worker's socket pair (wi: the worker of each) */
static nfds_t
wk_poll_set(struct pollfd *pf, size_t *wi)
{
	nfds_t n = 0;

	for (size_t i = 0; i < nwk; i++)
		if (wk[i].ctl >= 0) {
			wi[n] = i;
			pf[n].fd = wk[i].ctl;
			pf[n].events = POLLIN;
			pf[n++].revents = 0;
		}
	return n;
}

/* wk_read - the workers whose socket pair the poll found ready */
static void
wk_read(const struct pollfd *pf, const size_t *wi, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (pf[i].revents != 0)
			wk_ctl_read(&wk[wi[i]]);
}

/* wk_drain - read the "I" of workers that went idle while this turn of
 * the loop was accepting: without it a burst of new connections (up to
 * 64 per turn) sees them busy and forks or refuses instead.  Whether
 * any spoke. */
static int
wk_drain(void)
{
	struct pollfd *pf = wk_pf + nlfd;
	nfds_t n = wk_poll_set(pf, wk_wi);

	if (n == 0 || poll(pf, n, 0) <= 0)
		return 0;
	wk_read(pf, wk_wi, n);
	return 1;
}

/* handoff - the connection to an idle worker; 0, or -1 (it is gone) */
static int
handoff(struct worker *w, int fd, const struct handoff *h)
{
	if (fd_send(w->ctl, h, sizeof *h, fd) == -1) {
		wk_retire(w);
		return -1;
	}
	w->busy = 1;
	w->conn = fd;
	snprintf(w->ip, sizeof w->ip, "%s", h->ip);
	return 0;
}

/* in_child - a forked session's first steps: nothing of the listener's
 * that it does not need (the listening sockets, the other workers'
 * socket pairs) */
static void __attribute__((noreturn))
in_child(const struct smtpd_cfg *cfg, struct tables *tabs, int fd,
    const struct handoff *h, unsigned mode, int ctl)
{
	const volatile unsigned *rogen;

	signal(SIGHUP, SIG_DFL);	/* before the unblocking */
	listen_child_reset(lfd, nlfd);
	/* nor the other clients' sockets, which the listener holds */
	for (size_t i = 0; i < nwk; i++) {
		if (wk[i].ctl >= 0)
			close(wk[i].ctl);
		if (wk[i].conn >= 0)
			close(wk[i].conn);
		if (wk[i].prev >= 0)
			close(wk[i].prev);
	}
	unmap_tables();
	lim_child();
	/* read-only for good, not merely mprotected (gen.c) */
	rogen = gen_child(gen);
	gen = NULL;
	session_forked(cfg, tabs, fd, h, mode, ctl, rogen);
}

/* fork_worker - a new process for the connection on fd; a reusable one
 * gets a socket pair to come back on */
static void
fork_worker(const struct smtpd_cfg *cfg, struct tables *tabs, int fd,
    const struct handoff *h, unsigned mode, int unauth)
{
	struct worker *w;
	int sp[2] = { -1, -1 };
	pid_t pid;

	if (nwk == wkcap) {
		if (unauth)
			lim_unauth_end(h->ip);
		lim_conn_end(h->ip);
		return too_many(fd, cfg, h->ip, "", mode);
	}
	if (wk_live() >= cfg->max_conn && (w = wk_idle_any()) != NULL)
		wk_retire(w);
	/* every worker has one: its session asks there for its queue and
	 * auth connections; only a reusable one ever says it is idle */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		sp[0] = sp[1] = -1;
	if ((pid = fork()) == -1) {
		log_kv("error", "op", "fork", "err", strerror(errno), NULL);
		if (unauth)
			lim_unauth_end(h->ip);
		lim_conn_end(h->ip);
		close(fd);
		if (sp[0] >= 0)
			close(sp[0]), close(sp[1]);
		return;
	}
	if (pid == 0) {
		if (sp[0] >= 0)
			close(sp[0]);
		in_child(cfg, tabs, fd, h, mode, sp[1]);
	}
	if (sp[1] >= 0)
		close(sp[1]);
	w = &wk[nwk++];
	memset(w, 0, sizeof *w);
	w->pid = pid;
	w->conn = fd;
	w->prev = -1;
	w->ctl = sp[0];
	w->mode = mode;
	w->busy = 1;
	w->unauth = unauth;
	w->gen = *gen;
	snprintf(w->ip, sizeof w->ip, "%s", h->ip);
}

/* to_idle - the connection to an idle worker of its mode: 0, or -1
 * (none) */
static int
to_idle(int fd, const struct handoff *h, unsigned mode)
{
	struct worker *w;

	while ((w = wk_idle(mode)) != NULL)
		if (handoff(w, fd, h) == 0)
			return 0;
	return -1;
}

/* over_limit - NULL (and the connection counted), or too_many's words
 * for the limit a new connection from ip would pass: this listener's
 * max_connections, or the limits per address and network that every
 * listener shares (limits.c) */
static const char *
over_limit(const struct smtpd_cfg *cfg, const char *ip)
{
	wk_settle_all();
	if (wk_busy(NULL) >= cfg->max_conn)
		return "";
	return lim_conn(&cfg->lim, ip);
}

/* spawn - a new connection: refuse it over a limit, hand it to an idle
 * worker of its mode, or fork one */
static void
spawn(const struct smtpd_cfg *cfg, struct tables *tabs, int fd,
    unsigned mode, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage me;
	socklen_t ml = sizeof me;
	struct handoff h;
	const char *why;
	char lport[8];
	int reusable;

	memset(&me, 0, sizeof me);
	memset(&h, 0, sizeof h);
	if (getsockname(fd, (struct sockaddr *)&me, &ml) == -1) {
		close(fd);
		return;
	}
	listen_addr_text(peer, h.ip, sizeof h.ip, h.port, sizeof h.port);
	listen_addr_text(&me, h.localip, sizeof h.localip, lport,
	    sizeof lport);
	/* a session that just ended counts until its "I" is read */
	if ((why = over_limit(cfg, h.ip)) != NULL && wk_drain())
		why = over_limit(cfg, h.ip);
	if (why != NULL)
		return too_many(fd, cfg, h.ip, why, mode);
	/* counted from here: lim_conn_end when the worker is done */
	/* submission: a session that must authenticate first, its network
	 * limited to max_unauth_per_net of them, refused without a fork */
	if ((mode & MODE_SUBMISSION) &&
	    (why = lim_unauth(&cfg->lim, h.ip)) != NULL) {
		lim_conn_end(h.ip);
		return too_many(fd, cfg, h.ip, why, mode);
	}
	/* a renewed certificate, made once here (a new generation) */
	reusable = mode_reusable(cfg, mode, tlsctx_get(cfg));
	if (reusable && (to_idle(fd, &h, mode) == 0 ||
	    (wk_drain() && to_idle(fd, &h, mode) == 0)))
		return;		/* fd is the worker's conn now */
	fork_worker(cfg, tabs, fd, &h, mode, (mode & MODE_SUBMISSION) != 0);
}

static void
accept_some(const struct smtpd_cfg *cfg, struct tables *tabs, int l,
    unsigned mode)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	struct sockaddr_storage peer;
	socklen_t pl;
	int fd, i;

	for (i = 0; i < 64; i++) {
		/* the client's address with it (no getpeername); and
		 * non-blocking: the worker writes its replies without a poll
		 * before each (worker.c, io_write_nb) */
		memset(&peer, 0, sizeof peer);
		pl = sizeof peer;
		fd = accept4(l, (struct sockaddr *)&peer, &pl,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
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
		spawn(cfg, tabs, fd, mode, &peer);
	}
}

/* reload - tables replaced on disk (or all, on SIGHUP) mapped again; a
 * table that cannot be opened keeps its old mapping (logged in lib/tbl.c);
 * new sessions get the new ones (gen_bump retires the idle workers) */
static void
reload(struct tables *tabs, int force, const char *why)
{
	if (tables_refresh(tabs, force) == 0)
		return;
	gen_bump();
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

/* poll_set - the listening sockets, then every worker's socket pair
 * (wi: the worker of each) */
static nfds_t
poll_set(struct pollfd *pf, size_t *wi)
{
	for (size_t i = 0; i < nlfd; i++) {
		pf[i].fd = lfd[i];
		pf[i].events = POLLIN;
	}
	return nlfd + wk_poll_set(pf + nlfd, wi);
}

/* fd_room - the listener holds two descriptors per connection (the
 * socket and the worker's socket pair): as many as the hard limit lets */
static void
fd_room(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
workers_setup(const struct smtpd_cfg *cfg, struct pollfd **pf,
    size_t **wi)
{
	fd_room();
	wkcap = (size_t)cfg->max_conn * 2;
	gen = gen_map();
	wk = map_pages(wkcap * sizeof *wk, MAP_PRIVATE);
	*pf = map_pages((wkcap + LISTEN_MAX) * sizeof **pf, MAP_PRIVATE);
	*wi = map_pages(wkcap * sizeof **wi, MAP_PRIVATE);
	wk_pf = *pf;
	wk_wi = *wi;
}

/* listen_run - the listener's loop; returns at SIGTERM */
int
listen_run(const struct smtpd_cfg *cfg, struct tables *tabs,
    char **addrs, size_t naddrs, unsigned mode)
{
	struct pollfd *pf;
	struct timespec tick = { 1, 0 };
	time_t last = time(NULL);
	uint16_t ports[MILTERS_MAX + 2];	/* milters, policy service, DNS */
	size_t i, *wi, nports;
	nfds_t n;
	sigset_t old;

	if (naddrs > LISTEN_MAX)
		die_msg(EXIT_TEMP, "listen", "too many -l addresses");
	workers_setup(cfg, &pf, &wi);
	lcfg = cfg;
	lim_open(cfg->limits_file);
	for (nlfd = 0; nlfd < naddrs; nlfd++) {
		lmode[nlfd] = mode;
		lfd[nlfd] = open_one(addrs[nlfd], &lmode[nlfd]);
		if ((lmode[nlfd] & MODE_TLS) && tlsctx_get(cfg) == NULL)
			die_msg(EXIT_TEMP, "tls", "implicit TLS needs "
			    "tls_cert (and tls_key)");
	}
	/* the tables, the limits, a first TLS context: then confined */
	(void)tlsctx_get(cfg);
	nports = milters_ports(ports, MILTERS_MAX);
	if ((ports[nports] = (uint16_t)policyd_port()) != 0)
		nports++;
	if ((ports[nports] = (uint16_t)verify_port()) != 0)
		nports++;
	if (listener_sandbox(cfg, ports, nports) == -1)
		die_temp("listener sandbox", NULL);
	signals_setup(&old);
	while (!got_term) {
		n = poll_set(pf, wi);
		if (ppoll(pf, n, &tick, &old) > 0) {
			/* idle workers first: they take the new ones */
			wk_read(pf + nlfd, wi, n - nlfd);
			for (i = 0; i < nlfd; i++)
				if (pf[i].revents & POLLIN)
					accept_some(cfg, tabs, pf[i].fd,
					    lmode[i]);
		}
		if (got_chld)
			got_chld = 0, wk_reap();
		wk_settle_all();
		if (got_hup)
			got_hup = 0, reload(tabs, 1, "hup");
		else {
			if (time(NULL) / 60 != last / 60)
				lim_sweep();
			last = time(NULL);
			reload(tabs, 0, "changed");
		}
	}
	for (i = 0; i < nlfd; i++)
		close(lfd[i]);
	/* idle workers exit now, busy ones after their sessions; a busy
	 * one is handed a queue connection first (it cannot ask us once we
	 * are gone), which its session takes at its next MAIL if it has none */
	for (i = 0; i < nwk; i++) {
		int fd;
		char a = BROKER_QUEUE;

		if (wk[i].busy && wk[i].ctl >= 0 &&
		    (fd = usock_connect(cfg->queue_sock, 1)) >= 0) {
			(void)fd_send(wk[i].ctl, &a, 1, fd);
			close(fd);
		}
		wk_retire(&wk[i]);
	}
	log_kv("stop", "sessions", wk_busy(NULL) ? "finishing" : "none",
	    NULL);
	unmap_tables();
	return 0;
}
