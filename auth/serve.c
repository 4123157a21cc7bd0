/* serve: sandmail-auth's loop.  One process answers every client (smtpd
 * sessions and pop3d monitors, which it distrusts) on its socket, or one
 * client on fd 0/1; the argon2id work runs in a fixed pool of processes
 * (authd_pool), so at most nworkers checks, and nworkers times
 * passwd_memlimit of memory, are ever under way, however many clients
 * ask.  A request beyond that waits in a bounded list (auth_max_waiting;
 * more is 454 at once) for at most auth_max_wait (then 454), and the one
 * with the fewest failures counted against its address, network and
 * login goes first, so an honest client is not queued behind a guesser's
 * retries.  A failure is answered after the guard's delay (guard.h), a
 * locked-out address, network or login is answered D without a check,
 * and a connection with auth_max_failures failures is answered D and
 * closed.  An unknown login is verified against a dummy hash of the same
 * cost, so timing tells nothing.  The hashes never leave this service:
 * a client gets yes, no, or try later. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "authc.h"
#include "authd.h"
#include "exitcode.h"
#include "fdpass.h"
#include "log.h"
#include "rec.h"
#include "sbx.h"

#define IN_MAX	(AUTH_REC_MAX + 4)
#define TICK_MS	1000

enum cstate {
	C_READ,			/* waiting for a request */
	C_WAIT,			/* its check waits for a worker */
	C_WORK,			/* a worker checks it */
	C_DELAY,		/* its answer waits for its time */
};

struct client {
	int		 in, out;
	enum cstate	 st;
	unsigned char	*buf;		/* the request being read */
	size_t		 len;
	long long	 since;		/* last request (idle), or queued at */
	long long	 due;		/* C_DELAY: answer then */
	uint64_t	 seq;		/* arrival order among the waiting */
	unsigned long	 fails;		/* in this connection */
	unsigned	 score;		/* guard_score when queued */
	int		 dummy;		/* checked against the dummy hash */
	struct guard_who who;
	struct buf	 job;		/* hash and password for a worker */
	enum auth_status ans;
	char		 text[AUTH_LOGIN_MAX + 1];	/* canon, or why */
	char		 service[16], client[64];
	char		 login[AUTH_LOGIN_MAX + 1];
	size_t		 llen;
};

static struct client **cl;
static size_t ncl;
static int *wbusy;		/* the client each worker checks for, or -1 */
static uint64_t seqno;
static unsigned nwait;
static int proto_err;		/* a client broke the protocol */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the workers --------------------------------------------------- */

/* worker_run - one argon2id process: a record (hash, password) in, one
 * byte ('1' right, '0' wrong) out, until EOF */
static void __attribute__((noreturn))
worker_run(int fd)
{
	struct buf rec = BUF_INIT(IN_MAX);
	const char *h, *p;
	size_t hn, pn;
	struct rd r;
	struct cur c;
	char ok;

	rd_init(&r, fd, NULL, NULL);
	r.timeout_ms = -1;
	while (rec_read(&r, &rec, IN_MAX) == 1) {
		cur_init(&c, rec.p, rec.len);
		if (cur_str(&c, &h, &hn) == -1 || cur_str(&c, &p, &pn) == -1 ||
		    cur_end(&c) != 0 || memchr(h, '\0', hn) == NULL)
			_exit(EXIT_TEMP);
		ok = crypto_pwhash_str_verify(h, p, pn) == 0 ? '1' : '0';
		sodium_memzero(rec.p, rec.cap);
		if (write(fd, &ok, 1) != 1)
			_exit(EXIT_TEMP);
	}
	_exit(EXIT_OK);
}


/* authd_pool - the argon2id processes (see authd.h) */
int
authd_pool(struct authd *d, unsigned n, uid_t uid, gid_t gid)
{
	int sv[2];
	pid_t pid;

	if (n > AUTHD_WORKERS_MAX)
		n = AUTHD_WORKERS_MAX;
	/* reaped by the kernel: the service may not wait4 */
	signal(SIGCHLD, SIG_IGN);
	for (d->nworkers = 0; d->nworkers < n; d->nworkers++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		    -1 || (pid = fork()) == -1)
			return -1;
		if (pid == 0) {
			close(sv[0]);
			for (unsigned i = 0; i < d->nworkers; i++)
				close(d->wfd[i]);
			/* no table, no clients: a hash and a password at a
			 * time, from its parent only */
			tbl_close(&d->users);
			authd_worker_enter(uid, gid);
			worker_run(sv[1]);
		}
		close(sv[1]);
		d->wfd[d->nworkers] = sv[0];
	}
	return 0;
}

