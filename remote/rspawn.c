/* rspawn: the dispatcher of sandmail-rspawn (see rspawn.h).
 *
 * Why fork without exec: a fork+exec costs milliseconds of CPU here, an
 * SMTP session a few round trips; a worker forked from an already set-up
 * parent, sandboxed on the spot and kept while its connection is useful,
 * costs neither an exec nor a TCP/TLS handshake for the next message to
 * the same route. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "exitcode.h"
#include "fdpass.h"
#include "job.h"
#include "log.h"
#include "rspawn.h"

struct worker {
	struct worker	*next;
	pid_t		 pid;
	int		 sock;
	int		 busy;
	int		 conn;		/* holds an open SMTP connection */
	char		*key;		/* its route, when conn */
	uint32_t	 id, nrcpt;	/* the job it has */
	long long	 idle_since;
};

struct pjob {
	struct pjob	*next;
	char		*msg;
	size_t		 len;
	int		 fd;
	char		*key;
	uint32_t	 id, nrcpt;
};

/* results waiting for send to read: rspawn never blocks on send, so a
 * send that writes jobs while it does not read cannot deadlock us */
struct outmsg {
	struct outmsg	*next;
	size_t		 len;
	char		 b[];
};

static const struct rspawn_cfg *cfg;
static struct outmsg *outq, **outtail = &outq;
static struct worker *workers;
static struct pjob *queue, **qtail = &queue;
static unsigned nworkers, nqueued;
static int sendsock;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* the route as a string: jobs with equal keys may share a connection.
 * The DANE state, TLSA records and their name are part of it: a
 * connection checked against other records (or none) must not carry a
 * job they changed; so is the recipients' domain when a host has
 * records, as a DANE-TA certificate may bear it (RFC 7672 3.2.2) */
static char *
route_key(const struct rjob *j)
{
	struct buf b = BUF_INIT(JOB_MAX);
	const char *at;

	buf_fmt(&b, "%u|%s|%s|%s", j->proto, j->tls, j->auth_user,
	    j->auth_pass);
	for (uint32_t h = 0; h < j->nhost; h++) {
		buf_fmt(&b, "|%s:%u/%c", j->host[h].name, j->host[h].port,
		    j->host[h].dane ? j->host[h].dane : '-');
		for (uint32_t k = 0; k < j->host[h].ntlsa; k++)
			buf_fmt(&b, "/%s", j->host[h].tlsa[k]);
		if (j->host[h].tlsa_name != NULL)
			buf_fmt(&b, "=%s", j->host[h].tlsa_name);
		for (uint32_t a = 0; a < j->host[h].naddr; a++)
			buf_fmt(&b, ",%s", j->host[h].addr[a]);
		if (j->host[h].ntlsa > 0 && j->nrcpt > 0 &&
		    (at = strrchr(j->rcpt[0].addr, '@')) != NULL)
			buf_fmt(&b, "@%s", at + 1);
	}
	if (buf_cstr(&b) == -1)
		die_temp("job", "memory");
	return b.p;
}

static void
to_send(const void *p, size_t n)
{
	struct outmsg *m;

	if ((m = malloc(sizeof *m + n)) == NULL)
		die_temp("result", "memory");
	m->next = NULL;
	m->len = n;
	memcpy(m->b, p, n);
	*outtail = m;
	outtail = &m->next;
}

/* send what send can take now; -1 only on a real error */
static int
flush_out(void)
{
	while (outq != NULL) {
		struct outmsg *m = outq;

		if (fd_send(sendsock, m->b, m->len, -1) == -1)
			return errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ENOBUFS ? 0 : -1;
		if ((outq = m->next) == NULL)
			outtail = &outq;
		free(m);
	}
	return 0;
}

/* every recipient of a job we cannot run gets a temporary result */
static void
answer_temp(uint32_t id, uint32_t nrcpt, const char *why)
{
	struct rres r;
	struct buf b = BUF_INIT(JOB_MAX);

	memset(&r, 0, sizeof r);
	r.id = id;
	r.mta = "";
	r.nrcpt = nrcpt;
	if ((r.rcpt = calloc(nrcpt ? nrcpt : 1, sizeof *r.rcpt)) == NULL)
		die_temp("answer", "memory");
	for (uint32_t i = 0; i < nrcpt; i++) {
		r.rcpt[i].status = ST_TEMP;
		r.rcpt[i].text = (char *)why;
	}
	if (rres_encode(&b, &r) == -1)
		die_temp("answer", "encode");
	to_send(b.p, b.len);
	free(r.rcpt);
	buf_free(&b);
	log_kv("deferred", "job", why, NULL);
}

