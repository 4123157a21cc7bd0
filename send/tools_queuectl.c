/* sandmail-queuectl: look at the queue and act on it while send runs.
 *
 *   list      every message: ID, size, age, sender, and each recipient's
 *             state, next attempt and last error (-j: one JSON object a
 *             line, as postqueue -j)
 *   summary   pending recipients by domain and message age (as qshape)
 *   show ID   the envelope, then the message as queued
 *   hold, release, requeue, delete   IDs as operands, "-" for IDs on
 *             stdin, or every message the filters select
 *
 * Filters (-s sender, -r recipient, -d domain, -o age, -S state) select
 * whole messages.  The tool never removes a queue file: hold is a file
 * hold/ID send reads at each load (send keeps a held message off its
 * schedule and never tries, expires or reports it); delete marks the
 * recipients done in place as sandmail-rm does; each action then sends
 * send an R (read again) or Q (requeue) record on lock/trigger, which
 * send applies only when none of the message's deliveries is in flight.
 * Run as root (or as send's user); no sandbox: short-lived, reads the
 * queue directory it trusts as its owner. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "seal.h"
#include "tools_common.h"
#include "utf8.h"

#define HOLD_DIR	"hold"
#define TRIG_TRIES	1000	/* 10 ms apart: a full FIFO for 10 s */

struct filt {
	const char	*sender, *rcpt, *domain, *state;
	uint64_t	 older;		/* seconds; 0: any */
	int		 any;		/* -A: every message */
};

struct qmsg {
	char		 id[QID_MAX + 1];
	int		 isnew;		/* in todo/, not yet split by send */
	int		 held;
	long long	 size;
	struct env	 e;
	struct rcpt	*v;
	size_t		 n;
};

static int qfd = -1;
static int trig = -1;		/* lock/trigger, opened on first use */
static int norun;		/* send is not running */
static uint64_t now;

/* ---- reading ---- */

static long long
msize(const char *id)
{
	struct stat st;
	char p[128];

	if (fs_path(p, sizeof p, "mess", id) == -1 ||
	    fstatat(qfd, p, &st, 0) == -1)
		return -1;
	return (long long)st.st_size;
}

static void
qm_free(struct qmsg *q)
{
	for (size_t i = 0; i < q->n; i++)
		rc_free(&q->v[i]);
	free(q->v);
	env_free(&q->e);
	memset(q, 0, sizeof *q);
}

/* qm_load - a message in info/ (or, not yet split, in todo/); 0, or -1
 * when it is gone or being written */
static int
qm_load(const char *id, struct qmsg *q)
{
	struct buf b = BUF_INIT(INFO_FILE_MAX);
	struct seal sl;
	int inner = 0, r;

	memset(q, 0, sizeof *q);
	if (!send_idok(id))
		return -1;
	snprintf(q->id, sizeof q->id, "%s", id);
	if (fs_read(qfd, "info", id, &b) == 0) {
		r = info_decode(b.p, b.len, &q->e, &q->v, &q->n, &inner);
		buf_free(&b);
		if (r == -1)
			return -1;
		if (!inner && tools_rcpts(qfd, id, &q->v, &q->n) == -1) {
			qm_free(q);
			return -1;
		}
	} else {
		if (fs_read(qfd, "todo", id, &b) == -1 ||
		    seal_env(&q->e, b.p, b.len, &sl) == -1) {
			buf_free(&b);
			return -1;
		}
		buf_free(&b);
		q->isnew = 1;
	}
	q->held = !q->isnew && fs_exists(qfd, HOLD_DIR, id) == 1;
	q->size = msize(id);
	return 0;
}

/* the recipients of a message, for both kinds */
static size_t
qm_n(const struct qmsg *q)
{
	return q->isnew ? q->e.nrcpt : q->n;
}

static const char *
qm_addr(const struct qmsg *q, size_t i)
{
	return q->isnew ? q->e.rcpt[i].addr : q->v[i].addr;
}

static const char *
domain_of(const char *a)
{
	const char *at = strrchr(a, '@');

	return at != NULL ? at + 1 : "";
}

