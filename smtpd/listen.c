/* listen: smtpd's own listener (-l ADDR:PORT, repeatable).  The parent
 * keeps the tables mapped and forks, without exec, one child per
 * connection; the child connects to the queue, drops privileges and
 * installs its filter before it reads a byte (session_go).  The parent
 * never reads from a client: it accepts, counts connections overall and
 * per client address (421 over either limit), reaps children, re-maps
 * tables that changed on disk or on SIGHUP, and on SIGTERM stops
 * listening and exits while its children finish their sessions. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "smtpd.h"

#define LISTEN_MAX	16
#define BACKLOG		1024

struct child {
	pid_t	pid;
	char	ip[IP_MAX];
};

static volatile sig_atomic_t got_chld, got_hup, got_term;
static int lfd[LISTEN_MAX];
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

/* sa_text - an address as text; IPv4-mapped IPv6 as plain IPv4 */
static void
sa_text(const struct sockaddr_storage *ss, char *ip, size_t ipsz,
    char *port, size_t portsz)
{
	const struct sockaddr_in6 *s6 = (const void *)ss;
	const struct sockaddr_in *s4 = (const void *)ss;
	unsigned p = 0;

	snprintf(ip, ipsz, "unknown");
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)ipsz);
		p = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip,
			    (socklen_t)ipsz);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, ip,
			    (socklen_t)ipsz);
		p = ntohs(s6->sin6_port);
	}
	snprintf(port, portsz, "%u", p);
}

/* idle_pages - give back the whole pages inside an idle buffer.  The
 * queue client's two 16 KiB buffers are zeroed by qc_connect (every page
 * dirtied) yet hold nothing between messages; dropping the pages keeps an
 * idle session near 100 KiB.  Anonymous private memory reads back as
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

/* session_go - everything from the set-up to the end of one session:
 * the queue, the relay check, privileges, the filter; never returns */
void
session_go(const struct smtpd_cfg *cfg, struct tables *tabs, int infd,
    int outfd, const char *ip, const char *port, const char *localip)
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
	log_kv("connect", "ip", s->ip, "port", s->port, "local", s->localip,
	    "relay", s->relayclient ? "yes" : "no", NULL);
	alarm_fd = outfd;
	alarm_len = (size_t)snprintf(alarm_msg, sizeof alarm_msg,
	    "421 4.4.2 %.200s Session time limit exceeded\r\n",
	    cfg->hostname);
	signal(SIGALRM, on_alarm);
	session_sandbox(cfg);
	alarm(cfg->session_limit);
	session_run(s);
	session_free(s);
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
session_child(const struct smtpd_cfg *cfg, struct tables *tabs, int fd)
{
	struct sockaddr_storage peer, me;
	socklen_t pl = sizeof peer, ml = sizeof me;
	char ip[IP_MAX], port[8], lip[IP_MAX], lport[8];
	sigset_t none;
	size_t i;

	for (i = 0; i < nlfd; i++)
		close(lfd[i]);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	memset(&peer, 0, sizeof peer);
	memset(&me, 0, sizeof me);
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) == -1 ||
	    getsockname(fd, (struct sockaddr *)&me, &ml) == -1)
		die_temp("getpeername", NULL);
	sa_text(&peer, ip, sizeof ip, port, sizeof port);
	sa_text(&me, lip, sizeof lip, lport, sizeof lport);
	session_go(cfg, tabs, fd, fd, ip, port, lip);
}

/* session_ucspi - under tcpserver: fd 0 and 1, addresses from the
 * environment (TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP) */
void
session_ucspi(const struct smtpd_cfg *cfg, struct tables *tabs)
{
	char ip[IP_MAX], port[8], lip[IP_MAX];

	copy_env(ip, sizeof ip, "TCPREMOTEIP", "");
	copy_env(port, sizeof port, "TCPREMOTEPORT", "0");
	copy_env(lip, sizeof lip, "TCPLOCALIP", "");
	session_go(cfg, tabs, 0, 1, ip, port, lip);
}