static void
worker_drop(struct worker *w)
{
	struct worker **pp;

	for (pp = &workers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	if (w->busy)
		answer_temp(w->id, w->nrcpt, "4.3.0 the SMTP worker died");
	close(w->sock);
	free(w->key);
	free(w);
	nworkers--;
}

static void
reap(void)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			char pid[24], how[48];

			snprintf(pid, sizeof pid, "%ld", (long)p);
			if (WIFSIGNALED(st))
				snprintf(how, sizeof how, "signal %d",
				    WTERMSIG(st));
			else
				snprintf(how, sizeof how, "exit %d",
				    WEXITSTATUS(st));
			log_kv("worker", "pid", pid, "ended", how, NULL);
		}
}

static struct worker *
spawn(void)
{
	struct worker *w;
	int sv[2];
	pid_t pid;

	if ((w = calloc(1, sizeof *w)) == NULL)
		die_temp("spawn", "memory");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == -1 ||
	    (pid = fork()) == -1) {
		free(w);
		log_kv("warning", "op", "spawn", "err", strerror(errno), NULL);
		return NULL;
	}
	if (pid == 0) {
		/* the child keeps only its socket and fd 2 */
		close(sv[0]);
		close(sendsock);
		for (struct worker *x = workers; x != NULL; x = x->next)
			close(x->sock);
		for (struct pjob *q = queue; q != NULL; q = q->next)
			close(q->fd);
		worker_run(&cfg->smtp, sv[1]);
	}
	close(sv[1]);
	w->pid = pid;
	w->sock = sv[0];
	w->next = workers;
	workers = w;
	nworkers++;
	return w;
}

static int
give(struct worker *w, struct pjob *j)
{
	if (fd_send(w->sock, j->msg, j->len, j->fd) == -1) {
		log_kv("warning", "op", "give", "err", strerror(errno), NULL);
		return -1;
	}
	w->busy = 1;
	w->id = j->id;
	w->nrcpt = j->nrcpt;
	free(w->key);
	if ((w->key = strdup(j->key)) == NULL)
		die_temp("give", "memory");
	return 0;
}

static struct worker *
pick(const char *key)
{
	struct worker *any = NULL, *other = NULL;

	for (struct worker *w = workers; w != NULL; w = w->next) {
		if (w->busy)
			continue;
		if (w->conn && strcmp(w->key, key) == 0)
			return w;
		if (!w->conn)
			any = w;
		else
			other = w;
	}
	if (any != NULL)
		return any;
	if (nworkers < cfg->max_workers)
		return spawn();
	if (other != NULL) {
		/* make room: the idle connection to another route goes */
		worker_drop(other);
		return spawn();
	}
	return NULL;
}

static void
pjob_free(struct pjob *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->msg);
	free(j->key);
	free(j);
}

/* start what can start now, in arrival order */
static void
dispatch(void)
{
	while (queue != NULL) {
		struct pjob *j = queue;
		struct worker *w = pick(j->key);

		if (w == NULL)
			return;
		if ((queue = j->next) == NULL)
			qtail = &queue;
		nqueued--;
		if (w->conn && strcmp(w->key, j->key) == 0) {
			char id[16];

			snprintf(id, sizeof id, "%u", j->id);
			log_kv("reuse", "job", id, NULL);
		}
		if (give(w, j) == -1) {
			answer_temp(j->id, j->nrcpt, "4.3.0 cannot pass the job on");
			worker_drop(w);
		}
		pjob_free(j);
	}
}

static void
take_job(const char *msg, size_t n, int fd)
{
	struct rjob j;
	struct pjob *p;
	struct stat st;

	if (rjob_decode(&j, msg, n) == -1) {
		log_kv("warning", "op", "job", "err", "malformed RJOB", NULL);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fd < 0 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    nqueued >= cfg->max_queued) {
		answer_temp(j.id, j.nrcpt, fd < 0 ?
		    "4.3.0 no message descriptor" :
		    nqueued >= cfg->max_queued ? "4.3.0 too many jobs queued" :
		    "4.3.0 the message is not a regular file");
		if (fd >= 0)
			close(fd);
		rjob_free(&j);
		return;
	}
	if ((p = calloc(1, sizeof *p)) == NULL || (p->msg = malloc(n)) == NULL)
		die_temp("job", "memory");
	memcpy(p->msg, msg, n);
	p->len = n;
	p->fd = fd;
	p->key = route_key(&j);
	p->id = j.id;
	p->nrcpt = j.nrcpt;
	*qtail = p;
	qtail = &p->next;
	nqueued++;
	rjob_free(&j);
}

