/* deliver: one message into one maildir or one program (sandmail-local).
 *
 * Maildir: the message is copied to tmp/NAME behind a Return-Path: and a
 * Delivered-To: line, fsynced, linked into new/NAME, and new/ is fsynced:
 * only then is the delivery reported.  The copy is read once, and the
 * loop check scans the header on the way; any failure removes tmp/NAME,
 * so new/ never holds a partial message.  This code runs inside the
 * maildir sandbox (local_main.c): it may only create, link and remove
 * names relative to the maildir's descriptors.
 *
 * Program: "|command" runs as /bin/sh -c command with the message on
 * stdin (fed by a child through a pipe), outside any seccomp filter but
 * with NO_NEW_PRIVS, as qmail-command(8) does. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deliver.h"
#include "exitcode.h"
#include "io.h"
#include "syncv.h"

#define CHUNK	65536

static char chunk[CHUNK];

/* dtscan_init - begin scanning a header for Delivered-To: rcpt */
void
dtscan_init(struct dtscan *s, const char *rcpt)
{
	memset(s, 0, sizeof *s);
	s->rcpt = rcpt;
	s->rlen = strlen(rcpt);
	s->bol = 1;
}

static int
wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* field_check - does the finished field name this recipient? */
static void
field_check(struct dtscan *s)
{
	static const char name[] = "delivered-to";
	const char *p = s->f, *e = s->f + s->flen, *colon;

	if (s->over || s->flen == 0)
		return;
	if ((colon = memchr(p, ':', s->flen)) == NULL)
		return;
	/* RFC 5322 4.5.3 (obsolete syntax): blanks before the colon */
	e = colon;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if ((size_t)(e - p) != sizeof name - 1 ||
	    strncasecmp(p, name, sizeof name - 1) != 0)
		return;
	p = colon + 1;
	e = s->f + s->flen;
	while (p < e && wsp(*p))
		p++;
	while (e > p && wsp(e[-1]))
		e--;
	if (e - p >= 2 && *p == '<' && e[-1] == '>')
		p++, e--;
	if ((size_t)(e - p) == s->rlen && s->rlen > 0 &&
	    strncasecmp(p, s->rcpt, s->rlen) == 0)
		s->loop = 1;
}

static void
field_add(struct dtscan *s, char c)
{
	if (s->flen < sizeof s->f)
		s->f[s->flen++] = c;
	else
		s->over = 1;
}

static void
field_end(struct dtscan *s)
{
	field_check(s);
	s->flen = 0;
	s->over = 0;
}

/* at the beginning of a line: a fold, the end of the header, or a field */
static void
scan_bol(struct dtscan *s, char c)
{
	if (s->cr) {
		s->cr = 0;
		if (c == '\n') {	/* CRLF: an empty line */
			field_end(s);
			s->done = 1;
			return;
		}
		/* a lone CR starts a (broken) field line */
		field_end(s);
		field_add(s, '\r');
		field_add(s, c);
		s->bol = 0;
		return;
	}
	if ((c == ' ' || c == '\t') && (s->flen > 0 || s->over)) {
		field_add(s, c);	/* folded: the same field goes on */
		s->bol = 0;
		return;
	}
	if (c == '\r') {
		s->cr = 1;
		return;
	}
	field_end(s);
	if (c == '\n') {
		s->done = 1;
		return;
	}
	field_add(s, c);
	s->bol = 0;
}

/* dtscan_feed - scan more of the message */
int
dtscan_feed(struct dtscan *s, const void *p, size_t n)
{
	const char *c = p;

	for (size_t i = 0; i < n && !s->done && !s->loop; i++) {
		if (s->bol)
			scan_bol(s, c[i]);
		else if (c[i] == '\n')
			s->bol = 1;
		else
			field_add(s, c[i]);
	}
	return s->loop;
}

/* dtscan_end - the message ended: check a field still open */
int
dtscan_end(struct dtscan *s)
{
	if (!s->done && !s->loop)
		field_end(s);
	s->done = 1;
	return s->loop;
}

/* deliver_status - a child's wait status as our exit code */
int
deliver_status(int st)
{
	if (WIFEXITED(st) &&
	    (WEXITSTATUS(st) == EXIT_OK || WEXITSTATUS(st) == EXIT_PERM))
		return WEXITSTATUS(st);
	return EXIT_TEMP;
}

