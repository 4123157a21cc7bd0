/* qserver: the queue protocol's server, one poll() loop for all clients.
 *
 * Runs sandboxed inside sandmail-queue: it touches only the queue
 * directory (through qw_*, relative to its descriptor) and its clients'
 * sockets.  Everything a client sends is untrusted: records are bounded
 * before they are buffered, each type is legal only in some states, the
 * envelope is decoded exactly and its addresses checked.
 *
 * Group commit: each loop iteration reads what every ready client sent;
 * a client whose E arrived waits (state QS_COMMIT) until the end of the
 * iteration, when all of them are prepared and published together.  No K
 * is written before its own message's data and names are durable.
 *
 * Either way a commit has one barrier, after the batch's envelopes are
 * renamed into todo/.  With fsync (the default) it is each file's
 * fdatasync and one fsync of mess/ and of todo/, submitted together
 * (their writeback begun as each message is prepared): only the batch's
 * own files and two directories are waited for, however much other data
 * the file system holds.  With syncfs it is one syncfs (and every other
 * dirty page of the file system).  Then every K goes out.  A power loss
 * inside the barrier can leave a todo/ID torn; its seal (seal.h) tells
 * send to drop it (no client was answered for it). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "env.h"
#include "log.h"
#include "qserver.h"
#include "qwrite.h"
#include "rec.h"

#define QS_READ_CHUNK	65536
#define QS_OUT_MAX	65536
#define QS_PEER_MAX	64

enum qs_state {
	QS_IDLE,	/* between messages: M or F */
	QS_MSG,		/* in a message: D, E or A */
	QS_COMMIT,	/* E read: waiting for the batch commit */
	QS_DEAD,	/* to be closed once its output is out */
};

struct qsess {
	int		 rfd, wfd;
	enum qs_state	 st;
	int		 eof;
	struct buf	 in;		/* records not yet handled */
	size_t		 pos;		/* handled up to here */
	struct buf	 out;		/* replies not yet written */
	struct qw	 qw;
	int		 open;		/* qw holds a message */
	uint64_t	 size;		/* D bytes counted */
	int		 toobig;
	int		 werr;		/* errno of a failed data write */
	const char	*wop;
	struct env	 env;
	time_t		 last;
	char		 peer[QS_PEER_MAX];
};

static uint32_t
rec_limit(const struct qsrv *q)
{
	uint64_t n = 65536 + (uint64_t)q->max_rcpt * 1600;

	if (n < QS_DATA_MAX + 1)
		n = QS_DATA_MAX + 1;
	return n > 64u * 1024 * 1024 ? 64u * 1024 * 1024 : (uint32_t)n;
}

/* qsrv_init - a server with the default limits */
void
qsrv_init(struct qsrv *q, int dirfd, int lfd)
{
	memset(q, 0, sizeof *q);
	q->dirfd = dirfd;
	q->lfd = lfd;
	q->max_size = 35ull * 1024 * 1024;
	q->max_rcpt = 100;
	q->max_clients = 1000;
	q->idle_ms = 600 * 1000;
	q->sync = QW_SYNC_FILE;
	q->one_shot = lfd < 0;
	q->trig = -1;
}

/* reply - queue one answer record: a type, a string and, when status is
 * not NULL, a second string, the RFC 3463 status code of a Z or X */
static void
reply(struct qsess *s, char type, const char *str, const char *status)
{
	size_t start = s->out.len;

	if (pk_begin(&s->out) == -1 || pk_u8(&s->out, (uint8_t)type) == -1 ||
	    pk_cstr(&s->out, str) == -1 ||
	    (status != NULL && pk_cstr(&s->out, status) == -1) ||
	    pk_finish(&s->out, start) == -1) {
		/* a client that reads nothing while we answer: drop it */
		s->out.len = start;
		s->st = QS_DEAD;
	}
}

/* fail - Z (temporary) or X (permanent): the reason, then its RFC 3463
 * status code, which the client answers by (doc/protocols.md, "queue") */
static void
fail(struct qsess *s, char type, const char *status, const char *text)
{
	reply(s, type, text, status);
}

