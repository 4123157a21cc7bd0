/* dnsq: sandmail-sts's own DNS questions (the _mta-sts TXT record and
 * the policy host's address) to the name servers sandmail is configured
 * with ("nameserver", else resolv_conf), over UDP from a fresh socket
 * with a random ID, the answer checked against the server, the ID and
 * the question (dnstxt.c, dns.c).  One question at a time: the fetcher
 * serves one domain at a time anyway. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "dns.h"
#include "dnstxt.h"
#include "saddr.h"
#include "sts.h"

/* dnsq_ns_add - "1.2.3.4", "1.2.3.4:53", "::1", "[::1]:53" */
int
dnsq_ns_add(struct sts_cfg *c, const char *s)
{
	if (c->nns == STS_NS_MAX ||
	    saddr_parse(s, "53", &c->ns[c->nns], &c->nslen[c->nns]) == -1)
		return -1;
	c->nns++;
	return 0;
}

/* ask - one query to one server; the answer's length, or -1 */
static ssize_t
ask(const struct sts_cfg *c, unsigned i, const uint8_t *q, size_t qn,
    uint8_t *a, size_t asz)
{
	struct pollfd pf;
	ssize_t k;
	int fd, r;

	if ((fd = socket(c->ns[i].ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) ==
	    -1)
		return -1;
	/* connected: only the server's datagrams are received */
	if (connect(fd, (const struct sockaddr *)&c->ns[i], c->nslen[i]) ==
	    -1 || send(fd, q, qn, 0) != (ssize_t)qn) {
		close(fd);
		return -1;
	}
	pf = (struct pollfd){ fd, POLLIN, 0 };
	while ((r = poll(&pf, 1, c->dns_timeout_ms)) == -1 && errno == EINTR)
		;
	k = r == 1 ? recv(fd, a, asz, 0) : -1;
	close(fd);
	return k;
}

static int
query(const struct sts_cfg *c, const char *name, uint16_t type,
    int (*take)(const uint8_t *, size_t, uint16_t, const char *, void *),
    void *arg)
{
	uint8_t q[512], a[DNS_UDP_MAX];
	uint16_t id;
	ssize_t an;
	int qn;

	for (unsigned tries = 0; tries < 2; tries++)
		for (unsigned i = 0; i < c->nns; i++) {
			randombytes_buf(&id, sizeof id);
			if ((qn = dns_query(q, sizeof q, id, name, type, 1)) ==
			    -1)
				return -1;
			if ((an = ask(c, i, q, (size_t)qn, a, sizeof a)) <= 0)
				continue;
			if (take(a, (size_t)an, id, name, arg) == 0)
				return 0;
		}
	return -1;
}

static int
take_txt(const uint8_t *a, size_t n, uint16_t id, const char *name,
    void *arg)
{
	struct dns_txt *t = arg;

	if (dns_txt_parse(a, n, id, name, t) == -1 || t->tc)
		return -1;	/* XXX: no TCP; a policy record is short */
	return t->rcode == DNS_R_OK || t->rcode == DNS_R_NXDOMAIN ? 0 : -1;
}

int
dnsq_txt(const struct sts_cfg *c, const char *name, struct dns_txt *t)
{
	return query(c, name, DNS_T_TXT, take_txt, t);
}

struct addr_arg {
	char	*out;
	size_t	 outsz;
	int	 found;
};

static int
take_addr(const uint8_t *a, size_t n, uint16_t id, const char *name,
    void *arg)
{
	static struct dns_msg m;
	struct addr_arg *r = arg;

	if (dns_parse(a, n, &m) == -1 || m.id != id || (m.flags & DNS_F_TC) ||
	    !dns_name_eq(m.qname, name))
		return -1;
	if (m.rcode != DNS_R_OK && m.rcode != DNS_R_NXDOMAIN)
		return -1;
	for (size_t i = 0; i < m.nrr && !r->found; i++) {
		if (m.rr[i].type == DNS_T_A)
			r->found = inet_ntop(AF_INET, m.rr[i].u.a, r->out,
			    (socklen_t)r->outsz) != NULL;
		else if (m.rr[i].type == DNS_T_AAAA)
			r->found = inet_ntop(AF_INET6, m.rr[i].u.aaaa, r->out,
			    (socklen_t)r->outsz) != NULL;
	}
	return 0;
}

/* dnsq_addr - an address of name (A first, then AAAA): 0, 1 none, -1 */
int
dnsq_addr(const struct sts_cfg *c, const char *name, char *out,
    size_t outsz)
{
	struct addr_arg r = { out, outsz, 0 };

	if (query(c, name, DNS_T_A, take_addr, &r) == -1)
		return -1;
	if (!r.found && query(c, name, DNS_T_AAAA, take_addr, &r) == -1)
		return -1;
	return r.found ? 0 : 1;
}
