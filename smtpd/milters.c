/* milters: the session's milter clients (doc/filters.md, "Milters"), over
 * lib/milter.c's protocol code.  An ordered list of milters
 * (smtpd_milter, at most MILTERS_MAX), each with its time-out and its
 * default action when it cannot be used (tempfail, accept or reject).
 *
 * Connections: one per milter per SMTP session, ended with QUIT.  Under
 * smtpd's own listener the session asks the listener for them
 * (BROKER_MILTER and the milter's index: the listener, unsandboxed,
 * connects to that configured address and passes the socket back);
 * under tcpserver they are made before the sandbox.  Either way the
 * session names a milter by its index only, and its filter has no
 * socket or connect: it can reach the configured milters and nothing
 * else.
 *
 * Stages: connect (at the greeting), HELO, MAIL, RCPT and DATA as the
 * commands come; the message itself after its end.  While milters want
 * the message, data.c writes the decoded text to a spool (a memfd per
 * message, at most max_message_size plus a replaced body)
 * instead of the queue; at the end of the text each milter in turn gets
 * the header fields, the body and end-of-message, and its changes are
 * applied before the next milter sees the message.  Then the changed
 * message goes to the queue, which still says 250 only once it is on
 * disk.  The queue transaction (its ID, our Received: line, which the
 * milters do not see or change) is begun at DATA as without milters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exitcode.h"
#include "filter.h"
#include "log.h"
#include "milter.h"
#include "saddr.h"
#include "smtpd.h"

#define HDRS_MAX	(1024 * 1024)	/* header bytes parsed for milters */
#define FIELDS_MAX	2000		/* header fields of one message */
#define SPOOL_IO	65536

enum mfail { MF_TEMPFAIL, MF_ACCEPT, MF_REJECT };
enum mstage { MS_CONNECT, MS_HELO, MS_MAIL, MS_RCPT, MS_DATA, MS_EOM };

static const char *const stage_name[] = { "connect", "helo", "mail",
    "rcpt", "data", "eom" };
static const char *const fail_name[] = { "tempfail", "accept", "reject" };

static struct mconf {
	char		 svc[128];
	int		 timeout_ms;
	enum mfail	 fail;
} C[MILTERS_MAX];
static unsigned nconf;

/* the session's milters */
static struct {
	struct milter	 m;
	int		 off;	/* no more stages this session */
	int		 xoff;	/* no more stages this transaction */
	int		 eom;	/* had this message's end: no ABORT */
} M[MILTERS_MAX];

static int pre[MILTERS_MAX] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static int spool = -1;

/* the session's and the transaction's state */
static struct {
	int		 on;		/* milters in this session */
	int		 discard;	/* at connect or HELO: every message */
	int		 xdiscard;	/* this message */
	int		 mailed;	/* MAIL sent: ABORT owed */
	int		 active;	/* the text goes to the spool */
	uint64_t	 len;		/* the text's bytes in the spool */
	uint64_t	 end;		/* the spool's bytes (replaced bodies) */
	char		 quarantine[MILTER_TEXT_MAX];
	char		 why[160];	/* refuse()'s reason */
} X;

/* a header field as it goes to the queue: "Name: value\n", folds kept */
struct field {
	char	*raw;
	size_t	 len;
};

struct msg {
	struct field	*f;
	size_t		 nf;
	size_t		 nf0;		/* the client's fields */
	int		 sep;		/* an empty line before the body */
	uint64_t	 boff, blen;	/* the body in the spool */
};

static int
fail_word(const char *w, size_t n, enum mfail *f)
{
	for (int i = 0; i < 3; i++)
		if (strlen(fail_name[i]) == n && memcmp(w, fail_name[i], n) == 0)
			return *f = (enum mfail)i, 0;
	return -1;
}