static ssize_t
pread_some(int fd, void *p, size_t n, off_t off)
{
	ssize_t r;

	do
		r = pread(fd, p, n, off);
	while (r == -1 && errno == EINTR);
	return r;
}

/* deliver_loopcheck - read the header only, looking for our line */
int
deliver_loopcheck(int msgfd, const char *rcpt)
{
	struct dtscan s;
	off_t off = 0;
	ssize_t r;

	dtscan_init(&s, rcpt);
	while (!s.done && !s.loop) {
		if ((r = pread_some(msgfd, chunk, sizeof chunk, off)) == -1)
			return -1;
		if (r == 0)
			return dtscan_end(&s);
		dtscan_feed(&s, chunk, (size_t)r);
		off += r;
	}
	return s.loop;
}

/* why_set - the reason, after an RFC 3463 code: what's own, else 4.3.0
 * or 5.3.0 (mail system status) for the exit code */
static int
why_set(struct buf *why, int code, const char *what, int err)
{
	int coded = what[0] >= '2' && what[0] <= '5' && what[1] == '.';

	why->len = 0;
	if (!coded)
		buf_puts(why, code == EXIT_PERM ? "5.3.0 " : "4.3.0 ");
	if (err != 0)
		buf_fmt(why, "%s: %s", what, strerror(err));
	else
		buf_puts(why, what);
	return code;
}

/* disk full and over quota are temporary like every other write error;
 * they get their own words because an operator must act on them */
static int
why_write(struct buf *why, const char *what, int err)
{
	if (err == ENOSPC)
		return why_set(why, EXIT_TEMP, "4.3.1 mailbox disk is full", 0);
	if (err == EDQUOT)
		return why_set(why, EXIT_TEMP, "4.2.2 mailbox is over quota",
		    0);
	return why_set(why, EXIT_TEMP, what, err);
}

/* copy - the two lines, then the message; 0, 1 loop, or -1 with errno */
static int
copy(int msgfd, struct wr *w, const struct dinfo *d)
{
	struct dtscan s;
	off_t off = 0;
	ssize_t r;

	dtscan_init(&s, d->rcpt);
	if (wr_puts(w, "Return-Path: <") == -1 || wr_puts(w, d->sender) == -1 ||
	    wr_puts(w, ">\nDelivered-To: ") == -1 ||
	    wr_puts(w, d->rcpt) == -1 || wr_puts(w, "\n") == -1)
		return -1;
	for (;;) {
		if ((r = pread_some(msgfd, chunk, sizeof chunk, off)) == -1)
			return -1;
		if (r == 0)
			break;
		if (!s.done && dtscan_feed(&s, chunk, (size_t)r))
			return 1;
		if (wr_put(w, chunk, (size_t)r) == -1)
			return -1;
		off += r;
	}
	if (dtscan_end(&s))
		return 1;
	return wr_flush(w);
}

/* link_new - tmp/name into new/name (not yet durable); 0 or -1 */
static int
link_new(const struct maildir *m, const char *name)
{
	if (linkat(m->tmp, name, m->new, name, 0) == -1) {
		/* file systems without hard links: a rename that refuses to
		 * replace does the same job */
		if (errno != EPERM && errno != ENOSYS && errno != EOPNOTSUPP)
			return -1;
		if (renameat2(m->tmp, name, m->new, name, RENAME_NOREPLACE) == -1)
			return -1;
	}
	return 0;
}

/* publish - tmp/name (durable) into new/name, durably; 0 or -1 */
static int
publish(const struct maildir *m, const char *name)
{
	int e;

	if (link_new(m, name) == -1)
		return -1;
	if (fsync(m->new) == -1) {
		e = errno;
		(void)unlinkat(m->new, name, 0);
		return errno = e, -1;
	}
	(void)unlinkat(m->tmp, name, 0);
	return 0;
}

/* publish_one - tmp/name, written out but not synced, into new/name,
 * and one barrier for the file and new/ together: fsync of each,
 * submitted at once (syncv.h).  Only on a journaled file system
 * (m->journaled, maildir.c): the file's data were written and waited
 * for before the link, and the journal commits the link only behind a
 * cache flush, so new/name is never durable without the bytes it names.
 * 0, or -1 with errno (new/name removed). */