/* a worker's result: 'C' or 'N' (connection kept or not), then RRES */
static void
take_result(struct worker *w)
{
	static char msg[JOB_MAX + 1];
	struct rres r;
	ssize_t n;
	int fd;

	n = fd_recv(w->sock, msg, sizeof msg, &fd);
	if (n <= 0 || fd >= 0 || !w->busy || (msg[0] != 'C' && msg[0] != 'N') ||
	    rres_decode(&r, msg + 1, (size_t)n - 1) == -1 || r.id != w->id) {
		if (fd >= 0)
			close(fd);
		if (n > 0)
			log_kv("warning", "op", "result", "err",
			    "bad result from a worker", NULL);
		worker_drop(w);
		return;
	}
	rres_free(&r);
	to_send(msg + 1, (size_t)n - 1);
	w->busy = 0;
	w->conn = msg[0] == 'C';
	w->idle_since = now_ms();
}

static int
poll_timeout(void)
{
	long long t = -1, now = now_ms();

	for (struct worker *w = workers; w != NULL; w = w->next) {
		long long left;

		if (w->busy)
			continue;
		left = w->idle_since + cfg->reuse_ms - now;
		if (left < 0)
			left = 0;
		if (t < 0 || left < t)
			t = left;
	}
	return t > 60000 || t < 0 ? 60000 : (int)t;
}

static void
expire(void)
{
	long long now = now_ms();

	for (struct worker *w = workers, *next; w != NULL; w = next) {
		next = w->next;
		if (!w->busy && now - w->idle_since >= cfg->reuse_ms)
			worker_drop(w);	/* it sends QUIT and exits */
	}
}

static void
shutdown_all(void)
{
	long long end = now_ms() + 10000;

	while (workers != NULL)
		worker_drop(workers);
	if (cfg->smtp.uconn >= 0)
		close(cfg->smtp.uconn);	/* the connector ends with us */
	while (now_ms() < end && waitpid(-1, NULL, WNOHANG) >= 0) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

static int
busy_count(void)
{
	int n = 0;

	for (struct worker *w = workers; w != NULL; w = w->next)
		n += w->busy;
	return n;
}

/* rspawn_run - see rspawn.h */
int
rspawn_run(const struct rspawn_cfg *c, int sock)
{
	static char msg[JOB_MAX];
	struct pollfd *pf = NULL;
	struct worker **who = NULL;
	size_t cap = 0;
	int eof = 0;

	cfg = c;
	sendsock = sock;
	signal(SIGPIPE, SIG_IGN);
	if (fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK) == -1)
		die_temp("fcntl", "fd 0");
	for (;;) {
		nfds_t n = 0;

		reap();
		dispatch();
		expire();
		if (flush_out() == -1)
			die_temp("send", "results");
		if (eof && queue == NULL && busy_count() == 0 && outq == NULL)
			break;
		if (nworkers + 1 > cap) {
			cap = (nworkers + 1) * 2;
			if ((pf = realloc(pf, cap * sizeof *pf)) == NULL ||
			    (who = realloc(who, cap * sizeof *who)) == NULL)
				die_temp("poll", "memory");
		}
		if (!eof || outq != NULL) {
			pf[n] = (struct pollfd){ .fd = sock,
			    .events = (eof ? 0 : POLLIN) |
			    (outq != NULL ? POLLOUT : 0) };
			who[n++] = NULL;
		}
		for (struct worker *w = workers; w != NULL; w = w->next) {
			pf[n] = (struct pollfd){ .fd = w->sock, .events = POLLIN };
			who[n++] = w;
		}
		if (poll(pf, n, poll_timeout()) == -1) {
			if (errno == EINTR)
				continue;
			die_temp("poll", NULL);
		}
		for (nfds_t i = 0; i < n; i++) {
			if (pf[i].revents == 0)
				continue;
			if (who[i] != NULL) {
				take_result(who[i]);
				continue;
			}
			int fd;
			ssize_t k;

			if (eof || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = fd_recv(sock, msg, sizeof msg, &fd);

			if (k == 0)
				eof = 1;
			else if (k < 0 && errno != EINTR && errno != EAGAIN) {
				if (errno != EPROTO)
					die_temp("recv", "send");
				log_kv("warning", "op", "recv", "err",
				    "malformed message from send", NULL);
			} else if (k > 0)
				take_job(msg, (size_t)k, fd);
		}
	}
	shutdown_all();
	free(pf);
	free(who);
	return 0;
}
