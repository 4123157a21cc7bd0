/* job: the messages between send and its helpers (doc/protocols.md).
 *
 *   send -> lspawn   LJOB  (with the message fd)   lspawn -> send  LRES
 *   send -> rspawn   RJOB  (with the message fd)   rspawn -> send  RRES
 *   send -> resolve  RQRY                          resolve -> send RANS
 *
 * lspawn and rspawn use SOCK_SEQPACKET pairs and fdpass.h: one message is
 * one job.  resolve uses a stream pipe with rec.h's framing.  Every
 * message starts with its type byte; decoders consume it exactly. */
#ifndef SANDMAIL_JOB_H
#define SANDMAIL_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JOB_MAX		65536	/* one job or result, encoded */
#define JOB_RCPT_MAX	1000	/* recipients in one remote job */
#define JOB_HOST_MAX	32	/* hosts in one route */
#define JOB_ADDRS_MAX	16	/* addresses of one host */
#define JOB_TEXT_MAX	4096	/* a reply text */
#define JOB_DKIM_MAX	16384	/* DKIM-Signature fields of one job */
#define JOB_TLSA_MAX	16	/* TLSA records of one host */

enum job_type {
	JOB_LJOB = 'L', JOB_LRES = 'l',
	JOB_RJOB = 'R', JOB_RRES = 'r',
	JOB_RQRY = 'Q', JOB_RANS = 'q',
};

/* The outcome of one delivery, one recipient or one lookup. */
enum job_status {
	ST_OK = 'K',		/* delivered / found */
	ST_TEMP = 'Z',		/* try again later */
	ST_PERM = 'X',		/* give up: bounce */
	ST_PASSED = 'P',	/* RRES only: accepted by a next hop that
				 * took the DSN request (RFC 3461 5.2.2):
				 * it reports, not we */
};

/* A local delivery: one recipient, one maildir (or program). */
struct ljob {
	uint32_t	 id;
	char		*qid;		/* queue ID, for logs */
	char		*sender;	/* for Return-Path: ("" = <>) */
	char		*rcpt;		/* for Delivered-To: */
	char		*dest;		/* maildir path, or "|command" */
	uint32_t	 uid, gid;
};

struct lres {
	uint32_t	 id;
	uint8_t		 status;	/* enum job_status */
	char		*text;
};

struct rjob_rcpt {
	char		*addr;
	char		*orcpt;
	uint8_t		 notify;
};

/* What DNSSEC said of a host's TLSA records (RFC 7672 2.2). */
enum job_dane {
	DANE_NONE = 'N',	/* no DNSSEC-secure TLSA records: not asked
				 * (dns_dnssec off), an insecure MX, address
				 * or TLSA answer, or secure denial */
	DANE_SECURE = 'S',	/* secure, and tlsa[] lists the usable ones */
	DANE_UNUSABLE = 'U',	/* secure records, none usable: TLS without
				 * authentication (RFC 7672 2.2) */
	DANE_FAIL = 'B',	/* the TLSA lookup failed (bogus, SERVFAIL,
				 * time-out): the host may not be used */
};

/* How a host came to be in the route: REQUIRETLS mail goes only to a
 * host of a DNSSEC-secure MX set (or one an enforced MTA-STS policy
 * lists) or one the administrator named (RFC 8689 4.2.1), never to the
 * address literal of a recipient (no name to check a certificate by). */
enum job_mx {
	MX_INSECURE = 'I',	/* an MX (or implicit MX) answer without AD
				 * from a trusted validator */
	MX_SECURE = 'S',	/* a DNSSEC-secure MX answer (or denial) */
	MX_ROUTE = 'R',		/* the routes table named it: no MX lookup */
	MX_LITERAL = 'L',	/* the recipient's address literal, no route:
				 * no lookup and no host name */
};