/* --- the users table, opened again when it changes ------------------ */

/* authd_opener - a process that opens the users table (path, a fixed
 * name) whenever the service sends it a byte, and passes the descriptor
 * back: the sandboxed service cannot open files, and sandmail-passwd
 * replaces the table under it.  It reads nothing but that byte.  As
 * root it becomes uid/gid too (authd_opener_enter), filtered.  0 or -1. */
int
authd_opener(struct authd *d, const char *path0, uid_t uid, gid_t gid)
{
	const char *path = path0;
	int sv[2], fd;
	pid_t pid;
	char b;

	d->ofd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (pid = fork()) == -1)
		return -1;
	if (pid != 0) {
		close(sv[1]);
		d->ofd = sv[0];
		return 0;
	}
	close(sv[0]);
	if ((path = strdup(path)) == NULL)	/* it is the table's */
		_exit(EXIT_TEMP);
	tbl_close(&d->users);
	for (unsigned i = 0; i < d->nworkers; i++)
		close(d->wfd[i]);
	(void)authd_opener_enter(path, uid, gid);
	while (read(sv[1], &b, 1) == 1) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		b = fd >= 0 ? 'o' : errno == ENOENT ? 'n' : 'x';
		if (fd_send(sv[1], &b, 1, fd) == -1)
			_exit(EXIT_TEMP);
		if (fd >= 0)
			close(fd);
	}
	_exit(EXIT_OK);
}

/* same - fd is the file the table has mapped (or both are absent) */
static int
same(const struct tbl *t, int fd)
{
	struct stat st;

	if (fd < 0 || t->fd < 0)
		return fd < 0 && t->fd < 0;
	if (fstat(fd, &st) == -1)
		return 1;	/* keep what we have */
	return st.st_dev == t->dev && st.st_ino == t->ino &&
	    st.st_mtim.tv_sec == t->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == t->mtime.tv_nsec;
}

/* reload - the users table as it is on disk now: the opener opens it (we
 * may not even see its directory), and a file other than the one mapped
 * is mapped instead (the old one stays if the new one does not map) */
