/* listen: sandmail-pop3d's own listener (-l ADDR:PORT, repeatable), for
 * `make run` and sites without tcpserver.  The parent only accepts,
 * counts connections (overall and per client address), forks without
 * exec one child per connection and reaps them; it never reads a byte
 * from a client.  Each child runs session_run(), which opens the tables
 * and the certificate itself, so a renewed certificate or table is used
 * by the next connection.  SIGTERM: stop listening, let sessions end.
 * SIGHUP (the supervisor's reload): logged; there is nothing the
 * listener could reload that the sessions do not read themselves, and
 * other settings wait for a restart (which lets sessions finish).
 *
 * Once set up it confines itself (lsbx.c): no more root, so it makes the
 * TLS context itself (as root, first) and its sessions inherit it; it
 * makes it again, at accept time, when tls_cert or tls_key changed on
 * disk, keeping the old one if the new key cannot be read (a key for a
 * renewal without a restart must be readable by user_pop3d's group). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "connlim.h"
#include "exitcode.h"
#include "listen.h"
#include "log.h"
#include "pop3d.h"
#include "tls.h"

#define LISTEN_MAX	16

static volatile sig_atomic_t got_term, got_hup;
static int lfd[LISTEN_MAX];
static size_t nlfd;

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

static void
on_chld(int sig)
{
	(void)sig;
}

/* peer_of - the text address of a socket's peer (IPv4-mapped as IPv4) */
static void
peer_of(int fd, struct peerinfo *p)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	memset(p, 0, sizeof *p);
	memset(&ss, 0, sizeof ss);
	snprintf(p->ip, sizeof p->ip, "unknown");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	listen_addr_text(&ss, p->ip, sizeof p->ip, p->port, sizeof p->port);
	p->loopback = listen_is_loopback(p->ip);
}

static int
open_one(const char *spec)
{
	int fd;

	if ((fd = listen_open(spec, 128)) == -1) {
		if (errno == EINVAL)
			die_msg(EXIT_TEMP, "listen",
			    "bad address (want ADDR:PORT)");
		die_temp("bind", spec);
	}
	log_kv("listen", "addr", spec, NULL);
	return fd;
}

static void
refuse(int fd, const char *ip, const char *why)
{
	static const char msg[] = "-ERR [SYS/TEMP] too many connections, "
	    "try again later\r\n";

	(void)send(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	log_kv("refuse", "ip", ip, "reason", why, NULL);
	close(fd);
}

/* The server context and the files it came from. */
static struct tls_reload tls;

/* tls_get - the server context (NULL: no TLS), made at the first call
 * and again when tls_cert or tls_key changed on disk; the old one is
 * kept if the new files do not load */
static SSL_CTX *
tls_get(const struct pop3_cfg *cfg)
{
	return tls_reload_get(&tls, cfg->cert, cfg->key, NULL);
}

static void
child_start(const struct pop3_cfg *cfg, int fd, const struct peerinfo *p)
{
	listen_child_reset(lfd, nlfd);
	lim_child();
	session_tls_given(tls.ctx);
	session_run(cfg, fd, fd, p);
}

/* spawn - a session for the connection on fd.  The counts per client
 * address and network (and per minute) are shared with every other pop3d
 * listener of the host in pop3_limits_file (lib/connlim.c); kids_reap
 * frees a session's place when it ends. */
static void
spawn(const struct pop3_cfg *cfg, int fd, struct kid *kids, size_t *nkids)
{
	static time_t last;
	struct peerinfo p;
	const char *why;
	pid_t pid;

	if (time(NULL) / 60 != last / 60)
		lim_sweep();		/* what listeners now gone held */
	last = time(NULL);
	peer_of(fd, &p);
	(void)tls_get(cfg);		/* a renewed certificate */
	if (*nkids >= cfg->max_conn)
		return refuse(fd, p.ip, "max_connections");
	if ((why = lim_conn(&cfg->lim, p.ip)) != NULL)
		return refuse(fd, p.ip, strstr(why, "minute") ?
		    "pop3_conn_rate" : strstr(why, "network") ?
		    "pop3_max_per_net" : "pop3_max_per_ip");
	if ((pid = fork()) == -1) {
		log_kv("error", "op", "fork", "err", strerror(errno), NULL);
		lim_conn_end(p.ip);
		close(fd);
		return;
	}
	if (pid == 0)
		child_start(cfg, fd, &p);	/* never returns */
	close(fd);
	kids_add(kids, nkids, pid, p.ip);
}

/* listen_run - accept until SIGTERM */
int
listen_run(const struct pop3_cfg *cfg, char **addrs, size_t naddrs)
{
	struct pollfd pf[LISTEN_MAX];
	struct timespec tick = { 1, 0 };
	struct sigaction sa;
	struct kid *kids;
	sigset_t set, old;
	size_t nkids = 0, i;
	int fd, k;

	if (naddrs > LISTEN_MAX)
		die_msg(EXIT_TEMP, "listen", "too many -l addresses");
	for (nlfd = 0; nlfd < naddrs; nlfd++) {
		lfd[nlfd] = open_one(addrs[nlfd]);
		pf[nlfd].fd = lfd[nlfd];
		pf[nlfd].events = POLLIN;
	}
	if ((kids = calloc(cfg->max_conn, sizeof *kids)) == NULL)
		die_temp("calloc", NULL);
	lim_open(cfg->limits_file);
	if (tls_get(cfg) == NULL && cfg->implicit_tls)
		die_msg(EXIT_TEMP, "tls", "implicit TLS without a usable "
		    "tls_cert and tls_key");
	if (pop3_listener_sandbox(cfg) == -1)
		die_temp("listener sandbox", NULL);
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	while (!got_term) {
		if (ppoll(pf, nlfd, &tick, &old) > 0)
			for (i = 0; i < nlfd; i++) {
				if (!(pf[i].revents & POLLIN))
					continue;
				for (k = 0; k < 64; k++) {
					fd = accept4(pf[i].fd, NULL, NULL,
					    SOCK_CLOEXEC);
					if (fd == -1)
						break;
					spawn(cfg, fd, kids, &nkids);
				}
			}
		kids_reap(kids, &nkids);
		if (got_hup) {
			got_hup = 0;
			log_kv("hup", "reload", "per session",
			    "settings", "at restart", NULL);
		}
	}
	for (i = 0; i < nlfd; i++)
		close(lfd[i]);
	log_kv("stop", "sessions", nkids ? "finishing" : "none", NULL);
	free(kids);
	return EXIT_OK;
}
