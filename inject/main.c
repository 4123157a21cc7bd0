/* sandmail-inject: the sendmail command.  Run by any local user (cron,
 * PHP's mail(), mutt, scripts) as that user, with the message on stdin; it
 * completes the header section, finds the recipients, and hands the
 * message to sandmail-queue (its socket, or a queue program it spawns).
 * Trusts its caller as far as the caller's own mail goes: the sender it
 * names with -f is recorded as given (as sendmail and Postfix do), the
 * bytes go through bounded parsers.  Touches nothing but the queue
 * socket or the queue program, and the configuration.
 *
 * -bs, -bp and -q hand over to the programs that do those jobs. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "conf.h"
#include "env.h"
#include "hdr.h"
#include "inject.h"
#include "log.h"
#include "qclient.h"

#include "args.h"

struct run {
	struct args	 a;
	struct conf	 conf;
	const char	*confpath;
	char		*bindir;
	char		*queue;
	const char	*hostname;
	const char	*domain;	/* qualifies "root" */
	struct passwd	*pw;
	struct env	 env;
	unsigned long long max_rcpt;
};

static void
fail(int code, const char *what, const char *why)
{
	die_msg(code, what, why);
}

static char *
self_dir(void)
{
	char p[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);

	if (n <= 0)
		return strdup("/usr/local/sbin");
	p[n] = '\0';
	if ((slash = strrchr(p, '/')) != NULL)
		*slash = '\0';
	return strdup(p);
}

static char *
join(const char *dir, const char *name)
{
	struct buf b = BUF_INIT(PATH_MAX);

	if (buf_fmt(&b, "%s/%s", dir, name) == -1 || buf_cstr(&b) == -1)
		fail(EX_OSERR, "path", name);
	return b.p;
}

/* report - conf_check's problems: a bad value is fatal, a typo logged */
static void
report(void *arg, int error, const char *msg)
{
	(void)arg;
	if (error)
		fail(EX_CONFIG, "config", msg);
	log_kv("warning", "op", "config", "err", msg, NULL);
}

static void
load_conf(struct run *r)
{
	static char host[256];
	char err[512];

	r->confpath = r->a.conf ? r->a.conf : conf_default_path();
	if (conf_parse(&r->conf, r->confpath, err, sizeof err) == -1)
		fail(EX_CONFIG, "config", err);
	conf_check(&r->conf, report, NULL);
	if (gethostname(host, sizeof host - 1) == -1)
		host[0] = '\0';
	r->hostname = conf_str(&r->conf, "hostname", host[0] ? host :
	    "localhost");
	r->domain = conf_str(&r->conf, "inject_domain", r->hostname);
	r->queue = conf_path(&r->conf, "queue", "/var/spool/sandmail");
	r->bindir = conf_path(&r->conf, "bindir", NULL);
	if (r->bindir == NULL)
		r->bindir = self_dir();
	if (r->queue == NULL || r->bindir == NULL)
		fail(EX_OSERR, "config", "out of memory");
	r->max_rcpt = conf_num(&r->conf, "max_recipients", 100, 1,
	    ENV_RCPT_MAX);
}

/* the modes that are other programs ------------------------------------ */

static void
exec_prog(struct run *r, const char *name, char *const *extra, size_t n)
{
	char *argv[16];
	size_t k = 0;

	argv[k++] = join(r->bindir, name);
	argv[k++] = "-c";
	argv[k++] = (char *)r->confpath;
	for (size_t i = 0; i < n && k < sizeof argv / sizeof argv[0] - 1; i++)
		argv[k++] = extra[i];
	argv[k] = NULL;
	execv(argv[0], argv);
	fail(EX_UNAVAILABLE, "exec", argv[0]);
}

/* -bs: an SMTP session on stdin/stdout: smtpd's local mode, a local
 * user's submission (no relay refusal, no early-talker check, the uid in
 * the Received: line), as Postfix's sendmail -bs */
static void
mode_smtp(struct run *r)
{
	static char *local[] = { "-m", "local" };

	unsetenv("TCPREMOTEIP");
	unsetenv("TCPREMOTEHOST");
	unsetenv("TCPREMOTEINFO");
	unsetenv("TCPREMOTEPORT");
	unsetenv("RELAYCLIENT");
	exec_prog(r, "sandmail-smtpd", local, 2);
}

/* the queue service's socket, else a queue program of our own; on
 * failure q->text says what went wrong with both */