static void
reload(struct authd *d)
{
	struct pollfd p = { .fd = d->ofd, .events = POLLIN };
	struct tbl t;
	char b = 'r';
	int fd = -1;

	if (d->ofd < 0)
		return;
	if (write(d->ofd, &b, 1) != 1 || poll(&p, 1, 5000) != 1 ||
	    fd_recv(d->ofd, &b, 1, &fd) != 1 || b == 'x') {
		if (fd >= 0)
			close(fd);
		log_kv("error", "op", "reload", "err", "cannot open the users "
		    "table again", NULL);
		return;
	}
	if (same(&d->users, fd)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (tbl_open_fd(&t, fd, d->users.path) == -1) {
		log_kv("error", "op", "reload", "err", "keeping the old users "
		    "table", NULL);
		return;
	}
	tbl_close(&d->users);
	d->users = t;
	log_kv("reload", "table", "users", NULL);
}

/* --- answers ------------------------------------------------------- */

static void
drop(struct authd *d, size_t i)
{
	struct client *c = cl[i];

	(void)d;
	if (c->st == C_WAIT)
		nwait--;
	for (unsigned w = 0; w < d->nworkers; w++)
		if (wbusy[w] == (int)i)
			wbusy[w] = -2;	/* its answer is thrown away */
	if (c->in >= 0)
		close(c->in);
	if (c->out != c->in && c->out >= 0)
		close(c->out);
	if (c->job.p != NULL)
		sodium_memzero(c->job.p, c->job.cap);
	buf_free(&c->job);
	free(c->buf);
	sodium_memzero(c, sizeof *c);
	free(c);
	cl[i] = NULL;
}

static void
log_check(const char *event, const struct client *c, const char *why,
    unsigned long fails)
{
	struct logln l;

	log_start(&l, event);
	log_s(&l, "service", c->service);
	log_m(&l, "login", c->login, c->llen);
	log_s(&l, "client", c->client);
	if (why != NULL)
		log_s(&l, "reason", why);
	if (fails > 0)
		log_u(&l, "failures", fails);
	log_done(&l);
}

/* answer - the pending answer to the client; a D closes it */
static void
answer(struct authd *d, size_t i)
{
	struct client *c = cl[i];
	struct buf rec = BUF_INIT(AUTH_REC_MAX);
	size_t n;
	ssize_t k;

	if (pk_begin(&rec) == -1 || auth_ans_encode(&rec, c->ans,
	    c->text) == -1 || pk_finish(&rec, 0) == -1) {
		buf_free(&rec);
		drop(d, i);
		return;
	}
	/* small: it fits the socket's buffer, or the client reads nothing */
	n = rec.len;
	k = write(c->out, rec.p, n);
	buf_free(&rec);
	c->st = C_READ;
	c->since = now_ms();
	if (k != (ssize_t)n || c->ans == AUTH_DISCONNECT)
		drop(d, i);
}

static void
set_answer(struct client *c, enum auth_status st, const char *text)
{
	c->ans = st;
	snprintf(c->text, sizeof c->text, "%s", text);
}

/* failed - a wrong password (or an unknown login): delayed, counted */
static void
failed(struct authd *d, struct client *c, const char *why)
{
	long long now = now_ms();

	c->fails++;
	c->due = now + (long long)guard_fail(&d->guard, &c->who, now);
	log_check("auth_fail", c, why, c->fails);
	if (c->fails >= d->max_fail) {
		log_check("auth_disconnect", c, "too many failures", 0);
		set_answer(c, AUTH_DISCONNECT, "too many failures");
	} else
		set_answer(c, AUTH_BAD, "authentication failed");
	c->st = C_DELAY;
}

/* checked - a worker's (or the inline) verdict for client i */
static void
checked(struct authd *d, size_t i, int ok)
{
	struct client *c = cl[i];

	if (c->job.p != NULL)
		sodium_memzero(c->job.p, c->job.cap);
	buf_free(&c->job);
	if (ok && !c->dummy) {
		guard_ok(&d->guard, &c->who, now_ms());
		log_check("auth_ok", c, NULL, 0);
		c->ans = AUTH_OK;	/* text: the canonical login */
		answer(d, i);
		return;
	}
	if (c->dummy)
		failed(d, c, c->text[0] ? c->text : "no such login");
	else
		failed(d, c, "wrong password");
}

static void
temp(struct authd *d, size_t i, const char *why)
{
	struct client *c = cl[i];

	if (c->job.p != NULL)
		sodium_memzero(c->job.p, c->job.cap);
	buf_free(&c->job);
	log_check("auth_temp", c, why, 0);
	set_answer(c, AUTH_TEMP, why);
	answer(d, i);
}

/* --- requests ------------------------------------------------------ */

static void
copy_field(char *dst, size_t sz, const char *p, size_t n)
{
	if (n >= sz)
		n = sz - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

/* prepare - the job for a request: its hash (or the dummy), its
 * canonical login; 0, or -1 answered TEMP */
static int
prepare(struct authd *d, size_t i, const struct auth_req *q)
{
	struct client *c = cl[i];
	struct buf hash = BUF_INIT(AUTHD_HASH_MAX);
	struct buf canon = BUF_INIT(AUTH_FIELD_MAX);
	const char *h = d->dummy;
	int r = 0;

	c->dummy = 1;
	c->text[0] = '\0';
	reload(d);		/* a password just set counts now */
	if (users_login_ok(q->login, q->llen) &&
	    (r = authd_lookup(d, q->login, q->llen, &hash, &canon)) == -1) {
		buf_free(&hash);
		buf_free(&canon);
		temp(d, i, "users table");
		return -1;
	}
	if (r == 1) {
		if (buf_cstr(&hash) == 0 && strlen(hash.p) == hash.len &&
		    buf_cstr(&canon) == 0) {
			h = hash.p;
			c->dummy = 0;
			copy_field(c->text, sizeof c->text, canon.p,
			    canon.len);
		} else
			snprintf(c->text, sizeof c->text, "%s",
			    "bad hash in users table");
	}
	c->job.max = IN_MAX;
	c->job.len = 0;
	r = pk_begin(&c->job) == -1 || pk_str(&c->job, h, strlen(h) + 1) ==
	    -1 || pk_str(&c->job, q->pass, q->plen) == -1 ||
	    pk_finish(&c->job, 0) == -1 ? -1 : 0;
	buf_free(&hash);
	buf_free(&canon);
	if (r == -1) {
		temp(d, i, "memory");
		return -1;
	}
	return 0;
}

/* rescore - the waiting requests' failure counts as they are now (a
 * guesser's network gathers failures while its requests wait) */
static void
rescore(struct authd *d)
{
	long long now = now_ms();

	for (size_t i = 0; i < ncl; i++)
		if (cl[i] != NULL && cl[i]->st == C_WAIT)
			cl[i]->score = guard_score(&d->guard, &cl[i]->who, now);
}

/* make_room - the wait list is full: the waiting request with the most
 * failures counted against it (the newest of those) makes room for one
 * with fewer, and is answered 454; 0, or -1 (the newcomer is the worst) */
static int
make_room(struct authd *d, unsigned score)
{
	struct client *w = NULL;
	size_t i, wi = 0;

	rescore(d);
	for (i = 0; i < ncl; i++)
		if (cl[i] != NULL && cl[i]->st == C_WAIT && (w == NULL ||
		    cl[i]->score > w->score || (cl[i]->score == w->score &&
		    cl[i]->seq > w->seq)))
			w = cl[i], wi = i;
	if (w == NULL || w->score <= score)
		return -1;
	nwait--;
	w->st = C_READ;
	temp(d, wi, "busy");
	return 0;
}

/* request - a whole request from client i */
static void
request(struct authd *d, size_t i, const unsigned char *p, size_t n)
{
	struct client *c = cl[i];
	struct auth_req q;
	long long now = now_ms();

	if (auth_req_decode(&q, p, n) == -1) {
		log_kv("protocol", "error", "bad request", NULL);
		proto_err = 1;
		drop(d, i);
		return;
	}
	copy_field(c->service, sizeof c->service, q.service, q.slen);
	copy_field(c->client, sizeof c->client, q.client, q.clen);
	c->llen = q.llen < sizeof c->login ? q.llen : sizeof c->login - 1;
	memcpy(c->login, q.login, c->llen);
	guard_who(&d->guard, &c->who, c->client, q.login, q.llen);
	if (guard_locked(&d->guard, &c->who, now)) {
		/* no check at all: right or wrong, the answer is the same */
		log_check("auth_locked", c, "locked out", 0);
		set_answer(c, AUTH_DISCONNECT, "too many failures");
		c->due = now + (long long)d->guard.cfg.delay_ms;
		c->st = C_DELAY;
		return;
	}
	if (d->nworkers > 0 && nwait >= d->max_wait && make_room(d,
	    guard_score(&d->guard, &c->who, now)) == -1) {
		temp(d, i, "busy");
		return;
	}
	if (prepare(d, i, &q) == -1)
		return;
	sodium_memzero((char *)q.pass, q.plen);
	if (d->nworkers == 0) {
		/* one client on fd 0/1 and no pool: check it here */
		struct cur k;
		const char *h, *pw;
		size_t hn, pn;
		uint32_t len;

		cur_init(&k, c->job.p, c->job.len);
		(void)cur_u32(&k, &len);
		(void)cur_str(&k, &h, &hn);
		(void)cur_str(&k, &pw, &pn);
		checked(d, i, crypto_pwhash_str_verify(h, pw, pn) == 0);
		return;
	}
	c->st = C_WAIT;
	c->since = now;
	c->seq = seqno++;
	c->score = guard_score(&d->guard, &c->who, now);
	nwait++;
}

/* readable - bytes from client i; a whole record is a request */
static void
readable(struct authd *d, size_t i)
{
	struct client *c = cl[i];
	uint32_t want;
	ssize_t k;

	if (c->buf == NULL && (c->buf = malloc(IN_MAX)) == NULL) {
		drop(d, i);
		return;
	}
	k = read(c->in, c->buf + c->len, IN_MAX - c->len);
	if (k <= 0) {
		if (k == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		drop(d, i);
		return;
	}
	c->len += (size_t)k;
	if (c->len < 4)
		return;
	want = (uint32_t)c->buf[0] << 24 | (uint32_t)c->buf[1] << 16 |
	    (uint32_t)c->buf[2] << 8 | c->buf[3];
	if (want > AUTH_REC_MAX) {
		log_kv("protocol", "error", "request too long", NULL);
		proto_err = 1;
		drop(d, i);
		return;
	}
	if (c->len < 4 + (size_t)want)
		return;
	if (c->len > 4 + (size_t)want) {
		/* one request at a time: nothing may follow it */
		log_kv("protocol", "error", "pipelined request", NULL);
		proto_err = 1;
		drop(d, i);
		return;
	}
	c->len = 0;
	request(d, i, c->buf + 4, want);
	if (cl[i] != NULL) {
		sodium_memzero(cl[i]->buf, IN_MAX);
		free(cl[i]->buf);
		cl[i]->buf = NULL;
	}
}

/* --- the loop ------------------------------------------------------ */

static int
add_client(struct authd *d, int in, int out)
{
	struct buf rec = BUF_INIT(128);
	struct client *c;
	size_t i;
	int r;

	for (i = 0; i < ncl && cl[i] != NULL; i++)
		;
	if (i == ncl || (c = calloc(1, sizeof *c)) == NULL)
		return -1;
	c->in = in;
	c->out = out;
	c->st = C_READ;
	c->since = now_ms();
	c->job = (struct buf)BUF_INIT(IN_MAX);
	r = pk_begin(&rec) == -1 || pk_u8(&rec, 'V') == -1 ||
	    pk_cstr(&rec, AUTH_VERSION) == -1 || pk_finish(&rec, 0) == -1 ||
	    rec_send(out, &rec) == -1 ? -1 : 0;
	buf_free(&rec);
	if (r == -1) {
		free(c);
		return -1;
	}
	cl[i] = c;
	(void)d;
	return 0;
}

static size_t
nclients(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ncl; i++)
		n += cl[i] != NULL;
	return n;
}

/* dispatch - free workers take the waiting checks, fewest failures
 * first, then the oldest */
static void
dispatch(struct authd *d)
{
	struct client *b;
	size_t i, best;
	ssize_t k;

	if (nwait > 0)
		rescore(d);
	for (unsigned w = 0; w < d->nworkers && nwait > 0; w++) {
		if (wbusy[w] != -1)
			continue;
		b = NULL;
		best = 0;
		for (i = 0; i < ncl; i++)
			if (cl[i] != NULL && cl[i]->st == C_WAIT &&
			    (b == NULL || cl[i]->score < b->score ||
			    (cl[i]->score == b->score && cl[i]->seq < b->seq)))
				b = cl[i], best = i;
		nwait--;
		k = write(d->wfd[w], b->job.p, b->job.len);
		sodium_memzero(b->job.p, b->job.cap);
		if (k != (ssize_t)b->job.len) {
			temp(d, best, "worker gone");
			close(d->wfd[w]);
			d->wfd[w] = -1;
			wbusy[w] = -3;	/* dead */
			continue;
		}
		b->st = C_WORK;
		wbusy[w] = (int)best;
	}
}

/* worker_done - worker w answered (or died) */
static void
worker_done(struct authd *d, unsigned w)
{
	char ok;
	ssize_t k = read(d->wfd[w], &ok, 1);
	int who = wbusy[w];

	if (k == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	wbusy[w] = -1;
	if (k != 1) {
		log_kv("error", "op", "argon2 worker", "err", "gone", NULL);
		close(d->wfd[w]);
		d->wfd[w] = -1;
		wbusy[w] = -3;
	}
	if (who < 0 || cl[who] == NULL)
		return;
	if (k != 1)
		temp(d, (size_t)who, "worker gone");
	else
		checked(d, (size_t)who, ok == '1');
}

/* timers - delayed answers due, waits too long, idle clients; the ms
 * until the next one */
static int
timers(struct authd *d)
{
	static long long last;
	long long now = now_ms(), next = now + TICK_MS;

	if (now - last >= TICK_MS) {
		last = now;
		reload(d);
	}

	for (size_t i = 0; i < ncl; i++) {
		struct client *c = cl[i];

		if (c == NULL)
			continue;
		if (c->st == C_DELAY && c->due <= now)
			answer(d, i);
		else if (c->st == C_DELAY && c->due < next)
			next = c->due;
		else if (c->st == C_WAIT &&
		    now - c->since >= (long long)d->wait_ms) {
			nwait--;
			c->st = C_READ;
			temp(d, i, "busy");
		} else if (c->st == C_READ && d->timeout_ms > 0 &&
		    now - c->since >= d->timeout_ms)
			drop(d, i);
	}
	return (int)(next - now);
}

static void
accept_some(struct authd *d, int lfd)
{
	int fd;

	for (int k = 0; k < 64 && nclients() < d->max_clients; k++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC |
		    SOCK_NONBLOCK)) == -1)
			return;
		if (add_client(d, fd, fd) == -1)
			close(fd);
	}
}

