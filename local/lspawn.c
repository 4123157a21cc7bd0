/* lspawn: sandmail-lspawn's loop.  Jobs arrive from send on a
 * SOCK_SEQPACKET socket, one LJOB datagram with the message's fd each.
 *
 * A maildir job goes to a worker (lwork.c): a child forked for one key
 * (uid, gid, maildir path) that drops to the recipient, confines itself
 * to the maildir and then delivers job after job for that key, each
 * handed over on its own SOCK_SEQPACKET pair with the message fd, each
 * answered with one LRES.  A job whose key has an idle worker goes to
 * it; otherwise a new worker is forked (at the children limit, an idle
 * worker of another key is ended to make room).  lspawn, not the worker,
 * bounds the reuse: a worker gets at most lspawn_max_use jobs, is retired
 * after lspawn_idle seconds without one, and is killed when a job
 * overruns local_timeout.  Fork and set-up (Landlock, the seccomp
 * filter) are paid once per worker, not once per message.
 *
 * lspawn forks nothing itself: its forker (lfork.c) clones each child
 * for it, as lspawn's child, so that lspawn's own filter holds no call
 * a delivery needs (no file, no setuid).
 *
 * A "|command" (or every job, with lspawn_exec on) gets a child of its
 * own as before: it drops to the recipient and execs sandmail-local; its
 * fd 1 is a pipe whose last line becomes the result's text, its exit
 * status the result's status.
 *
 * Everything read from the socket is untrusted: the job is decoded
 * exactly, the fd must be a regular file, the uid must be in the
 * configured range and never 0.  A worker's results are checked too. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "addr.h"
#include "fdpass.h"
#include "job.h"
#include "lfork.h"
#include "log.h"
#include "lspawn.h"
#include "lwork.h"
#include "sbx.h"

#define DYING_GRACE_MS	10000	/* a retired worker has this long to exit */

enum kid {
	KID_FREE,
	KID_ONCE,			/* one job, then exit (programs) */
	KID_WORKER,			/* a reusable maildir worker */
};

enum wstate {
	W_BUSY,				/* a job under way */
	W_IDLE,				/* waiting for a job of its key */
	W_DYING,			/* told to go (EOF), not reaped yet */
};

struct child {
	pid_t		 pid;		/* 0: a free slot */
	int		 fd;		/* the report pipe, or the socket */
	enum kid	 kind;
	enum wstate	 state;
	struct ljob	 job;		/* the job under way (id 0: none) */
	int		 busy;		/* job holds one */
	int		 msgfd;		/* a worker's message, for a retry */
	struct buf	 text;		/* a one-job child's report */
	uint32_t	 uid, gid;	/* a worker's key, with dest */
	char		*dest;
	unsigned long	 uses;		/* jobs given to the worker */
	long long	 deadline;	/* ms, CLOCK_MONOTONIC; 0: none */
	int		 timedout;	/* killed for local_timeout */
	int		 bad;		/* killed for a bad result */
	int		 retried;	/* the job has had its fresh worker */
};

struct lspawn {
	const struct lspawn_cfg	*cfg;
	int		 sock;
	int		 eof;		/* no more jobs will come */
	int		 code;		/* our exit code */
	struct child	*kids;
	size_t		 nkids;
	struct pollfd	*pfd;
	sigset_t	 waitmask;	/* the mask while in ppoll */
	unsigned char	 msg[FDPASS_MAX];
};

static volatile sig_atomic_t lspawn_term;

static void
on_term(int sig)
{
	(void)sig;
	lspawn_term = 1;
}

