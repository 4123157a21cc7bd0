/* listen: sandmail-pop3d's own listener (-l ADDR:PORT, repeatable), for
 * `make run` and sites without tcpserver.  The parent only accepts,
 * counts connections (overall and per client address), forks without
 * exec one child per connection and reaps them; it never reads a byte
 * from a client.  Each child runs session_run(), which opens the tables
 * and the certificate itself, so a renewed certificate or table is used
 * by the next connection.  SIGTERM: stop listening, let sessions end. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "pop3d.h"

#define LISTEN_MAX	16

struct child {
	pid_t	pid;
	char	ip[IP_TEXT_MAX];
};

static volatile sig_atomic_t got_term;
static int lfd[LISTEN_MAX];
static size_t nlfd;

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
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
	struct sockaddr_in6 *s6 = (void *)&ss;
	struct sockaddr_in *s4 = (void *)&ss;
	socklen_t sl = sizeof ss;
	unsigned port = 0;

	memset(p, 0, sizeof *p);
	memset(&ss, 0, sizeof ss);
	snprintf(p->ip, sizeof p->ip, "unknown");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, p->ip, sizeof p->ip);
		port = ntohs(s4->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], p->ip,
			    sizeof p->ip);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, p->ip,
			    sizeof p->ip);
		port = ntohs(s6->sin6_port);
	}
	snprintf(p->port, sizeof p->port, "%u", port);
	p->loopback = strncmp(p->ip, "127.", 4) == 0 ||
	    strcmp(p->ip, "::1") == 0;
}

static int
open_one(const char *spec)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai;
	char host[128];
	const char *c = strrchr(spec, ':'), *h = spec;
	size_t n;
	int fd, one = 1;

	if (c == NULL || c == spec)
		die_msg(EXIT_TEMP, "listen", "want ADDR:PORT");
	n = (size_t)(c - spec);
	if (spec[0] == '[' && n > 2 && c[-1] == ']')
		h++, n -= 2;
	if (n >= sizeof host)
		die_msg(EXIT_TEMP, "listen", "address too long");
	memcpy(host, h, n);
	host[n] = '\0';
	if (getaddrinfo(host, c + 1, &hints, &ai) != 0)
		die_msg(EXIT_TEMP, "listen", "bad address (want ADDR:PORT)");
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1)
		die_temp("socket", spec);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, 128) == -1)
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

static void
refuse(int fd, const char *ip, const char *why)
{
	static const char msg[] = "-ERR [SYS/TEMP] too many connections, "
	    "try again later\r\n";

	(void)send(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	log_kv("refuse", "ip", ip, "reason", why, NULL);
	close(fd);
}

static void
child_start(const struct pop3_cfg *cfg, int fd, const struct peerinfo *p)
{
	sigset_t none;
	size_t i;

	for (i = 0; i < nlfd; i++)
		close(lfd[i]);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	session_run(cfg, fd, fd, p);
}

static void
spawn(const struct pop3_cfg *cfg, int fd, struct child *kids, size_t *nkids)
{
	struct peerinfo p;
	unsigned same = 0;
	size_t i;
	pid_t pid;

	peer_of(fd, &p);
	for (i = 0; i < *nkids; i++)
		same += strcmp(kids[i].ip, p.ip) == 0;
	if (*nkids >= cfg->max_conn)
		return refuse(fd, p.ip, "max_connections");
	if (same >= cfg->max_per_ip)
		return refuse(fd, p.ip, "max_per_ip");
	if ((pid = fork()) == -1) {
		log_kv("error", "op", "fork", "err", strerror(errno), NULL);
		close(fd);
		return;
	}
	if (pid == 0)
		child_start(cfg, fd, &p);	/* never returns */
	close(fd);
	kids[*nkids].pid = pid;
	memcpy(kids[*nkids].ip, p.ip, sizeof p.ip);
	(*nkids)++;
}

/* listen_run - accept until SIGTERM */
int
listen_run(const struct pop3_cfg *cfg, char **addrs, size_t naddrs)
{
	struct pollfd pf[LISTEN_MAX];
	struct timespec tick = { 1, 0 };
	struct sigaction sa;
	struct child *kids;
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
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
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
		reap(kids, &nkids);
	}
	for (i = 0; i < nlfd; i++)
		close(lfd[i]);
	log_kv("stop", "sessions", nkids ? "finishing" : "none", NULL);
	free(kids);
	return EXIT_OK;
}
