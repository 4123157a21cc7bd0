/* filter: smtpd's outside checks (doc/filters.md).  Policy delegation
 * (Postfix's SMTP access policy protocol) at RCPT, in policyd.c, and DNS
 * blocklists at connect, in dnsbl.c.  Each reads its keys from
 * sandmail.conf with cfg_load and opens its one socket before the
 * sandbox (filter_open): a session, compromised or not, can reach the
 * configured policy server and name server and nothing else. */
#ifndef SANDMAIL_SMTPD_FILTER_H
#define SANDMAIL_SMTPD_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"

struct session;

/* policyd.c: the parser of an answer, no I/O */
enum pd_kind {
	PD_ACCEPT,		/* OK, DUNNO and the actions we only log */
	PD_REJECT,		/* REJECT, 5xx */
	PD_DEFER,		/* DEFER, DEFER_IF_PERMIT, 4xx */
	PD_HOLD,		/* HOLD: accepted and logged (no quarantine) */
};

#define PD_TEXT_MAX	256

struct pd_verdict {
	enum pd_kind	 kind;
	char		 code[4];	/* "554", "450" ... ("" for accept) */
	char		 esc[16];	/* "5.7.1" ... */
	char		 text[PD_TEXT_MAX];	/* printable ASCII */
	char		 action[32];	/* the action word, for the log */
};

/* pd_parse: an answer in p[0..n): the bytes used (a whole answer ends
 * with an empty line), 0 when more bytes are needed, -1 malformed (no
 * or an unknown action=, a line too long, NUL bytes) */
long	pd_parse(const char *p, size_t n, struct pd_verdict *);

/* policyd.c: the service */
void	policyd_load(const struct conf *);
void	policyd_open(void);		/* before the sandbox */
unsigned policyd_port(void);		/* its TCP port, or 0 */
int	policyd_usable(void);		/* no connection lost */
/* policyd_rcpt: ask about rcpt; 1 go on, 0 refused (answered) */
int	policyd_rcpt(struct session *, const char *rcpt);
/* policyd_headers: append PREPEND's headers ("Name: value\n"...) to b;
 * policyd_reset: forget them (a new transaction) */
int	policyd_headers(struct buf *b);
void	policyd_reset(void);

/* dnsbl.c */
void	dnsbl_load(const struct conf *);
void	dnsbl_open(void);		/* before the sandbox */
/* dnsbl_name: the reversed query name of ip under zone into out (IPv4
 * "4.3.2.1.zone", IPv6 nibbles); 0 or -1 */
int	dnsbl_name(const char *ip, const char *zone, char *out, size_t sz);
/* dnsbl_txt: the first string of the TXT record for qname in a DNS
 * answer, printable, into out; 0 or -1 */
int	dnsbl_txt(const uint8_t *p, size_t n, const char *qname, char *out,
	    size_t sz);
/* dnsbl_connect: 1 go on, 0 refused (554 answered) */
int	dnsbl_connect(struct session *);

#endif