/* tempfail - Z for a failed step: 4.3.1 when the file system is full
 * (ENOSPC, EDQUOT), which smtpd answers as 452 (RFC 5321 4.2.5
 * insufficient system storage, RFC 3463 mail system full); else 4.3.0 */
static void
tempfail(struct qsess *s, const char *what, int err)
{
	char text[200];

	snprintf(text, sizeof text, "queue: %s%s%s", what, err ? ": " : "",
	    err ? strerror(err) : "");
	fail(s, 'Z', err == ENOSPC || err == EDQUOT ? "4.3.1" : "4.3.0",
	    text);
}

/* qsrv_add - a new client: greet it */
int
qsrv_add(struct qsrv *q, int rfd, int wfd, const char *peer)
{
	struct qsess *s, **v;
	size_t ncap;

	if (q->n == q->cap) {
		ncap = q->cap ? q->cap * 2 : 16;
		if ((v = reallocarray(q->s, ncap, sizeof *v)) == NULL)
			return -1;
		q->s = v;
		q->cap = ncap;
	}
	if ((s = calloc(1, sizeof *s)) == NULL)
		return -1;
	s->rfd = rfd;
	s->wfd = wfd;
	s->st = QS_IDLE;
	s->qw.fd = -1;
	s->qw.efd = -1;
	buf_init(&s->in, (size_t)rec_limit(q) + REC_HDR + QS_READ_CHUNK);
	buf_init(&s->out, QS_OUT_MAX);
	env_init(&s->env);
	s->last = time(NULL);
	snprintf(s->peer, sizeof s->peer, "%s", peer);
	reply(s, 'V', QS_GREETING, NULL);
	q->s[q->n++] = s;
	return 0;
}

static void
log_fail(const struct qsess *s, const char *event, const char *reason,
    int err)
{
	struct logln l;

	log_start(&l, event);
	if (s->open || s->qw.id[0] != '\0')
		log_s(&l, "id", s->qw.id);
	log_s(&l, "peer", s->peer);
	log_s(&l, "reason", reason);
	if (err != 0)
		log_s(&l, "err", strerror(err));
	log_done(&l);
}

/* drop_msg - forget the message in progress and what it wrote */
static void
drop_msg(struct qsess *s)
{
	if (s->open)
		qw_abort(&s->qw);
	s->open = 0;
	s->size = 0;
	s->toobig = 0;
	s->werr = 0;
	s->wop = NULL;
	env_free(&s->env);
	s->qw.id[0] = '\0';
}

static void
protocol_error(struct qsess *s, const char *why)
{
	log_fail(s, "protocol_error", why, 0);
	drop_msg(s);
	fail(s, 'Z', "4.3.0", "queue: protocol error");
	s->st = QS_DEAD;
}

/* received - a local user's message begins with a line naming its uid,
 * as qmail-queue's does, ahead of anything the user wrote; 0 or -1 */
static int
received(struct qsrv *q, struct qsess *s)
{
	char line[160], date[64];
	time_t t = time(NULL);
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof date,
	    "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		return -1;
	n = snprintf(line, sizeof line, "Received: (sandmail-queue invoked "
	    "by uid %lu); %s\n", (unsigned long)q->invoker, date);
	if (n < 0 || (size_t)n >= sizeof line)
		return -1;
	return qw_write(&s->qw, line, (size_t)n);
}

/* M: a new message in mess/ */
static void
on_msg(struct qsrv *q, struct qsess *s, struct cur *c)
{
	if (cur_end(c) == -1)
		return protocol_error(s, "M with fields");
	if (qw_begin_pool(&s->qw, q->dirfd, q->pool) == -1) {
		log_fail(s, "tempfail", s->qw.op, s->qw.err);
		s->qw.id[0] = '\0';
		tempfail(s, "cannot create the message file", s->qw.err);
		return;
	}
	if (q->local && received(q, s) == -1) {
		log_fail(s, "tempfail", "received", s->qw.err);
		qw_abort(&s->qw);
		s->qw.id[0] = '\0';
		tempfail(s, "cannot write the message file", s->qw.err);
		return;
	}
	s->open = 1;
	s->size = 0;
	s->st = QS_MSG;
	reply(s, 'I', s->qw.id, NULL);
}

