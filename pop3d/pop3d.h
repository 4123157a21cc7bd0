/* pop3d: sandmail-pop3d's parts.
 *
 * One connection is three roles (doc/sandmail-pop3d.8):
 *   monitor (root or the invoking uid): holds the tables and the
 *     sandmail-auth child; reads only bounded records from the login
 *     process; after a good login becomes the mailbox process.
 *   login (user_pop3d, sandboxed, no files): speaks to the client in the
 *     AUTHORIZATION state, TLS included; after login relays bytes between
 *     the client and the mailbox process.
 *   mailbox (the mailbox owner, sandboxed to the maildir's fds): the
 *     TRANSACTION and UPDATE states over a socket pair, in plain text.
 */
#ifndef SANDMAIL_POP3D_H
#define SANDMAIL_POP3D_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "conf.h"
#include "connlim.h"
#include "io.h"
#include "tbl.h"

#define POP3_LINE_MAX	1024	/* a command line (AUTH lines included) */
#define POP3_UID_MAX	70	/* RFC 1939 7: unique-id at most 70 chars */
#define POP3_MSGS_MAX	100000	/* messages in one snapshot */
#define IP_TEXT_MAX	64

/* ---- the command parser (parse.c): no I/O ---- */

enum pop3_verb {
	V_UNKNOWN = 0,
	V_USER, V_PASS, V_APOP, V_AUTH, V_STLS, V_CAPA, V_QUIT,
	V_STAT, V_LIST, V_RETR, V_DELE, V_NOOP, V_RSET, V_TOP, V_UIDL,
};

enum pop3_perr {
	PE_OK = 0,
	PE_UNKNOWN,	/* not a command we know */
	PE_SYNTAX,	/* wrong arguments */
	PE_NUL,		/* a NUL byte in the line */
};

struct pop3_cmd {
	enum pop3_verb	 verb;
	const char	*arg;		/* USER, PASS, AUTH: the rest */
	size_t		 alen;
	int		 nnum;		/* numbers given (LIST, UIDL, TOP...) */
	unsigned long	 num[2];
};

/* pop3_parse: line[0..n) with or without its CRLF / LF */
enum pop3_perr pop3_parse(const char *line, size_t n, struct pop3_cmd *);
const char *pop3_verb_name(enum pop3_verb);
/* pop3_chomp: length without the final LF or CRLF */
size_t	pop3_chomp(const char *line, size_t n);

/* ---- the output encoder (stuff.c): maildir bytes -> POP3 ---- */

/* Bare LF becomes CRLF, a line that starts with '.' gets another, and
 * TOP stops after the header and a number of body lines. */
struct stuff {
	int	 bol;		/* at the beginning of a line */
	int	 cr;		/* the last byte was CR */
	int	 inbody;	/* past the header's empty line */
	int	 hdrempty;	/* the current header line is empty so far */
	long	 lines;		/* body lines still to send; -1 all */
	int	 done;		/* TOP's limit reached */
	uint64_t out;		/* message bytes emitted (no stuffing) */
};

void	stuff_init(struct stuff *, long lines);
/* stuff_feed: encode p[0..n) into w (NULL: only count); 0 or -1 */
int	stuff_feed(struct stuff *, const char *p, size_t n, struct wr *w);
/* stuff_count: only count (as stuff_feed with w NULL, for RETR only),
 * at memchr speed */
void	stuff_count(struct stuff *, const char *p, size_t n);
/* stuff_end: CRLF if the text did not end with a line end, then ".CRLF"
 * (the terminator is not counted in out) */
int	stuff_end(struct stuff *, struct wr *w);

/* ---- the maildir (mbox.c) ---- */

struct msg {
	char		*name;		/* file name in new/ or cur/ */
	char		 uid[POP3_UID_MAX + 1];
	int		 in_new;
	int		 deleted;	/* DELE'd in this session */
	int		 retrieved;	/* RETR'd: \Seen at UPDATE */
	uint64_t	 octets;	/* size with CRLF line ends */
	struct timespec	 mtime;
};

struct mbox {
	int		 dir, new, cur;	/* O_DIRECTORY */
	int		 lock;		/* .sandmail-pop3.lock, flock'ed */
	void		*curdir;	/* DIR * on a dup of cur, for finds */
	struct msg	*m;
	size_t		 n;
	uint64_t	 total;		/* octets of undeleted messages */
	size_t		 live;		/* undeleted messages */
};

/* mbox_open: the maildir at path, and its lock; -1 with errno
 * (EWOULDBLOCK: another session holds it) */
int	mbox_open(struct mbox *, const char *path);
/* mbox_scan: the snapshot (new/ then cur/, one entry per unique name,
 * ordered by mtime, then name); 0 or -1 */
int	mbox_scan(struct mbox *, size_t max);
/* mbox_uid: the UIDL of a maildir file name: its base name (before ':')
 * when it is 1..70 printable ASCII characters, else "S" and 32 hex
 * digits of its SHA-256 */
void	mbox_uid(const char *name, char uid[POP3_UID_MAX + 1]);
/* mbox_msg_open: a descriptor on message i (0-based), found again in
 * cur/ if another reader moved it; -1 with errno */