static int
queue_open(struct run *r, struct qc *q)
{
	char *sock = join(r->queue, "lock/queue.sock");
	char *prog = join(r->bindir, "sandmail-queue");
	char why[QC_TEXT_MAX];
	int ok, n;

	if ((ok = qc_connect(q, sock) == 0) == 0) {
		n = snprintf(why, sizeof why, "%s: %s", sock, q->text);
		if (n < 0 || (size_t)n >= sizeof why)
			why[0] = '\0';
		if ((ok = qc_spawn(q, prog, r->confpath) == 0) == 0) {
			char spawn[QC_TEXT_MAX];

			memcpy(spawn, q->text, sizeof spawn);
			spawn[sizeof spawn - 1] = '\0';
			n = snprintf(q->text, sizeof q->text, "%s; %s: %s", why,
			    prog, spawn[0] ? spawn : "failed");
			if (n < 0)
				q->text[0] = '\0';
		}
	}
	free(sock);
	free(prog);
	return ok ? 0 : -1;
}

/* -q: run the queue now, for one domain (-qR) or all */
static int
mode_flush(struct run *r)
{
	struct qc q;
	int st;

	if (queue_open(r, &q) == -1)
		fail(EX_TEMPFAIL, "queue", q.text[0] ? q.text : "unreachable");
	st = qc_flush(&q, r->a.flush_domain ? r->a.flush_domain : "");
	qc_close(&q);
	if (st != QC_OK)
		fail(st == QC_PERM ? EX_USAGE : EX_TEMPFAIL, "flush", q.text);
	return EX_OK;
}

/* the message ----------------------------------------------------------- */

struct rcpt_ctx {
	struct run	*r;
	int		 err;
	const char	*bad;
};

static int
rcpt_add(void *ctx, const char *addr, size_t n)
{
	struct rcpt_ctx *c = ctx;
	struct run *r = c->r;
	struct buf b = BUF_INIT(ENV_ADDR_MAX);
	int e;

	if ((e = inj_qualify(addr, n, r->domain, &b)) != ADDR_OK ||
	    buf_cstr(&b) == -1) {
		c->err = EX_NOUSER;
		c->bad = addr_strerror(e);
		buf_free(&b);
		return -1;
	}
	for (size_t i = 0; i < r->env.nrcpt; i++)
		if (strcmp(r->env.rcpt[i].addr, b.p) == 0) {
			buf_free(&b);
			return 0;	/* once is enough */
		}
	if (r->env.nrcpt >= r->max_rcpt) {
		c->err = EX_DATAERR;
		c->bad = "too many recipients";
		buf_free(&b);
		return -1;
	}
	if (env_add_rcpt(&r->env, b.p, r->a.notify, "") == -1)
		fail(EX_OSERR, "recipient", "out of memory");
	buf_free(&b);
	return 0;
}

static void
rcpt_args(struct run *r, int argc, char **argv)
{
	struct rcpt_ctx c = { r, 0, NULL };

	for (int i = 0; i < argc; i++) {
		int e = hdr_addrlist(argv[i], strlen(argv[i]), rcpt_add, &c);

		if (e == HDR_STOP)
			fail(c.err, argv[i], c.bad);
		if (e != HDR_OK)
			fail(EX_NOUSER, argv[i], hdr_strerror(e));
	}
}

static void
set_sender(struct run *r)
{
	const char *f = r->a.sender;
	struct buf b = BUF_INIT(ENV_ADDR_MAX);
	size_t n;
	int e;

	if (f == NULL) {
		if (buf_fmt(&b, "%s", r->pw->pw_name) == -1 ||
		    buf_cstr(&b) == -1)
			fail(EX_OSERR, "sender", "out of memory");
		f = b.p;
	}
	n = strlen(f);
	if (n >= 2 && f[0] == '<' && f[n - 1] == '>')
		f++, n -= 2;
	if (n == 0) {
		env_set(&r->env.sender, "");
		buf_free(&b);
		return;
	}
	{
		struct buf s = BUF_INIT(ENV_ADDR_MAX);

		if ((e = inj_qualify(f, n, r->domain, &s)) != ADDR_OK ||
		    buf_cstr(&s) == -1)
			fail(EX_USAGE, "sender", addr_strerror(e));
		if (env_set(&r->env.sender, s.p) == -1)
			fail(EX_OSERR, "sender", "out of memory");
		buf_free(&s);
	}
	buf_free(&b);
}

