/* lrun: the delivery itself, after the switch to the recipient's uid.
 * The maildir is opened (and created) first; then Landlock (where the
 * kernel has it) leaves only regular files beneath the maildir, a seccomp
 * filter allows only file creation, linking and removal relative to its
 * tmp/ and new/ descriptors, and only then is the message read.  Exit: 0
 * delivered, 100 permanent failure, 111 temporary failure. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "confine.h"
#include "exitcode.h"
#include "log.h"
#include "lrun.h"
#include "maildir.h"
#include "sbx.h"

/* finish - the report line on fd 1, a log line on failure, the exit */
static void __attribute__((noreturn))
finish(const struct lrun *o, int code, const char *text, size_t n)
{
	struct logln l;

	(void)!write(1, text, n);
	(void)!write(1, "\n", 1);
	if (code != EXIT_OK) {
		log_start(&l, code == EXIT_PERM ? "failed" : "deferred");
		log_s(&l, "id", o->d.qid);
		log_s(&l, "rcpt", o->d.rcpt);
		log_m(&l, "why", text, n);
		log_i(&l, "exit", code);
		log_done(&l);
	}
	_exit(code);
}

void
lrun_fail(const struct lrun *o, int code, const char *what, int err)
{
	struct buf b = BUF_INIT(DELIVER_TEXT_MAX);

	if (err != 0)
		buf_fmt(&b, "%s: %s", what, strerror(err));
	else
		buf_puts(&b, what);
	finish(o, code, b.p ? b.p : what, b.p ? b.len : strlen(what));
}

/* lrun_sandbox - nothing but names under tmp/ and new/ of this maildir,
 * and, for a reused worker (sock >= 0), its jobs and results on sock */
int
lrun_sandbox(const struct maildir *m, int sock)
{
	struct sbx_rule rules[] = {
		/* the file in tmp/, created exclusively */
		SBX_ALLOW2(openat, SCMP_A0(SCMP_CMP_EQ, (unsigned)m->tmp),
		    SCMP_A2(SCMP_CMP_EQ, MAILDIR_OFLAGS)),
		/* tmp/ -> new/, by link, or rename where links fail */
		SBX_ALLOW2(linkat, SCMP_A0(SCMP_CMP_EQ, (unsigned)m->tmp),
		    SCMP_A2(SCMP_CMP_EQ, (unsigned)m->new)),
		SBX_ALLOW2(renameat2, SCMP_A0(SCMP_CMP_EQ, (unsigned)m->tmp),
		    SCMP_A2(SCMP_CMP_EQ, (unsigned)m->new)),
		SBX_ALLOW1(unlinkat, SCMP_A0(SCMP_CMP_EQ, (unsigned)m->tmp)),
		SBX_ALLOW1(unlinkat, SCMP_A0(SCMP_CMP_EQ, (unsigned)m->new)),
		/* the message, and durability */
		SBX_ALLOW(pread64),
		SBX_ALLOW(fsync),
		SBX_ALLOW(fdatasync),
		/* on a journaled file system the file's data written out
		 * first, then its fsync and new/'s at once (deliver.c) */
		SBX_ALLOW(sync_file_range),
		SBX_ALLOW(io_setup),
		SBX_ALLOW(io_submit),
		SBX_ALLOW(io_getevents),
		/* a worker: jobs (with the message fd) in, results out,
		 * on its one socket (ppoll, fstat, close are in sbx_base) */
		SBX_ALLOW1(recvmsg, SCMP_A0(SCMP_CMP_EQ, (unsigned)sock)),
		SBX_ALLOW1(sendmsg, SCMP_A0(SCMP_CMP_EQ, (unsigned)sock)),
		SBX_LAST
	};
	const size_t nsock = 2;

	if (sock < 0)
		rules[sizeof rules / sizeof rules[0] - 1 - nsock] =
		    (struct sbx_rule)SBX_LAST;
	return sbx_enter(rules);
}

static void __attribute__((noreturn))
to_maildir(const struct lrun *o)
{
	struct maildir m;
	struct buf name = BUF_INIT(MAILDIR_NAME_MAX);
	struct buf why = BUF_INIT(DELIVER_TEXT_MAX);
	struct timespec ts;
	unsigned char rnd[8];
	int code;

	if (maildir_open(&m, o->dest) == -1)
		lrun_fail(o, EXIT_TEMP, "cannot open the maildir", errno);
	/* a unique name: time, pid, the first delivery of this process,
	 * and 64 random bits (maildir(5)) */
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd ||
	    maildir_name(&name, (unsigned long long)ts.tv_sec,
	    (unsigned long)(ts.tv_nsec / 1000), getpid(), 1, rnd, sizeof rnd,
	    o->d.host) == -1 || buf_cstr(&name) == -1)
		lrun_fail(o, EXIT_TEMP, "cannot make a file name", errno);
	/* Landlock where the kernel has it, then seccomp in any case */
	if (confine_maildir(m.dir) == -1)
		lrun_fail(o, EXIT_TEMP, "cannot confine to the maildir", errno);
	if (lrun_sandbox(&m, -1) == -1)
		lrun_fail(o, EXIT_TEMP, "cannot enter the sandbox", errno);
	code = deliver_maildir(&m, 0, &o->d, name.p, &why);
	finish(o, code, why.p ? why.p : "", why.len);
}

static void __attribute__((noreturn))
to_program(const struct lrun *o)
{
	struct buf why = BUF_INIT(DELIVER_TEXT_MAX);
	int code;

	if (!o->programs)
		lrun_fail(o, EXIT_PERM, "delivery to programs is not allowed",
		    0);
	code = deliver_program(0, &o->d, o->dest + 1, &why);
	finish(o, code, why.p ? why.p : "", why.len);
}

static int
clean(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

/* lrun_deliver - what sandmail-local does with its arguments */
void
lrun_deliver(const struct lrun *o)
{
	struct stat st;

	umask(077);
	if (!clean(o->d.sender) || !clean(o->d.rcpt) || !clean(o->d.qid))
		lrun_fail(o, EXIT_TEMP, "a line break in the envelope", 0);
	if (fstat(0, &st) == -1 || !S_ISREG(st.st_mode))
		lrun_fail(o, EXIT_TEMP, "the message is not a regular file", 0);
	/* a delivery has a deadline; the default action ends us and
	 * lspawn reports the signal as a temporary failure */
	alarm((unsigned)o->timeout);
	if (o->dest[0] == '|')
		to_program(o);
	if (o->dest[0] != '/')
		lrun_fail(o, EXIT_TEMP, "the destination is not an absolute "
		    "path", 0);
	to_maildir(o);
}