/* lspawn_signals - SIGTERM ends the intake, not the deliveries */
void
lspawn_signals(void)
{
	struct sigaction sa;
	sigset_t term;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigprocmask(SIG_BLOCK, &term, NULL) == -1)
		die_temp("sigaction", NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* svc_uid - uid is user_vmail's or user_alias's: system users (below
 * local_uid_min, or nobody above local_uid_max) that send names for
 * virtual mailboxes and /path aliases */
static int
svc_uid(const struct lspawn_cfg *c, uint32_t uid)
{
	for (size_t i = 0; i < c->nsvc; i++)
		if (c->svc_uid[i] == uid)
			return 1;
	return 0;
}

/* lspawn_check - is this job one we may run? */
const char *
lspawn_check(const struct lspawn_cfg *c, const struct ljob *j, int msgfd,
    uint8_t *status)
{
	struct stat st;

	*status = ST_TEMP;
	if (msgfd < 0 || fstat(msgfd, &st) == -1)
		return "no message file came with the job";
	if (!S_ISREG(st.st_mode))
		return "the message is not a regular file";
	if (j->uid == 0 || (c->root && j->gid == 0))
		return "refusing to deliver as root (uid or gid 0)";
	if (c->root && (j->uid < c->uid_min || j->uid > c->uid_max) &&
	    !svc_uid(c, j->uid))
		return "uid outside local_uid_min..local_uid_max";
	if (c->root && j->gid < c->gid_min)
		return "gid below local_gid_min";
	if (!c->root && j->uid != c->self_uid)
		return "not root: can deliver only as my own uid";
	if (j->dest[0] == '|') {
		if (!c->programs) {
			*status = ST_PERM;
			return "delivery to programs is not allowed";
		}
		if (j->dest[1] == '\0')
			return "empty program";
		return NULL;
	}
	if (j->dest[0] != '/' || j->dest[strlen(j->dest) - 1] != '/')
		return "destination is not an absolute maildir path ending "
		    "in /";
	if (strstr(j->dest, "/../") != NULL || strstr(j->dest, "/./") != NULL)
		return "destination path has . or .. in it";
	return NULL;
}

/* alias_has - whether dest is a /path or |command target of the alias
 * value v, split as send splits it (lib/rcpt.c) */
static int
alias_has(const struct buf *v, const char *dest)
{
	size_t pos = 0, i, k, n = strlen(dest);

	while (rcpt_item(v->p, v->len, &pos, &i, &k))
		if ((v->p[i] == '/' || v->p[i] == '|') && k - i == n &&
		    memcmp(v->p + i, dest, n) == 0)
			return 1;
	return 0;
}

/* own_set - the job gets our uid, gid and destination */
static const char *
own_set(struct ljob *j, const char *dest, uint32_t uid, uint32_t gid)
{
	char *d;

	if (j->uid != uid || j->gid != gid || strcmp(j->dest, dest) != 0) {
		struct logln l;

		log_start(&l, "warn");
		log_s(&l, "id", j->qid);
		log_s(&l, "op", "own lookup");
		log_s(&l, "rcpt", j->rcpt);
		log_s(&l, "claimed", j->dest);
		log_u(&l, "claimed_uid", j->uid);
		log_s(&l, "dest", dest);
		log_u(&l, "uid", uid);
		log_done(&l);
		if ((d = strdup(dest)) == NULL)
			return "out of memory";
		free(j->dest);
		j->dest = d;
	}
	j->uid = uid, j->gid = gid;
	return NULL;
}

/* own_dest - one lookup of the recipient a */
static const char *
own_dest(struct lspawn_tabs *lt, const struct addr *a, struct ljob *j,
    struct rcpt_res *r)
{
	if (rcpt_resolve(&lt->rt, a, 0, r) == RK_ALIAS) {
		if (alias_has(&r->val, j->dest))
			return own_set(j, j->dest, lt->auid, lt->agid);
		/* "user: user, other": the user's own mailbox */
		rcpt_resolve(&lt->rt, a, RCPT_NOALIAS, r);
	}
	switch (r->kind) {
	case RK_USER:
		return own_set(j, r->val.p, r->uid, r->gid);
	case RK_VIRTUAL:
		return own_set(j, r->val.p, lt->vuid, lt->vgid);
	case RK_REMOTE:
	case RK_ROUTED:
		return "not a local recipient";
	case RK_UNKNOWN:
		return "no such recipient in lspawn's tables";
	case RK_MOVED:
		return "the recipient has moved";
	default:
		return "table lookup failed";
	}
}

/* lspawn_own - uid, gid and destination from our own lookup */
const char *
lspawn_own(const struct lspawn_cfg *c, struct ljob *j, uint8_t *status)
{
	struct lspawn_tabs *lt = c->tabs;
	struct rcpt_res r;
	struct addr a;
	const char *why;

	*status = ST_TEMP;
	if (lt == NULL)
		return NULL;
	if (addr_parse_mailbox(j->rcpt, strlen(j->rcpt), ADDR_UTF8, &a) !=
	    ADDR_OK || a.dlen == 0) {
		*status = ST_PERM;
		return "the recipient address does not parse";
	}
	(void)tblset_refresh(&lt->set, TBLSET_TICK);
	buf_init(&r.val, 16384);
	/* send's tables may be newer than ours: look again at once */
	if ((why = own_dest(lt, &a, j, &r)) != NULL &&
	    tblset_refresh(&lt->set, TBLSET_NOW) > 0)
		why = own_dest(lt, &a, j, &r);
	buf_free(&r.val);
	return why;
}

/* text_clean - the last non-empty line, printable (no NUL or controls) */
static void
text_clean(struct buf *t)
{
	char *nl;
	size_t start;

	while (t->len > 0 && (t->p[t->len - 1] == '\n' ||
	    t->p[t->len - 1] == '\r' || t->p[t->len - 1] == ' '))
		t->len--;
	if (t->len > 0 && (nl = memrchr(t->p, '\n', t->len)) != NULL) {
		start = (size_t)(nl + 1 - t->p);
		buf_drop(t, start);
	}
	for (size_t i = 0; i < t->len; i++)
		if ((unsigned char)t->p[i] < 0x20 || t->p[i] == 0x7f)
			t->p[i] = ' ';
}

static uint8_t
status_of(int st)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_OK)
		return ST_OK;
	if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_PERM)
		return ST_PERM;
	return ST_TEMP;		/* 111, any other code, a signal */
}