static int
publish_one(const struct maildir *m, int fd, const char *name)
{
	struct syncv sv[2] = { { fd, 0, 0 }, { m->new, 0, 0 } };
	int e;

	if (link_new(m, name) == -1)
		return -1;
	if (syncv(sv, 2) == -1) {
		e = sv[0].err != 0 ? sv[0].err : sv[1].err;
		(void)unlinkat(m->new, name, 0);
		return errno = e, -1;
	}
	return 0;
}

/* written - the file's data on the disk before its name is made: with a
 * journal, written out and waited for (no cache flush: the barrier that
 * makes the name durable flushes them first), else fsynced.  1 if the
 * name may go in with one barrier, 0 if fsynced, -1 with errno.  Only a
 * sync_file_range the kernel or file system does not have falls back
 * to fsync: a write-back error (EIO, ENOSPC) it reported is consumed
 * (the file's errseq cursor moves past it), and an fsync after it
 * would return 0 for the pages that never reached the disk. */
static int
written(const struct maildir *m, int fd)
{
	if (m->journaled) {
		if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
		    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0)
			return 1;
		if (errno != ENOSYS && errno != EINVAL && errno != ESPIPE)
			return -1;
	}
	return fsync(fd) == 0 ? 0 : -1;
}

/* deliver_maildir - write, fsync, link into new/, fsync new/ (on a
 * journaled file system: write, write out, link, one barrier for both) */
int
deliver_maildir(const struct maildir *m, int msgfd, const struct dinfo *d,
    const char *name, struct buf *why)
{
	struct wr w;
	int fd, r, e, one = 0;

	fd = openat(m->tmp, name, MAILDIR_OFLAGS, 0600);
	if (fd == -1)
		return why_write(why, "cannot create a file in tmp/", errno);
	wr_init(&w, fd, NULL, NULL);
	r = copy(msgfd, &w, d);
	e = errno;
	if (r == 0 && (one = written(m, fd)) == -1)
		r = -1, e = errno;
	if (r == 0 && one == 1 && publish_one(m, fd, name) == -1) {
		e = errno;
		(void)close(fd);
		(void)unlinkat(m->tmp, name, 0);
		return why_write(why, "cannot move the message into new/", e);
	}
	if (close(fd) == -1 && r == 0 && one == 0)
		r = -1, e = errno;
	if (r != 0) {
		(void)unlinkat(m->tmp, name, 0);
		if (r == 1)
			return why_set(why, EXIT_PERM,
			    "5.4.6 mail loop: a Delivered-To line names "
			    "this recipient", 0);
		return why_write(why, "cannot write the message", e);
	}
	if (one == 1)
		(void)unlinkat(m->tmp, name, 0);
	else if (publish(m, name) == -1) {
		e = errno;
		(void)unlinkat(m->tmp, name, 0);
		return why_write(why, "cannot move the message into new/", e);
	}
	why->len = 0;
	buf_fmt(why, "delivered: new/%s", name);
	return EXIT_OK;
}

/* env_add - one NAME=value string for the program's environment */
static char *
env_add(const char *name, const char *v1, const char *v2, const char *v3)
{
	struct buf b = BUF_INIT(8192);

	if (buf_fmt(&b, "%s=%s%s%s", name, v1, v2 ? v2 : "", v3 ? v3 : "") ==
	    -1 || buf_cstr(&b) == -1) {
		buf_free(&b);
		return NULL;
	}
	return b.p;
}

static pid_t prog_pid = -1;

static void
on_alarm(int sig)
{
	static const char why[] = "program timed out (local_timeout)\n";

	(void)sig;
	if (prog_pid > 0)
		kill(-prog_pid, SIGKILL);
	(void)!write(1, why, sizeof why - 1);
	_exit(EXIT_TEMP);
}

/* prog_exec - in the child: become /bin/sh -c cmd, message on stdin */
static void __attribute__((noreturn))
prog_exec(int in, int out, const struct dinfo *d, const char *cmd)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	char *envp[8];

	(void)setpgid(0, 0);
	envp[0] = env_add("SENDER", d->sender, NULL, NULL);
	envp[1] = env_add("RECIPIENT", d->rcpt, NULL, NULL);
	envp[2] = env_add("QID", d->qid, NULL, NULL);
	envp[3] = env_add("RPLINE", "Return-Path: <", d->sender, ">\n");
	envp[4] = env_add("DTLINE", "Delivered-To: ", d->rcpt, "\n");
	envp[5] = "PATH=/usr/local/bin:/usr/bin:/bin";
	envp[6] = "SHELL=/bin/sh";
	envp[7] = NULL;
	for (int i = 0; i < 5; i++)
		if (envp[i] == NULL)
			_exit(EXIT_TEMP);
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1 ||
	    chdir("/") == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		_exit(EXIT_TEMP);
	execve("/bin/sh", argv, envp);
	_exit(EXIT_TEMP);
}