static struct passwd *
who(void)
{
	static struct passwd fake;
	struct passwd *pw = getpwuid(getuid());
	const char *u;

	if (pw != NULL)
		return pw;
	/* no passwd entry (a container's random uid): the login name */
	if ((u = getenv("LOGNAME")) == NULL && (u = getenv("USER")) == NULL)
		fail(EX_NOUSER, "user", "no login name for this uid");
	fake.pw_name = (char *)u;
	fake.pw_gecos = (char *)"";
	return &fake;
}

static char *
gecos_name(const char *g)
{
	size_t n = strcspn(g, ",");
	char *s = strndup(g, n);

	if (s == NULL)
		fail(EX_OSERR, "gecos", "out of memory");
	return s;
}

/* read stdin until the header section is complete */
static void
read_headers(struct run *r, struct inj_msg *m)
{
	char b[65536];
	ssize_t n;

	while (!m->ready) {
		if (m->ln.ended)
			n = 0;
		else if ((n = read(0, b, sizeof b)) == -1 && errno == EINTR)
			continue;
		if (n < 0)
			fail(EX_IOERR, "read", "standard input");
		if (n == 0) {
			if (inj_msg_eof(m) == -1)
				fail(EX_OSERR, "read", "out of memory");
			break;
		}
		if (inj_msg_feed(m, b, (size_t)n) == -1)
			fail(EX_DATAERR, "read", errno == E2BIG ?
			    "header section too long" : "out of memory");
	}
	(void)r;
}

static void
uniq_part(char *out, size_t sz)
{
	unsigned char rnd[8];
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0, sizeof rnd);
	for (i = 0; i < sizeof rnd && 2 * i + 2 < sz; i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[2 * i] = '\0';
}

static void
build_headers(struct run *r, struct inj_msg *m, struct buf *out)
{
	struct inj_opts o;
	struct rcpt_ctx c = { r, 0, NULL };
	char uniq[32];
	char *name = r->a.fullname ? strdup(r->a.fullname) :
	    gecos_name(r->pw->pw_gecos ? r->pw->pw_gecos : "");
	struct buf from = BUF_INIT(ENV_ADDR_MAX + 8);
	int e;

	uniq_part(uniq, sizeof uniq);
	if (buf_puts(&from, r->env.sender[0] ? r->env.sender : "") == -1 ||
	    buf_cstr(&from) == -1)
		fail(EX_OSERR, "from", "out of memory");
	if (r->env.sender[0] == '\0') {	/* -f "<>": From: names the user */
		struct buf u = BUF_INIT(ENV_ADDR_MAX);

		if (inj_qualify(r->pw->pw_name, strlen(r->pw->pw_name),
		    r->domain, &u) != ADDR_OK || buf_cstr(&u) == -1)
			fail(EX_NOUSER, "from", r->pw->pw_name);
		buf_free(&from);
		from = u;
	}
	o = (struct inj_opts){ .tflag = r->a.tflag, .from_addr = from.p,
	    .fullname = name, .hostname = r->hostname, .now = time(NULL),
	    .uniq = uniq };
	e = inj_headers(&o, m->hb.p ? m->hb.p + m->hstart : "",
	    m->hend - m->hstart, out, rcpt_add, &c);
	if (e == HDR_STOP)
		fail(c.err, "recipient", c.bad);
	if (e != HDR_OK)
		fail(EX_DATAERR, "headers", hdr_strerror(e));
	free(name);
	buf_free(&from);
}

static int
queue_fail(struct qc *q, int st, const char *what)
{
	char why[QC_STATUS_MAX + QC_TEXT_MAX + 2];

	qc_close(q);
	/* the status first, as the queue gave it: 4.3.1 is a full disk */
	snprintf(why, sizeof why, "%s%s%s", q->status, q->status[0] ? " " :
	    "", q->text[0] ? q->text : "failed");
	fail(st == QC_PERM ? EX_DATAERR : EX_TEMPFAIL, what, why);
	return EX_TEMPFAIL;
}

static int
sink_queue(void *ctx, const void *p, size_t n)
{
	return qc_data(ctx, p, n);
}

/* the Received: line: who handed it in, and when */
static int
received(struct run *r, const char *id, struct qc *q)
{
	struct buf b = BUF_INIT(1024);
	int ok;

	ok = buf_fmt(&b, "Received: (sandmail-inject invoked by uid %lu)\n"
	    "\tby %s id %s; ", (unsigned long)getuid(), r->hostname,
	    id) == 0 && inj_date(&b, time(NULL)) == 0 &&
	    buf_putc(&b, '\n') == 0 && qc_data(q, b.p, b.len) == 0;
	buf_free(&b);
	return ok ? 0 : -1;
}