/* cause - why a child ended oddly: a signal, or an unknown exit code */
static void
cause(int st, struct buf *why)
{
	if (WIFSIGNALED(st))
		buf_fmt(why, "sandmail-local killed by signal %d%s",
		    WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
	else if (WIFEXITED(st) && WEXITSTATUS(st) != EXIT_OK &&
	    WEXITSTATUS(st) != EXIT_PERM && WEXITSTATUS(st) != EXIT_TEMP)
		buf_fmt(why, "sandmail-local exited %d", WEXITSTATUS(st));
}

/* lspawn_result - exit 0 -> K, 100 -> X, anything else -> Z */
uint8_t
lspawn_result(int st, struct buf *t)
{
	struct buf why = BUF_INIT(LSPAWN_TEXT_MAX);
	uint8_t s = status_of(st);

	text_clean(t);
	cause(st, &why);
	if (why.len == 0) {
		if (t->len == 0)
			buf_puts(t, s == ST_OK ? "delivered" : s == ST_PERM ?
			    "permanent failure" : "temporary failure");
		buf_free(&why);
		return s;
	}
	if (t->len > 0 && buf_puts(&why, ": ") == 0)
		buf_put(&why, t->p, t->len < why.max - why.len ?
		    t->len : why.max - why.len);
	buf_free(t);
	*t = why;
	return s;
}

static void
reply(struct lspawn *ls, uint32_t id, uint8_t status, const char *text,
    size_t n)
{
	if (lres_send(ls->sock, id, status, text, n, LSPAWN_TEXT_MAX) == -1)
		log_kv("error", "op", "send result", "err", strerror(errno),
		    NULL);
}

/* log_result - one line per job; worker= is the pid of the worker that
 * delivered it (0: none, a one-job child) */
static void
log_result(const char *qid, uint32_t id, uint8_t status, const char *text,
    size_t n, pid_t worker)
{
	struct logln l;

	log_start(&l, "result");
	log_s(&l, "id", qid);
	log_u(&l, "job", id);
	log_m(&l, "status", &status, 1);
	log_m(&l, "text", text, n);
	if (worker > 0)
		log_u(&l, "worker", (unsigned long long)worker);
	log_done(&l);
}


static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- in the child ---- */

static void __attribute__((noreturn))
child_fail(const char *what)
{
	struct buf b = BUF_INIT(512);

	buf_fmt(&b, "lspawn: %s: %s\n", what, strerror(errno));
	(void)!write(1, b.p, b.len);
	_exit(EXIT_TEMP);
}

/* child_exec - in the child, as the recipient: exec sandmail-local */
static void __attribute__((noreturn))
child_exec(const struct lspawn_cfg *c, const struct ljob *j)
{
	char tmo[24];
	char *argv[16], *envp[] = { "PATH=/usr/bin:/bin", NULL };
	int n = 0;

	if (snprintf(tmo, sizeof tmo, "%llu", c->timeout) >= (int)sizeof tmo)
		_exit(EXIT_TEMP);
	argv[n++] = "sandmail-local";
	if (c->programs)
		argv[n++] = "-P";
	argv[n++] = "-H";
	argv[n++] = (char *)c->host;
	argv[n++] = "-T";
	argv[n++] = tmo;
	argv[n++] = "--";
	argv[n++] = j->qid;
	argv[n++] = j->sender;
	argv[n++] = j->rcpt;
	argv[n++] = j->dest;
	argv[n] = NULL;
	execveat(c->progfd, "", argv, envp, AT_EMPTY_PATH);
	child_fail("cannot run sandmail-local");
}

/* child_work - in the child, as the recipient: a worker for j's key.
 * Only fds 0 (the message), 1 (the socket) and 2 stay open: lspawn's
 * socket and the other children's pipes are not the worker's business. */
static void __attribute__((noreturn))
child_work(const struct lspawn_cfg *c, const struct ljob *j)
{
	struct lwork w;

	if (close_range(3, ~0U, 0) == -1)
		lwork_fail(j, "close_range", errno);
	log_init("local");
	w.host = c->host;
	/* lspawn retires an idle worker itself; this only covers an
	 * lspawn that cannot */
	w.idle = c->idle + DYING_GRACE_MS / 1000;
	w.max_use = c->max_use;
	lwork_run(&w, j);
}

/* lspawn_child - after the forker's clone: default signals, the message
 * on fd 0 and the report pipe (or the worker's socket) on fd 1, the
 * recipient's uid and gid (and no capability), then the delivery */
void
lspawn_child(const struct lspawn_cfg *c, const struct ljob *j, int msgfd,
    int wfd, int worker)
{
	sigset_t none;

	(void)prctl(PR_SET_NAME, "sandmail-lspawn", 0, 0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (dup2(wfd, 1) == -1 || dup2(msgfd, 0) == -1)
		_exit(EXIT_TEMP);
	if (c->root && lfork_become(j->uid, j->gid) == -1) {
		if (worker)
			lwork_fail(j, "lspawn: cannot become the recipient",
			    errno);
		child_fail("cannot become the recipient");
	}
	/* either way the delivery sets umask 077 itself */
	if (worker)
		child_work(c, j);
	child_exec(c, j);
}

/* ---- slots ---- */

static struct child *
slot_free(struct lspawn *ls)
{
	for (size_t i = 0; i < ls->cfg->children; i++)
		if (ls->kids[i].pid == 0)
			return &ls->kids[i];
	return NULL;
}

/* job_end - the job under way is answered: forget it */
static void
job_end(struct child *k)
{
	if (k->msgfd >= 0)
		close(k->msgfd);
	k->msgfd = -1;
	ljob_free(&k->job);
	k->busy = 0;
}

static void
slot_release(struct lspawn *ls, struct child *k)
{
	job_end(k);
	buf_free(&k->text);
	free(k->dest);
	memset(k, 0, sizeof *k);
	k->msgfd = -1;
	ls->nkids--;
}

static int
reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return EXIT_TEMP << 8;
	return st;
}

static void
log_exit(const struct child *k, int st)
{
	struct logln l;

	log_start(&l, "worker_exit");
	log_u(&l, "worker", (unsigned long long)k->pid);
	log_u(&l, "uses", k->uses);
	if (WIFSIGNALED(st))
		log_i(&l, "signal", WTERMSIG(st));
	else
		log_i(&l, "exit", WEXITSTATUS(st));
	log_done(&l);
}

/* answer - the result of k's job to send, and the log line */
static void
answer(struct lspawn *ls, struct child *k, uint8_t status, const char *text,
    size_t n)
{
	log_result(k->job.qid, k->job.id, status, text, n,
	    k->kind == KID_WORKER ? k->pid : 0);
	reply(ls, k->job.id, status, text, n);
	job_end(k);
}

/* ---- one-job children (programs, lspawn_exec) ---- */

/* report - the child's pipe has data or EOF; at EOF reap and answer */
static void
report(struct lspawn *ls, struct child *k)
{
	char b[4096];
	ssize_t n;
	uint8_t s;

	n = read(k->fd, b, sizeof b);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		/* keep the tail: the last line is what counts */
		if (k->text.len + (size_t)n > k->text.max)
			buf_drop(&k->text, k->text.len + (size_t)n -
			    k->text.max);
		buf_put(&k->text, b, (size_t)n);
		return;
	}
	/* EOF: the pipe's only writer was the delivery, which has ended */
	close(k->fd);
	s = lspawn_result(reap(k->pid), &k->text);
	answer(ls, k, s, k->text.p ? k->text.p : "", k->text.len);
	slot_release(ls, k);
}

