/* dnstxt: TXT records out of a DNS answer (see dnstxt.h). */
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "dnstxt.h"

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* rdata - a TXT record's character-strings, joined into t's next slot */
static int
rdata(const uint8_t *p, size_t rdlen, struct dns_txt *t, uint32_t ttl)
{
	size_t o = 0, len = 0, k = t->n;

	if (rdlen == 0)
		return -1;		/* at least one string */
	while (o < rdlen) {
		size_t sl = p[o++];

		if (o + sl > rdlen)
			return -1;
		if (k < DNS_TXT_RECS && len + sl <= DNS_TXT_MAX)
			memcpy(t->txt[k] + len, p + o, sl);
		len += sl;
		o += sl;
	}
	if (k < DNS_TXT_RECS && len <= DNS_TXT_MAX) {
		t->len[k] = len;
		if (t->n == 0 || ttl < t->ttl)
			t->ttl = ttl;
	} else if (k < DNS_TXT_RECS)
		t->len[k] = (size_t)-1;	/* too long: known, not kept */
	t->n++;
	return 0;
}

int
dns_txt_parse(const uint8_t *p, size_t n, uint16_t id, const char *qname,
    struct dns_txt *t)
{
	char name[DNS_NAME_BUF], owner[DNS_NAME_BUF];
	size_t off = DNS_HDR;
	uint16_t flags, an;

	memset(t, 0, sizeof *t);
	if (n < DNS_HDR || get16(p) != id)
		return -1;
	flags = get16(p + 2);
	if (!(flags & DNS_F_QR) || get16(p + 4) != 1)
		return -1;
	t->rcode = flags & 0xf;
	t->tc = (flags & DNS_F_TC) != 0;
	an = get16(p + 6);
	if (dns_name_read(p, n, &off, name) == -1 || off + 4 > n ||
	    !dns_name_eq(name, qname) || get16(p + off) != DNS_T_TXT ||
	    get16(p + off + 2) != 1)
		return -1;
	off += 4;
	snprintf(owner, sizeof owner, "%s", qname);
	for (uint16_t i = 0; i < an; i++) {
		uint16_t type, class, rdlen;
		uint32_t ttl;

		if (dns_name_read(p, n, &off, name) == -1 || off + 10 > n)
			return -1;
		type = get16(p + off), class = get16(p + off + 2);
		ttl = (uint32_t)get16(p + off + 4) << 16 | get16(p + off + 6);
		rdlen = get16(p + off + 8);
		off += 10;
		if (off + rdlen > n)
			return -1;
		if (class == 1 && dns_name_eq(name, owner)) {
			if (type == DNS_T_CNAME) {
				size_t o = off;

				if (dns_name_read(p, off + rdlen, &o, owner) ==
				    -1)
					return -1;
			} else if (type == DNS_T_TXT &&
			    rdata(p + off, rdlen, t, ttl) == -1)
				return -1;
		}
		off += rdlen;
	}
	return 0;
}
