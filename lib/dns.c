/* dns: building queries and parsing answers (RFC 1035, 2181, 2308, 6891).
 * Pure functions on byte arrays; nothing here does I/O. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "dns.h"

#define PTR_MAX		64	/* compression jumps in one name */

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static int
host_char(uint8_t c)
{
	return isalnum(c) || c == '-' || c == '_';
}

/* dns_name_wire - "mx.example.org" (final dot optional) to labels */
int
dns_name_wire(const char *name, uint8_t *out, size_t outsz)
{
	size_t len = strlen(name), o = 0, i = 0, start;

	if (len > 0 && name[len - 1] == '.')
		len--;
	while (i < len) {
		start = i;
		while (i < len && name[i] != '.')
			i++;
		if (i == start || i - start > 63 || o + 1 + (i - start) > 254 ||
		    o + 1 + (i - start) >= outsz)
			return errno = EINVAL, -1;
		for (size_t k = start; k < i; k++)
			if (!host_char((uint8_t)name[k]))
				return errno = EINVAL, -1;
		out[o++] = (uint8_t)(i - start);
		memcpy(out + o, name + start, i - start);
		o += i - start;
		if (i < len)
			i++;		/* the dot */
		if (i == len && name[i - 1] == '.')
			return errno = EINVAL, -1;	/* "a..": empty label */
	}
	if (o + 1 > outsz)
		return errno = EINVAL, -1;
	out[o++] = 0;
	return (int)o;
}

/* dns_query - a recursive query for name/type, with an EDNS0 OPT record
 * unless the server did not understand one (RFC 6891 7: FORMERR); with
 * DNS_Q_DO the OPT record asks for DNSSEC records and the header for the
 * validator's AD bit */
int
dns_query(uint8_t *out, size_t outsz, uint16_t id, const char *name,
    uint16_t type, int flags)
{
	int edns = (flags & (DNS_Q_EDNS | DNS_Q_DO)) != 0;
	int k;
	size_t o;

	if (outsz < DNS_HDR + 4 + 11)
		return errno = EINVAL, -1;
	memset(out, 0, DNS_HDR);
	put16(out, id);
	put16(out + 2, DNS_F_RD | (flags & DNS_Q_DO ? DNS_F_AD : 0));
	put16(out + 4, 1);		/* QDCOUNT */
	put16(out + 10, edns ? 1 : 0);	/* ARCOUNT: the OPT record */
	if ((k = dns_name_wire(name, out + DNS_HDR,
	    outsz - DNS_HDR - 4 - 11)) == -1)
		return -1;
	o = DNS_HDR + (size_t)k;
	put16(out + o, type);
	put16(out + o + 2, 1);		/* IN */
	o += 4;
	if (!edns)
		return (int)o;
	out[o] = 0;			/* OPT: root name */
	put16(out + o + 1, DNS_T_OPT);
	put16(out + o + 3, DNS_UDP_MAX);
	memset(out + o + 5, 0, 6);	/* ext. rcode, version, flags, rdlen */
	if (flags & DNS_Q_DO)
		out[o + 7] = 0x80;	/* the DO bit of the flags */
	return (int)(o + 11);
}

/*
 * A pointer must point before the start of the segment of the name that
 * holds it: whatever a compressor refers to was written before the name
 * was, so real packets pass, and the segment starts strictly decrease,
 * so no loop can last.  The jump count is a second fence.
 */
int
dns_name_read(const uint8_t *p, size_t n, size_t *off, char *out)
{
	size_t pos = *off, seg = *off, wire = 0, o = 0, next = 0;
	int jumps = 0, odd = 0;
	uint8_t c;

	for (;;) {
		if (pos >= n)
			return -1;
		c = p[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t ptr;

			if (pos + 1 >= n || ++jumps > PTR_MAX)
				return -1;
			ptr = (size_t)(c & 0x3f) << 8 | p[pos + 1];
			if (ptr >= seg)
				return -1;
			if (next == 0)
				next = pos + 2;
			pos = seg = ptr;
			continue;
		}
		if (c & 0xc0)
			return -1;	/* 0x40, 0x80: no such label types */
		if (c == 0)
			break;
		if (pos + 1 + c > n || (wire += 1 + (size_t)c) > 254)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < c; i++) {
			uint8_t ch = p[pos + 1 + i];

			if (!host_char(ch))
				odd = 1;
			out[o++] = (char)tolower(host_char(ch) ? ch : '?');
		}
		pos += 1 + c;
	}
	out[o] = '\0';
	*off = next ? next : pos + 1;
	return odd;
}

/* dns_name_eq - names compare without regard to case (RFC 4343) */
int
dns_name_eq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

static int
parse_rdata(const uint8_t *p, size_t n, size_t off, uint16_t rdlen,
    struct dns_rr *rr)
{
	size_t end = off + rdlen, o = off;
	int r;

