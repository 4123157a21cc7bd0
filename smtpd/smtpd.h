/* smtpd: the SMTP receiver's shared declarations.  Under tcpserver one
 * session on fd 0/1 per process; under its own listener, sessions in
 * forked (no exec) workers, which on port 25 serve up to smtpd_max_use
 * sessions each (worker.c).  Everything here runs after the sandbox
 * except cfg_load, tables_open and the listener. */
#ifndef SANDMAIL_SMTPD_H
#define SANDMAIL_SMTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "addr.h"
#include "authc.h"
#include "buf.h"
#include "conf.h"
#include "connlim.h"
#include "env.h"
#include "io.h"
#include "qclient.h"
#include "tbl.h"
#include "tls.h"

struct srsc;

#define HELO_MAX	255	/* a domain; longer HELO names are cut */
#define IP_MAX		64
#define LINE_MAX_DEF	1024	/* 512 (RFC 5321 4.5.3.1.4) + DSN's 500 */
#define ENVID_MAX	100	/* RFC 3461 4.4 */
#define ORCPT_MAX	500	/* RFC 3461 4.2 */
#define MAX_HOPS	100	/* Received: lines before "mail loop" */

/* The settings of sandmail.conf that smtpd uses (doc/sandmail-smtpd.8). */
struct smtpd_cfg {
	const char	*hostname;
	const char	*delim;		/* recipient_delimiter: "-+" */
	char		*conf_path;
	char		*queue_sock;	/* QUEUE/lock/queue.sock */
	char		*queue_prog;	/* spawned when the socket is absent */
	char		*tables_dir;
	uint64_t	 max_size;
	unsigned	 max_rcpt;
	unsigned	 max_errors;
	unsigned	 max_hops;
	size_t		 line_max;
	int		 timeout_ms;	/* to receive one command line */
	int		 data_timeout_ms;	/* DATA/BDAT: silence, grace */
	unsigned	 min_data_rate;	/* DATA/BDAT: bytes/s; 0 off */
	unsigned	 session_limit;	/* seconds for a whole session */
	int		 greet_delay_ms;
	int		 forward_251;	/* 251 for aliases forwarding away */
	int		 vrfy_real;	/* real VRFY answers for relay clients */
	int		 expn_real;	/* real EXPN answers for relay clients */
	unsigned	 max_conn;
	struct lim_cfg	 lim;		/* per address and network, shared */
	char		*limits_file;	/* the counts all listeners share */
	int		 queue_wait_ms;	/* smtpd_queue_wait */
	unsigned	 max_use;	/* sessions per worker (smtpd_max_use) */
	int		 idle_worker_ms;	/* smtpd_idle_worker */
	/* TLS and AUTH (doc/sandmail-smtpd.8) */
	char		*tls_cert;	/* NULL: no STARTTLS */
	char		*tls_key;
	char		*auth_sock;	/* sandmail-auth's socket */
	int		 auth;		/* smtpd_auth: offer AUTH on smtp */
	int		 auth_plain_lo;	/* AUTH without TLS from loopback */
	int		 sender_restrict;	/* -1: by mode */
	const char	*srs_domain;	/* our SRS addresses' domain, or NULL */
	unsigned	 srs_maxdays;	/* srs_max_age in days */
	char		*srs_sock;	/* sandmail-srs's socket, or NULL */
	uid_t		 uid;		/* user_smtpd when root, else -1 */
	gid_t		 gid;
};

enum tbl_id {
	T_DOMAINS, T_LOCALUSERS, T_VIRTUAL, T_ALIASES, T_RELAY, T_ROUTES,
	T_MOVED, T_SENDERS, T_COUNT
};

/* A listener's mode (-m, or -l ADDR:PORT/MODE). */
enum {
	MODE_SUBMISSION = 0x01,	/* RFC 6409: AUTH before MAIL */
	MODE_TLS = 0x02,	/* RFC 8314: handshake before the greeting */
	MODE_LOCAL = 0x04,	/* sendmail -bs: a local user on fd 0/1 */
};

struct tables {
	struct tbl	t[T_COUNT];
	struct tblset	set;		/* of t: reloads (lib/tbl.h) */
};

enum smtp_state {
	ST_GREET,		/* before HELO/EHLO */
	ST_HELO,		/* greeted, no transaction */
	ST_MAIL,		/* MAIL accepted, no recipient yet */
	ST_RCPT,		/* at least one recipient */
	ST_BDAT,		/* BDAT chunks under way */
	ST_NSTATES
};

/* The DATA / BDAT decoder: client bytes in, queue bytes (LF) out. */
enum data_st {
	DS_BOL, DS_BOL_DOT, DS_BOL_DOT_CR, DS_TEXT, DS_CR, DS_END
};

enum {
	D_BARE = 0x01,		/* a bare CR or LF was seen */
	D_NUL = 0x02,		/* a NUL byte */
	D_TOOBIG = 0x04,	/* over max_size */
	D_LOOP = 0x08,		/* more than max_hops Received: */
	D_QFAIL = 0x10,		/* the queue failed while we wrote */
	D_QDOWN = 0x20,		/* the queue refused to begin the message */
};