/* D: bytes of the message, counted against the limit */
static void
on_data(struct qsrv *q, struct qsess *s, struct cur *c)
{
	size_t n = c->n;

	if (n > QS_DATA_MAX)
		return protocol_error(s, "D record too long");
	s->size += n;
	if (s->toobig || s->werr)
		return;
	if (s->size > q->max_size) {
		/* stop filling the disk; answer X at E */
		s->toobig = 1;
		qw_abort(&s->qw);
		s->open = 0;
		return;
	}
	if (qw_write(&s->qw, c->p, n) == -1) {
		s->werr = s->qw.err;
		s->wop = s->qw.op;
		qw_abort(&s->qw);
		s->open = 0;
	}
}

static int
rcpt_ok(const char *a, unsigned flags)
{
	struct addr ad;

	if (strcasecmp(a, "postmaster") == 0)
		return 1;
	return addr_parse_mailbox(a, strlen(a), flags, &ad) == ADDR_OK;
}

/* check_env - the envelope's limits and syntax; NULL, or the reason with
 * its RFC 3463 status in *status */
static const char *
check_env(const struct qsrv *q, const struct env *e, const char **status)
{
	unsigned flags = e->flags & ENV_SMTPUTF8 ? ADDR_UTF8 : 0;
	struct addr ad;

	*status = "5.5.0";
	if (e->nrcpt == 0)
		return "no recipients";
	if (e->nrcpt > q->max_rcpt)
		return *status = "5.5.3", "too many recipients";
	if (e->sender[0] != '\0' && addr_parse_mailbox(e->sender,
	    strlen(e->sender), flags, &ad) != ADDR_OK)
		return *status = "5.1.7", "bad sender address";
	for (size_t i = 0; i < e->nrcpt; i++)
		if (!rcpt_ok(e->rcpt[i].addr, flags))
			return *status = "5.1.3", "bad recipient address";
	return NULL;
}

static void
perm(struct qsess *s, const char *status, const char *why)
{
	log_fail(s, "reject", why, 0);
	drop_msg(s);
	fail(s, 'X', status, why);
	s->st = QS_IDLE;
}

/* unclaim - a local user's envelope claims nothing it cannot prove: no
 * authentication, no client address or HELO name, protocol "local", and
 * never one of our own reports (ENV_BOUNCE), nor checked by smtpd
 * (ENV_VERIFIED: send would ARC-seal its fields); its sender stays; 0 or
 * -1 */
static int
unclaim(struct env *e)
{
	e->flags &= ~(uint32_t)(ENV_BOUNCE | ENV_VERIFIED | ENV_ARC_PASS);
	if (env_set(&e->auth, "") == -1 || env_set(&e->client, "") == -1 ||
	    env_set(&e->helo, "") == -1 || env_set(&e->proto, "local") == -1)
		return -1;
	return 0;
}

/* E: the envelope; the message waits for the batch */
static void
on_end(struct qsrv *q, struct qsess *s, struct cur *c)
{
	char text[160];
	const char *why, *status;

	if (s->toobig) {
		snprintf(text, sizeof text, "message too big (limit %llu "
		    "bytes)", (unsigned long long)q->max_size);
		return perm(s, "5.3.4", text);
	}
	if (s->werr) {
		log_fail(s, "tempfail", s->wop, s->werr);
		tempfail(s, "writing the message", s->werr);
		drop_msg(s);
		s->st = QS_IDLE;
		return;
	}
	if (env_decode(&s->env, c->p, c->n) == -1)
		return perm(s, "5.5.0", "malformed envelope");
	if ((why = check_env(q, &s->env, &status)) != NULL)
		return perm(s, status, why);
	if (q->local && unclaim(&s->env) == -1) {
		log_fail(s, "tempfail", "envelope", errno);
		drop_msg(s);
		s->st = QS_IDLE;
		return fail(s, 'Z', "4.3.0", "queue: out of memory");
	}
	/* the queue's clock, not the client's */
	s->env.arrival = (uint64_t)time(NULL);
	s->st = QS_COMMIT;
}

