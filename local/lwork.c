/* lwork: a maildir delivery worker that sandmail-lspawn reuses for later
 * jobs to the same maildir as the same uid and gid.
 *
 * Runs as the recipient in a child forked by lspawn (no exec).  Before
 * the first message byte is read it opens the maildir, confines itself
 * to it with Landlock and enters the filter of lrun_sandbox() with its
 * socket: from then on it can create, link and remove files under that
 * maildir's tmp/ and new/, read the messages it is handed, and talk to
 * lspawn on fd 1; nothing else.  Each job is checked (its key must be
 * the worker's, the fd a regular file, the envelope free of line
 * breaks) and delivered exactly as lrun does it.  A job read from the
 * socket is untrusted in the same way as one read by lspawn. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "confine.h"
#include "deliver.h"
#include "exitcode.h"
#include "fdpass.h"
#include "job.h"
#include "log.h"
#include "lrun.h"
#include "lwork.h"
#include "maildir.h"

struct worker {
	const struct lwork *cfg;
	struct maildir	 m;
	uint32_t	 uid, gid;	/* the key, with dest */
	const char	*dest;
	dev_t		 dev;		/* the maildir we hold open */
	ino_t		 ino;
	pid_t		 pid;
	unsigned long	 n;		/* jobs taken */
	unsigned char	 rnd[8];	/* for every name of this process */
};

static unsigned char jobmsg[FDPASS_MAX];

/* report - one LRES to lspawn; a worker that cannot report is in doubt */
static void
report(uint32_t id, uint8_t status, const char *text, size_t n)
{
	if (lres_send(LWORK_SOCK, id, status, text, n, DELIVER_TEXT_MAX) == -1)
		_exit(EXIT_TEMP);
}

/* done - the outcome of one job to lspawn, and a log line on failure
 * (the same line lrun writes) */
static void
done(const struct ljob *j, int code, const char *text, size_t n)
{
	struct logln l;

	report(j->id, code == EXIT_OK ? ST_OK : code == EXIT_PERM ? ST_PERM :
	    ST_TEMP, text, n);
	if (code == EXIT_OK)
		return;
	log_start(&l, code == EXIT_PERM ? "failed" : "deferred");
	log_s(&l, "id", j->qid);
	log_s(&l, "rcpt", j->rcpt);
	log_m(&l, "why", text, n);
	log_i(&l, "exit", code);
	log_done(&l);
}

static int
refuse(const struct ljob *j, const char *why)
{
	done(j, EXIT_TEMP, why, strlen(why));
	return EXIT_TEMP;
}

/* lwork_fail - the first job fails before the worker could serve */
void
lwork_fail(const struct ljob *j, const char *what, int err)
{
	struct buf b = BUF_INIT(DELIVER_TEXT_MAX);

	if (err != 0 && buf_fmt(&b, "%s: %s", what, strerror(err)) == 0)
		done(j, EXIT_TEMP, b.p, b.len);
	else
		refuse(j, what);
	_exit(EXIT_TEMP);
}

