/* listen: listening sockets and the child table of a forking listener. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "connlim.h"
#include "listen.h"

/* split_addr - "ADDR:PORT", "[V6]:PORT" or "V6:PORT" */
static int
split_addr(const char *s, char *host, size_t hsz, const char **port)
{
	const char *c = strrchr(s, ':');
	unsigned long long pn;
	size_t n;

	/* no port, or an empty one: getaddrinfo would take "" as port 0,
	 * and a forgotten port would become a random one */
	if (c == NULL || c == s || c[1] == '\0')
		return -1;
	/* and getaddrinfo takes "70000" as 4464: check the range here */
	if (parse_ull(c + 1, &pn) == -1 || pn > 65535)
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

int
listen_open(const char *spec, int backlog)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai;
	char host[128];
	const char *port;
	int fd, one = 1, e;

	if (split_addr(spec, host, sizeof host, &port) == -1 ||
	    getaddrinfo(host, port, &hints, &ai) != 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1) {
		e = errno;
		freeaddrinfo(ai);
		errno = e;
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, backlog) == -1) {
		e = errno;
		close(fd);
		freeaddrinfo(ai);
		errno = e;
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

void
listen_addr_text(const struct sockaddr_storage *ss, char *ip, size_t ipsz,
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

void
listen_child_reset(const int *lfd, size_t nlfd)
{
	sigset_t none;
	size_t i;

	for (i = 0; i < nlfd; i++)
		close(lfd[i]);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void
kids_reap(struct kid *kids, size_t *nkids)
{
	pid_t pid;
	size_t i;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < *nkids; i++)
			if (kids[i].pid == pid) {
				lim_conn_end(kids[i].ip);
				kids[i] = kids[--*nkids];
				break;
			}
}

unsigned
kids_count_ip(const struct kid *kids, size_t nkids, const char *ip)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < nkids; i++)
		n += strcmp(kids[i].ip, ip) == 0;
	return n;
}

void
kids_add(struct kid *kids, size_t *nkids, pid_t pid, const char *ip)
{
	kids[*nkids].pid = pid;
	snprintf(kids[*nkids].ip, sizeof kids[*nkids].ip, "%s", ip);
	(*nkids)++;
}

/* listen_is_loopback - whether a textual client address is loopback */
int
listen_is_loopback(const char *ip)
{
	if (strncasecmp(ip, "::ffff:", 7) == 0)
		ip += 7;
	return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0;
}