/* mconf_parse - "SERVICE [default_action=A] [timeout=SECS]"; 0 or -1 */
static int
mconf_parse(const char *v, int tmo, enum mfail dflt, struct mconf *m)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *p = v, *e;
	unsigned long t;
	char *end;
	size_t n;
	int first = 1;

	memset(m, 0, sizeof *m);
	m->timeout_ms = tmo;
	m->fail = dflt;
	for (; *p != '\0'; p = e, first = 0) {
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p; *e != '\0' && *e != ' ' && *e != '\t'; e++)
			;
		if ((n = (size_t)(e - p)) == 0)
			break;
		if (first) {
			if (n >= sizeof m->svc)
				return -1;
			memcpy(m->svc, p, n);
			if (saddr_service(m->svc, &ss, &len) == -1)
				return -1;
		} else if (n > 15 && memcmp(p, "default_action=", 15) == 0) {
			if (fail_word(p + 15, n - 15, &m->fail) == -1)
				return -1;
		} else if (n > 8 && memcmp(p, "timeout=", 8) == 0) {
			errno = 0;
			t = strtoul(p + 8, &end, 10);
			if (p[8] < '0' || p[8] > '9' || errno != 0 ||
			    end != e || t < 1 || t > 3600)
				return -1;
			m->timeout_ms = (int)t * 1000;
		} else
			return -1;
	}
	return m->svc[0] != '\0' ? 0 : -1;
}

/* milters_load - the keys (doc/sandmail.conf.5) */
void
milters_load(const struct conf *c)
{
	const char *v, *d;
	enum mfail dflt;
	size_t i = 0;
	int tmo;

	tmo = (int)conf_secs(c, "smtpd_milter_timeout", 30) * 1000;
	d = conf_str(c, "smtpd_milter_default_action", "tempfail");
	if (fail_word(d, strlen(d), &dflt) == -1)
		die_msg(EXIT_TEMP, "smtpd_milter_default_action", "expected "
		    "tempfail, accept or reject");
	nconf = 0;
	while ((v = conf_next(c, "smtpd_milter", &i)) != NULL) {
		if (nconf == MILTERS_MAX)
			die_msg(EXIT_TEMP, "smtpd_milter", "too many milters");
		if (mconf_parse(v, tmo, dflt, &C[nconf]) == -1)
			die_msg(EXIT_TEMP, "smtpd_milter", "expected unix:/path"
			    "|inet:IP:port [default_action=tempfail|accept|"
			    "reject] [timeout=seconds]");
		nconf++;
	}
}

unsigned
milters_count(void)
{
	return nconf;
}

/* milters_dial - a connection to milter i, begun (not awaited: the
 * first write waits for it); the fd, or -1 */
int
milters_dial(unsigned i)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, e;

	if (i >= nconf || saddr_service(C[i].svc, &ss, &len) == -1)
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    errno != EINPROGRESS) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* milters_ports - see filter.h */
size_t
milters_ports(uint16_t *out, size_t max)
{
	struct sockaddr_storage ss;
	socklen_t len;
	size_t n = 0;
	unsigned p;

	for (unsigned i = 0; i < nconf && n < max; i++)
		if (saddr_service(C[i].svc, &ss, &len) == 0 &&
		    (p = saddr_port(&ss)) != 0)
			out[n++] = (uint16_t)p;
	return n;
}

/* milters_open - before the sandbox, with dial: the connections (under
 * tcpserver; under the listener they come from it) */
void
milters_open(int dial)
{
	for (unsigned i = 0; dial && i < nconf; i++)
		if (pre[i] < 0 && (pre[i] = milters_dial(i)) == -1)
			log_kv("milter", "event", "failure", "milter",
			    C[i].svc, "stage", "connect", "err",
			    strerror(errno), NULL);
}

static int
live(unsigned i)
{
	return !M[i].off && !M[i].xoff;
}

/* answer - a milter's verdict at a stage, for the session; 1 go on, 0
 * answered (the command refused; at connect, the session ends) */