/* rstate - a recipient's state word */
static const char *
rstate(const struct qmsg *q, size_t i)
{
	const struct rcpt *r;

	if (q->isnew)
		return "new";
	r = &q->v[i];
	switch (r->state) {
	case RC_PENDING:
	case RC_WARNED:
		if (q->held)
			return "held";
		return r->err[0] != '\0' ? "deferred" : "active";
	case RC_DONE:
		return "done";
	case RC_FAILED:
		return "bounced";
	}
	return "unknown";
}

/* mstate - the message's: new, held, deferred (a pending recipient
 * failed before), active (pending, never tried or tried with no error
 * yet), or done (nothing pending: send is removing it) */
static const char *
mstate(const struct qmsg *q)
{
	int pend = 0;

	if (q->isnew)
		return "new";
	if (q->held)
		return "held";
	for (size_t i = 0; i < q->n; i++)
		if (rc_pending(&q->v[i])) {
			if (q->v[i].err[0] != '\0')
				return "deferred";
			pend = 1;
		}
	return pend ? "active" : "done";
}

static int
contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return n == 0;
}

static int
matches(const struct filt *f, const struct qmsg *q)
{
	int ok;

	if (f->sender != NULL && (strcmp(f->sender, "<>") == 0 ?
	    q->e.sender[0] != '\0' : !contains(q->e.sender, f->sender)))
		return 0;
	if (f->older > 0 && (now < q->e.arrival ||
	    now - q->e.arrival < f->older))
		return 0;
	if (f->state != NULL && strcmp(f->state, mstate(q)) != 0)
		return 0;
	if (f->rcpt != NULL) {
		ok = 0;
		for (size_t i = 0; i < qm_n(q) && !ok; i++)
			ok = contains(qm_addr(q, i), f->rcpt);
		if (!ok)
			return 0;
	}
	if (f->domain != NULL) {
		ok = 0;
		for (size_t i = 0; i < qm_n(q) && !ok; i++)
			ok = strcasecmp(domain_of(qm_addr(q, i)),
			    f->domain) == 0;
		if (!ok)
			return 0;
	}
	return 1;
}

typedef int each_fn(struct qmsg *, void *);

/* each - every message that passes f, info/ first, then todo/ (a message
 * in both is being split: it is listed once, from info/) */
