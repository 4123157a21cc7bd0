/* saddr: numeric socket addresses from the settings' text (saddr.h).
 * One parser for every filter of smtpd, so that "[::1]:53", "::1" and
 * "127.0.0.1:10023" mean the same wherever they are written. */
#include <errno.h>
#include <netinet/in.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "saddr.h"

#define HOST_MAX	64	/* INET6_ADDRSTRLEN and a scope */

/* port_ok - 1 to 65535, digits only (getaddrinfo would take "70000" as
 * 4464 and "" as 0) */
static int
port_ok(const char *p)
{
	unsigned long v;
	char *e;

	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	v = strtoul(p, &e, 10);
	return errno == 0 && *e == '\0' && v >= 1 && v <= 65535;
}

/* saddr_parse - "IP", "IP:port", "[V6]", "[V6]:port", bare V6 */
int
saddr_parse(const char *s, const char *defport, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	char host[HOST_MAX];
	const char *port = defport, *c;
	size_t hl;

	if (*s == '[') {
		if ((c = strchr(s, ']')) == NULL || (c[1] != '\0' &&
		    c[1] != ':') || strchr(s + 1, '[') != NULL)
			return errno = EINVAL, -1;
		hl = (size_t)(c - s - 1);
		s++;
		if (memchr(s, ':', hl) == NULL)
			return errno = EINVAL, -1;	/* "[v4]": IPv6 only */
		if (c[1] == ':')
			port = c + 2;
	} else if ((c = strchr(s, ':')) != NULL && strchr(c + 1, ':') ==
	    NULL) {
		hl = (size_t)(c - s);
		port = c + 1;
	} else
		hl = strlen(s);
	if (hl == 0 || hl >= sizeof host || port == NULL || !port_ok(port))
		return errno = EINVAL, -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return errno = EINVAL, -1;
	memset(ss, 0, sizeof *ss);
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* saddr_service - "unix:/path" or "inet:HOST:PORT" */
int
saddr_service(const char *svc, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_un *un = (struct sockaddr_un *)ss;
	size_t n;

	if (strncmp(svc, "unix:", 5) == 0) {
		n = strlen(svc + 5);
		if (n >= sizeof un->sun_path || svc[5] != '/')
			return errno = EINVAL, -1;
		memset(ss, 0, sizeof *ss);
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, svc + 5, n + 1);
		*len = sizeof *un;
		return 0;
	}
	if (strncmp(svc, "inet:", 5) != 0)
		return errno = EINVAL, -1;
	return saddr_parse(svc + 5, NULL, ss, len);
}

/* saddr_port - see saddr.h */
unsigned
saddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}