/* prog_feed - in a child: the message into the program's stdin */
static void __attribute__((noreturn))
prog_feed(int msgfd, int to)
{
	struct wr w;
	off_t off = 0;
	ssize_t r;

	/* lspawn waits for EOF on the report pipe: not held by us */
	close(1);
	signal(SIGPIPE, SIG_IGN);	/* a program may stop reading */
	wr_init(&w, to, NULL, NULL);
	while ((r = pread_some(msgfd, chunk, sizeof chunk, off)) > 0) {
		if (wr_put(&w, chunk, (size_t)r) == -1)
			_exit(0);
		off += r;
	}
	(void)wr_flush(&w);
	_exit(0);
}

/* last_line - keep the program's last non-empty output line in why */
static void
last_line(int fd, struct buf *why)
{
	struct buf all = BUF_INIT(2 * DELIVER_TEXT_MAX);
	char b[4096];
	ssize_t r;
	size_t n;
	char *nl;

	while ((r = read(fd, b, sizeof b)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (ssize_t i = 0; i < r; i++) {
			if (all.len >= all.max)
				buf_drop(&all, DELIVER_TEXT_MAX);
			buf_putc(&all, b[i]);
		}
	}
	while (all.len > 0 && wsp(all.p[all.len - 1]))
		all.len--;
	why->len = 0;
	if (all.len > 0) {
		nl = memrchr(all.p, '\n', all.len);
		nl = nl ? nl + 1 : all.p;
		n = all.len - (size_t)(nl - all.p);
		/* the start of an over-long line, cut to the report's size */
		buf_put(why, nl, n < why->max ? n : why->max);
	}
	buf_free(&all);
}

/* prog_why - the report when the program said nothing */
static int
prog_why(int st, struct buf *why)
{
	int code = deliver_status(st);

	if (why->len > 0)
		return code;
	if (WIFSIGNALED(st))
		buf_fmt(why, "4.3.0 program killed by signal %d", WTERMSIG(st));
	else if (code == EXIT_OK)
		buf_puts(why, "delivered to a program");
	else
		buf_fmt(why, "%s program exited %d", code == EXIT_PERM ?
		    "5.3.0" : "4.3.0", WEXITSTATUS(st));
	return code;
}

static void
reap(pid_t pid, int *st)
{
	while (waitpid(pid, st, 0) == -1 && errno == EINTR)
		;
}

/* deliver_program - run |command with the message on its stdin */
int
deliver_program(int msgfd, const struct dinfo *d, const char *cmd,
    struct buf *why)
{
	int in[2], out[2], st = EXIT_TEMP << 8, fst;
	pid_t feeder;

	switch (deliver_loopcheck(msgfd, d->rcpt)) {
	case 1:
		return why_set(why, EXIT_PERM,
		    "5.4.6 mail loop: a Delivered-To line names this "
		    "recipient", 0);
	case -1:
		return why_set(why, EXIT_TEMP, "cannot read the message", errno);
	}
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1)
		return why_set(why, EXIT_TEMP, "pipe", errno);
	signal(SIGALRM, on_alarm);
	if ((prog_pid = fork()) == -1)
		return why_set(why, EXIT_TEMP, "fork", errno);
	if (prog_pid == 0)
		prog_exec(in[0], out[1], d, cmd);
	(void)setpgid(prog_pid, prog_pid);	/* both sides: no race */
	if ((feeder = fork()) == -1) {
		kill(-prog_pid, SIGKILL);
		return why_set(why, EXIT_TEMP, "fork", errno);
	}
	if (feeder == 0) {
		close(out[0]);
		prog_feed(msgfd, in[1]);
	}
	close(in[0]);
	close(in[1]);
	close(out[1]);
	last_line(out[0], why);
	close(out[0]);
	reap(prog_pid, &st);
	reap(feeder, &fst);
	return prog_why(st, why);
}