int	mbox_msg_open(struct mbox *, size_t i);
/* mbox_send_fd: the message on fd encoded into w, ".CRLF" included;
 * lines -1 for RETR, else TOP's body lines.  0 or -1 */
int	mbox_send_fd(int fd, long lines, struct wr *);
/* mbox_update: delete the DELE'd, move the rest of new/ to cur/ with
 * ":2," (":2,S" when retrieved); the number of failures, or -1 */
int	mbox_update(struct mbox *);
void	mbox_close(struct mbox *);

/* ---- configuration (cfg.c) ---- */

struct pop3_cfg {
	const char	*conf_path;	/* for sandmail-auth's -c, or NULL */
	const char	*hostname;
	char		*tables_dir;
	char		*auth_sock;	/* sandmail-auth's socket */
	uid_t		 uid;		/* user_pop3d, or -1 */
	gid_t		 gid;
	int		 timeout_ms;	/* pop3_timeout: one command line */
	int		 plain_loopback;	/* pop3_plain_loopback */
	int		 implicit_tls;	/* -T or pop3_implicit_tls */
	char		*cert, *key;	/* tls_cert, tls_key; NULL: no TLS */
	const char	*vmail_user;	/* user_vmail */
	unsigned	 max_conn;
	struct lim_cfg	 lim;		/* per address and network, shared */
	char		*limits_file;	/* pop3_limits_file */
	size_t		 max_msgs;
	unsigned long	 gid_min;	/* local_gid_min: no mailbox group below */
};

void	cfg_load(struct pop3_cfg *, struct conf *, const char *path);

/* ---- one connection (session.c, login.c, trans.c) ---- */

struct peerinfo {
	char	ip[IP_TEXT_MAX];
	char	port[8];
	int	loopback;
};

/* a user's mailbox, found by the monitor */
struct box {
	char	*path;		/* the maildir, ending in '/' */
	uid_t	 uid;		/* -1: stay who we are */
	gid_t	 gid;
};

/* The sandbox entries of the per-connection processes (session.c), also
 * run by the attacker probe (testtools/probe.c):
 * pop3_monitor_enter: the monitor, after the login process is forked:
 * as root user_pop3d with only CAP_SETUID and CAP_SETGID, then its
 * filter; pop3_mailbox_become: the mailbox owner for good (no
 * capability left); pop3_mailbox_enter: with the maildir open, Landlock
 * on it and the mailbox filter.  Each exits 111 on failure. */
void	pop3_monitor_enter(const struct pop3_cfg *);
void	pop3_mailbox_become(const struct box *);
void	pop3_mailbox_enter(const struct mbox *);

/* pop3_vmail_lookup: user_vmail's ids (as root; once, before any
 * confinement); session_tls_given: the listener's TLS context for
 * session_run (else it reads tls_cert and tls_key itself) */
void	pop3_vmail_lookup(const struct pop3_cfg *);
void	session_tls_given(SSL_CTX *);
/* pop3_listener_sandbox (lsbx.c): the listener's own confinement, once
 * its sockets are bound and its limits file open; 0, or -1 with errno */
int	pop3_listener_sandbox(const struct pop3_cfg *);
/* pop3_gid_floor (lsbx.c): the lowest group id the listener and the
 * monitors may take (local_gid_min, or user_pop3d's group if lower) */
unsigned long	pop3_gid_floor(const struct pop3_cfg *);

/* session_run: the whole connection on infd/outfd; never returns */
void	session_run(const struct pop3_cfg *, int infd, int outfd,
	    const struct peerinfo *) __attribute__((noreturn));

/* login_run: the login process (already forked and sandboxed); mon is
 * the socket to the monitor.  Returns an exit code. */
struct login_env {
	const struct pop3_cfg	*cfg;
	const struct peerinfo	*peer;
	SSL_CTX			*tls;	/* NULL: no STLS */
	int			 in, out, mon;
};
int	login_run(struct login_env *);

/* The monitor <-> login records (doc/protocols.md, "pop3d"). */
enum { ML_LOGIN = 'L', ML_OK = 'K', ML_BAD = 'X', ML_TEMP = 'Z',
	ML_DISCONNECT = 'D' };
#define ML_REC_MAX	4096

/* trans_run: the TRANSACTION state on rd/wr, then UPDATE at QUIT;
 * returns an exit code.  rd reads through dl (lib/io.h): each command
 * line must come whole within timeout_ms (pop3_timeout). */
int	trans_run(struct mbox *, struct rd *, struct io_dl *dl, int timeout_ms,
	    struct wr *, const char *user, const char *ip);
/* trans_line: one command line in the TRANSACTION state, answered into w;
 * returns 1 to go on, 0 after QUIT (UPDATE done), -1 on a write error.
 * Exposed for the unit tests. */
int	trans_line(struct mbox *, const char *line, size_t n, struct wr *w,
	    int *quit_ok);

/* listener (listen.c) */
int	listen_run(const struct pop3_cfg *, char **addrs, size_t naddrs);

#endif
