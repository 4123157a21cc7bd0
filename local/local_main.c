/* sandmail-local: deliver one message to one maildir (or program), as the
 * recipient's uid, started by sandmail-lspawn.
 *
 *   sandmail-local [-P] [-H host] [-T seconds] -- qid sender rcpt dest
 *
 * fd 0 is the message (a regular file, read with pread), fd 1 a pipe
 * that gets one line of text for the delivery report, fd 2 the log.
 * The maildir is opened (and created) first; then Landlock (where the
 * kernel has it) leaves only regular files beneath the maildir, a seccomp
 * filter allows only file creation, linking and removal relative to its
 * tmp/ and new/ descriptors, and only then is the message read.  Exit: 0
 * delivered, 100 permanent failure, 111 temporary failure. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "confine.h"
#include "deliver.h"
#include "exitcode.h"
#include "log.h"
#include "maildir.h"
#include "sbx.h"

struct opts {
	int		 programs;	/* -P: "|command" allowed */
	const char	*host;
	unsigned long long timeout;
	struct dinfo	 d;
	const char	*dest;
};

/* finish - the report line on fd 1, a log line on failure, the exit */
static void __attribute__((noreturn))
finish(const struct opts *o, int code, const char *text, size_t n)
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

static void __attribute__((noreturn))
fail(const struct opts *o, int code, const char *what, int err)
{
	struct buf b = BUF_INIT(DELIVER_TEXT_MAX);

	if (err != 0)
		buf_fmt(&b, "%s: %s", what, strerror(err));
	else
		buf_puts(&b, what);
	finish(o, code, b.p ? b.p : what, b.p ? b.len : strlen(what));
}

static void
usage(void)
{
	die_msg(EXIT_TEMP, "usage", "sandmail-local [-P] [-H host] "
	    "[-T seconds] -- qid sender rcpt dest");
}

static int
clean(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

static void
opts_parse(struct opts *o, int argc, char *argv[])
{
	int c;

	memset(o, 0, sizeof *o);
	o->host = "localhost";
	o->timeout = 86400;
	while ((c = getopt(argc, argv, "+PH:T:")) != -1) {
		switch (c) {
		case 'P':
			o->programs = 1;
			break;
		case 'H':
			o->host = optarg;
			break;
		case 'T':
			if (parse_ull(optarg, &o->timeout) == -1 ||
			    o->timeout == 0 || o->timeout > 86400 * 7)
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 4)
		usage();
	o->d.qid = argv[optind];
	o->d.sender = argv[optind + 1];
	o->d.rcpt = argv[optind + 2];
	o->dest = argv[optind + 3];
	o->d.host = o->host;
	if (!clean(o->d.sender) || !clean(o->d.rcpt) || !clean(o->d.qid))
		fail(o, EXIT_TEMP, "a line break in the envelope", 0);
}

/* sandbox - nothing but names under tmp/ and new/ of this maildir */
static int
sandbox(const struct maildir *m)
{
	const struct sbx_rule rules[] = {
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
		SBX_LAST
	};

	return sbx_enter(rules);
}

static void __attribute__((noreturn))
to_maildir(struct opts *o)
{
	struct maildir m;
	struct buf name = BUF_INIT(MAILDIR_NAME_MAX);
	struct buf why = BUF_INIT(DELIVER_TEXT_MAX);
	struct timespec ts;
	unsigned char rnd[8];
	int code;

	if (maildir_open(&m, o->dest) == -1)
		fail(o, EXIT_TEMP, "cannot open the maildir", errno);
	/* a unique name: time, pid and 64 random bits (maildir(5)) */
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd ||
	    maildir_name(&name, (unsigned long long)ts.tv_sec,
	    (unsigned long)(ts.tv_nsec / 1000), getpid(), rnd, sizeof rnd,
	    o->host) == -1 || buf_cstr(&name) == -1)
		fail(o, EXIT_TEMP, "cannot make a file name", errno);
	/* Landlock where the kernel has it, then seccomp in any case */
	if (confine_maildir(m.dir) == -1)
		fail(o, EXIT_TEMP, "cannot confine to the maildir", errno);
	if (sandbox(&m) == -1)
		fail(o, EXIT_TEMP, "cannot enter the sandbox", errno);
	code = deliver_maildir(&m, 0, &o->d, name.p, &why);
	finish(o, code, why.p ? why.p : "", why.len);
}

static void __attribute__((noreturn))
to_program(struct opts *o)
{
	struct buf why = BUF_INIT(DELIVER_TEXT_MAX);
	int code;

	if (!o->programs)
		fail(o, EXIT_PERM, "delivery to programs is not allowed", 0);
	code = deliver_program(0, &o->d, o->dest + 1, &why);
	finish(o, code, why.p ? why.p : "", why.len);
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct stat st;

	log_init("local");
	umask(077);
	opts_parse(&o, argc, argv);
	if (fstat(0, &st) == -1 || !S_ISREG(st.st_mode))
		fail(&o, EXIT_TEMP, "the message is not a regular file", 0);
	/* a delivery has a deadline; the default action ends us and
	 * lspawn reports the signal as a temporary failure */
	alarm((unsigned)o.timeout);
	if (o.dest[0] == '|')
		to_program(&o);
	if (o.dest[0] != '/')
		fail(&o, EXIT_TEMP, "the destination is not an absolute path",
		    0);
	to_maildir(&o);
}