static int
answer(struct session *s, unsigned i, enum mstage st,
    const struct milter_res *r)
{
	enum milter_verdict v = r->v;

	snprintf(X.why, sizeof X.why, "milter %s", C[i].svc);
	if (v == MV_FAIL) {
		log_kv("milter", "event", "failure", "milter", C[i].svc,
		    "stage", stage_name[st], "ip", s->ip, "id", s->id,
		    "action", fail_name[C[i].fail], NULL);
		if (C[i].fail == MF_ACCEPT) {
			M[i].off = 1;
			return 1;
		}
		v = C[i].fail == MF_REJECT ? MV_REJECT : MV_TEMPFAIL;
	}
	switch (v) {
	case MV_ACCEPT:
		if (st <= MS_HELO)
			M[i].off = 1;
		else
			M[i].xoff = 1;
		return 1;
	case MV_DISCARD:
		log_kv("milter", "event", "discard", "milter", C[i].svc,
		    "stage", stage_name[st], "ip", s->ip, "id", s->id, NULL);
		if (st <= MS_HELO)
			X.discard = 1;
		X.xdiscard = 1;
		M[i].xoff = 1;
		return 1;
	case MV_REJECT:
		if (st == MS_CONNECT)
			refuse(s, X.why, "554 5.7.1 %s Service unavailable",
			    s->cfg->hostname);
		else
			refuse(s, X.why, "550 5.7.1 %s rejected",
			    st == MS_EOM ? "Message content" : "Command");
		return 0;
	case MV_TEMPFAIL:
		if (st == MS_CONNECT)
			refuse(s, X.why, "421 4.7.1 %s Service unavailable, "
			    "closing", s->cfg->hostname);
		else
			refuse(s, X.why, "451 4.7.1 Service unavailable, try "
			    "again later");
		return 0;
	case MV_REPLY:
		refuse(s, X.why, "%s", r->reply);
		return 0;
	default:	/* continue; skip outside the body */
		return 1;
	}
}

/* run - one stage on every milter still in; 1 go on, 0 answered */
static int
run(struct session *s, enum mstage st, char cmd, const void *d, size_t n,
    const char *const *mac)
{
	struct milter_res r = { 0 };
	int ok = 1;

	for (unsigned i = 0; ok && i < nconf; i++) {
		if (!live(i))
			continue;
		(void)milter_stage(&M[i].m, cmd, d, n, mac, &r);
		ok = answer(s, i, st, &r);
		milter_res_free(&r);
	}
	return ok;
}

/* take - milter i's connection for this session, or -1 */
static int
take(struct session *s, unsigned i)
{
	int fd;

	if (s->milter_need != NULL)
		return s->milter_need(s, i);
	fd = pre[i];
	pre[i] = -1;
	return fd;
}

/* milters_connect - at the greeting: the connections, then the connect
 * stage; 1 go on, 0 answered (the session ends) */
int
milters_connect(struct session *s)
{
	struct buf b = BUF_INIT(IP_MAX + 32);
	char name[IP_MAX + 2];
	const char *mac[] = { "j", s->cfg->hostname, "{daemon_name}",
	    "sandmail", "{daemon_addr}", s->localip, "_", name,
	    "{client_addr}", s->ip, "{client_port}", s->port,
	    "{client_name}", "unknown", NULL, NULL };
	unsigned long port = strtoul(s->port, NULL, 10);
	int fd, ok;

	memset(&X, 0, sizeof X);
	if (nconf == 0 || (s->mode & MODE_LOCAL))
		return 1;
	X.on = 1;
	for (unsigned i = 0; i < nconf; i++) {
		memset(&M[i], 0, sizeof M[i]);
		if ((fd = take(s, i)) == -1) {
			M[i].m.fd = -1;
			M[i].m.dead = 1;
		} else
			(void)milter_open(&M[i].m, fd, C[i].timeout_ms);
	}
	snprintf(name, sizeof name, "[%s]", s->ip);
	/* host name, family, port (network order), address */
	ok = buf_fmt(&b, "%s%c%c%c%c%s%c", name, 0,
	    strchr(s->ip, ':') ? '6' : s->ip[0] ? '4' : 'U',
	    (int)(port >> 8 & 0xff), (int)(port & 0xff), s->ip, 0) == 0;
	if (ok)
		ok = run(s, MS_CONNECT, MC_CONNECT, b.p, s->ip[0] ? b.len :
		    strlen(name) + 2, mac);
	else
		reply(s, "421 4.3.0 %s Out of memory", s->cfg->hostname);
	buf_free(&b);
	return ok;
}

/* milters_helo - HELO or EHLO */
int
milters_helo(struct session *s)
{
	const char *mac[] = { "{tls_version}", s->tls ?
	    tls_version(s->tls) : "", "{cipher}", s->tls ?
	    tls_cipher(s->tls) : "", NULL, NULL };

	if (!X.on)
		return 1;
	return run(s, MS_HELO, MC_HELO, s->helo, strlen(s->helo) + 1,
	    s->tls ? mac : NULL);
}