/* A: abort the message begun; no answer */
static void
on_abort(struct qsrv *q, struct qsess *s, struct cur *c)
{
	(void)q;
	if (cur_end(c) == -1)
		return protocol_error(s, "A with fields");
	log_fail(s, "aborted", "client abort", 0);
	drop_msg(s);
	s->st = QS_IDLE;
}

/* F: a flush request for send, through the trigger FIFO */
static void
on_flush(struct qsrv *q, struct qsess *s, struct cur *c)
{
	unsigned char req[2 + 255];
	const char *d;
	size_t n;
	int r;

	if (cur_str(c, &d, &n) == -1 || cur_end(c) == -1 || n > 255 ||
	    memchr(d, '\0', n) != NULL)
		return protocol_error(s, "bad F record");
	req[0] = 'F';
	req[1] = (unsigned char)n;
	memcpy(req + 2, d, n);
	r = qw_trigger(q->dirfd, req, n + 2);
	log_kv("flush", "peer", s->peer, "domain", n ? "(given)" : "(all)",
	    "result", r == 0 ? "ok" : "not delivered", NULL);
	if (r == 0)
		reply(s, 'K', "", NULL);
	else
		fail(s, 'Z', "4.3.0", "queue: the queue manager is not "
		    "reading");
}

typedef void qs_handler(struct qsrv *, struct qsess *, struct cur *);

static const struct qs_verb {
	char		 type;
	unsigned	 legal;		/* bits of enum qs_state */
	qs_handler	*f;
} verbs[] = {
	{ 'M', 1u << QS_IDLE, on_msg },
	{ 'F', 1u << QS_IDLE, on_flush },
	{ 'D', 1u << QS_MSG, on_data },
	{ 'E', 1u << QS_MSG, on_end },
	{ 'A', 1u << QS_MSG, on_abort },
};

/* handle - one record's payload */
static void
handle(struct qsrv *q, struct qsess *s, const unsigned char *p, size_t n)
{
	struct cur c;
	uint8_t t;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1)
		return protocol_error(s, "empty record");
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		if (verbs[i].type != (char)t)
			continue;
		if (!(verbs[i].legal & (1u << s->st)))
			return protocol_error(s, "record out of order");
		return verbs[i].f(q, s, &c);
	}
	protocol_error(s, "unknown record type");
}

/* parse - handle complete records until E (the batch waits) or none */
static void
parse(struct qsrv *q, struct qsess *s)
{
	const unsigned char *p;
	uint32_t n;

	while (s->st == QS_IDLE || s->st == QS_MSG) {
		if (s->in.len - s->pos < REC_HDR)
			break;
		p = (const unsigned char *)s->in.p + s->pos;
		n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (n > rec_limit(q)) {
			protocol_error(s, "record too long");
			break;
		}
		if (s->in.len - s->pos - REC_HDR < n)
			break;
		s->pos += REC_HDR + n;
		handle(q, s, p + REC_HDR, n);
	}
	buf_drop(&s->in, s->pos);
	s->pos = 0;
}

/* complete - whether a whole record is waiting in s->in */
static int
complete(const struct qsess *s)
{
	const unsigned char *p = (const unsigned char *)s->in.p;
	uint32_t n;

	if (s->in.len < REC_HDR)
		return 0;
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return s->in.len - REC_HDR >= n;
}

/* readable - take what the client sent; EOF ends the session */
static void
readable(struct qsess *s)
{
	ssize_t k;

	if (buf_reserve(&s->in, QS_READ_CHUNK) == -1) {
		s->st = QS_DEAD;
		return;
	}
	k = read(s->rfd, s->in.p + s->in.len, QS_READ_CHUNK);
	if (k > 0) {
		s->in.len += (size_t)k;
		s->last = time(NULL);
	} else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
		s->eof = 1;
	}
}