struct data {
	enum data_st	 st;
	int		 bdat;		/* no dot rules: RFC 3030 */
	unsigned	 bad;
	uint64_t	 size, max;
	unsigned	 nrecv, max_hops;
	int		 inhdr;
	unsigned	 hlen;
	char		 hb[9];
};

/* MAIL and RCPT parameters (RFC 1870, 6152, 3461, 6531). */
struct mailparam {
	uint64_t	 size;		/* SIZE=, 0 if not given */
	int		 body8;		/* BODY=8BITMIME */
	int		 utf8;		/* SMTPUTF8 */
	int		 requiretls;	/* REQUIRETLS (RFC 8689) */
	int		 ret;		/* enum env_ret */
	char		 envid[ENVID_MAX + 1];
};

struct rcptparam {
	unsigned	 notify;
	char		 orcpt[ORCPT_MAX + 1];
};

enum param_err {
	P_OK = 0,
	P_SYNTAX,		/* 501 5.5.4 */
	P_UNKNOWN,		/* 555 5.5.4 */
	P_DUP,			/* 501 5.5.4 */
};

struct session {
	const struct smtpd_cfg *cfg;
	struct tables	*tabs;
	struct qc	*qc;
	int		 qc_ok;		/* the queue path works */
	void		*tls;		/* &tlsc once TLS is on, else NULL */
	char		*auth_user;	/* the AUTH login; NULL if none */
	unsigned	 mode;		/* MODE_* */
	unsigned long	 luid;		/* MODE_LOCAL: the caller's uid */
	SSL_CTX		*ctx;		/* NULL: no TLS offered */
	struct authc	*ac;		/* NULL: no AUTH possible */
	struct tlsconn	 tlsc;
	struct io_dl	 dl;		/* s->in's op: deadline per unit */
	long long	 deadline;	/* session limit, monotonic ms */
	long long	 xfer_t0;	/* DATA/BDAT: when the text began */
	uint64_t	 xfer_bytes;	/* and how many bytes came since */
	enum smtp_state	 state;
	const char	*stage;		/* the verb being answered, for the log */
	int		 esmtp;
	int		 relayclient;	/* in relayclients (or RELAYCLIENT) */
	int		 quit;
	/* called at a clean end, before the last reply is flushed (a
	 * reusable worker says it is idle there); NULL: nothing */
	void		(*ending)(struct session *);
	void		(*authed)(struct session *);	/* after a 235 */
	/* under smtpd's own listener (worker.c), NULL otherwise: the queue
	 * connection, made at the first MAIL; the message rate limits; the
	 * connection to sandmail-auth, made at the first AUTH.  0, or -1
	 * (nothing answered: the caller says why) */
	int		(*queue_need)(struct session *);
	int		(*mail_rate)(struct session *);
	int		(*auth_need)(struct session *);
	/* under the listener: a TCP connection (connect under way) to
	 * smtpd_verify_nameserver, for an answer too long for UDP; the fd,
	 * or -1.  NULL: none (under tcpserver) */
	int		(*dns_tcp)(struct session *);
	/* the connection to the i-th milter (through the listener), or
	 * -1; NULL: made before the sandbox (milters.c) */
	int		(*milter_need)(struct session *, unsigned i);
	/* a connection to sandmail-srs (srs_domain), the fd or -1: from
	 * the listener, or made before the sandbox under tcpserver; NULL:
	 * none (every SRS recipient is then 451) */
	int		(*srs_need)(struct session *);
	struct srsc	*srs;		/* NULL until the first SRS RCPT */
	char		 ip[IP_MAX], port[8], localip[IP_MAX];
	char		 helo[HELO_MAX + 1];
	struct buf	 line;
	struct buf	 scratch;	/* table values */
	struct buf	 info;		/* a moved-to or forward address */
	/* the transaction */
	struct env	 env;
	struct mailparam mp;
	char		 id[QID_MAX + 1];
	int		 begun;		/* qc_begin done */
	int		 spooling;	/* the text goes to the milters' spool */
	struct data	 dm;
	struct buf	 dout;		/* decoded bytes for the queue */
	char		*firstrcpt;
	/* counters for the disconnect line */
	unsigned	 nerr, nmsg, nrej, ncmd, nrcpt;
	const char	*why;		/* why the session ended */
	/* last, with their 16 KiB buffers: session_init does not touch the
	 * buffers, so an idle session's untouched pages stay unallocated */
	struct rd	 in;
	struct wr	 out;
};

/* session.c */
void	session_init(struct session *, const struct smtpd_cfg *,
	    struct tables *, struct qc *, int qc_ok, int infd, int outfd);