static int
clean(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

static int
same_key(const struct worker *w, const struct ljob *j)
{
	return j->uid == w->uid && j->gid == w->gid &&
	    strcmp(j->dest, w->dest) == 0;
}

/* stale - is the path no longer the maildir we hold open (moved,
 * removed, replaced)?  Then a delivery here would go to the wrong
 * place. */
static int
stale(const struct worker *w)
{
	struct stat st;

	return stat(w->dest, &st) == -1 || st.st_dev != w->dev ||
	    st.st_ino != w->ino;
}

/* one - check and deliver one job; the exit code lrun would use */
static int
one(struct worker *w, const struct ljob *j, int msgfd)
{
	struct buf name = BUF_INIT(MAILDIR_NAME_MAX);
	struct buf why = BUF_INIT(DELIVER_TEXT_MAX);
	struct dinfo d = { j->qid, j->sender, j->rcpt, w->cfg->host };
	struct timespec ts;
	struct stat st;
	int code;

	w->n++;
	if (!same_key(w, j))
		return refuse(j, "the job is not for this worker's maildir");
	if (!clean(j->sender) || !clean(j->rcpt) || !clean(j->qid))
		return refuse(j, "a line break in the envelope");
	if (fstat(msgfd, &st) == -1 || !S_ISREG(st.st_mode))
		return refuse(j, "the message is not a regular file");
	/* unique: time, pid, this process's count, its random bits */
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    maildir_name(&name, (unsigned long long)ts.tv_sec,
	    (unsigned long)(ts.tv_nsec / 1000), w->pid, w->n, w->rnd,
	    sizeof w->rnd, w->cfg->host) == -1 || buf_cstr(&name) == -1) {
		buf_free(&name);
		return refuse(j, "cannot make a file name");
	}
	code = deliver_maildir(&w->m, msgfd, &d, name.p, &why);
	done(j, code, why.p ? why.p : "", why.len);
	buf_free(&name);
	buf_free(&why);
	return code;
}

/* serve - later jobs, until a reason to stop */
static void __attribute__((noreturn))
serve(struct worker *w, int code)
{
	struct pollfd p = { .fd = LWORK_SOCK, .events = POLLIN };
	struct timespec idle = { .tv_sec = (time_t)w->cfg->idle };
	struct ljob j;
	ssize_t n;
	int fd, r;

	for (;;) {
		/* after a temporary failure (a full disk, a maildir gone)
		 * a fresh worker is the safer bet */
		if (code != EXIT_OK && code != EXIT_PERM)
			_exit(EXIT_TEMP);
		if (w->n >= w->cfg->max_use)
			_exit(EXIT_OK);
		if ((r = ppoll(&p, 1, &idle, NULL)) == 0)
			_exit(EXIT_OK);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			_exit(EXIT_TEMP);
		n = fd_recv(LWORK_SOCK, jobmsg, sizeof jobmsg, &fd);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0)
			_exit(EXIT_OK);
		if (n == -1 || ljob_decode(&j, jobmsg, (size_t)n) == -1)
			_exit(EXIT_TEMP);
		if (fd < 0) {
			refuse(&j, "no message file came with the job");
			_exit(EXIT_TEMP);
		}
		if (stale(w))
			_exit(LWORK_EXIT_STALE);
		/* every refusal is temporary: the loop above ends us */
		code = one(w, &j, fd);
		close(fd);
		ljob_free(&j);
	}
}

/* lwork_enter - open the maildir, then Landlock where the kernel has
 * it, then the worker's seccomp filter; NULL, or what failed (errno) */
const char *
lwork_enter(struct maildir *m, const char *dest, struct stat *st)
{
	if (maildir_open(m, dest) == -1 || fstat(m->dir, st) == -1)
		return "cannot open the maildir";
	if (confine_maildir(m->dir) == -1)
		return "cannot confine to the maildir";
	if (lrun_sandbox(m, LWORK_SOCK) == -1)
		return "cannot enter the sandbox";
	return NULL;
}

/* lwork_run - set up as the recipient, deliver the first job, serve */
void
lwork_run(const struct lwork *c, const struct ljob *first)
{
	struct worker w;
	struct stat st;
	const char *why;
	int code;

	memset(&w, 0, sizeof w);
	w.cfg = c;
	w.uid = first->uid;
	w.gid = first->gid;
	w.dest = first->dest;
	umask(077);
	w.pid = getpid();
	if (getrandom(w.rnd, sizeof w.rnd, 0) != (ssize_t)sizeof w.rnd)
		lwork_fail(first, "cannot make a file name", errno);
	if ((why = lwork_enter(&w.m, w.dest, &st)) != NULL)
		lwork_fail(first, why, errno);
	w.dev = st.st_dev;
	w.ino = st.st_ino;
	code = one(&w, first, 0);
	close(0);
	serve(&w, code);
}
