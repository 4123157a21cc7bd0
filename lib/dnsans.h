/* dnsans: one DNS question's answer as the mail-authentication checks
 * (SPF, DKIM keys, DMARC) need it: A, AAAA, MX, PTR and TXT records of the
 * name asked, CNAME chains inside the answer followed.  No I/O: a caller
 * (smtpd's verifier, a unit test's fake zone) fills a struct dnsans per
 * question through a dnsans_fn.  The packet is checked by lib/dns.c's
 * parser first; TXT strings are read here, each length checked. */
#ifndef SANDMAIL_DNSANS_H
#define SANDMAIL_DNSANS_H

#include <stddef.h>
#include <stdint.h>

#include "dns.h"

#define DNS_T_PTR	12
#define DNS_T_TXT	16
#define DNSANS_RR_MAX	32	/* records kept of one answer */
#define DNSANS_TXT_MAX	4096	/* TXT bytes kept of one answer */

enum dnsans_st {
	DA_OK,			/* an answer; n == 0 is "no data" */
	DA_NXDOMAIN,		/* the name does not exist */
	DA_TEMP,		/* no answer, SERVFAIL, a timeout: try later */
};

struct dnsans_rr {
	uint16_t	 type;
	uint16_t	 pref;		/* MX */
	uint8_t		 ip[16];	/* A (4 bytes), AAAA */
	char		 name[DNS_NAME_BUF];	/* MX: the exchange; PTR */
	size_t		 off, len;	/* TXT: the strings joined, in txt */
};

struct dnsans {
	enum dnsans_st	 st;
	size_t		 n;
	struct dnsans_rr rr[DNSANS_RR_MAX];
	size_t		 txtlen;
	char		 txt[DNSANS_TXT_MAX];
};

/* dnsans_fn - ask for name's records of type; fills a (always: a failure
 * is a->st DA_TEMP) */
typedef void dnsans_fn(void *arg, const char *name, uint16_t type,
    struct dnsans *a);

/* dnsans_parse - the answer to (qname, qtype) in packet p[0..n): 0, or -1
 * (malformed, truncated, another question, a refusal: the caller treats
 * it as DA_TEMP).  Records beyond the limits are dropped. */
int	dnsans_parse(const uint8_t *p, size_t n, const char *qname,
	    uint16_t qtype, struct dnsans *a);

#endif