/* ---- workers ---- */

static struct child *
worker_find(struct lspawn *ls, const struct ljob *j)
{
	struct child *k;

	for (size_t i = 0; i < ls->cfg->children; i++) {
		k = &ls->kids[i];
		if (k->kind == KID_WORKER && k->state == W_IDLE &&
		    k->dest != NULL && k->uid == j->uid && k->gid == j->gid &&
		    strcmp(k->dest, j->dest) == 0)
			return k;
	}
	return NULL;
}

/* idle_oldest - the idle worker that would time out first */
static struct child *
idle_oldest(struct lspawn *ls)
{
	struct child *k, *best = NULL;

	for (size_t i = 0; i < ls->cfg->children; i++) {
		k = &ls->kids[i];
		if (k->kind == KID_WORKER && k->state == W_IDLE &&
		    (best == NULL || k->deadline < best->deadline))
			best = k;
	}
	return best;
}

/* retire - no more jobs for k: EOF on its socket ends it, and its slot
 * is freed when it has gone */
static void
retire(struct child *k)
{
	(void)shutdown(k->fd, SHUT_WR);
	k->state = W_DYING;
	k->deadline = now_ms() + DYING_GRACE_MS;
}

/* end_now - kill an idle (or already answered) worker and free its slot
 * at once */