/* run - the loop over the clients, the workers and lfd (-1: none; the
 * loop ends when its one client has gone) */
static int
run(struct authd *d, int lfd, int in, int out)
{
	struct pollfd *pf;
	size_t *pi, i;
	nfds_t n, nw;
	int ms;

	nwait = 0;
	ncl = lfd >= 0 ? d->max_clients : 1;
	if ((cl = calloc(ncl, sizeof *cl)) == NULL ||
	    (wbusy = calloc(AUTHD_WORKERS_MAX, sizeof *wbusy)) == NULL ||
	    (pf = calloc(ncl + AUTHD_WORKERS_MAX + 1, sizeof *pf)) == NULL ||
	    (pi = calloc(ncl + AUTHD_WORKERS_MAX + 1, sizeof *pi)) == NULL)
		return EXIT_TEMP;
	for (i = 0; i < AUTHD_WORKERS_MAX; i++)
		wbusy[i] = -1;
	if (lfd < 0 && add_client(d, in, out) == -1)
		return EXIT_TEMP;
	for (;;) {
		ms = timers(d);
		dispatch(d);
		if (lfd < 0 && nclients() == 0)
			return proto_err ? EXIT_TEMP : EXIT_OK;
		n = 0;
		for (unsigned w = 0; w < d->nworkers; w++)
			if (d->wfd[w] >= 0) {
				pf[n].fd = d->wfd[w];
				pf[n].events = POLLIN;
				pi[n++] = w;
			}
		nw = n;
		for (i = 0; i < ncl; i++)
			if (cl[i] != NULL) {
				pf[n].fd = cl[i]->in;
				/* one request at a time: EOF is seen anyway
				 * (POLLHUP), and a request sent early stays in
				 * the socket until the answer is out */
				pf[n].events = cl[i]->st == C_READ ? POLLIN : 0;
				pi[n++] = i;
			}
		if (lfd >= 0 && nclients() < d->max_clients) {
			pf[n].fd = lfd;
			pf[n].events = POLLIN;
			pi[n++] = (size_t)-1;
		}
		if (poll(pf, n, ms < 0 ? 0 : ms) == -1) {
			if (errno == EINTR)
				continue;
			return EXIT_TEMP;
		}
		for (i = 0; i < nw; i++)
			if (pf[i].revents != 0)
				worker_done(d, (unsigned)pi[i]);
		for (; i < n; i++) {
			if (pf[i].revents == 0)
				continue;
			if (pi[i] == (size_t)-1)
				accept_some(d, lfd);
			else if (cl[pi[i]] == NULL)
				continue;
			else if (cl[pi[i]]->st == C_READ)
				readable(d, pi[i]);
			else if (pf[i].revents & (POLLHUP | POLLERR))
				drop(d, pi[i]);
		}
	}
}

/* authd_run - one client on in/out */
int
authd_run(struct authd *d, int in, int out)
{
	return run(d, -1, in, out);
}

/* authd_serve - every client of lfd */
int
authd_serve(struct authd *d, int lfd)
{
	return run(d, lfd, -1, -1);
}
