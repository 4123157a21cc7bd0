/* smtp: one SMTP client connection and the transactions on it (RFC 5321),
 * for sandmail-rspawn's workers.  Tries the route's hosts in order over
 * every address given; EHLO with HELO fallback; STARTTLS; AUTH for smart
 * hosts (only over verified TLS); PIPELINING, SIZE, 8BITMIME (or a downgrade to
 * 7-bit MIME), SMTPUTF8, DSN; per-recipient results. */
#ifndef SANDMAIL_REMOTE_SMTP_H
#define SANDMAIL_REMOTE_SMTP_H

#include <stdint.h>

#include "io.h"
#include "job.h"
#include "reply.h"

struct smtp_cfg {
	const char	*helo;		/* our host name */
	uint16_t	 port;		/* for hosts with port 0 (mx_port) */
	/* RFC 5321 4.5.3.2 time-outs, in ms */
	int		 t_connect, t_greet, t_cmd, t_data_init,
			 t_data_block, t_data_done;
	void		*tls_ctx;	/* SSL_CTX *, or NULL: no STARTTLS */
	int		 default_tls;	/* enum smtp_tls: remote_tls */
	int		 uconn;		/* the UNIX-socket connector, or -1 */
};

/* The TLS policies (sandmail.conf(5) remote_tls, tls_policy table);
 * TLS_DANE_MATCH is no policy's name: what dane.h gives a host with
 * secure TLSA records under dane or dane-only.  TLS_STS ("mta-sts") is
 * no setting either: send puts it in the jobs of a domain whose MTA-STS
 * policy enforces (verify, but DANE first where remote_tls allows it). */
enum smtp_tls { TLS_NONE, TLS_MAY, TLS_ENCRYPT, TLS_VERIFY, TLS_DANE,
	TLS_DANE_ONLY, TLS_DANE_MATCH, TLS_STS, TLS_STS_TESTING };
/* TLS_STS_TESTING ("mta-sts-testing") is what send puts in the jobs of a
 * domain whose MTA-STS policy is in testing mode (RFC 8461 5): remote_tls
 * applies, and where it does not verify the certificate, the certificate
 * is checked all the same (PKIX and the MX name) without stopping the
 * delivery; a failure is logged and given back in the result's tlsfail
 * for TLS reporting.  Only a job's value, never a setting. */

/* A connection that may outlive one job (reuse for the same route). */
struct smtp_conn {
	int		 fd;		/* -1: none */
	struct rd	 rd;
	struct wr	 wr;
	int		 tls;		/* STARTTLS done */
	void		*tlsc;		/* struct tlsconn *, when tls */
	struct ehlo	 ehlo;
	char		 host[256];
	char		 addr[64];
	char		 mta[330];	/* "host[addr]" */
	const char	*tlsv;		/* what TLS checked: "none" (clear
					 * text), "unverified", "verified"
					 * (PKIX), "dane-verified" */
	char		 tlsfail[512];	/* MTA-STS testing: what the check
					 * found wrong with this session */
	uint16_t	 port;		/* of mta; 0 for a UNIX socket */
};

void	smtp_conn_init(struct smtp_conn *);
/* smtp_job: deliver job's message (read from msgfd) and fill res (one
 * result per recipient).  c may hold an open connection to the same
 * route; after the call it holds one that can be reused, or none.  0,
 * or -1 out of memory (res then holds nothing to free). */
int	smtp_job(const struct smtp_cfg *, struct smtp_conn *,
	    const struct rjob *, int msgfd, struct rres *res);
/* smtp_quit: QUIT and close, if open */
void	smtp_quit(const struct smtp_cfg *, struct smtp_conn *);

/* smtp_tls_policy: the policy named s, or -1 for a name we do not know */
int	smtp_tls_policy(const char *s);
/* smtp_job_tls: a job's policy: smtp_tls_policy's names, mta-sts and
 * mta-sts-testing */
int	smtp_job_tls(const char *s);

/* smtp_xtext_ok: a DSN ENVID/ORCPT value is safe on a command line */
int	smtp_param_ok(const char *);

#endif