/* split_addr - "ADDR:PORT", "[V6]:PORT" or "V6:PORT" */
static int
split_addr(const char *s, char *host, size_t hsz, const char **port)
{
	const char *c = strrchr(s, ':');
	size_t n;

	if (c == NULL || c == s)
		return -1;
	*port = c + 1;
	if (s[0] == '[' && c > s + 1 && c[-1] == ']')
		s++, n = (size_t)(c - s - 1);
	else
		n = (size_t)(c - s);
	if (n >= hsz)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	return 0;
}

static int
open_one(const char *spec)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai;
	char host[128];
	const char *port;
	int fd, one = 1;

	if (split_addr(spec, host, sizeof host, &port) == -1 ||
	    getaddrinfo(host, port, &hints, &ai) != 0)
		die_msg(EXIT_TEMP, "listen", "bad address (want ADDR:PORT)");
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1)
		die_temp("socket", spec);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, BACKLOG) == -1)
		die_temp("bind", spec);
	freeaddrinfo(ai);
	log_kv("listen", "addr", spec, NULL);
	return fd;
}

static void
reap(struct child *kids, size_t *nkids)
{
	pid_t pid;
	size_t i;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < *nkids; i++)
			if (kids[i].pid == pid) {
				kids[i] = kids[--*nkids];
				break;
			}
}

static unsigned
count_ip(const struct child *kids, size_t nkids, const char *ip)
{
	unsigned n = 0;

	for (size_t i = 0; i < nkids; i++)
		n += strcmp(kids[i].ip, ip) == 0;
	return n;
}

/* too_many - 421 without forking (the parent never reads the client) */
static void
too_many(int fd, const struct smtpd_cfg *cfg, const char *ip,
    const char *why)
{
	char b[300];
	int n = snprintf(b, sizeof b, "421 4.7.0 %.200s Too many "
	    "connections%s, try again later\r\n", cfg->hostname, why);

	if (n > 0)
		(void)send(fd, b, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	log_kv("refuse", "ip", ip, "reason", why[0] ? "max_per_ip" :
	    "max_connections", NULL);
	close(fd);
}

static void
spawn(const struct smtpd_cfg *cfg, struct tables *tabs, int fd,
    struct child *kids, size_t *nkids)
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
	sa_text(&peer, ip, sizeof ip, port, sizeof port);
	if (*nkids >= cfg->max_conn)
		return too_many(fd, cfg, ip, "");
	if (count_ip(kids, *nkids, ip) >= cfg->max_per_ip)
		return too_many(fd, cfg, ip, " from your address");
	if ((pid = fork()) == -1) {
		log_kv("error", "op", "fork", "err", strerror(errno), NULL);
		close(fd);
		return;
	}
	if (pid == 0)
		session_child(cfg, tabs, fd);	/* never returns */
	close(fd);
	kids[*nkids].pid = pid;
	memcpy(kids[*nkids].ip, ip, sizeof ip);
	(*nkids)++;
}

static void
accept_some(const struct smtpd_cfg *cfg, struct tables *tabs, int l,
    struct child *kids, size_t *nkids)
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
		spawn(cfg, tabs, fd, kids, nkids);
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
    char **addrs, size_t naddrs)
{
	struct pollfd pf[LISTEN_MAX];
	struct timespec tick = { 1, 0 };
	struct child *kids;
	size_t nkids = 0, i;
	time_t last = time(NULL);
	sigset_t old;

	if (naddrs > LISTEN_MAX)
		die_msg(EXIT_TEMP, "listen", "too many -l addresses");
	for (nlfd = 0; nlfd < naddrs; nlfd++) {
		lfd[nlfd] = open_one(addrs[nlfd]);
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
					accept_some(cfg, tabs, pf[i].fd, kids,
					    &nkids);
		if (got_chld)
			got_chld = 0, reap(kids, &nkids);
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