static void
end_now(struct lspawn *ls, struct child *k)
{
	int st;

	(void)kill(k->pid, SIGKILL);
	close(k->fd);
	st = reap(k->pid);
	log_exit(k, st);
	slot_release(ls, k);
}

/* take - k (a new or idle worker) now delivers j: k owns j and msgfd */
static void
take(struct lspawn *ls, struct child *k, struct ljob *j, int msgfd)
{
	k->job = *j;
	memset(j, 0, sizeof *j);
	k->busy = 1;
	k->msgfd = msgfd;
	k->state = W_BUSY;
	k->uses++;
	k->timedout = 0;
	k->retried = 0;
	k->deadline = now_ms() + (long long)ls->cfg->timeout * 1000;
}

/* hand - j to an idle worker of its key; 0, or -1 (the worker is gone:
 * ended here, its slot free) */
static int
hand(struct lspawn *ls, struct child *k, struct ljob *j, int msgfd,
    const void *raw, size_t n)
{
	if (fd_send(k->fd, raw, n, msgfd) == -1) {
		end_now(ls, k);
		return -1;
	}
	take(ls, k, j, msgfd);
	return 0;
}

static void
log_start_worker(const struct child *k)
{
	struct logln l;

	log_start(&l, "worker_start");
	log_u(&l, "worker", (unsigned long long)k->pid);
	log_u(&l, "uid", k->uid);
	log_u(&l, "gid", k->gid);
	log_s(&l, "dest", k->dest ? k->dest : "");
	log_done(&l);
}