static size_t
each(const struct filt *f, each_fn *fn, void *arg, int *rc)
{
	static const char *dirs[2] = { "info", "todo" };
	struct dirent *d;
	struct qmsg q;
	size_t n = 0;
	DIR *dp;
	int fd, r;

	for (int k = 0; k < 2; k++) {
		if ((fd = openat(qfd, dirs[k], O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1 || (dp = fdopendir(fd)) == NULL)
			die_temp("opendir", dirs[k]);
		while ((d = readdir(dp)) != NULL) {
			if (!send_idok(d->d_name) || (k == 1 &&
			    fs_exists(qfd, "info", d->d_name) != 0))
				continue;
			if (qm_load(d->d_name, &q) == -1)
				continue;	/* gone meanwhile */
			if (matches(f, &q)) {
				n++;
				if ((r = fn(&q, arg)) != EXIT_OK)
					*rc = r;
			}
			qm_free(&q);
		}
		closedir(dp);
	}
	return n;
}

/* ---- output ---- */

static void
iso(char *b, size_t sz, uint64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(b, sz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(b, sz, "%llu", (unsigned long long)t);
}

static void
age(char *b, size_t sz, uint64_t arrival)
{
	uint64_t a = now > arrival ? now - arrival : 0;

	if (a < 3600)
		snprintf(b, sz, "%llum", (unsigned long long)a / 60);
	else if (a < 86400)
		snprintf(b, sz, "%lluh", (unsigned long long)a / 3600);
	else
		snprintf(b, sz, "%llud", (unsigned long long)a / 86400);
}

/* jstr - s as a JSON string: valid UTF-8 passes, every other byte and
 * every control is escaped (an invalid byte as \u00XX, its Latin-1
 * reading: the output always parses) */
static void
jstr(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k;

	putchar('"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			printf("\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			printf("\\u%04x", p[i]);
		else if (p[i] < 0x80)
			putchar(p[i]);
		else if ((k = utf8_seq(p + i, n - i)) > 0) {
			fwrite(p + i, 1, k, stdout);
			i += k - 1;
		} else
			printf("\\u%04x", p[i]);
	}
	putchar('"');
}

static int
print_json(struct qmsg *q, void *arg)
{
	(void)arg;
	printf("{\"queue_id\":");
	jstr(q->id);
	printf(",\"queue_name\":\"%s\",\"state\":\"%s\",\"held\":%s,"
	    "\"arrival_time\":%llu,\"message_size\":%lld,\"sender\":",
	    q->isnew ? "incoming" : q->held ? "hold" :
	    strcmp(mstate(q), "deferred") == 0 ? "deferred" : "active",
	    mstate(q),
	    q->held ? "true" : "false", (unsigned long long)q->e.arrival,
	    q->size);
	jstr(q->e.sender);
	printf(",\"recipients\":[");
	for (size_t i = 0; i < qm_n(q); i++) {
		printf("%s{\"address\":", i ? "," : "");
		jstr(qm_addr(q, i));
		printf(",\"state\":\"%s\"", rstate(q, i));
		if (!q->isnew) {
			const struct rcpt *r = &q->v[i];

			printf(",\"orig_rcpt\":");
			jstr(r->orcpt);
			printf(",\"orig_to\":");
			jstr(r->orig != NULL ? r->orig : r->addr);
			printf(",\"kind\":\"%s\",\"domain\":",
			    r->kind == RC_LOCAL ? "local" : "remote");
			jstr(r->kind == RC_REMOTE ? r->domain :
			    domain_of(r->addr));
			if (rc_pending(r)) {
				printf(",\"next_retry\":%llu",
				    (unsigned long long)r->next);
				if (r->err[0] != '\0') {
					printf(",\"delay_reason\":");
					jstr(r->err);
				}
			}
		}
		putchar('}');
	}
	printf("]}\n");
	return EXIT_OK;
}

static int
print_text(struct qmsg *q, void *arg)
{
	char a[32], t[32];

	(void)arg;
	age(a, sizeof a, q->e.arrival);
	printf("%s %lld %s <%s>%s\n", q->id, q->size, a, q->e.sender,
	    q->isnew ? " (new)" : q->held ? " (held)" : "");
	for (size_t i = 0; i < qm_n(q); i++) {
		printf("\t%s\t%s", rstate(q, i), qm_addr(q, i));
		if (!q->isnew && rc_pending(&q->v[i])) {
			iso(t, sizeof t, q->v[i].next);
			if (!q->held)
				printf("\tnext %s", q->v[i].next <= now ?
				    "now" : t);
			if (q->v[i].err[0] != '\0')
				printf("\t(%s)", q->v[i].err);
		}
		putchar('\n');
	}
	return EXIT_OK;
}

/* ---- summary (qshape) ---- */

#define NBUCKET	11	/* total, then <=5 10 20 ... 1280 minutes, more */

struct shape {
	char		*dom;
	unsigned long	 c[NBUCKET];
};

struct shapes {
	struct shape	*v;
	size_t		 n, cap;
};

static struct shape *
shape_get(struct shapes *s, const char *dom)
{
	struct shape *nv;

	for (size_t i = 0; i < s->n; i++)
		if (strcasecmp(s->v[i].dom, dom) == 0)
			return &s->v[i];
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		if ((nv = reallocarray(s->v, s->cap, sizeof *nv)) == NULL)
			die_temp("malloc", "summary");
		s->v = nv;
	}
	memset(&s->v[s->n], 0, sizeof s->v[s->n]);
	if ((s->v[s->n].dom = strdup(dom)) == NULL)
		die_temp("malloc", "summary");
	return &s->v[s->n++];
}

static int
bucket(uint64_t arrival)
{
	uint64_t m = (now > arrival ? now - arrival : 0) / 60;
	int b = 1;

	for (uint64_t lim = 5; lim <= 1280; lim *= 2, b++)
		if (m <= lim)
			return b;
	return NBUCKET - 1;
}

static void
count(struct shapes *s, const char *dom, int b)
{
	struct shape *t = shape_get(s, "TOTAL"), *d = shape_get(s, dom);

	t->c[0]++, t->c[b]++;
	d->c[0]++, d->c[b]++;
}

static int
shape_add(struct qmsg *q, void *arg)
{
	int b = bucket(q->e.arrival);

	for (size_t i = 0; i < qm_n(q); i++)
		if (q->isnew || rc_pending(&q->v[i]))
			count(arg, domain_of(qm_addr(q, i)), b);
	return EXIT_OK;
}

static int
shape_cmp(const void *a, const void *b)
{
	const struct shape *x = a, *y = b;

	if (strcmp(x->dom, "TOTAL") == 0)
		return -1;
	if (strcmp(y->dom, "TOTAL") == 0)
		return 1;
	if (x->c[0] != y->c[0])
		return x->c[0] < y->c[0] ? 1 : -1;
	return strcmp(x->dom, y->dom);
}

static void
summary(const struct filt *f, int *rc)
{
	struct shapes s = { NULL, 0, 0 };

	(void)shape_get(&s, "TOTAL");
	(void)each(f, shape_add, &s, rc);
	qsort(s.v, s.n, sizeof *s.v, shape_cmp);
	printf("%-30s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s\n",
	    "domain (pending recipients)", "T", "5", "10", "20", "40", "80",
	    "160", "320", "640", "1280", "1280+");
	for (size_t i = 0; i < s.n; i++) {
		printf("%-30s", s.v[i].dom);
		for (int k = 0; k < NBUCKET; k++)
			printf(" %6lu", s.v[i].c[k]);
		putchar('\n');
		free(s.v[i].dom);
	}
	free(s.v);
}

/* ---- acting ---- */

/* trigger - one record to send; waits while the FIFO is full (a lost
 * record would leave a released message off send's schedule until its
 * next start).  Send not running is fine: it reads hold/ at start. */
static int
trigger(unsigned char t, const char *id)
{
	unsigned char rec[2 + QID_MAX];
	size_t n = strlen(id);
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	ssize_t k;

	if (norun)
		return 0;
	if (trig == -1 && (trig = openat(qfd, "lock/trigger", O_WRONLY |
	    O_NONBLOCK | O_CLOEXEC)) == -1) {
		if (errno == ENXIO)
			return norun = 1, 0;
		return -1;
	}
	rec[0] = t;
	rec[1] = (unsigned char)n;
	memcpy(rec + 2, id, n);
	for (int i = 0; i < TRIG_TRIES; i++) {
		k = write(trig, rec, 2 + n);
		if (k == (ssize_t)(2 + n))
			return 0;
		if (k == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (k >= 0)
			return errno = EIO, -1;
		nanosleep(&ts, NULL);
	}
	return errno = EAGAIN, -1;
}

/* hold_dir - hold/, made like info/ (send's, which send must read) when a
 * queue made before it lacks it */
static int
hold_dir(void)
{
	struct stat st;

	if (fstatat(qfd, HOLD_DIR, &st, 0) == 0)
		return 0;
	if (fstatat(qfd, "info", &st, 0) == -1)
		return -1;
	if (mkdirat(qfd, HOLD_DIR, 0700) == -1 && errno != EEXIST)
		return -1;
	if (fchownat(qfd, HOLD_DIR, st.st_uid, st.st_gid, 0) == -1 &&
	    geteuid() == 0)
		return -1;
	return fsync(qfd);
}

static int
sync_hold(void)
{
	int fd = openat(qfd, HOLD_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

enum act { A_HOLD, A_RELEASE, A_REQUEUE, A_DELETE };
static const char *const act_names[] = { "hold", "release", "requeue",
    "delete" };

static int
fail(const char *id, const char *what)
{
	fprintf(stderr, "sandmail-queuectl: %s: %s\n", id, what);
	return EXIT_TEMP;
}

static int
do_hold(struct qmsg *q)
{
	char p[128];
	size_t pend = 0;
	int fd;

	for (size_t i = 0; i < q->n; i++)
		pend += (size_t)rc_pending(&q->v[i]);
	if (pend == 0) {
		/* send is removing it: a hold/ID would outlive it */
		printf("%s: nothing pending; not held\n", q->id);
		return EXIT_OK;
	}
	if (hold_dir() == -1 || fs_path(p, sizeof p, HOLD_DIR, q->id) == -1 ||
	    (fd = openat(qfd, p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return fail(q->id, strerror(errno));
	close(fd);
	if (sync_hold() == -1)
		return fail(q->id, strerror(errno));
	if (trigger('R', q->id) == -1)
		return fail(q->id, "held; send not told (it sees it at the "
		    "next attempt)");
	printf("%s: held\n", q->id);
	return EXIT_OK;
}

static int
do_release(struct qmsg *q)
{
	char p[128];

	if (fs_path(p, sizeof p, HOLD_DIR, q->id) == -1)
		return fail(q->id, "bad ID");
	if (unlinkat(qfd, p, 0) == -1) {
		if (errno != ENOENT)
			return fail(q->id, strerror(errno));
		printf("%s: not held\n", q->id);
		return EXIT_OK;
	}
	if (sync_hold() == -1)
		return fail(q->id, strerror(errno));
	if (trigger('Q', q->id) == -1)
		return fail(q->id, "released; send not told: run requeue");
	printf("%s: released\n", q->id);
	return EXIT_OK;
}

static int
do_requeue(struct qmsg *q)
{
	if (trigger('Q', q->id) == -1)
		return fail(q->id, strerror(errno));
	printf("%s: requeued%s\n", q->id, q->held ? " (held: not tried "
	    "until released)" : "");
	return EXIT_OK;
}

/* do_delete - as sandmail-rm: every pending recipient marked done in
 * place (fdatasync), hold/ID removed, then R: send removes the message
 * in its crash-safe order once nothing of it is in flight */
static int
do_delete(struct qmsg *q)
{
	size_t k = 0;
	int bad = 0;
	char p[128];

	for (size_t i = 0; i < q->n; i++)
		if (rc_pending(&q->v[i])) {
			if (fs_mark(qfd, rc_dir(&q->v[i]), q->id,
			    q->v[i].off, RC_DONE, 1) == -1)
				bad = 1;
			else
				k++;
		}
	if (bad)
		return fail(q->id, strerror(errno));
	if (q->held && fs_path(p, sizeof p, HOLD_DIR, q->id) == 0 &&
	    unlinkat(qfd, p, 0) == 0)
		(void)sync_hold();
	if (trigger('R', q->id) == -1)
		return fail(q->id, "marked; send not told (it removes it at "
		    "the next attempt)");
	log_kv("delete", "id", q->id, "marked", k > 0 ? "yes" :
	    "none pending", NULL);
	printf("%s: deleted (%zu recipient%s)\n", q->id, k, k == 1 ? "" : "s");
	return EXIT_OK;
}

static int
act(struct qmsg *q, void *arg)
{
	enum act a = *(const enum act *)arg;

	if (q->isnew)
		return fail(q->id, "not yet taken by send; try again");
	switch (a) {
	case A_HOLD: return do_hold(q);
	case A_RELEASE: return do_release(q);
	case A_REQUEUE: return do_requeue(q);
	case A_DELETE: return do_delete(q);
	}
	return EXIT_PERM;
}

static int
act_id(const char *id, enum act a)
{
	struct qmsg q;
	int r;

	if (!send_idok(id) || fs_exists(qfd, "info", id) != 1)
		return fail(id, send_idok(id) && fs_exists(qfd, "todo", id) ==
		    1 ? "not yet taken by send; try again" : "no such message");
	if (qm_load(id, &q) == -1)
		return fail(id, "gone meanwhile");
	r = act(&q, &a);
	qm_free(&q);
	return r;
}

static int
act_stdin(enum act a)
{
	char line[256];
	int rc = EXIT_OK, r;

	while (fgets(line, sizeof line, stdin) != NULL) {
		line[strcspn(line, " \t\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if ((r = act_id(line, a)) != EXIT_OK)
			rc = r;
	}
	return rc;
}

static int
show(const char *id)
{
	struct qmsg q;
	char t[32], b[8192];
	ssize_t k;
	int fd;

	if (qm_load(id, &q) == -1)
		return fail(id, "no such message");
	iso(t, sizeof t, q.e.arrival);
	printf("id: %s\nstate: %s\nsender: <%s>\narrival: %s\nsize: %lld\n",
	    q.id, mstate(&q), q.e.sender, t, q.size);
	if (q.e.client[0] != '\0')
		printf("client: %s helo: %s proto: %s\n", q.e.client,
		    q.e.helo, q.e.proto);
	if (q.e.auth[0] != '\0')
		printf("auth: %s\n", q.e.auth);
	if (q.e.envid[0] != '\0')
		printf("envid: %s\n", q.e.envid);
	for (size_t i = 0; i < qm_n(&q); i++)
		printf("recipient: %s %s%s%s\n", rstate(&q, i), qm_addr(&q, i),
		    !q.isnew && q.v[i].err[0] != '\0' ? " last error: " : "",
		    !q.isnew ? q.v[i].err : "");
	putchar('\n');
	fflush(stdout);
	if (fs_path(b, sizeof b, "mess", id) == -1 ||
	    (fd = openat(qfd, b, O_RDONLY | O_CLOEXEC)) == -1) {
		qm_free(&q);
		return fail(id, "message file gone");
	}
	while ((k = read(fd, b, sizeof b)) > 0)
		fwrite(b, 1, (size_t)k, stdout);
	close(fd);
	qm_free(&q);
	return EXIT_OK;
}

/* age_parse - 90, 90s, 15m, 2h, 3d */
static int
age_parse(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return -1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': v *= 60; break;
	case 'h': v *= 3600; break;
	case 'd': v *= 86400; break;
	default: return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	*out = v;
	return 0;
}

static void
usage(void)
{
	fputs("usage: sandmail-queuectl [-c conf] [-j] [-A] [-s sender] "
	    "[-r rcpt] [-d domain] [-o age] [-S state]\n"
	    "         list | summary | show ID |\n"
	    "         hold | release | requeue | delete [ID... | -]\n",
	    stderr);
	exit(EXIT_PERM);
}

int
main(int argc, char *argv[])
{
	struct filt f;
	struct tools t;
	const char *cpath = NULL, *cmd;
	int ch, json = 0, rc = EXIT_OK, r, nfilt = 0;
	size_t a;

	log_init("queuectl");
	memset(&f, 0, sizeof f);
	while ((ch = getopt(argc, argv, "Ac:d:jo:r:s:S:")) != -1) {
		switch (ch) {
		case 'A': f.any = 1; break;
		case 'c': cpath = optarg; break;
		case 'd': f.domain = optarg, nfilt++; break;
		case 'j': json = 1; break;
		case 'o':
			if (age_parse(optarg, &f.older) == -1)
				usage();
			nfilt++;
			break;
		case 'r': f.rcpt = optarg, nfilt++; break;
		case 's': f.sender = optarg, nfilt++; break;
		case 'S':
			f.state = optarg, nfilt++;
			if (strcmp(optarg, "new") != 0 &&
			    strcmp(optarg, "held") != 0 &&
			    strcmp(optarg, "active") != 0 &&
			    strcmp(optarg, "deferred") != 0 &&
			    strcmp(optarg, "done") != 0)
				usage();
			break;
		default: usage();
		}
	}
	argc -= optind, argv += optind;
	cmd = argc > 0 ? argv[0] : "list";
	tools_conf(&t, cpath);
	qfd = t.qfd;
	now = (uint64_t)time(NULL);
	if (strcmp(cmd, "list") == 0 && argc <= 1) {
		size_t n = each(&f, json ? print_json : print_text, NULL, &rc);

		if (!json)
			printf("-- %zu message%s\n", n, n == 1 ? "" : "s");
	} else if (strcmp(cmd, "summary") == 0 && argc <= 1)
		summary(&f, &rc);
	else if (strcmp(cmd, "show") == 0 && argc == 2)
		rc = show(argv[1]);
	else {
		for (a = 0; a < 4 && strcmp(cmd, act_names[a]) != 0; a++)
			continue;
		if (a == 4)
			usage();
		if (argc == 1) {
			/* by filter: never everything by accident */
			if (nfilt == 0 && !f.any)
				usage();
			enum act av = (enum act)a;

			(void)each(&f, act, &av, &rc);
		} else if (argc == 2 && strcmp(argv[1], "-") == 0)
			rc = act_stdin((enum act)a);
		else
			for (int i = 1; i < argc; i++)
				if ((r = act_id(argv[i], (enum act)a)) !=
				    EXIT_OK)
					rc = r;
	}
	if (trig != -1)
		close(trig);
	if (fflush(stdout) != 0)
		return EXIT_TEMP;
	return rc;
}