struct route_host {
	char		*name;		/* MX host name, or a literal */
	uint16_t	 pref;
	uint16_t	 port;		/* 0: the default (25) */
	uint32_t	 naddr;
	char		**addr;		/* textual IPv4 / IPv6 */
	uint8_t		 dane;		/* enum job_dane; 0 means DANE_NONE */
	uint32_t	 ntlsa;
	char		**tlsa;		/* tlsa.h text form: "3 1 1 HEX" */
	uint8_t		 mx;		/* enum job_mx; 0 means MX_INSECURE */
	char		*tlsa_name;	/* the CNAME-expanded host name the
					 * TLSA records were found at (RFC
					 * 7672 2.2.3), a name a DANE-TA
					 * certificate may bear besides
					 * name; NULL or "": at name */
};

/* A remote delivery: one message, recipients of one destination. */
struct rjob {
	uint32_t	 id;
	char		*qid;
	char		*sender;
	char		*envid;
	uint8_t		 ret;
	uint32_t	 flags;		/* env.h ENV_* */
	uint64_t	 size;
	char		*tls;		/* none, may, encrypt, verify */
	char		*auth_user;	/* smarthost credentials, or "" */
	char		*auth_pass;
	uint32_t	 nrcpt;
	struct rjob_rcpt *rcpt;
	uint32_t	 nhost;
	struct route_host *host;
	uint8_t		 proto;		/* enum job_proto */
	char		*dkim;		/* fields to put before the message
					 * (LF line ends), or "" */
};

/* How a remote job is spoken (routes table "lmtp:" values).  For LMTP
 * (RFC 2033) a host's address may be "unix:/path": rspawn's connector
 * opens that socket for the worker (doc/design.md). */
enum job_proto { PROTO_SMTP = 0, PROTO_LMTP = 1 };

struct rres_rcpt {
	uint8_t		 status;
	char		*text;		/* the server's reply, or ours */
};

struct rres {
	uint32_t	 id;
	char		*mta;		/* the host that answered last, or "" */
	uint32_t	 port;		/* its TCP port; 0: none (a UNIX socket) */
	uint32_t	 nrcpt;
	struct rres_rcpt *rcpt;
	char		*tlsfail;	/* a TLS failure the policy let pass
					 * (MTA-STS testing, RFC 8461 5), in
					 * the words it would have deferred
					 * with, for TLS reporting; or "" */
};

/* A route for a domain. */
struct rqry {
	uint32_t	 id;
	char		*domain;
};

struct rans {
	uint32_t	 id;
	uint8_t		 status;
	char		*text;		/* why, for TEMP and PERM */
	uint32_t	 nhost;
	struct route_host *host;	/* in the order to try */
};

/* Encoders append to b (not framed).  Decoders: 0, or -1 with EPROTO;
 * on -1 nothing needs freeing. */
int	ljob_encode(struct buf *, const struct ljob *);
int	ljob_decode(struct ljob *, const void *, size_t);
void	ljob_free(struct ljob *);
int	lres_encode(struct buf *, const struct lres *);
/* lres_send: one LRES datagram on a socket: text[0..n) cut at max bytes
 * (at most JOB_TEXT_MAX); 0 or -1 */
int	lres_send(int fd, uint32_t id, uint8_t status, const char *text,
	    size_t n, size_t max);
int	lres_decode(struct lres *, const void *, size_t);
void	lres_free(struct lres *);
int	rjob_encode(struct buf *, const struct rjob *);
int	rjob_decode(struct rjob *, const void *, size_t);
void	rjob_free(struct rjob *);
int	rres_encode(struct buf *, const struct rres *);
int	rres_decode(struct rres *, const void *, size_t);
void	rres_free(struct rres *);
int	rqry_encode(struct buf *, const struct rqry *);
int	rqry_decode(struct rqry *, const void *, size_t);
void	rqry_free(struct rqry *);
int	rans_encode(struct buf *, const struct rans *);
int	rans_decode(struct rans *, const void *, size_t);
void	rans_free(struct rans *);
void	route_hosts_free(struct route_host *, uint32_t);

#endif