	(void)n;	/* the caller passed the end of the record as n */
	switch (rr->type) {
	case DNS_T_A:
		if (rdlen != 4)
			return -1;
		memcpy(rr->u.a, p + off, 4);
		return 0;
	case DNS_T_AAAA:
		if (rdlen != 16)
			return -1;
		memcpy(rr->u.aaaa, p + off, 16);
		return 0;
	case DNS_T_MX:
		if (rdlen < 3)
			return -1;
		rr->u.mx.pref = get16(p + off);
		o += 2;
		if ((r = dns_name_read(p, end, &o, rr->u.mx.host)) == -1 ||
		    o != end)
			return -1;
		return r;
	case DNS_T_CNAME:
	case DNS_T_PTR:
		if ((r = dns_name_read(p, end, &o, rr->u.cname)) == -1 ||
		    o != end)
			return -1;
		return r;
	case DNS_T_TLSA:
		return tlsa_parse(p + off, rdlen, &rr->u.tlsa);
	default:
		return 1;	/* a type we do not keep */
	}
}

/* one record: -1 malformed, else 0 and *keep says whether rr is usable */
static int
parse_rr(const uint8_t *p, size_t n, size_t *off, struct dns_rr *rr,
    int *keep, uint16_t *cls, size_t *rdoff, uint16_t *rdlen)
{
	int odd, r;

	if ((odd = dns_name_read(p, n, off, rr->name)) == -1 ||
	    *off + 10 > n)
		return -1;
	rr->type = get16(p + *off);
	*cls = get16(p + *off + 2);
	rr->ttl = get32(p + *off + 4);
	if (rr->ttl > 0x7fffffff)
		rr->ttl = 0;	/* RFC 2181 8: treat as zero */
	*rdlen = get16(p + *off + 8);
	*off += 10;
	*rdoff = *off;
	if (*off + *rdlen > n)
		return -1;
	/* parse within the packet, but the record must end at rdlen */
	if ((r = parse_rdata(p, *off + *rdlen, *off, *rdlen, rr)) == -1)
		return -1;
	*off += *rdlen;
	*keep = !odd && r == 0 && *cls == 1;
	return 0;
}

static int
parse_soa(const uint8_t *p, size_t n, size_t off, uint16_t rdlen,
    struct dns_msg *m, uint32_t ttl)
{
	char tmp[DNS_NAME_BUF];
	size_t end = off + rdlen, o = off;
	uint32_t min;

	(void)n;
	if (dns_name_read(p, end, &o, tmp) == -1 ||
	    dns_name_read(p, end, &o, tmp) == -1 || o + 20 != end)
		return -1;
	min = get32(p + o + 16);
	m->neg_ttl = min < ttl ? min : ttl;
	if (m->neg_ttl > 0x7fffffff)
		m->neg_ttl = 0;
	m->has_soa = 1;
	return 0;
}

static int
parse_sections(const uint8_t *p, size_t n, size_t off, struct dns_msg *m,
    unsigned an, unsigned ns)
{
	struct dns_rr tmp;
	size_t rdoff;
	uint16_t cls, rdlen;
	int keep;

	for (unsigned i = 0; i < an + ns; i++) {
		struct dns_rr *rr = i < an && m->nrr < DNS_RR_MAX ?
		    &m->rr[m->nrr] : &tmp;

		if (parse_rr(p, n, &off, rr, &keep, &cls, &rdoff, &rdlen) == -1)
			return -1;
		if (i < an && keep && rr != &tmp)
			m->nrr++;
		else if (i >= an && rr->type == DNS_T_SOA && cls == 1 &&
		    !m->has_soa &&
		    parse_soa(p, n, rdoff, rdlen, m, rr->ttl) == -1)
			return -1;
	}
	return 0;
}

/* dns_parse - a response: header, one question, answers, authority SOA.
 * The additional section is not read (we never trust glue). */
int
dns_parse(const uint8_t *p, size_t n, struct dns_msg *m)
{
	size_t off = DNS_HDR;

	memset(m, 0, offsetof(struct dns_msg, rr));
	m->has_soa = 0;
	m->neg_ttl = 0;
	if (n < DNS_HDR)
		return errno = EPROTO, -1;
	m->id = get16(p);
	m->flags = get16(p + 2);
	m->rcode = m->flags & 0x0f;
	if (get16(p + 4) != 1)
		return errno = EPROTO, -1;
	if (dns_name_read(p, n, &off, m->qname) == -1 || off + 4 > n)
		return errno = EPROTO, -1;
	m->qtype = get16(p + off);
	m->qclass = get16(p + off + 2);
	off += 4;
	if ((m->flags & DNS_F_TC) != 0)
		return 0;	/* the rest may be cut: the caller retries on TCP */
	if (parse_sections(p, n, off, m, get16(p + 6), get16(p + 8)) == -1)
		return errno = EPROTO, -1;
	return 0;
}
