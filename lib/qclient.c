/* qclient: the client side of the queue protocol (doc/protocols.md,
 * "queue"), for smtpd and inject.  Talks to the long-lived service on its
 * UNIX socket, or to a sandmail-queue spawned on a socket pair.  Every
 * read has a timeout, so a dead or stuck queue is a temporary failure,
 * never a hang.
 *
 * Data is sent as D records built in place in the writer's buffer: while a
 * D record is open, it starts at offset 0 of qc->wr.b (every other record
 * is flushed at once, since a reply follows), so its length is patched in
 * when the buffer fills or the message ends.  One write per 16 KiB, however
 * the caller slices the message. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "env.h"
#include "qclient.h"
#include "rec.h"
#include "usock.h"

#define QC_GREETING	"sandmail-queue 1"
#define QC_TIMEOUT_MS	(300 * 1000)	/* an fsync under load is slow */
#define QC_REPLY_MAX	4096
#define QC_DATA_MAX	65536
#define QC_ENV_MAX	(64u * 1024 * 1024)

/* settext - a failure of our own: the reason, status 4.3.0 */
static void
settext(struct qc *q, const char *what, const char *why)
{
	int n = snprintf(q->text, sizeof q->text, "%s%s%s", what,
	    why ? ": " : "", why ? why : "");

	if (n < 0)
		q->text[0] = '\0';
	memcpy(q->status, "4.3.0", 6);
}

/* status_ok - s[0..n) is an RFC 3463 status code of class cls:
 * cls "." 1*3digit "." 1*3digit */