/* spawn - a child in the free slot k for a checked job; a reason on
 * failure.  On success k owns j (and, for a worker, msgfd). */
static const char *
spawn(struct lspawn *ls, struct child *k, struct ljob *j, int msgfd,
    int worker)
{
	int p[2], r;
	pid_t pid;

	r = worker ? socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    p) : pipe2(p, O_CLOEXEC);
	if (r == -1)
		return "cannot make a pipe";
	/* the forker clones the child for us: lspawn itself may not fork
	 * or change uid (lfork.h) */
	pid = lfork_spawn(ls->cfg->forker, j, msgfd, p[1], worker);
	close(p[1]);
	if (pid == -1) {
		close(p[0]);
		return "cannot fork";
	}
	/* never block on a worker whose slot changed hands */
	if (worker)
		(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	k->pid = pid;
	k->fd = p[0];
	ls->nkids++;
	if (!worker) {
		k->kind = KID_ONCE;
		k->job = *j;
		memset(j, 0, sizeof *j);
		k->busy = 1;
		k->msgfd = -1;
		buf_init(&k->text, 2 * LSPAWN_TEXT_MAX);
		close(msgfd);
		return NULL;
	}
	k->kind = KID_WORKER;
	k->uid = j->uid;
	k->gid = j->gid;
	/* no copy of the key: never reused */
	if ((k->dest = strdup(j->dest)) == NULL)
		k->uses = ls->cfg->max_use;
	take(ls, k, j, msgfd);
	log_start_worker(k);
	return NULL;
}

/* lost - a worker ended with a job under way: always temporary */
static void
lost(struct lspawn *ls, struct child *k, int st)
{
	struct buf t = BUF_INIT(LSPAWN_TEXT_MAX);

	if (k->bad)
		buf_puts(&t, "sandmail-local sent a bad result");
	else if (WIFSIGNALED(st))
		buf_fmt(&t, "sandmail-local killed by signal %d%s",
		    WTERMSIG(st), k->timedout || WTERMSIG(st) == SIGALRM ?
		    " (timeout)" : "");
	else
		buf_fmt(&t, "sandmail-local exited %d without a result",
		    WEXITSTATUS(st));
	answer(ls, k, ST_TEMP, t.p ? t.p : "", t.len);
	buf_free(&t);
}

/* retry - the worker found its maildir moved or replaced and delivered
 * nothing: the job goes to a fresh worker in the same slot */
static void
retry(struct lspawn *ls, struct child *k)
{
	struct ljob j = k->job;
	int msgfd = k->msgfd;
	const char *why;

	memset(&k->job, 0, sizeof k->job);
	k->msgfd = -1;
	k->busy = 0;
	slot_release(ls, k);
	if ((why = spawn(ls, k, &j, msgfd, 1)) == NULL) {
		k->retried = 1;		/* a worker that says so again lies */
		return;
	}
	log_result(j.qid, j.id, ST_TEMP, why, strlen(why), 0);
	reply(ls, j.id, ST_TEMP, why, strlen(why));
	close(msgfd);
	ljob_free(&j);
}

/* worker_gone - EOF on a worker's socket: reap, answer a job under way */
static void
worker_gone(struct lspawn *ls, struct child *k)
{
	int st;

	close(k->fd);
	/* EOF means it is exiting, unless it closed its socket and runs
	 * on: never wait for such a worker (an exit status already set is
	 * not changed by the signal) */
	(void)kill(k->pid, SIGKILL);
	st = reap(k->pid);
	log_exit(k, st);
	if (k->busy && WIFEXITED(st) && WEXITSTATUS(st) == LWORK_EXIT_STALE &&
	    !k->timedout && !k->bad && !k->retried) {
		retry(ls, k);
		return;
	}
	if (k->busy)
		lost(ls, k, st);
	slot_release(ls, k);
}