/* milters_mail - MAIL, its sender in s->env */
int
milters_mail(struct session *s)
{
	struct buf b = BUF_INIT(ENV_ADDR_MAX + 8);
	const char *mac[] = { "{mail_addr}", s->env.sender,
	    "{auth_authen}", s->auth_user ? s->auth_user : "", NULL, NULL };
	int ok;

	if (!X.on)
		return 1;
	X.mailed = 1;
	if (buf_fmt(&b, "<%s>%c", s->env.sender, 0) == -1) {
		buf_free(&b);
		reply(s, "451 4.3.0 Out of memory");
		return 0;
	}
	if (s->auth_user == NULL)
		mac[2] = NULL;
	ok = run(s, MS_MAIL, MC_MAIL, b.p, b.len, mac);
	buf_free(&b);
	return ok;
}

/* milters_rcpt - RCPT of rcpt, which our checks accepted */
int
milters_rcpt(struct session *s, const char *rcpt)
{
	struct buf b = BUF_INIT(ENV_ADDR_MAX + 8);
	const char *mac[] = { "{rcpt_addr}", rcpt, NULL, NULL };
	int ok;

	if (!X.on)
		return 1;
	if (buf_fmt(&b, "<%s>%c", rcpt, 0) == -1) {
		buf_free(&b);
		reply(s, "451 4.3.0 Out of memory");
		return 0;
	}
	ok = run(s, MS_RCPT, MC_RCPT, b.p, b.len, mac);
	buf_free(&b);
	return ok;
}

/* milters_data - the DATA command, before the 354 (BDAT: at the end) */
int
milters_data(struct session *s)
{
	if (!X.on)
		return 1;
	return run(s, MS_DATA, MC_DATA, NULL, 0, NULL);
}

/* milters_spooling - the text begins: whether it goes to the spool (a
 * milter still wants it, or it is to be discarded) */
int
milters_spooling(struct session *s)
{
	(void)s;
	X.active = 0;
	X.len = X.end = 0;
	if (!X.on)
		return 0;
	for (unsigned i = 0; i < nconf; i++)
		X.active |= live(i);
	X.active |= X.discard | X.xdiscard;
	if (spool >= 0)
		close(spool);
	spool = -1;
	if (X.active && (spool = memfd_create("smtpd-spool",
	    MFD_CLOEXEC)) == -1) {
		log_kv("error", "op", "memfd", "err", strerror(errno), NULL);
		X.active = -1;		/* writes fail: 451 */
	}
	return X.active != 0;
}

