/* dns: the DNS wire format (RFC 1035), apart from any I/O, so that unit
 * tests and the fuzzer drive the same code as sandmail-resolve (and
 * smtpd's blocklist lookups, which is why it is in lib/).
 *
 * Every length in a packet is checked against the packet: counts that
 * lie, pointers past the end, compression loops (a pointer must point
 * before the start of the name segment that holds it), labels over 63
 * bytes and names over 255 bytes are all errors. */
#ifndef SANDMAIL_DNS_H
#define SANDMAIL_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "tlsa.h"

#define DNS_NAME_BUF	256	/* a text name (at most 253) and its NUL */
#define DNS_RR_MAX	64	/* answer records kept from one packet */
#define DNS_UDP_MAX	1232	/* our EDNS0 payload size (DNS flag day) */
#define DNS_HDR		12

enum dns_type {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6,
	DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_AAAA = 28, DNS_T_OPT = 41,
	DNS_T_TLSA = 52,
};

enum dns_rcode {
	DNS_R_OK = 0, DNS_R_FORMERR = 1, DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3, DNS_R_NOTIMP = 4, DNS_R_REFUSED = 5,
};

#define DNS_F_QR	0x8000
#define DNS_F_TC	0x0200
#define DNS_F_RD	0x0100
#define DNS_F_AD	0x0020	/* authentic data (RFC 4035 3.2.3) */

/* dns_query flags */
#define DNS_Q_EDNS	1	/* an EDNS0 OPT record (RFC 6891) */
#define DNS_Q_DO	2	/* and in it DNSSEC OK, with AD set in the
				 * header (RFC 3225, RFC 6840 5.7) */

/* One record of the answer section; names are lower case, no final dot. */
struct dns_rr {
	char		name[DNS_NAME_BUF];
	uint16_t	type;
	uint32_t	ttl;
	union {
		uint8_t		a[4];
		uint8_t		aaaa[16];
		struct {
			uint16_t	pref;
			char		host[DNS_NAME_BUF];
		} mx;
		char		cname[DNS_NAME_BUF];	/* CNAME, PTR */
		struct tlsa	tlsa;
	} u;
};

struct dns_msg {
	uint16_t	id;
	uint16_t	flags;		/* QR, opcode, AA, TC, RD, RA, rcode */
	int		rcode;
	char		qname[DNS_NAME_BUF];
	uint16_t	qtype, qclass;
	size_t		nrr;		/* kept answer records of class IN */
	struct dns_rr	rr[DNS_RR_MAX];
	int		has_soa;	/* authority SOA seen: neg_ttl valid */
	uint32_t	neg_ttl;	/* min(SOA TTL, SOA minimum) */
};

/* dns_name_wire: text name to wire labels; length or -1 (bad name) */
int	dns_name_wire(const char *name, uint8_t *out, size_t outsz);
/* dns_query: build a query (RD set; flags DNS_Q_*: 1 is EDNS0 alone);
 * length or -1 */
int	dns_query(uint8_t *out, size_t outsz, uint16_t id, const char *name,
	    uint16_t type, int flags);
/* dns_name_read: a possibly compressed name at *off into out (lower case,
 * no final dot, root is "").  *off moves past the name.  0 ok, 1 ok but
 * the name has bytes no host name has (the caller skips the record), -1
 * malformed. */
int	dns_name_read(const uint8_t *p, size_t n, size_t *off, char *out);
/* dns_parse: a whole response; 0, or -1 if malformed (m is partial). */
int	dns_parse(const uint8_t *p, size_t n, struct dns_msg *m);
/* dns_name_eq: case-insensitive equality of two text names */
int	dns_name_eq(const char *, const char *);

#endif
