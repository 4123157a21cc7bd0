/* dnsans: the records of one answer that the mail-authentication checks
 * use (lib/dnsans.h).  The header and the question are checked with
 * lib/dns.c; the answer section is walked here, since dns_parse keeps no
 * TXT data.  A record counts when its owner is the name asked or a name a
 * CNAME of the answer led to (RFC 1034 3.6.2). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "dns.h"
#include "dnsans.h"

#define CHAIN_MAX	8	/* CNAMEs followed inside one answer */

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* owner_ok - name is qname or one of the aliases seen */
static int
owner_ok(const char *name, char chain[][DNS_NAME_BUF], size_t nchain)
{
	for (size_t i = 0; i < nchain; i++)
		if (dns_name_eq(name, chain[i]))
			return 1;
	return 0;
}

/* txt_take - the character-strings of one TXT record, joined (RFC 7208
 * 3.3, RFC 6376 3.6.2.2); 0, or -1 malformed */
static int
txt_take(const uint8_t *p, size_t rdlen, struct dnsans *a,
    struct dnsans_rr *rr)
{
	size_t o = 0, l;

	rr->off = a->txtlen;
	rr->len = 0;
	while (o < rdlen) {
		l = p[o++];
		if (l > rdlen - o)
			return -1;
		if (l > sizeof a->txt - a->txtlen)
			return errno = E2BIG, -1;
		memcpy(a->txt + a->txtlen, p + o, l);
		a->txtlen += l;
		rr->len += l;
		o += l;
	}
	return 0;
}

/* rdata - keep one record of the type asked; 0 kept or skipped, -1 bad */
static int
rdata(const uint8_t *p, size_t end, size_t off, uint16_t type,
    uint16_t rdlen, struct dnsans *a)
{
	struct dnsans_rr *rr;
	size_t o = off;
	int r;

	if (a->n == DNSANS_RR_MAX)
		return 0;
	rr = &a->rr[a->n];
	memset(rr, 0, sizeof *rr);
	rr->type = type;
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (rdlen != (type == DNS_T_A ? 4 : 16))
			return -1;
		memcpy(rr->ip, p + off, rdlen);
		break;
	case DNS_T_MX:
		if (rdlen < 3)
			return -1;
		rr->pref = get16(p + off);
		o += 2;
		if ((r = dns_name_read(p, end, &o, rr->name)) == -1 ||
		    o != end)
			return -1;
		if (r == 1)
			return 0;	/* no host has such a name */
		break;
	case DNS_T_PTR:
		if ((r = dns_name_read(p, end, &o, rr->name)) == -1 ||
		    o != end)
			return -1;
		if (r == 1)
			return 0;
		break;
	case DNS_T_TXT:
		if (txt_take(p + off, rdlen, a, rr) == -1)
			return errno == E2BIG ? 0 : -1;
		break;
	default:
		return 0;
	}
	a->n++;
	return 0;
}

/* dnsans_parse - see dnsans.h */
int
dnsans_parse(const uint8_t *p, size_t n, const char *qname, uint16_t qtype,
    struct dnsans *a)
{
	static struct dns_msg m;
	char chain[CHAIN_MAX + 1][DNS_NAME_BUF], name[DNS_NAME_BUF];
	size_t off = DNS_HDR, nchain = 1, end;
	unsigned an;
	uint16_t type, cls, rdlen;

	a->n = a->txtlen = 0;
	a->st = DA_TEMP;
	if (dns_parse(p, n, &m) == -1 || !(m.flags & DNS_F_QR) ||
	    (m.flags & DNS_F_TC) || m.qtype != qtype || m.qclass != 1 ||
	    !dns_name_eq(m.qname, qname))
		return errno = EPROTO, -1;
	if (m.rcode == DNS_R_NXDOMAIN) {
		a->st = DA_NXDOMAIN;
		return 0;
	}
	if (m.rcode != DNS_R_OK)
		return errno = EPROTO, -1;
	if (strlen(qname) >= DNS_NAME_BUF)
		return errno = EINVAL, -1;
	memcpy(chain[0], m.qname, sizeof chain[0]);
	if (dns_name_read(p, n, &off, name) == -1)
		return errno = EPROTO, -1;
	off += 4;
	for (an = get16(p + 6); an > 0; an--) {
		if (dns_name_read(p, n, &off, name) == -1 || off + 10 > n)
			return errno = EPROTO, -1;
		type = get16(p + off);
		cls = get16(p + off + 2);
		rdlen = get16(p + off + 8);
		off += 10;
		if ((end = off + rdlen) > n)
			return errno = EPROTO, -1;
		if (cls == 1 && owner_ok(name, chain, nchain)) {
			if (type == DNS_T_CNAME && nchain <= CHAIN_MAX) {
				size_t o = off;

				if (dns_name_read(p, end, &o, chain[nchain]) ==
				    -1 || o != end)
					return errno = EPROTO, -1;
				nchain++;
			} else if (type == qtype &&
			    rdata(p, end, off, type, rdlen, a) == -1)
				return errno = EPROTO, -1;
		}
		off = end;
	}
	a->st = DA_OK;
	return 0;
}