/* spool_write - n bytes at off; 0 or -1 */
static int
spool_write(uint64_t off, const char *p, size_t n)
{
	ssize_t k;

	if (spool < 0 || lseek(spool, (off_t)off, SEEK_SET) == -1)
		return -1;
	while (n > 0) {
		if ((k = write(spool, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* spool_read - n bytes from off; 0 or -1 */
static int
spool_read(uint64_t off, char *p, size_t n)
{
	ssize_t k;

	if (lseek(spool, (off_t)off, SEEK_SET) == -1)
		return -1;
	while (n > 0) {
		if ((k = read(spool, p, n)) <= 0) {
			if (k == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* milters_spool - decoded text for the spool; 0 or -1 */
int
milters_spool(const char *p, size_t n)
{
	if (X.active != 1 || spool_write(X.len, p, n) == -1)
		return -1;
	X.len += n;
	X.end = X.len;
	return 0;
}

/* mhdr_name - the length of a field name ending at ':' in p[0..n) (RFC
 * 5322 2.2: printable ASCII but ':'), or 0 */
size_t
mhdr_name(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != ':'; i++)
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127)
			return 0;
	return i < n ? i : 0;
}

/* mhdr_end - the LF ending the field at p[i], not followed by a fold;
 * its offset, or -1 when p[0..n) does not tell (whole: p is the whole
 * text, so its end ends a field) */
long
mhdr_end(const char *p, size_t n, size_t i, int whole)
{
	for (size_t e = i; e < n; e++) {
		if (p[e] != '\n')
			continue;
		if (e + 1 < n && p[e + 1] != ' ' && p[e + 1] != '\t')
			return (long)e;
		if (e + 1 == n)
			return whole ? (long)e : -1;
	}
	return -1;
}

static void
msg_free(struct msg *mg)
{
	for (size_t i = 0; i < mg->nf; i++)
		free(mg->f[i].raw);
	free(mg->f);
	memset(mg, 0, sizeof *mg);
}

/* msg_read - the spooled text's header fields (the first HDRS_MAX bytes:
 * a header longer than that leaves the rest in the body); 0 or -1 */
static int
msg_read(struct msg *mg)
{
	size_t n = X.len < HDRS_MAX ? (size_t)X.len : HDRS_MAX, i = 0;
	char *p;
	long e;

	memset(mg, 0, sizeof *mg);
	if ((mg->f = calloc(FIELDS_MAX, sizeof *mg->f)) == NULL ||
	    (p = malloc(n + 1)) == NULL)
		return -1;
	if (spool_read(0, p, n) == -1) {
		free(p);
		return -1;
	}
	while (i < n && mg->nf < FIELDS_MAX) {
		if (p[i] == '\n') {
			mg->sep = 1;
			i++;
			break;
		}
		if ((e = mhdr_end(p, n, i, n == X.len)) == -1 ||
		    mhdr_name(p + i, (size_t)e - i) == 0)
			break;		/* not a field: the body begins */
		mg->f[mg->nf].len = (size_t)e + 1 - i;
		if ((mg->f[mg->nf].raw = malloc((size_t)e + 1 - i)) == NULL) {
			free(p);
			return -1;
		}
		memcpy(mg->f[mg->nf++].raw, p + i, (size_t)e + 1 - i);
		i = (size_t)e + 1;
	}
	free(p);
	mg->nf0 = mg->nf;
	mg->boff = i;
	mg->blen = X.len - i;
	return 0;
}

/* mhdr_make - "Name: value\n" from a milter's name and value: CR
 * dropped, each LF followed by a fold (a value cannot end the header or
 * start a field); NULL when the name is not a field name */
/* blank_tail - the last line of b (from start) holds only white space;
 * its LF's offset in *nl (or start when it is the first) */
static int
blank_tail(const struct buf *b, size_t start, size_t *nl)
{
	size_t i = b->len;

	while (i > start && (b->p[i - 1] == ' ' || b->p[i - 1] == '\t'))
		i--;
	*nl = i > start ? i - 1 : start;
	return i == start || b->p[i - 1] == '\n';
}

char *
mhdr_make(const char *name, const char *value, int leadspc, size_t *len)
{
	struct buf b = BUF_INIT(MILTER_PKT_MAX * 2);
	size_t nl = strlen(name), start, at;
	const char *v;
	int r;

	if (nl == 0)
		return NULL;
	for (size_t i = 0; i < nl; i++)
		if ((unsigned char)name[i] <= 32 ||
		    (unsigned char)name[i] >= 127 || name[i] == ':')
			return NULL;
	r = buf_put(&b, name, nl) | buf_putc(&b, ':');
	start = b.len;
	if (!leadspc)
		r |= buf_putc(&b, ' ');
	for (v = value; *v != '\0'; v++) {
		if (*v == '\r')
			continue;
		if (*v != '\n') {
			r |= buf_putc(&b, *v);
			continue;
		}
		/* a fold, never a line of white space only (some readers
		 * take one for the end of the header) */
		if (blank_tail(&b, start, &at))
			continue;
		r |= buf_putc(&b, '\n');
		if (v[1] != ' ' && v[1] != '\t')
			r |= buf_putc(&b, '\t');
	}
	while (b.len > start && blank_tail(&b, start, &at) &&
	    b.p[at] == '\n')
		b.len = at;		/* no white-space line at the end */
	r |= buf_putc(&b, '\n');
	if (r != 0) {
		buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* hdr_insert - a new field at position at; 0 or -1 */
static int
hdr_insert(struct msg *mg, size_t at, const char *name, const char *value,
    int leadspc)
{
	struct field f;

	if (mg->nf == FIELDS_MAX ||
	    (f.raw = mhdr_make(name, value ? value : "", leadspc,
	    &f.len)) == NULL)
		return -1;
	if (at > mg->nf)
		at = mg->nf;
	memmove(mg->f + at + 1, mg->f + at, (mg->nf - at) * sizeof *mg->f);
	mg->f[at] = f;
	mg->nf++;
	return 0;
}

/* hdr_change - the idx-th (from 1) field called name: replaced, or
 * removed for an empty value; added when there is none such */
static int
hdr_change(struct msg *mg, const char *name, uint32_t idx,
    const char *value, int leadspc)
{
	size_t nl = strlen(name), i;
	struct field f;
	uint32_t k = 0;

	for (i = 0; i < mg->nf; i++)
		if (mhdr_name(mg->f[i].raw, mg->f[i].len) == nl &&
		    strncasecmp(mg->f[i].raw, name, nl) == 0 && ++k == idx)
			break;
	if (i == mg->nf)
		return value == NULL || *value == '\0' ? 0 :
		    hdr_insert(mg, mg->nf, name, value, leadspc);
	if (value == NULL || *value == '\0') {
		free(mg->f[i].raw);
		memmove(mg->f + i, mg->f + i + 1, (mg->nf - i - 1) *
		    sizeof *mg->f);
		mg->nf--;
		return 0;
	}
	if ((f.raw = mhdr_make(name, value, leadspc, &f.len)) == NULL)
		return -1;
	free(mg->f[i].raw);
	mg->f[i] = f;
	return 0;
}

/* path_of - a milter's address ("<a@b>" or "a@b") as we write it */
static int
path_of(const char *a, unsigned fl, struct buf *out)
{
	struct buf w = BUF_INIT(ENV_ADDR_MAX + 4);
	struct addr ad;
	size_t used;
	int r;

	r = buf_fmt(&w, a[0] == '<' ? "%s" : "<%s>", a) == -1 ||
	    addr_parse_path(w.p, w.len, fl | ADDR_UTF8, &ad, &used) !=
	    ADDR_OK || used != w.len || addr_format(out, &ad) == -1 ||
	    buf_cstr(out) == -1 ? -1 : 0;
	buf_free(&w);
	return r;
}

/* rcpt_del - the envelope recipient a, if there */
static void
rcpt_del(struct env *env, const char *a)
{
	for (size_t i = 0; i < env->nrcpt; i++)
		if (strcasecmp(env->rcpt[i].addr, a) == 0) {
			free(env->rcpt[i].addr);
			free(env->rcpt[i].orcpt);
			memmove(env->rcpt + i, env->rcpt + i + 1,
			    (env->nrcpt - i - 1) * sizeof *env->rcpt);
			env->nrcpt--;
			return;
		}
}

/* env_mod - a change of sender or recipients; 0 or -1 */
static int
env_mod(struct session *s, const struct milter_mod *md)
{
	struct buf a = BUF_INIT(ENV_ADDR_MAX);
	int r;

	if (path_of(md->name, md->type == 'e' ? ADDR_ALLOW_NULL : 0,
	    &a) == -1) {
		buf_free(&a);
		return -1;
	}
	if (md->type == 'e')
		r = env_set(&s->env.sender, a.len ? a.p : "");
	else if (md->type == '-') {
		rcpt_del(&s->env, a.p);
		r = 0;
	} else
		r = env_add_rcpt(&s->env, a.p, 0, "");
	buf_free(&a);
	return r;
}

/* mbody_lf - a replaced body's chunk (CRLF lines) as LF lines into out
 * (room for n + 1 bytes); *cr: a CR held back from the chunk before (a
 * CR not followed by LF is kept).  The bytes written. */
size_t
mbody_lf(const char *p, size_t n, int *cr, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (*cr && p[i] != '\n')
			out[o++] = '\r';
		*cr = p[i] == '\r';
		if (!*cr)
			out[o++] = p[i];
	}
	return o;
}

/* body_add - a chunk of a replaced body to the spool's end, as LF lines */
static int
body_add(uint64_t *len, const char *p, size_t n, int *cr)
{
	char b[4097];
	size_t k, o;

	for (size_t i = 0; i < n; i += k) {
		k = n - i < sizeof b - 1 ? n - i : sizeof b - 1;
		o = mbody_lf(p + i, k, cr, b);
		if (spool_write(X.end + *len, b, o) == -1)
			return -1;
		*len += o;
	}
	return 0;
}

/* mods_apply - milter i's changes; 0 or -1 */
static int
mods_apply(struct session *s, unsigned i, struct msg *mg,
    const struct milter_res *r)
{
	int lead = (M[i].m.proto & MP_HDR_LEADSPC) != 0, body = 0, cr = 0;
	uint64_t blen = 0;
	const struct milter_mod *md;
	int e = 0;

	for (unsigned k = 0; e == 0 && k < r->nmods; k++) {
		md = &r->mods[k];
		switch (md->type) {
		case 'h':
			e = hdr_insert(mg, mg->nf, md->name, md->value, lead);
			break;
		case 'i':
			e = hdr_insert(mg, md->idx, md->name, md->value, lead);
			break;
		case 'm':
			e = hdr_change(mg, md->name, md->idx, md->value, lead);
			break;
		case 'b':
			body = 1;
			e = body_add(&blen, md->value, md->vlen, &cr);
			break;
		case 'q':
			snprintf(X.quarantine, sizeof X.quarantine, "%s",
			    md->name);
			break;
		default:
			e = env_mod(s, md);
			break;
		}
	}
	if (e == 0 && body && cr)	/* a CR at the very end */
		e = spool_write(X.end + blen++, "\r", 1);
	if (e == 0 && body) {
		mg->boff = X.end;
		mg->blen = blen;
		mg->sep = 1;
		X.end += blen;
	}
	return e;
}

/* field_stage - one field to milter i as name and value */
static int
field_stage(struct session *s, unsigned i, const struct field *f)
{
	struct buf b = BUF_INIT(HDRS_MAX + 2);
	struct milter_res r = { 0 };
	size_t nl = mhdr_name(f->raw, f->len), v = nl + 1;
	int ok;

	if (!(M[i].m.proto & MP_HDR_LEADSPC) && v < f->len &&
	    f->raw[v] == ' ')
		v++;
	if (buf_put(&b, f->raw, nl) == -1 || buf_putc(&b, '\0') == -1 ||
	    buf_put(&b, f->raw + v, f->len - 1 - v) == -1 ||
	    buf_putc(&b, '\0') == -1)
		r.v = MV_FAIL;
	else
		(void)milter_stage(&M[i].m, MC_HEADER, b.p, b.len, NULL, &r);
	buf_free(&b);
	ok = answer(s, i, MS_EOM, &r);
	milter_res_free(&r);
	return ok;
}

/* body_stage - the body to milter i in chunks, LF made CRLF; 1 go on
 * (or it asked for no more), 0 answered */
static int
body_stage(struct session *s, unsigned i, const struct msg *mg)
{
	static char in[SPOOL_IO], out[MILTER_CHUNK];
	struct milter_res r = { 0 };
	uint64_t off = 0;
	size_t n, k, o = 0;
	int ok = 1;

	if (M[i].m.proto & MP_NOBODY)
		return 1;
	while (ok && off < mg->blen) {
		n = mg->blen - off < sizeof in ? (size_t)(mg->blen - off) :
		    sizeof in;
		if (spool_read(mg->boff + off, in, n) == -1) {
			r.v = MV_FAIL;
			return answer(s, i, MS_EOM, &r);
		}
		off += n;
		for (k = 0; ok && k < n; k++) {
			if (in[k] == '\n')
				out[o++] = '\r';
			out[o++] = in[k];
			if (o < sizeof out - 1 && (k + 1 < n || off < mg->blen))
				continue;
			(void)milter_stage(&M[i].m, MC_BODY, out, o, NULL, &r);
			o = 0;
			ok = answer(s, i, MS_EOM, &r);
			if (ok && (r.v == MV_SKIP || !live(i)))
				return 1;
		}
	}
	return ok;
}

/* eom_one - the message through milter i, its changes applied; 1 go
 * on, 0 answered */
static int
eom_one(struct session *s, unsigned i, struct msg *mg, int bdat)
{
	const char *mac[] = { "i", s->id, NULL, NULL };
	struct milter_res r = { 0 };
	int ok = 1;

	if (bdat) {
		(void)milter_stage(&M[i].m, MC_DATA, NULL, 0, mac, &r);
		if (!(ok = answer(s, i, MS_DATA, &r)) || !live(i))
			return ok;
	}
	for (size_t h = 0; h < mg->nf; h++)
		if (!(ok = field_stage(s, i, &mg->f[h])) || !live(i))
			return ok;
	(void)milter_stage(&M[i].m, MC_EOH, NULL, 0, mac, &r);
	if (!(ok = answer(s, i, MS_EOM, &r)) || !live(i))
		return ok;
	if (!(ok = body_stage(s, i, mg)) || !live(i))
		return ok;
	M[i].eom = 1;
	(void)milter_stage(&M[i].m, MC_EOB, NULL, 0, mac, &r);
	if (r.overflow)
		r.v = MV_FAIL;		/* cannot apply them all */
	if ((r.v == MV_CONTINUE || r.v == MV_ACCEPT) &&
	    mods_apply(s, i, mg, &r) == -1) {
		log_kv("milter", "event", "bad change", "milter", C[i].svc,
		    "id", s->id, NULL);
		r.v = MV_FAIL;
	}
	ok = answer(s, i, MS_EOM, &r);
	milter_res_free(&r);
	M[i].xoff = 1;		/* done with this message */
	return ok;
}

/* msg_write - the message, changed, to the queue; 0 or -1 */
static int
msg_write(struct session *s, const struct msg *mg, uint64_t *written)
{
	static char b[SPOOL_IO];
	uint64_t off = 0;
	size_t n;

	*written = 0;
	for (size_t i = 0; i < mg->nf; i++) {
		if (qc_data(s->qc, mg->f[i].raw, mg->f[i].len) == -1)
			return -1;
		*written += mg->f[i].len;
	}
	/* a text without fields that milters gave some: the empty line,
	 * or its first line would join the header */
	if (mg->sep || (mg->nf0 == 0 && mg->nf > 0 && mg->blen > 0)) {
		if (qc_data(s->qc, "\n", 1) == -1)
			return -1;
		*written += 1;
	}
	while (off < mg->blen) {
		n = mg->blen - off < sizeof b ? (size_t)(mg->blen - off) :
		    sizeof b;
		if (spool_read(mg->boff + off, b, n) == -1 ||
		    qc_data(s->qc, b, n) == -1)
			return -1;
		off += n;
		*written += n;
	}
	return 0;
}

/* discarded - the client hears it went well; nothing is queued */
static int
discarded(struct session *s)
{
	log_kv("milter", "event", "discarded", "ip", s->ip, "id", s->id,
	    NULL);
	reply(s, "250 2.0.0 Ok: discarded");
	return 0;
}

/* milters_eom - the end of the spooled text: each milter in turn, then
 * the changed message to the queue; 1 written (*written bytes), 0
 * answered (refused, or discarded), the queue transaction to abort */
int
milters_eom(struct session *s, int bdat, uint64_t *written)
{
	struct msg mg;
	int ok = 1;

	*written = 0;
	if (X.xdiscard)
		return discarded(s);
	if (msg_read(&mg) == -1) {
		msg_free(&mg);
		refuse(s, "milter spool", "451 4.3.0 Local error, try again "
		    "later");
		return 0;
	}
	for (unsigned i = 0; ok && !X.xdiscard && i < nconf; i++)
		if (live(i))
			ok = eom_one(s, i, &mg, bdat);
	if (ok && (X.xdiscard || s->env.nrcpt == 0))
		ok = discarded(s);
	else if (ok && X.quarantine[0] != '\0') {
		/* committed as usual; send holds it (hold/ID) before any
		 * delivery, until sandmail-queuectl releases it */
		s->env.flags |= ENV_HOLD;
		log_kv("milter", "event", "quarantine", "id", s->id,
		    "reason", X.quarantine, NULL);
	}
	if (ok && msg_write(s, &mg, written) == -1) {
		refuse(s, "queue write", "451 4.3.0 Queue write failed, try "
		    "again later");
		ok = 0;
	}
	msg_free(&mg);
	return ok;
}

/* milters_abort - the transaction ends (RSET, HELO, a refusal, the end
 * of a message): ABORT to milters that saw its MAIL */
void
milters_abort(struct session *s)
{
	struct milter_res r = { 0 };

	(void)s;
	if (!X.on)
		return;
	for (unsigned i = 0; X.mailed && i < nconf; i++)
		if (!M[i].off && !M[i].eom)
			(void)milter_stage(&M[i].m, MC_ABORT, NULL, 0, NULL,
			    &r);
	for (unsigned i = 0; i < nconf; i++)
		M[i].xoff = M[i].eom = 0;
	X.mailed = 0;
	X.xdiscard = X.discard;
	X.active = 0;
	if (spool >= 0)
		close(spool);		/* its memory back */
	spool = -1;
	X.quarantine[0] = '\0';
}

/* milters_end - the session ends: QUIT, and the connections closed */
void
milters_end(struct session *s)
{
	(void)s;
	if (!X.on)
		return;
	for (unsigned i = 0; i < nconf; i++)
		milter_close(&M[i].m);
	X.on = 0;
}