static void
flush_out(struct qsess *s)
{
	ssize_t k;

	while (s->out.len > 0) {
		k = write(s->wfd, s->out.p, s->out.len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return;
		if (k <= 0) {
			s->out.len = 0;
			s->eof = 1;
			return;
		}
		buf_drop(&s->out, (size_t)k);
	}
}

static void
log_queued(const struct qsess *s)
{
	struct logln l;

	log_start(&l, "queued");
	log_s(&l, "id", s->qw.id);
	log_u(&l, "size", s->env.size);
	log_u(&l, "nrcpt", s->env.nrcpt);
	log_s(&l, "sender", s->env.sender);
	log_s(&l, "client", s->env.client);
	log_s(&l, "peer", s->peer);
	log_done(&l);
}

/* poke - wake send: one byte on lock/trigger, the FIFO kept open */
static void
poke(struct qsrv *q)
{
	ssize_t k;

	if (q->trig < 0 && (q->trig = openat(q->dirfd, "lock/trigger",
	    O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return;		/* no reader: send scans todo/ at start */
	do
		k = write(q->trig, "T", 1);
	while (k == -1 && errno == EINTR);
	if (k == -1 && errno != EAGAIN) {	/* EPIPE: reader gone */
		close(q->trig);
		q->trig = -1;
	}
}

/* answer - K or Z for a session whose commit is over */
static void
answer(struct qsrv *q, struct qsess *s)
{
	if (s->qw.made == (QW_MESS | QW_TODO)) {
		q->committed++;
		log_queued(s);
		reply(s, 'K', s->qw.id, NULL);
	} else {
		log_fail(s, "tempfail", s->qw.op, s->qw.err);
		tempfail(s, s->qw.op ? s->qw.op : "commit", s->qw.err);
	}
	env_free(&s->env);
	s->qw.id[0] = '\0';
	s->size = 0;
	s->st = QS_IDLE;
}

/* commit_batch - every message whose E arrived: prepare, publish, answer.
 * fsync mode: qw_publish (the renames to todo/, then each file's
 * fdatasync and mess/ and todo/, at once).
 * syncfs mode: the renames to todo/, then one syncfs for the data and
 * the names together. */
static void
commit_batch(struct qsrv *q)
{
	struct qw **v;
	size_t n = 0;

	if ((v = calloc(q->n ? q->n : 1, sizeof *v)) == NULL)
		return;		/* they stay in QS_COMMIT for next time */
	for (size_t i = 0; i < q->n; i++) {
		struct qsess *s = q->s[i];

		if (s->st != QS_COMMIT)
			continue;
		s->open = 0;	/* qw_prepare/qw_publish clean up now */
		if (qw_prepare(&s->qw, &s->env, q->sync) == 0)
			v[n++] = &s->qw;
	}
	if (q->sync != QW_SYNC_FS)
		(void)qw_publish(v, n);
	else if (n > 0 && qw_rename(v, n) > 0) {
		if (syncfs(q->dirfd) == -1)
			qw_fail(v, n, "syncfs");
		else
			poke(q);	/* qw_publish pokes for itself */
	}
	free(v);
	for (size_t i = 0; i < q->n; i++)
		if (q->s[i]->st == QS_COMMIT)
			answer(q, q->s[i]);
}

static void
sess_free(struct qsess *s)
{
	if (s->st == QS_MSG || s->st == QS_COMMIT)
		log_fail(s, "aborted", "client gone", 0);
	drop_msg(s);
	close(s->rfd);
	if (s->wfd != s->rfd)
		close(s->wfd);
	buf_free(&s->in);
	buf_free(&s->out);
	free(s);
}

/* reap - close sessions that are done, keeping the order of the rest */
static void
reap(struct qsrv *q, time_t now)
{
	size_t j = 0;

	for (size_t i = 0; i < q->n; i++) {
		struct qsess *s = q->s[i];

		if (q->idle_ms > 0 && (now - s->last) * 1000 > q->idle_ms) {
			if (s->st != QS_DEAD)
				log_fail(s, "timeout", "client idle", 0);
			s->st = QS_DEAD;
			s->out.len = 0;	/* it reads nothing: stop trying */
		}
		/* done once its answers are out (a client that half-closed
		 * after E still gets its K) */
		if (s->out.len == 0 && (s->st == QS_DEAD ||
		    (s->eof && !complete(s)))) {
			if (s->eof && s->in.len > 0 && s->st != QS_DEAD)
				log_fail(s, "protocol_error",
				    "EOF inside a record", 0);
			sess_free(s);
			continue;
		}
		q->s[j++] = s;
	}
	q->n = j;
}

static void
accept_all(struct qsrv *q)
{
	struct ucred cr;
	socklen_t len;
	char peer[QS_PEER_MAX];
	int fd;

	while (q->n < q->max_clients) {
		fd = accept4(q->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_kv("warning", "op", "accept", "err",
				    strerror(errno), NULL);
			return;
		}
		len = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
			snprintf(peer, sizeof peer, "uid:%u,pid:%d",
			    (unsigned)cr.uid, (int)cr.pid);
		else
			snprintf(peer, sizeof peer, "unknown");
		if (qsrv_add(q, fd, fd, peer) == -1) {
			close(fd);
			return;
		}
	}
}

/* wants_read - whether a session should be polled for input */
static int
wants_read(const struct qsess *s)
{
	return !s->eof && s->st != QS_DEAD && !complete(s);
}

static int
poll_timeout(const struct qsrv *q)
{
	for (size_t i = 0; i < q->n; i++)
		if (complete(q->s[i]) && q->s[i]->st != QS_DEAD)
			return 0;
	return q->n > 0 ? 1000 : -1;
}

/* one_round - poll, read, handle, commit the batch, answer */
static int
one_round(struct qsrv *q, struct pollfd *pf)
{
	size_t np = 0, base;
	int r;

	if (q->lfd >= 0) {
		pf[np].fd = q->n < q->max_clients ? q->lfd : -1;
		pf[np++].events = POLLIN;
	}
	base = np;
	for (size_t i = 0; i < q->n; i++) {
		pf[np].fd = wants_read(q->s[i]) ? q->s[i]->rfd : -1;
		pf[np++].events = POLLIN;
		pf[np].fd = q->s[i]->out.len ? q->s[i]->wfd : -1;
		pf[np++].events = POLLOUT;
	}
	if ((r = poll(pf, np, poll_timeout(q))) == -1)
		return errno == EINTR ? 0 : -1;
	for (size_t i = 0; i < q->n; i++)
		if (pf[base + 2 * i].revents)
			readable(q->s[i]);
	for (size_t i = 0; i < q->n; i++)
		parse(q, q->s[i]);
	/* what parsing answered (I for M, refusals) goes out now, not
	 * after the batch's barrier: a client's DATA waits for its I */
	for (size_t i = 0; i < q->n; i++)
		flush_out(q->s[i]);
	commit_batch(q);
	for (size_t i = 0; i < q->n; i++)
		flush_out(q->s[i]);
	if (q->lfd >= 0 && pf[0].revents)
		accept_all(q);
	reap(q, time(NULL));
	return 0;
}

/* qsrv_run - the loop */
int
qsrv_run(struct qsrv *q)
{
	struct pollfd *pf = NULL;
	size_t pcap = 0;

	for (;;) {
		if (q->one_shot && q->n == 0)
			break;
		if (2 * q->n + 1 > pcap) {
			struct pollfd *np;
			size_t ncap = 2 * q->cap + 1;

			if ((np = reallocarray(pf, ncap, sizeof *np)) == NULL)
				return free(pf), -1;
			pf = np;
			pcap = ncap;
		}
		if (one_round(q, pf) == -1) {
			free(pf);
			return -1;
		}
	}
	free(pf);
	return 0;
}

/* qsrv_free - close every client (their messages are removed) */
void
qsrv_free(struct qsrv *q)
{
	for (size_t i = 0; i < q->n; i++)
		sess_free(q->s[i]);
	if (q->trig >= 0)
		close(q->trig);
	q->trig = -1;
	free(q->s);
	q->s = NULL;
	q->n = q->cap = 0;
}
