/* lspawn: sandmail-lspawn's loop.  Jobs arrive from send on a
 * SOCK_SEQPACKET socket, one LJOB datagram with the message's fd each;
 * every accepted job becomes a child that drops to the recipient's uid and
 * gid and then delivers: into a maildir by running sandmail-local's code
 * in place (lrun.c, no exec: an exec and the dynamic loader cost more CPU
 * than the delivery), to a "|command" (or with lspawn_exec on) by exec'ing
 * sandmail-local.  The child's fd 1 is a pipe whose last
 * line becomes the result's text; its exit status becomes the result's
 * status.  Everything read from the socket is untrusted: the job is
 * decoded exactly, the fd must be a regular file, the uid must be in the
 * configured range and never 0. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcode.h"
#include "fdpass.h"
#include "job.h"
#include "log.h"
#include "lrun.h"
#include "lspawn.h"
#include "sbx.h"

struct child {
	pid_t		 pid;		/* 0: a free slot */
	int		 rfd;		/* the report pipe */
	uint32_t	 id;
	char		*qid;
	struct buf	 text;
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
	if (c->root && (j->uid < c->uid_min || j->uid > c->uid_max))
		return "uid outside local_uid_min..local_uid_max";
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
	struct buf b = BUF_INIT(FDPASS_MAX);
	struct lres r;
	char t[LSPAWN_TEXT_MAX + 1];

	if (n > LSPAWN_TEXT_MAX)
		n = LSPAWN_TEXT_MAX;
	memcpy(t, text, n);
	t[n] = '\0';
	r.id = id;
	r.status = status;
	r.text = t;
	if (lres_encode(&b, &r) == -1 || fd_send(ls->sock, b.p, b.len, -1) ==
	    -1)
		log_kv("error", "op", "send result", "err", strerror(errno),
		    NULL);
	buf_free(&b);
}

static void
log_result(const char *qid, uint32_t id, uint8_t status, const char *text,
    size_t n)
{
	struct logln l;

	log_start(&l, "result");
	log_s(&l, "id", qid);
	log_u(&l, "job", id);
	log_m(&l, "status", &status, 1);
	log_m(&l, "text", text, n);
	log_done(&l);
}

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

/* child_run - in the child, as the recipient: what sandmail-local's
 * main() does after exec, without the exec.  Only fds 0, 1 and 2 stay
 * open, as after an exec (lspawn's socket and the other children's
 * pipes are not the delivery's business). */
static void __attribute__((noreturn))
child_run(const struct lspawn_cfg *c, const struct ljob *j)
{
	struct lrun o;

	if (close_range(3, ~0U, 0) == -1)
		child_fail("close_range");
	log_init("local");
	memset(&o, 0, sizeof o);
	o.programs = c->programs;
	o.timeout = c->timeout;
	o.d.qid = j->qid;
	o.d.sender = j->sender;
	o.d.rcpt = j->rcpt;
	o.d.host = c->host;
	o.dest = j->dest;
	lrun_deliver(&o);
}

/* child - after fork: default signals, the message on fd 0 and the
 * report pipe on fd 1, the recipient's uid and gid, then the delivery */
static void __attribute__((noreturn))
child(const struct lspawn_cfg *c, const struct ljob *j, int msgfd, int wfd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (dup2(wfd, 1) == -1 || dup2(msgfd, 0) == -1)
		_exit(EXIT_TEMP);
	if (c->root && priv_drop(j->uid, j->gid) == -1)
		child_fail("cannot become the recipient");
	/* either way the delivery sets umask 077 itself (lrun_deliver) */
	if (c->exec || j->dest[0] == '|')
		child_exec(c, j);
	child_run(c, j);
}

static struct child *
slot_free(struct lspawn *ls)
{
	for (size_t i = 0; i < ls->cfg->children; i++)
		if (ls->kids[i].pid == 0)
			return &ls->kids[i];
	return NULL;
}

/* spawn - a child for a checked job; a reason on failure */
static const char *
spawn(struct lspawn *ls, struct ljob *j, int msgfd)
{
	struct child *k = slot_free(ls);
	int p[2];
	pid_t pid;

	if (k == NULL)
		return "too many deliveries at once";
	if (pipe2(p, O_CLOEXEC) == -1)
		return "cannot make a pipe";
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return "cannot fork";
	}
	if (pid == 0)
		child(ls->cfg, j, msgfd, p[1]);
	close(p[1]);
	k->pid = pid;
	k->rfd = p[0];
	k->id = j->id;
	k->qid = j->qid;
	j->qid = NULL;
	buf_init(&k->text, 2 * LSPAWN_TEXT_MAX);
	ls->nkids++;
	return NULL;
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
	if ((why = lspawn_check(ls->cfg, &j, fd, &status)) == NULL &&
	    (why = spawn(ls, &j, fd)) != NULL)
		status = ST_TEMP;
	if (why != NULL) {
		log_result(j.qid, j.id, status, why, strlen(why));
		reply(ls, j.id, status, why, strlen(why));
	}
	if (fd >= 0)
		close(fd);
	ljob_free(&j);
}

/* report - the child's pipe has data or EOF; at EOF reap and answer */
static void
report(struct lspawn *ls, struct child *k)
{
	char b[4096];
	ssize_t n;
	int st;

	n = read(k->rfd, b, sizeof b);
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
	close(k->rfd);
	while (waitpid(k->pid, &st, 0) == -1)
		if (errno != EINTR) {
			st = EXIT_TEMP << 8;
			break;
		}
	n = lspawn_result(st, &k->text);
	log_result(k->qid, k->id, (uint8_t)n, k->text.p, k->text.len);
	reply(ls, k->id, (uint8_t)n, k->text.p ? k->text.p : "", k->text.len);
	buf_free(&k->text);
	free(k->qid);
	memset(k, 0, sizeof *k);
	ls->nkids--;
}

static void
loop_once(struct lspawn *ls)
{
	size_t n = 0, i;
	int listen = !ls->eof && ls->nkids < ls->cfg->children;

	ls->pfd[n].fd = listen ? ls->sock : -1;
	ls->pfd[n++].events = POLLIN;
	for (i = 0; i < ls->cfg->children; i++) {
		ls->pfd[n].fd = ls->kids[i].pid ? ls->kids[i].rfd : -1;
		ls->pfd[n++].events = POLLIN;
	}
	/* SIGTERM is blocked except while waiting here, so it is never
	 * missed between the check and the wait */
	if (ppoll(ls->pfd, n, NULL, &ls->waitmask) == -1) {
		if (errno != EINTR)
			die_temp("poll", NULL);
		if (lspawn_term && !ls->eof) {
			log_kv("stop", "why", "SIGTERM: finishing the "
			    "deliveries under way", NULL);
			ls->eof = 1;
		}
		return;
	}
	if (ls->pfd[0].revents)
		job(ls);
	for (i = 0; i < ls->cfg->children; i++)
		if (ls->kids[i].pid && ls->pfd[i + 1].revents)
			report(ls, &ls->kids[i]);
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