/* the rest of stdin, through the line-end converter, to the queue */
static int
stream_body(struct inj_msg *m, struct qc *q)
{
	char b[65536];
	ssize_t n;

	while (!m->ln.ended) {
		if ((n = read(0, b, sizeof b)) == -1 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return lnorm_end(&m->ln, sink_queue, q);
		if (lnorm_feed(&m->ln, b, (size_t)n, sink_queue, q) == -1)
			return -1;
	}
	return 0;
}

static int
send_message(struct run *r, struct inj_msg *m, const struct buf *hdr)
{
	char id[QID_MAX + 1];
	struct qc q;
	int st;

	if (queue_open(r, &q) == -1)
		fail(EX_TEMPFAIL, "queue", q.text[0] ? q.text : "unreachable");
	if ((st = qc_begin(&q, id)) != QC_OK)
		return queue_fail(&q, st, "queue");
	if (received(r, id, &q) == -1 || qc_data(&q, hdr->p, hdr->len) ||
	    qc_data(&q, "\n", 1) == -1 ||
	    (m->hb.len > m->bstart && qc_data(&q, m->hb.p + m->bstart,
	    m->hb.len - m->bstart) == -1) ||
	    stream_body(m, &q) == -1) {
		(void)qc_abort(&q);
		return queue_fail(&q, QC_TEMP, "queue");
	}
	if (m->ln.eightbit)
		r->env.flags |= ENV_8BITMIME;
	r->env.arrival = (uint64_t)time(NULL);
	if ((st = qc_end(&q, &r->env)) != QC_OK)
		return queue_fail(&q, st, "queue");
	qc_close(&q);
	if (r->a.verbose)
		fprintf(stderr, "sandmail-inject: queued as %s\n", id);
	return EX_OK;
}

static int
mode_mail(struct run *r, int argc, char **argv)
{
	struct inj_msg m;
	struct buf hdr = BUF_INIT(INJ_HDR_MAX + 8192);
	int code;

	env_init(&r->env);
	if (env_set(&r->env.proto, "local") == -1 ||
	    env_set(&r->env.auth, "") == -1)
		fail(EX_OSERR, "envelope", "out of memory");
	r->pw = who();
	set_sender(r);
	if (r->a.envid && env_set(&r->env.envid, r->a.envid) == -1)
		fail(EX_OSERR, "envelope", "out of memory");
	r->env.ret = r->a.ret;
	rcpt_args(r, argc, argv);
	if (!r->a.tflag && r->env.nrcpt == 0)
		fail(EX_USAGE, "recipients", "none given (and no -t)");
	inj_msg_init(&m, r->a.dot);
	read_headers(r, &m);
	build_headers(r, &m, &hdr);
	if (r->env.nrcpt == 0)
		fail(EX_USAGE, "recipients", "no recipient addresses found");
	code = send_message(r, &m, &hdr);
	inj_msg_free(&m);
	buf_free(&hdr);
	env_free(&r->env);
	return code;
}

int
main(int argc, char **argv)
{
	static struct run r;	/* lives until exit: nothing to free */
	int first;

	log_init("inject");
	first = args_parse(&r.a, argc, argv);
	if (first < 0) {
		fprintf(stderr, "sandmail-inject: %s\n", r.a.err);
		fprintf(stderr, "usage: sendmail [-t] [-i] [-f sender] "
		    "[-F name] [-bm|-bs|-bp|-q] [--] [recipient ...]\n");
		return EX_USAGE;
	}
	if (r.a.mode == MODE_NEWALIASES) {
		fprintf(stderr, "sandmail-inject: the aliases table is "
		    "compiled by sandmail-cdb; nothing done\n");
		return EX_OK;
	}
	if (r.a.mode == MODE_IGNORE)
		return EX_OK;
	load_conf(&r);
	switch (r.a.mode) {
	case MODE_SMTP:
		mode_smtp(&r);
		break;
	case MODE_LIST:
		exec_prog(&r, "sandmail-mailq", NULL, 0);
		break;
	case MODE_FLUSH:
		return mode_flush(&r);
	default:
		break;
	}
	return mode_mail(&r, argc - first, argv + first);
}
