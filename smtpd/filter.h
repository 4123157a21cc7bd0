/* filter: smtpd's outside checks (doc/filters.md).  Policy delegation
 * (Postfix's SMTP access policy protocol) at RCPT and optionally at the
 * end of the message, in policyd.c, and DNS
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
/* policyd_taken: the recipient asked about was accepted (its HOLD
 * counts); policyd_commit: before the commit, a HOLD sets ENV_HOLD */
void	policyd_taken(void);
void	policyd_commit(struct session *);
/* policyd_eom: ask about the message at its end (smtpd_policy_eom); 1 go
 * on, 0 refused (answered) */
int	policyd_eom(struct session *);

/* verify.c: SPF, DKIM, DMARC and Authentication-Results (port 25) */
void	verify_load(const struct conf *, const char *hostname);
void	verify_open(void);		/* before the sandbox */
/* verify_tcp: in the listener, a TCP socket to smtpd_verify_nameserver,
 * its connect under way; the fd or -1 */
int	verify_tcp(void);
/* verify_port: the TCP port verify_tcp connects to, or 0 (checks off) */
unsigned verify_port(void);
void	verify_reset(void);		/* a new transaction */
/* verify_mail: SPF at MAIL; 1 go on, 0 refused (answered) */
int	verify_mail(struct session *);
/* verify_holding: the text starts; 1 when it is held for the checks */
int	verify_holding(const struct session *);
int	verify_held(void);		/* the text is being held */
/* verify_keep: held bytes (ours: our Received: and the like); 0 or -1 */
int	verify_keep(const char *, size_t, int ours);
/* verify_end: check the held text, send our field and the text to the
 * queue; 0, or -1 (refused and answered, or D_QFAIL set) */
int	verify_end(struct session *);

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
/* dnsbl_iprev_header: with smtpd_iprev, the client's reverse-DNS check
 * (done at connect) as an Authentication-Results field appended to b;
 * 0 or -1 */
int	dnsbl_iprev_header(struct buf *b, const struct session *);
/* dnsbl_iprev_method: the same result as one method ("iprev=... policy.
 * iprev=..."), appended to b; 1, 0 (no result), or -1.  A message the
 * mail checks hold (verify.c) carries it in their one field instead of
 * a field of its own */
int	dnsbl_iprev_method(struct buf *b, const struct session *);
/* dnsbl_connect: 1 go on, 0 refused (554 answered) */
int	dnsbl_connect(struct session *);

/* milters.c: the milter clients (doc/filters.md, "Milters") */
#define MILTERS_MAX	8
void	milters_load(const struct conf *);
unsigned milters_count(void);
/* milters_dial: a connection to the i-th configured milter, begun; the
 * fd or -1 (the listener, and milters_open under tcpserver) */
int	milters_dial(unsigned i);
/* milters_ports: the TCP ports of the inet: milters, at most max, into
 * out; returns how many */
size_t	milters_ports(uint16_t *out, size_t max);
/* milters_open: before the sandbox: the spool, and the connections
 * when dial (no listener to ask) */
void	milters_open(int dial);
/* the stages: 1 go on, 0 refused (answered; at connect the session
 * ends) */
int	milters_connect(struct session *);
int	milters_helo(struct session *);
int	milters_mail(struct session *);
int	milters_rcpt(struct session *, const char *rcpt);
int	milters_data(struct session *);
/* milters_spooling: the text begins; 1 when it goes to milters_spool
 * rather than to the queue */
int	milters_spooling(struct session *);
int	milters_spool(const char *, size_t);	/* 0 or -1 */
/* milters_eom: the text's end: 1 the changed message went to the queue
 * (*written bytes; qc_end is the caller's), 0 answered (refused or
 * discarded: the caller aborts the queue's message) */
int	milters_eom(struct session *, int bdat, uint64_t *written);
void	milters_abort(struct session *);	/* the transaction ends */
/* the pure parts, for tests: mhdr_name, the length of a header field's
 * name before its ':' in p[0..n), or 0 (not a field); mhdr_end, the LF
 * ending the field that starts at p[i] (not followed by a fold), or -1
 * when p[0..n) does not tell (whole: p holds the whole text, so its last
 * LF ends a field); mhdr_make, "Name: value\n" (malloc) from a milter's
 * name and value, CRs dropped and every inner LF followed by a fold, or
 * NULL for a bad name; mbody_lf, CRLF lines made LF lines (out: room for
 * n + 1 bytes; *cr carries a CR across chunks), the length written */
size_t	mhdr_name(const char *p, size_t n);
long	mhdr_end(const char *p, size_t n, size_t i, int whole);
char	*mhdr_make(const char *name, const char *value, int leadspc,
	    size_t *len);
size_t	mbody_lf(const char *p, size_t n, int *cr, char *out);
void	milters_end(struct session *);		/* the session ends */

#endif