static int
status_ok(const char *s, size_t n, char cls)
{
	size_t i = 2, k;

	if (n < 5 || n >= QC_STATUS_MAX || s[0] != cls || s[1] != '.')
		return 0;
	for (int part = 0; part < 2; part++) {
		for (k = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			k++;
		if (k < 1 || k > 3)
			return 0;
		if (part == 0 && (i == n || s[i++] != '.'))
			return 0;
	}
	return i == n;
}

static int
temp(struct qc *q, const char *what)
{
	settext(q, what, errno ? strerror(errno) : NULL);
	return QC_TEMP;
}

/* setup - every field but the two buffers, which need no zeroing (they
 * are read only up to len): not touching them keeps 8 pages clean, and a
 * forked smtpd session does not copy or fault them in */
static void
setup(struct qc *q, int fd, pid_t pid)
{
	q->fd = fd;
	q->pid = pid;
	q->text[0] = '\0';
	q->status[0] = '\0';
	rd_init(&q->rd, fd, NULL, NULL);
	wr_init(&q->wr, fd, NULL, NULL);
	q->rd.timeout_ms = QC_TIMEOUT_MS;
	q->wr.timeout_ms = QC_TIMEOUT_MS;
}

/* greeting - read V and check the version */
static int
greeting(struct qc *q)
{
	struct buf b = BUF_INIT(QC_REPLY_MAX);
	struct cur c;
	const char *s;
	size_t n;
	uint8_t t;
	int ok;

	ok = rec_read(&q->rd, &b, QC_REPLY_MAX) == 1;
	cur_init(&c, b.p, b.len);
	ok = ok && cur_u8(&c, &t) == 0 && t == 'V' &&
	    cur_str(&c, &s, &n) == 0 && cur_end(&c) == 0 &&
	    n == sizeof QC_GREETING - 1 && memcmp(s, QC_GREETING, n) == 0;
	buf_free(&b);
	if (!ok) {
		settext(q, "queue: no greeting or wrong version", NULL);
		return errno = EPROTO, -1;
	}
	return 0;
}

/* qc_connect - the queue service on a UNIX socket */
int
qc_connect(struct qc *q, const char *sockpath)
{
	int fd;

	setup(q, -1, -1);
	if ((fd = usock_connect(sockpath, 0)) == -1) {
		if (errno != ENAMETOOLONG)
			temp(q, "queue: connect");
		return -1;
	}
	setup(q, fd, -1);
	if (greeting(q) == -1) {
		qc_close(q);
		return -1;
	}
	return 0;
}

/* qc_attach - a connection to the service made by someone else (smtpd's
 * listener); its greeting awaited at most wait_ms */
int
qc_attach(struct qc *q, int fd, int wait_ms)
{
	setup(q, fd, -1);
	q->rd.timeout_ms = wait_ms;
	if (greeting(q) == -1) {
		settext(q, "queue: no greeting in time (busy or down)", NULL);
		qc_close(q);
		return -1;
	}
	q->rd.timeout_ms = QC_TIMEOUT_MS;
	return 0;
}

/* qc_spawn - fork+exec the queue program on a socket pair */
int
qc_spawn(struct qc *q, const char *prog, const char *conf)
{
	int sv[2];
	pid_t pid;

	setup(q, -1, -1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* fd 0 and 1 are the socket; dup2 clears CLOEXEC */
		if (dup2(sv[1], 0) == -1 || dup2(sv[1], 1) == -1)
			_exit(111);
		if (conf != NULL)
			execl(prog, "sandmail-queue", "-c", conf, (char *)NULL);
		else
			execl(prog, "sandmail-queue", (char *)NULL);
		_exit(111);
	}
	close(sv[1]);
	setup(q, sv[0], pid);
	if (greeting(q) == -1) {
		qc_close(q);
		return -1;
	}
	return 0;
}

/* reply - one answer record: I/K with an ID, Z or X with text and
 * status */
static int
reply(struct qc *q, uint8_t want, char id[QID_MAX + 1])
{
	struct buf b = BUF_INIT(QC_REPLY_MAX);
	struct cur c;
	const char *s, *st = NULL;
	size_t n, nst = 0;
	uint8_t t;
	int r;

	if (rec_read(&q->rd, &b, QC_REPLY_MAX) != 1) {
		if (errno == 0)
			errno = EPIPE;
		r = temp(q, "queue: reading its answer");
		buf_free(&b);
		return r;
	}
	cur_init(&c, b.p, b.len);
	if (cur_u8(&c, &t) == -1 || cur_str(&c, &s, &n) == -1 ||
	    (t != want && t != 'Z' && t != 'X') || (t != want &&
	    (cur_str(&c, &st, &nst) == -1 || !status_ok(st, nst,
	    t == 'Z' ? '4' : '5'))) || cur_end(&c) == -1) {
		settext(q, "queue: protocol error", NULL);
		buf_free(&b);
		return QC_TEMP;
	}
	if (t == want) {
		if (id != NULL) {
			if (n == 0 || n > QID_MAX || memchr(s, 0, n)) {
				settext(q, "queue: bad ID", NULL);
				buf_free(&b);
				return QC_TEMP;
			}
			memcpy(id, s, n);
			id[n] = '\0';
		}
		r = QC_OK;
	} else {
		if (n >= sizeof q->text)
			n = sizeof q->text - 1;
		memcpy(q->text, s, n);
		q->text[n] = '\0';
		memcpy(q->status, st, nst);
		q->status[nst] = '\0';
		r = t == 'X' ? QC_PERM : QC_TEMP;
	}
	buf_free(&b);
	return r;
}

/* send_rec - one small record, flushed */
static int
send_rec(struct qc *q, const struct buf *payload)
{
	if (rec_write(&q->wr, payload->p, payload->len) == -1 ||
	    wr_flush(&q->wr) == -1)
		return -1;
	return 0;
}

/* qc_begin_send - M, without waiting for the answer */
int
qc_begin_send(struct qc *q)
{
	struct buf b = BUF_INIT(8);
	int r = QC_OK;

	q->text[0] = '\0';
	q->status[0] = '\0';
	if (q->fd < 0)
		return errno = EBADF, temp(q, "queue: not connected");
	q->wr.len = 0;
	if (pk_u8(&b, 'M') == -1 || send_rec(q, &b) == -1)
		r = temp(q, "queue: writing");
	buf_free(&b);
	return r;
}

/* qc_begin_wait - the queue's answer to M: I with the ID */
int
qc_begin_wait(struct qc *q, char id[QID_MAX + 1])
{
	return reply(q, 'I', id);
}

/* qc_begin - M; the queue answers I with the ID */
int
qc_begin(struct qc *q, char id[QID_MAX + 1])
{
	int r = qc_begin_send(q);

	return r == QC_OK ? qc_begin_wait(q, id) : r;
}

static void
put32(char *h, size_t n)
{
	h[0] = (char)(n >> 24), h[1] = (char)(n >> 16);
	h[2] = (char)(n >> 8), h[3] = (char)n;
}

/* close_data - patch the length of the open D record, if any */
static void
close_data(struct qc *q)
{
	if (q->wr.len > 0)
		put32(q->wr.b, q->wr.len - REC_HDR);
}

/* qc_data - message bytes, packed into D records of up to 16 KiB */
int
qc_data(struct qc *q, const void *p, size_t n)
{
	const char *s = p;
	size_t room, k;

	if (q->fd < 0)
		return errno = EBADF, -1;
	while (n > 0) {
		if (q->wr.len == 0) {
			memset(q->wr.b, 0, REC_HDR);
			q->wr.b[REC_HDR] = 'D';
			q->wr.len = REC_HDR + 1;
		}
		room = sizeof q->wr.b - q->wr.len;
		k = n < room ? n : room;
		memcpy(q->wr.b + q->wr.len, s, k);
		q->wr.len += k;
		s += k;
		n -= k;
		if (q->wr.len == sizeof q->wr.b) {
			close_data(q);
			if (wr_flush(&q->wr) == -1)
				return -1;
		}
	}
	return 0;
}

/* qc_end - the envelope; K means committed */
int
qc_end(struct qc *q, const struct env *e)
{
	struct buf b = BUF_INIT(QC_ENV_MAX);
	int r;

	q->text[0] = '\0';
	q->status[0] = '\0';
	if (q->fd < 0)
		return errno = EBADF, temp(q, "queue: not connected");
	close_data(q);
	if (pk_u8(&b, 'E') == -1 || env_encode(&b, e) == -1) {
		r = temp(q, "queue: envelope");
		buf_free(&b);
		(void)qc_abort(q);
		return r;
	}
	if (send_rec(q, &b) == -1)
		r = temp(q, "queue: writing");
	else
		r = reply(q, 'K', NULL);
	buf_free(&b);
	return r;
}

/* qc_abort - forget the message begun (no answer comes) */
int
qc_abort(struct qc *q)
{
	struct buf b = BUF_INIT(8);
	int r;

	if (q->fd < 0)
		return errno = EBADF, -1;
	close_data(q);
	r = pk_u8(&b, 'A') == -1 || send_rec(q, &b) == -1 ? -1 : 0;
	buf_free(&b);
	return r;
}

/* qc_flush - F: ask send to run the queue for domain ("" all) */
int
qc_flush(struct qc *q, const char *domain)
{
	struct buf b = BUF_INIT(512);
	int r;

	q->text[0] = '\0';
	q->status[0] = '\0';
	if (q->fd < 0)
		return errno = EBADF, temp(q, "queue: not connected");
	q->wr.len = 0;
	if (strlen(domain) > 255) {
		settext(q, "domain too long", NULL);
		return QC_PERM;
	}
	if (pk_u8(&b, 'F') == -1 || pk_cstr(&b, domain) == -1 ||
	    send_rec(q, &b) == -1)
		r = temp(q, "queue: writing");
	else
		r = reply(q, 'K', NULL);
	buf_free(&b);
	return r;
}

/* qc_close - hang up; reap a spawned queue */
void
qc_close(struct qc *q)
{
	int st;

	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	if (q->pid > 0) {
		while (waitpid(q->pid, &st, 0) == -1 && errno == EINTR)
			;
		q->pid = -1;
	}
}