/* worker_bad - a result that does not fit: kill it; EOF answers the
 * job under way, and no other job goes to it meanwhile */
static void
worker_bad(struct child *k)
{
	k->bad = 1;
	(void)kill(k->pid, SIGKILL);
	if (k->state == W_IDLE)
		k->state = W_DYING;
	k->deadline = 0;
}

/* worker_result - a checked LRES for the job under way */
static void
worker_result(struct lspawn *ls, struct child *k, struct lres *r)
{
	struct buf t = BUF_INIT(2 * LSPAWN_TEXT_MAX);

	if (buf_puts(&t, r->text) == 0)
		text_clean(&t);
	answer(ls, k, r->status, t.p ? t.p : "", t.len);
	buf_free(&t);
	k->state = W_IDLE;
	k->deadline = now_ms() + (long long)ls->cfg->idle * 1000;
	/* the worker exits by itself after a temporary failure and after
	 * its last use; lspawn makes sure of both */
	if (r->status == ST_TEMP || k->uses >= ls->cfg->max_use || ls->eof ||
	    k->timedout)	/* killed at the deadline just as it answered */
		retire(k);
}

/* worker_input - a worker's socket is readable: a result, or EOF */
static void
worker_input(struct lspawn *ls, struct child *k)
{
	struct lres r;
	ssize_t n;
	int fd;

	n = fd_recv(k->fd, ls->msg, sizeof ls->msg, &fd);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		worker_gone(ls, k);
		return;
	}
	if (fd >= 0) {
		close(fd);
		worker_bad(k);
		return;
	}
	if (k->state != W_BUSY || !k->busy ||
	    lres_decode(&r, ls->msg, (size_t)n) == -1) {
		worker_bad(k);
		return;
	}
	if (r.id != k->job.id)
		worker_bad(k);
	else
		worker_result(ls, k, &r);
	lres_free(&r);
}

/* ---- jobs ---- */

/* dispatch - run a checked job; NULL (j and msgfd taken) or a reason */
static const char *
dispatch(struct lspawn *ls, struct ljob *j, int msgfd, const void *raw,
    size_t n)
{
	int worker = j->dest[0] != '|' && !ls->cfg->exec;
	struct child *k;

	if (worker && (k = worker_find(ls, j)) != NULL &&
	    hand(ls, k, j, msgfd, raw, n) == 0)
		return NULL;
	/* at the limit: the idle worker that would expire first goes */
	if ((k = slot_free(ls)) == NULL && (k = idle_oldest(ls)) != NULL) {
		end_now(ls, k);
		k = slot_free(ls);
	}
	if (k == NULL)
		return "too many deliveries at once";
	return spawn(ls, k, j, msgfd, worker);
}

/* job - one datagram from send */
static void
job(struct lspawn *ls)
{
	struct ljob j;
	const char *why;
	ssize_t n;
	uint8_t status;
	int fd;

	if ((n = fd_recv(ls->sock, ls->msg, sizeof ls->msg, &fd)) == 0) {
		ls->eof = 1;
		return;
	}
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n == -1 || ljob_decode(&j, ls->msg, (size_t)n) == -1) {
		/* a peer that sends garbage is dropped (protocols.md) */
		log_kv("error", "op", "job", "err", n == -1 ?
		    strerror(errno) : "protocol error", NULL);
		if (fd >= 0)
			close(fd);
		ls->eof = 1;
		ls->code = EXIT_TEMP;
		return;
	}
	if ((why = lspawn_own(ls->cfg, &j, &status)) == NULL &&
	    (why = lspawn_check(ls->cfg, &j, fd, &status)) == NULL) {
		/* a worker reads the job as we decided it, not as sent */
		struct buf raw = BUF_INIT(sizeof ls->msg);

		if (ljob_encode(&raw, &j) == -1)
			why = "job too long";
		else if ((why = dispatch(ls, &j, fd, raw.p, raw.len)) ==
		    NULL) {
			buf_free(&raw);
			return;
		}
		buf_free(&raw);
		status = ST_TEMP;
	}
	log_result(j.qid, j.id, status, why, strlen(why), 0);
	reply(ls, j.id, status, why, strlen(why));
	if (fd >= 0)
		close(fd);
	ljob_free(&j);
}

