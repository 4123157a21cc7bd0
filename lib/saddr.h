/* saddr: a peer's address as the settings spell it, into a sockaddr.
 * Numeric only (no name lookups): "IP", "IP:port", "[IPv6]",
 * "[IPv6]:port" or a bare IPv6 address (two colons or more: no port);
 * and the services of the filters, "unix:/path" or "inet:" followed by
 * one of the former with its port.  Used by smtpd's DNS blocklists
 * (smtpd_dnsbl_nameserver), policy delegation (smtpd_policy_service) and
 * milters (smtpd_milter), and the name servers of sandmail-sts,
 * sandmail-tlspolicy and sandmail-dmarcrep (nameserver). */
#ifndef SANDMAIL_SADDR_H
#define SANDMAIL_SADDR_H

#include <sys/socket.h>

/* saddr_parse: s into *ss and *len; the port is defport when s gives
 * none (defport NULL: a port is required).  Ports are 1 to 65535.  0, or
 * -1 with errno EINVAL */
int	saddr_parse(const char *s, const char *defport,
	    struct sockaddr_storage *ss, socklen_t *len);
/* saddr_service: "unix:/absolute/path" (fits sun_path) or "inet:HOST:PORT"
 * ("inet:[V6]:PORT"); 0, or -1 with errno EINVAL */
int	saddr_service(const char *svc, struct sockaddr_storage *ss,
	    socklen_t *len);

/* saddr_port: the TCP/UDP port of an AF_INET/AF_INET6 address, else 0 */
unsigned	saddr_port(const struct sockaddr_storage *ss);

#endif