int	session_run(struct session *);
void	session_free(struct session *);
void	reply(struct session *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	refuse(struct session *, const char *reason, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	may_relay(const struct session *);
int	auth_offered(const struct session *);
void	io_timeouts(struct session *, int ms);
void	read_deadline(struct session *, long long at);
int	past_deadline(const struct session *);
const char *proto_name(const struct session *);
void	xact_reset(struct session *);

/* param.c: the parsers, no I/O */
int	xtext_valid(const char *, size_t);
enum param_err mail_params(const char *, size_t, struct mailparam *);
enum param_err rcpt_params(const char *, size_t, struct rcptparam *);
/* cmd_path: "FROM:" / "TO:" then a path; returns the offset after it */
int	cmd_path(const char *s, size_t n, const char *kw, unsigned flags,
	    struct addr *, size_t *end, enum addr_err *);
void	helo_sanitize(const char *, size_t, char *out, size_t outsz);

/* data.c */
void	data_init(struct data *, uint64_t max, unsigned max_hops, int bdat);
size_t	data_feed(struct data *, const char *, size_t, struct buf *out);
void	data_last(struct data *);	/* BDAT LAST: a CR left is bare */
int	received_line(struct buf *, const struct session *);
long long data_deadline(const struct session *);
int	cmd_data(struct session *, const char *, size_t);
int	data_out(struct session *, const char *, size_t);	/* 0 or -1 */
int	cmd_bdat(struct session *, const char *, size_t);

/* auth.c: STARTTLS and AUTH */
int	verb_starttls(struct session *, const char *, size_t);
int	verb_auth(struct session *, const char *, size_t);
int	tls_start(struct session *);
int	sender_allowed(struct session *, const char *sender);
int	senders_match(const char *v, size_t vl, const char *sender);

/* policy.c */
enum rcpt_verdict {
	RV_OK, RV_FORWARD, RV_UNKNOWN, RV_MOVED, RV_RELAY, RV_TEMP
};
enum rcpt_verdict rcpt_check(struct session *, const struct addr *,
	    struct buf *info);
/* rcpt_alias: the targets of a's alias (as RCPT resolves it) into val;
 * 1, 0 not an alias, -1 a lookup failed */
int	rcpt_alias(struct session *, const struct addr *, struct buf *val);
/* srs_end: close the session's connection to sandmail-srs, if any */
void	srs_end(struct session *);

/* cfg.c */
void	cfg_load(struct smtpd_cfg *, struct conf *, const char *path);
void	cfg_free(struct smtpd_cfg *);
int	tables_open(struct tables *, const struct smtpd_cfg *);
void	tables_close(struct tables *);
size_t	tables_refresh(struct tables *, int force);
int	queue_open(struct qc *, const struct smtpd_cfg *);

/* sandbox.c */
int	sandbox_prepare(void);
void	session_sandbox(const struct smtpd_cfg *);

/* listen.c: the listener */
int	mode_parse(const char *, unsigned *);
int	listen_run(const struct smtpd_cfg *, struct tables *, char **addrs,
	    size_t naddrs, unsigned mode);
/* lsbx.c: the listener's own confinement, before its first accept
 * (Landlock and a seccomp deny-list); 0 or -1 */
int	listener_sandbox(const struct smtpd_cfg *, const uint16_t *ports,
	    size_t nports);
/* the server context: made once, re-made when the files change */
SSL_CTX	*tlsctx_get(const struct smtpd_cfg *);
SSL_CTX	*tlsctx_current(void);


/* worker.c: a session's process.  The listener hands a connection to an
 * idle worker as this message with the socket (SCM_RIGHTS) on the
 * worker's SOCK_SEQPACKET pair; a worker says "I" there when idle.  A
 * session asks there too (BROKER_*): the listener, unsandboxed, makes
 * the connection to the queue, to sandmail-auth or to sandmail-srs
 * (BROKER_SRS, the first SRS recipient) and passes it back
 * (SCM_RIGHTS, one byte: the request's letter, or BROKER_NO), and counts
 * messages for the rate limits (BROKER_MSG and the login; the answer is
 * BROKER_MSG, or BROKER_NO over a limit).  BROKER_MILTER and one byte, a
 * milter's index in smtpd_milter's list: a connection to that milter. */
enum {
	BROKER_QUEUE = 'Q', BROKER_AUTH = 'A', BROKER_MSG = 'M',
	BROKER_DNS = 'D', BROKER_MILTER = 'F', BROKER_SRS = 'S',
	BROKER_NO = 'x'
};
/* unanswered: the client authenticated (max_unauth_per_net) */
#define BROKER_AUTHED	'U'
struct handoff {
	char	ip[IP_MAX];
	char	port[8];
	char	localip[IP_MAX];
};
int	mode_reusable(const struct smtpd_cfg *, unsigned mode, SSL_CTX *);
void	session_forked(const struct smtpd_cfg *, struct tables *, int fd,
	    const struct handoff *, unsigned mode, int ctl,
	    const volatile unsigned *gen) __attribute__((noreturn));
void	session_ucspi(const struct smtpd_cfg *, struct tables *,
	    unsigned mode) __attribute__((noreturn));
void	alarm_tls(void);	/* TLS is on: the alarm writes nothing */

#endif