/* ---- the loop ---- */

/* timers - deadlines that have passed; the ms until the next, or -1 */
static long long
timers(struct lspawn *ls)
{
	long long now = now_ms(), next = -1;
	struct child *k;

	for (size_t i = 0; i < ls->cfg->children; i++) {
		k = &ls->kids[i];
		if (k->kind != KID_WORKER)
			continue;
		if (ls->eof && k->state == W_IDLE)
			retire(k);
		if (k->deadline != 0 && k->deadline <= now) {
			k->deadline = 0;
			if (k->state == W_IDLE)
				retire(k);
			else if (kill(k->pid, SIGKILL) == 0 &&
			    k->state == W_BUSY)
				k->timedout = 1;
		}
		if (k->deadline != 0 && (next == -1 || k->deadline - now < next))
			next = k->deadline - now;
	}
	return next;
}

static void
loop_once(struct lspawn *ls)
{
	struct timespec ts, *tp = NULL;
	size_t n = 0, i;
	long long next;
	int idle = 0, listen;

	next = timers(ls);
	for (i = 0; i < ls->cfg->children; i++) {
		idle |= ls->kids[i].kind == KID_WORKER &&
		    ls->kids[i].state == W_IDLE;
		ls->pfd[i + 1].fd = ls->kids[i].pid ? ls->kids[i].fd : -1;
		ls->pfd[i + 1].events = POLLIN;
	}
	listen = !ls->eof && (ls->nkids < ls->cfg->children || idle);
	ls->pfd[0].fd = listen ? ls->sock : -1;
	ls->pfd[0].events = POLLIN;
	n = ls->cfg->children + 1;
	if (next >= 0) {
		ts.tv_sec = next / 1000;
		ts.tv_nsec = (next % 1000) * 1000000;
		tp = &ts;
	}
	/* SIGTERM is blocked except while waiting here, so it is never
	 * missed between the check and the wait */
	if (ppoll(ls->pfd, n, tp, &ls->waitmask) == -1) {
		if (errno != EINTR)
			die_temp("poll", NULL);
		if (lspawn_term && !ls->eof) {
			log_kv("stop", "why", "SIGTERM: finishing the "
			    "deliveries under way", NULL);
			ls->eof = 1;
		}
		return;
	}
	/* children first: a job may give a slot to a new child, whose
	 * descriptor the poll did not look at */
	for (i = 0; i < ls->cfg->children; i++) {
		if (ls->kids[i].pid == 0 || ls->pfd[i + 1].revents == 0)
			continue;
		if (ls->kids[i].kind == KID_WORKER)
			worker_input(ls, &ls->kids[i]);
		else
			report(ls, &ls->kids[i]);
	}
	if (ls->pfd[0].revents)
		job(ls);
}

/* lspawn_run - serve until send hangs up and every delivery is done */
int
lspawn_run(const struct lspawn_cfg *c, int sock)
{
	struct lspawn *ls;
	int code;

	if ((ls = calloc(1, sizeof *ls)) == NULL ||
	    (ls->kids = calloc(c->children, sizeof *ls->kids)) == NULL ||
	    (ls->pfd = calloc(c->children + 1, sizeof *ls->pfd)) == NULL)
		die_temp("malloc", NULL);
	for (size_t i = 0; i < c->children; i++)
		ls->kids[i].msgfd = -1;
	ls->cfg = c;
	ls->sock = sock;
	sigprocmask(SIG_BLOCK, NULL, &ls->waitmask);
	sigdelset(&ls->waitmask, SIGTERM);
	if (lspawn_term)
		ls->eof = 1;
	while (!ls->eof || ls->nkids > 0)
		loop_once(ls);
	code = ls->code;
	free(ls->kids);
	free(ls->pfd);
	free(ls);
	return code;
}
