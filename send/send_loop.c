/* send_loop: the queue manager's event loop.  Messages wait in the index
 * (send_sched.c) until due; a due message is loaded from info/ID (and
 * local/, remote/ for a message split by the first version), its due
 * recipients go to lspawn (one LJOB each) and rspawn
 * (one RJOB per destination), and each result marks a recipient done in
 * place (one byte, written when step() is done with the message, synced
 * by the window's barrier), reschedules it, or records its failure in
 * bounce/ID.  A message with nothing in flight is unloaded again; when no
 * recipient is pending, its report (if any) is queued and its files go. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "addr.h"
#include "exitcode.h"
#include "fdpass.h"
#include "dlog.h"
#include "log.h"
#include "qwrite.h"
#include "rec.h"
#include "seal.h"
#include "send_srv.h"
#include "send_sts.h"

#define DAY	86400

volatile sig_atomic_t send_sighup, send_sigalrm, send_sigterm;
/* the port of the remote result being applied (on_rres), for the log's
 * relay= only: reports name the host without it */
static uint32_t relay_port;

struct route {
	char		 dkey[300];	/* per-destination key */
	char		 name[256];	/* what to resolve, or the literal */
	uint32_t	 port;
	int		 literal;
	int		 addrlit;	/* the recipient's own address literal */
	int		 lmtp;		/* "lmtp:" value: enum job_proto */
	char		 user[256], pass[256];
	char		 tls[24];	/* tls_policy value, or mta-sts[-testing] */
};

static uint64_t
now_s(void)
{
	return (uint64_t)time(NULL);
}

uint64_t
send_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* sender_of - the envelope sender of r's deliveries and reports */
static const char *
sender_of(const struct live *l, const struct rcpt *r)
{
	return r->sender != NULL && r->sender[0] != '\0' ? r->sender :
	    l->info.sender;
}

/* ---- loading ---- */

static void
flush_rcpts(struct live *l, const char *d)
{
	for (size_t i = 0; i < l->nrc; i++) {
		struct rcpt *r = &l->rc[i];

		if (d[0] == '\0' || (r->kind == RC_REMOTE &&
		    strcasecmp(r->domain, d) == 0))
			r->next = 0;
	}
}

/* apply_flushes - the flush requests made since the message last saw */
static void
apply_flushes(struct send *s, struct live *l)
{
	uint32_t behind = s->flushseq - l->m->flushseq;

	if (behind >= FLUSH_MAX)
		flush_rcpts(l, "");	/* too many to tell: all of them */
	else
		for (uint32_t k = 1; k <= behind; k++)
			flush_rcpts(l, s->fl[(l->m->flushseq + k) %
			    FLUSH_MAX].domain);
	l->m->flushseq = s->flushseq;
}

static int
load_rc(struct send *s, struct live *l, const char *dir, uint8_t kind)
{
	struct buf b = BUF_INIT(RC_FILE_MAX);
	int r = 0;

	if (fs_read(s->qfd, dir, l->m->id, &b) == -1)
		r = errno == ENOENT ? 0 : -1;
	else
		r = rc_decode(b.p, b.len, kind, &l->rc, &l->nrc);
	buf_free(&b);
	return r;
}

static void
live_free(struct live *l)
{
	for (size_t i = 0; i < l->nrc; i++)
		rc_free(&l->rc[i]);
	free(l->rc);
	env_free(&l->info);
	free(l->dkim);
	free(l);
}

/* hand_take - the image of a message split this round, or NULL */
static struct hand *
hand_take(struct send *s, const struct msg *m)
{
	for (size_t i = 0; i < s->nhand; i++)
		if (s->hand[i].m == m)
			return &s->hand[i];
	return NULL;
}

/* load - info/ID (from the split's image when it was just made); a
 * message of the first version also has local/ and remote/ */
static struct live *
load(struct send *s, struct msg *m)
{
	struct buf b = BUF_INIT(INFO_FILE_MAX);
	struct hand *h = hand_take(s, m);
	struct buf *img = h != NULL ? &h->img : &b;
	struct live *l;

	if ((l = calloc(1, sizeof *l)) == NULL)
		return NULL;
	l->m = m;
	if ((h == NULL && fs_read(s->qfd, "info", m->id, &b) == -1) ||
	    info_decode(img->p, img->len, &l->info, &l->rc, &l->nrc,
	    &l->inner) == -1 ||
	    (!l->inner && (load_rc(s, l, "local", RC_LOCAL) == -1 ||
	    load_rc(s, l, "remote", RC_REMOTE) == -1))) {
		log_kv("warn", "id", m->id, "op", "load", "err",
		    strerror(errno), NULL);
		buf_free(&b);
		live_free(l);
		return NULL;
	}
	buf_free(&b);
	idx_arrival(&s->idx, m, l->info.arrival);
	if (h != NULL) {
		l->bounce = h->bounce;
		buf_free(&h->img);
		h->m = NULL;
	} else {
		l->bounce = fs_exists(s->qfd, "bounce", m->id) == 1;
		/* finish() retires mess/ID before info/ID, and a message
		 * that finishes writes no marks: info/ID without mess/ID
		 * (and without bounce/ID, which goes before either) is an
		 * end a crash interrupted; its recipients are all done */
		if (!l->bounce && fs_exists(s->qfd, "mess", m->id) == 0) {
			for (size_t i = 0; i < l->nrc; i++)
				if (rc_pending(&l->rc[i]))
					l->rc[i].state = RC_DONE;
			log_kv("recovered", "id", m->id, "state",
			    "finished: mess/ID already removed", NULL);
		}
	}
	apply_flushes(s, l);
	if (m->requeue) {
		flush_rcpts(l, "");
		m->requeue = 0;
	}
	/* hold/ID (sandmail-queuectl hold): not tried, not expired, not
	 * reported until released; one with nothing pending finishes */
	if (fs_exists(s->qfd, "hold", m->id) == 1)
		for (size_t i = 0; i < l->nrc && !l->held; i++)
			l->held = rc_pending(&l->rc[i]);
	m->live = l;
	l->next = s->loaded;
	if (s->loaded)
		s->loaded->prev = l;
	s->loaded = l;
	s->nloaded++;
	return l;
}

/* write_marks - the state bytes changed since the last call, each file
 * named for the fdatasync of the window's barrier (a message that ends
 * before it never writes them: its files go instead, and that removal
 * is what the barrier makes durable) */
static void
write_marks(struct send *s, struct live *l)
{
	for (size_t i = 0; i < l->nrc && l->ndirty > 0; i++) {
		struct rcpt *r = &l->rc[i];

		if (!r->dirty)
			continue;
		r->dirty = 0;
		l->ndirty--;
		if (fs_mark(s->qfd, rc_dir(r), l->m->id, r->off, r->state,
		    0) == -1)
			log_kv("warn", "id", l->m->id, "op", "mark", "err",
			    strerror(errno), NULL);
		else
			send_sync_file(s, rc_dir(r), l->m->id);
	}
	l->ndirty = 0;
}

static void
unload(struct send *s, struct live *l)
{
	write_marks(s, l);
	if (l->prev)
		l->prev->next = l->next;
	else
		s->loaded = l->next;
	if (l->next)
		l->next->prev = l->prev;
	s->nloaded--;
	l->m->live = NULL;
	live_free(l);
}

/* ---- destinations and jobs ---- */

static struct dcount *
dc_find(struct send *s, const char *key, int make)
{
	struct dcount *n;

	for (size_t i = 0; i < s->ndc; i++)
		if (strcmp(s->dc[i].key, key) == 0)
			return &s->dc[i];
	if (!make)
		return NULL;
	if ((n = reallocarray(s->dc, s->ndc + 1, sizeof *n)) == NULL)
		return NULL;
	s->dc = n;
	n = &s->dc[s->ndc];
	if ((n->key = strdup(key)) == NULL)
		return NULL;
	n->n = 0;
	s->ndc++;
	return n;
}

static void
dc_dec(struct send *s, const char *key)
{
	struct dcount *d = dc_find(s, key, 0);

	if (d == NULL || --d->n > 0)
		return;
	free(d->key);
	*d = s->dc[--s->ndc];
}

static struct job *
job_new(struct send *s)
{
	for (size_t i = 0; i < s->njobs; i++)
		if (s->jobs[i].id == 0) {
			if (++s->nextid == 0)
				s->nextid = 1;
			s->jobs[i].id = s->nextid;
			s->jobs[i].start = now_s();
			s->jobs[i].start_ms = send_mono_ms();
			return &s->jobs[i];
		}
	return NULL;
}

static struct job *
job_find(struct send *s, uint32_t id, uint8_t kind)
{
	for (size_t i = 0; i < s->njobs; i++)
		if (s->jobs[i].id == id && id != 0 && s->jobs[i].kind == kind)
			return &s->jobs[i];
	return NULL;
}

static void
job_end(struct send *s, struct job *j)
{
	if (j->kind == RC_LOCAL)
		s->nlocal--;
	else {
		s->nremote--;
		dc_dec(s, j->dkey);
	}
	free(j->rc);
	free(j->dkey);
	memset(j, 0, sizeof *j);
}

static int
open_mess(struct send *s, const char *id)
{
	char p[128];

	if (fs_path(p, sizeof p, "mess", id) == -1)
		return -1;
	return openat(s->qfd, p, O_RDONLY | O_CLOEXEC);
}

/* ---- results ---- */

static int
report_wanted(const struct live *l, const struct rcpt *r, uint8_t action)
{
	if (action == BR_FAILED)
		return !(r->notify & NOTIFY_NEVER) &&
		    (r->notify == 0 || (r->notify & NOTIFY_FAILURE));
	if (sender_of(l, r)[0] == '\0')
		return 0;
	return (r->notify & (action == BR_DELAYED ? NOTIFY_DELAY :
	    NOTIFY_SUCCESS)) != 0;	/* delivered and relayed */
}

static int
add_report(struct send *s, struct live *l, const struct rcpt *r,
    uint8_t action, const char *mta, const char *text)
{
	struct buf b = BUF_INIT(64 * 1024);
	struct brec br = { action, now_s(), r->addr, r->orcpt, (char *)mta,
	    (char *)text, r->notify, r->sender };
	int rv;

	rv = br_encode(&b, &br) == 0 &&
	    fs_append(s->qfd, "bounce", l->m->id, &b, &s->pool) == 0 ? 0 : -1;
	buf_free(&b);
	if (rv == 0)
		l->bounce = 1;
	else
		log_kv("warn", "id", l->m->id, "op", "write bounce", "err",
		    strerror(errno), NULL);
	return rv;
}

static void
mark(struct send *s, struct live *l, struct rcpt *r, uint8_t state)
{
	/* written when step() is done with the message (write_marks) and
	 * synced once per window for every mark (send_loop): nothing
	 * depends on a mark being durable before then; a crash first only
	 * repeats a delivery */
	if (!r->dirty)
		l->ndirty++;
	r->dirty = 1;
	r->state = state;
	if (!s->needsync)
		s->sync_at = send_mono_ms() + SEND_SYNC_WINDOW_MS;
	s->needsync = 1;
}

/* log_result - one line per attempt of one recipient: what an admin
 * and sandmail-logsum read (doc/logging.md).  status is sent, deferred,
 * bounced or expired; t0 is the job's start (send_mono_ms), 0 when no
 * job ran (the route lookup failed) */
static void
log_result(struct live *l, struct rcpt *r, const char *ev,
    const char *status, uint64_t t0, const char *mta, const char *text)
{
	uint64_t now = now_s(), ms = send_mono_ms();
	uint64_t total = now > l->info.arrival ? now - l->info.arrival : 0;
	uint64_t out = t0 != 0 && ms > t0 ? ms - t0 : 0;
	char dsn[DLOG_DSN_MAX], b[32], rel[600];
	struct logln ln;
	int k;

	log_start(&ln, ev);
	log_s(&ln, "id", l->m->id);
	log_s(&ln, "to", r->addr);
	log_s(&ln, "orig_to", r->orig != NULL && r->orig[0] != '\0' ?
	    r->orig : r->addr);
	if (r->kind == RC_LOCAL) {
		log_s(&ln, "relay", "local");
		log_s(&ln, "dest", r->dest);
	} else if (mta[0] != '\0' && relay_port != 0 &&
	    (k = snprintf(rel, sizeof rel, "%s:%u", mta,
	    (unsigned)relay_port)) > 0 && (size_t)k < sizeof rel)
		log_s(&ln, "relay", rel);	/* host[addr]:port */
	else
		log_s(&ln, "relay", mta[0] != '\0' ? mta : "none");
	/* whole seconds since the queue took it; the part in the job
	 * (connection and transmission together) to the millisecond */
	log_u(&ln, "delay", total);
	if (out / 1000 > total)
		total = out / 1000;
	log_u(&ln, "delay_in", total - out / 1000);
	snprintf(b, sizeof b, "%llu.%03llu", (unsigned long long)out / 1000,
	    (unsigned long long)out % 1000);
	log_s(&ln, "delay_out", b);
	if (!dlog_dsn(text, strlen(text), dsn))
		snprintf(dsn, sizeof dsn, "%s", status[0] == 's' ? "2.0.0" :
		    status[0] == 'd' ? "4.0.0" : status[0] == 'e' ? "4.4.7" :
		    "5.0.0");
	log_s(&ln, "dsn", dsn);
	log_s(&ln, "status", status);
	log_s(&ln, "text", text);
	log_done(&ln);
}

static void
result_fail(struct send *s, struct live *l, struct rcpt *r, uint64_t t0,
    const char *mta, const char *text, const char *status)
{
	log_result(l, r, "bounced", status, t0, mta, text);
	if (report_wanted(l, r, BR_FAILED))
		(void)add_report(s, l, r, BR_FAILED, mta, text);
	mark(s, l, r, RC_FAILED);
}

static void
result_defer(struct send *s, struct live *l, struct rcpt *r, uint64_t t0,
    const char *mta, const char *text)
{
	uint64_t now = now_s();
	uint64_t age = now > l->info.arrival ? now - l->info.arrival : 0;
	char t[JOB_TEXT_MAX + 64];

	if (age >= s->c.lifetime) {
		snprintf(t, sizeof t, "4.4.7 delivery time expired; last "
		    "error: %s", text);
		result_fail(s, l, r, t0, mta, t, "expired");
		return;
	}
	log_result(l, r, "deferred", "deferred", t0, mta, text);
	r->next = sched_next(l->info.arrival, now, s->c.retry_first,
	    s->c.retry_max);
	/* advisory: cut to what info/ID keeps */
	snprintf(r->err, sizeof r->err, "%.*s", (int)(sizeof r->err - 1),
	    text);
	(void)fs_advise(s->qfd, rc_dir(r), l->m->id, r);
	if (r->state == RC_PENDING && age >= s->c.delay_warning &&
	    report_wanted(l, r, BR_DELAYED) &&
	    add_report(s, l, r, BR_DELAYED, mta, text) == 0)
		mark(s, l, r, RC_WARNED);
}

static void
result(struct send *s, struct live *l, size_t i, uint8_t st, uint64_t t0,
    const char *mta, const char *text)
{
	struct rcpt *r = &l->rc[i];
	char coded[JOB_TEXT_MAX + 8], sc[16];

	s->dirty = 1;
	r->busy = 0;
	l->busy--;
	/* a local failure gets an RFC 3463 code when its text (a program's
	 * words, say) has none: X.3.0, other mail system status */
	if (r->kind == RC_LOCAL && st != ST_OK &&
	    bounce_status(text, BR_FAILED, sc) == 0) {
		snprintf(coded, sizeof coded, "%s %s", st == ST_PERM ? "5.3.0" :
		    "4.3.0", text);
		text = coded;
	}
	if (st == ST_OK && r->kind == RC_LOCAL) {
		log_result(l, r, "delivered", "sent", t0, mta, text);
		/* the report says what happened, not local's text (it names
		 * the maildir file: the log keeps that) */
		if (report_wanted(l, r, BR_DELIVERED))
			(void)add_report(s, l, r, BR_DELIVERED, mta,
			    r->dest[0] == '|' ? "2.0.0 handed to a program" :
			    "2.0.0 stored in the mailbox");
		mark(s, l, r, RC_DONE);
		s->ndone++;
	} else if (st == ST_OK || st == ST_PASSED) {
		log_result(l, r, "delivered", "sent", t0, mta, text);
		/* handed to a next hop: "relayed" (RFC 3464 2.3.3) when it
		 * did not take the DSN request; when it did, it reports
		 * and we must not (RFC 3461 5.2.2) */
		if (st == ST_OK && report_wanted(l, r, BR_RELAYED))
			(void)add_report(s, l, r, BR_RELAYED, mta, text);
		mark(s, l, r, RC_DONE);
		s->ndone++;
	} else if (st == ST_PERM)
		result_fail(s, l, r, t0, mta, text, "bounced");
	else
		result_defer(s, l, r, t0, mta, text);
}

/* ---- local dispatch ---- */

static int
start_local(struct send *s, struct live *l, size_t i)
{
	struct buf b = BUF_INIT(JOB_MAX);
	struct rcpt *r = &l->rc[i];
	struct ljob lj;
	struct job *j;
	int fd, rv;

	if ((j = job_new(s)) == NULL)
		return -1;
	if ((j->rc = malloc(sizeof *j->rc)) == NULL) {
		memset(j, 0, sizeof *j);
		return -1;
	}
	j->kind = RC_LOCAL, j->l = l, j->rc[0] = i, j->n = 1;
	lj = (struct ljob){ j->id, l->m->id, (char *)sender_of(l, r), r->addr,
	    r->dest, r->uid, r->gid };
	if ((fd = open_mess(s, l->m->id)) == -1) {
		log_kv("warn", "id", l->m->id, "op", "open mess", "err",
		    strerror(errno), NULL);
		free(j->rc);
		memset(j, 0, sizeof *j);
		r->next = now_s() + s->c.retry_first;
		return -1;
	}
	if (ljob_encode(&b, &lj) == -1)
		die_temp("encode", "ljob");
	rv = fd_send(s->lsock, b.p, b.len, fd);
	close(fd);
	buf_free(&b);
	if (rv == -1)
		die_temp("send", "lspawn");
	r->busy = 1;
	l->busy++;
	s->nlocal++;
	s->nstart++;
	log_kv("start", "id", l->m->id, "rcpt", r->addr, "kind", "local",
	    NULL);
	return 0;
}

static int
due(const struct rcpt *r, uint64_t now)
{
	return rc_pending(r) && !r->busy && r->next <= now;
}

static void
dispatch_local(struct send *s, struct live *l, uint64_t now)
{
	for (size_t i = 0; i < l->nrc; i++) {
		if (l->rc[i].kind != RC_LOCAL || !due(&l->rc[i], now))
			continue;
		if (s->lsock < 0 || s->nlocal >= s->c.conc_local)
			return;
		(void)start_local(s, l, i);
	}
}

/* ---- routes and resolve ---- */

static void
cpy(char *d, size_t sz, const char *s, size_t n)
{
	if (n >= sz)
		n = sz - 1;
	memcpy(d, s, n);
	d[n] = '\0';
}

/* route_parse - "host[:port]" | "[addr]:port" | "";
 * or "lmtp:unix:/path" | "lmtp:[addr]:port" | "lmtp:addr:port": LMTP
 * (RFC 2033) to that socket only, port 24 when none is given */
static void
route_parse(struct route *rt, const char *v, size_t n)
{
	const char *sp = memchr(v, ' ', n), *c;
	size_t hn = sp ? (size_t)(sp - v) : n;
	unsigned char bin[16];
	char port[8] = "";

	if (hn > 5 && memcmp(v, "lmtp:", 5) == 0) {
		snprintf(rt->dkey, sizeof rt->dkey, "route:%.*s", (int)hn, v);
		rt->lmtp = PROTO_LMTP;
		rt->literal = 1;	/* never resolved */
		v += 5, hn -= 5;
		if (hn > 5 && memcmp(v, "unix:", 5) == 0) {
			cpy(rt->name, sizeof rt->name, v, hn);
			return;
		}
		rt->port = 24;
		if (v[0] == '[' && (c = memchr(v, ']', hn)) != NULL) {
			cpy(rt->name, sizeof rt->name, v + 1,
			    (size_t)(c - v - 1));
			c = (size_t)(c - v) + 1 < hn && c[1] == ':' ? c + 1 :
			    NULL;
		} else {
			c = memchr(v, ':', hn);
			cpy(rt->name, sizeof rt->name, v, c ? (size_t)(c - v) :
			    hn);
		}
		if (c != NULL) {
			char *end;
			unsigned long p;

			cpy(port, sizeof port, c + 1, hn - (size_t)(c + 1 - v));
			p = strtoul(port, &end, 10);
			rt->port = *end == '\0' && p > 0 && p < 65536 ?
			    (uint32_t)p : 24;
		}
		return;
	}

	if (hn > 0 && v[0] == '[' && (c = memchr(v, ']', hn)) != NULL) {
		cpy(rt->name, sizeof rt->name, v + 1, (size_t)(c - v - 1));
		rt->literal = 1;
		if ((size_t)(c - v) + 1 < hn && c[1] == ':')
			cpy(port, sizeof port, c + 2, hn - (size_t)(c - v) - 2);
	} else if (hn > 0) {
		c = memchr(v, ':', hn);
		cpy(rt->name, sizeof rt->name, v, c ? (size_t)(c - v) : hn);
		if (c != NULL)
			cpy(port, sizeof port, c + 1, hn - (size_t)(c - v) - 1);
		rt->literal = inet_pton(AF_INET, rt->name, bin) == 1 ||
		    inet_pton(AF_INET6, rt->name, bin) == 1;
	}
	if (port[0] != '\0') {
		char *end;
		unsigned long p = strtoul(port, &end, 10);

		rt->port = *end == '\0' && p > 0 && p < 65536 ? (uint32_t)p : 0;
	}
	snprintf(rt->dkey, sizeof rt->dkey, "route:%.*s", (int)hn, v);
}

/* route_auth - the smart host's credentials: relay_auth keyed by the
 * next hop exactly as the routes value names it (host[:port]); only send
 * maps that table, so no other process holds them */
static void
route_auth(struct send *s, struct route *rt, const char *v, size_t n)
{
	struct buf a = BUF_INIT(512);
	const char *c, *sp = memchr(v, ' ', n);	/* v: not a C string */
	size_t hn = sp != NULL ? (size_t)(sp - v) : n;

	if (hn == 0 || rt->lmtp)
		return;
	if (tbl_get(&s->t.t[T_RELAYAUTH], v, hn, &a) == 1 &&
	    (c = memchr(a.p, ':', a.len)) != NULL) {
		cpy(rt->user, sizeof rt->user, a.p, (size_t)(c - a.p));
		cpy(rt->pass, sizeof rt->pass, c + 1,
		    a.len - (size_t)(c + 1 - a.p));
	}
	if (a.p != NULL)
		explicit_bzero(a.p, a.cap);
	buf_free(&a);
}

static void
route_get(struct send *s, const struct rcpt *r, struct route *rt)
{
	struct buf v = BUF_INIT(1024), lk = BUF_INIT(64);
	const char *key = r->domain;

	memset(rt, 0, sizeof *rt);
	/* a literal is looked up in the spelling sandmail-cdb stored, so
	 * [IPv6:2001:DB8:0::1] finds the key [IPv6:2001:db8::1] */
	if (r->domain[0] == '[' && addr_literal_key(r->domain,
	    strlen(r->domain), &lk) == 0 && buf_cstr(&lk) == 0)
		key = lk.p;
	if (r->dest != NULL && strncmp(r->dest, "lmtp:", 5) == 0)
		route_parse(rt, r->dest, strlen(r->dest));	/* virtual */
	else if (tbl_domain(&s->t.t[T_ROUTES], key, &v) == 1) {
		route_parse(rt, v.p, v.len);
		route_auth(s, rt, v.p, v.len);
	}
	if (rt->name[0] == '\0') {	/* no route, or empty: use MX */
		snprintf(rt->dkey, sizeof rt->dkey, "%s", r->domain);
		snprintf(rt->name, sizeof rt->name, "%s", r->domain);
		rt->literal = 0;
		if (r->domain[0] == '[') {	/* an address literal */
			const char *a = r->domain + 1;
			size_t n = strcspn(a, "]");

			if (strncasecmp(a, "IPv6:", 5) == 0)
				a += 5, n -= 5;
			cpy(rt->name, sizeof rt->name, a, n);
			rt->literal = rt->addrlit = 1;
		}
	}
	/* no tls_policy entry: the job carries none, and rspawn applies
	 * remote_tls, the one place that setting is read */
	if (tbl_domain(&s->t.t[T_TLSPOL], key, &v) == 1 && v.len > 0)
		cpy(rt->tls, sizeof rt->tls, v.p, v.len);
	buf_free(&v);
	buf_free(&lk);
}

static struct rcache *
rc_find(struct send *s, const char *name)
{
	for (size_t i = 0; i < s->nrc; i++)
		if (s->rc[i].name != NULL && strcasecmp(s->rc[i].name, name) == 0)
			return &s->rc[i];
	return NULL;
}

static void
rc_clear(struct rcache *c)
{
	free(c->name);
	free(c->text);
	route_hosts_free(c->host, c->nhost);
	memset(c, 0, sizeof *c);
}

static struct rcache *
rc_slot(struct send *s, uint64_t now)
{
	size_t best = RCACHE_MAX;

	if (s->nrc < RCACHE_MAX)
		return &s->rc[s->nrc++];
	for (size_t i = 0; i < s->nrc; i++) {
		if (s->rc[i].name == NULL)
			return &s->rc[i];	/* dropped by requeue */
		if (s->rc[i].exp == 0)
			continue;
		if (s->rc[i].exp <= now)
			return rc_clear(&s->rc[i]), &s->rc[i];
		if (best == RCACHE_MAX || s->rc[i].exp < s->rc[best].exp)
			best = i;
	}
	if (best == RCACHE_MAX)
		return NULL;
	rc_clear(&s->rc[best]);
	return &s->rc[best];
}

/* resolve_ask - the cached answer for name, or NULL after asking */
static struct rcache *
resolve_ask(struct send *s, const char *name, uint64_t now)
{
	struct rcache *c = rc_find(s, name);
	struct buf b = BUF_INIT(JOB_MAX);
	struct rqry q;
	size_t st;

	if (c != NULL && c->exp == 0 && c->asked + 120 < now) {
		/* resolve never answered: a temporary failure */
		c->status = ST_TEMP;
		c->exp = now + 30;
		c->qid = 0;
	}
	if (c != NULL && (c->exp == 0 || c->exp > now))
		return c->exp == 0 ? NULL : c;
	if (c != NULL)
		rc_clear(c);
	else if ((c = rc_slot(s, now)) == NULL)
		return NULL;
	if ((c->name = strdup(name)) == NULL)
		return NULL;
	if (++s->nextid == 0)
		s->nextid = 1;
	c->qid = s->nextid;
	c->asked = now;
	q = (struct rqry){ c->qid, (char *)name };
	st = b.len;
	if (pk_begin(&b) == -1 || rqry_encode(&b, &q) == -1 ||
	    pk_finish(&b, st) == -1 || rec_send(s->dsock, &b) == -1)
		die_temp("send", "resolve");
	buf_free(&b);
	log_kv("resolve", "domain", name, NULL);
	return NULL;
}

/* ---- remote dispatch ---- */

/* what resolve said of the host's TLSA records, for rspawn (RFC 7672) */
static int
tlsa_copy(struct route_host *h, const struct route_host *src)
{
	h->dane = src->dane;
	if (src->tlsa_name != NULL && src->tlsa_name[0] != '\0' &&
	    (h->tlsa_name = strdup(src->tlsa_name)) == NULL)
		return -1;
	if (src->ntlsa == 0)
		return 0;
	if ((h->tlsa = calloc(src->ntlsa, sizeof *h->tlsa)) == NULL)
		return -1;
	for (; h->ntlsa < src->ntlsa; h->ntlsa++)
		if ((h->tlsa[h->ntlsa] = strdup(src->tlsa[h->ntlsa])) == NULL)
			return -1;
	return 0;
}

/* hosts_for - the job's hosts.  Those of the domain's own MX set carry
 * resolve's word on it (REQUIRETLS needs a secure one, RFC 8689 4.2.1);
 * a host the routes table names was chosen by the administrator; the
 * recipient's own address literal was chosen by nobody we trust, and
 * has no host name for REQUIRETLS's certificate check (MX_LITERAL) */
static int
hosts_for(struct send *s, struct rjob *rj, const struct route *rt,
    const struct rcache *c, const char *domain)
{
	struct route_host *h;
	uint32_t n = rt->literal ? 1 : c->nhost;
	int routed = rt->literal || strcasecmp(rt->name, domain) != 0;

	if ((h = calloc(n ? n : 1, sizeof *h)) == NULL)
		return -1;
	rj->host = h, rj->nhost = n;
	for (uint32_t i = 0; i < n; i++) {
		const struct route_host *src = rt->literal ? NULL : &c->host[i];

		h[i].name = strdup(src ? src->name : rt->lmtp &&
		    strncmp(rt->name, "unix:", 5) == 0 ? "localhost" :
		    rt->name);
		h[i].pref = src ? src->pref : 0;
		h[i].port = rt->port ? (uint16_t)rt->port : src ? src->port : 0;
		h[i].naddr = src ? src->naddr : 1;
		if ((h[i].addr = calloc(h[i].naddr ? h[i].naddr : 1,
		    sizeof(char *))) == NULL || h[i].name == NULL)
			return -1;
		for (uint32_t k = 0; k < h[i].naddr; k++)
			if ((h[i].addr[k] = strdup(src ? src->addr[k] :
			    rt->name)) == NULL)
				return -1;
		if (src != NULL && tlsa_copy(&h[i], src) == -1)
			return -1;
		h[i].mx = rt->addrlit ? MX_LITERAL : routed ? MX_ROUTE :
		    src->mx;
	}
	(void)s;
	return 0;
}

static int
start_remote(struct send *s, struct live *l, const struct route *rt,
    const struct rcache *c, size_t *idx, size_t n)
{
	struct buf b = BUF_INIT(JOB_MAX);
	struct rjob rj;
	struct job *j;
	struct dcount *d;
	const char *dkim;
	int fd, rv;

	if ((fd = open_mess(s, l->m->id)) == -1) {
		/* mess/ID gone under us: nothing to send; retry later */
		log_kv("warn", "id", l->m->id, "op", "open mess", "err",
		    strerror(errno), NULL);
		for (size_t k = 0; k < n; k++)
			l->rc[idx[k]].next = now_s() + s->c.retry_first;
		return -1;
	}
	/* LMTP hands the message to a local store: nothing to sign */
	if ((dkim = rt->lmtp ? "" : sdkim_fields(s, l, fd)) == NULL) {
		/* the signer failed: try later rather than send unsigned */
		close(fd);
		for (size_t k = 0; k < n; k++)
			l->rc[idx[k]].next = now_s() + s->c.retry_first;
		return -1;
	}
	if ((j = job_new(s)) == NULL || (d = dc_find(s, rt->dkey, 1)) == NULL) {
		close(fd);
		return -1;
	}
	memset(&rj, 0, sizeof rj);
	rj = (struct rjob){ j->id, l->m->id,
	    (char *)sender_of(l, &l->rc[idx[0]]), l->info.envid,
	    l->info.ret, l->info.flags, l->info.size, (char *)rt->tls,
	    (char *)rt->user, (char *)rt->pass, (uint32_t)n, NULL, 0, NULL,
	    (uint8_t)rt->lmtp, (char *)dkim };
	rj.rcpt = calloc(n, sizeof *rj.rcpt);
	j->rc = malloc(n * sizeof *j->rc);
	j->dkey = strdup(rt->dkey);
	if (rj.rcpt == NULL || j->rc == NULL || j->dkey == NULL ||
	    hosts_for(s, &rj, rt, c, l->rc[idx[0]].domain) == -1)
		die_temp("malloc", NULL);
	for (size_t k = 0; k < n; k++) {
		struct rcpt *r = &l->rc[idx[k]];

		rj.rcpt[k] = (struct rjob_rcpt){ r->addr, r->orcpt, r->notify };
		j->rc[k] = idx[k];
	}
	j->kind = RC_REMOTE, j->l = l, j->n = n;
	if (rjob_encode(&b, &rj) == -1)
		die_temp("encode", "rjob (too big)");
	rv = fd_send(s->rsock, b.p, b.len, fd);
	close(fd);
	buf_free(&b);
	free(rj.rcpt);
	route_hosts_free(rj.host, rj.nhost);
	if (rv == -1)
		die_temp("send", "rspawn");
	for (size_t k = 0; k < n; k++)
		l->rc[idx[k]].busy = 1;
	l->busy += (unsigned)n;
	s->nremote++;
	d->n++;
	s->nstart++;
	log_kv("start", "id", l->m->id, "kind", "remote", "dest", rt->dkey,
	    NULL);
	return 0;
}

/* group - the due remote recipients of l going to rt's destination */
static size_t
group(struct send *s, struct live *l, size_t first, const struct route *rt,
    size_t *idx, uint64_t now)
{
	struct route o;
	size_t n = 0;

	for (size_t i = first; i < l->nrc && n < JOB_RCPT_MAX; i++) {
		if (l->rc[i].kind != RC_REMOTE || !due(&l->rc[i], now))
			continue;
		route_get(s, &l->rc[i], &o);
		if (strcmp(o.dkey, rt->dkey) == 0 &&
		    strcmp(o.tls, rt->tls) == 0 &&
		    strcmp(sender_of(l, &l->rc[i]),
		    sender_of(l, &l->rc[first])) == 0)
			idx[n++] = i;
	}
	return n;
}

static void
answer_group(struct send *s, struct live *l, size_t *idx, size_t n,
    const struct rcache *c)
{
	char t[JOB_TEXT_MAX + 64];

	snprintf(t, sizeof t, "%s", c->text && c->text[0] ? c->text :
	    c->status == ST_PERM ? "5.1.2 domain not found" :
	    "4.4.3 domain lookup failed");
	for (size_t k = 0; k < n; k++) {
		l->rc[idx[k]].busy = 1;
		l->busy++;
		result(s, l, idx[k], c->status, 0, "", t);
	}
}

/* sts_ask - MTA-STS (send_sts.c) for a domain reached by its MX hosts
 * and no tls_policy entry (the administrator's word wins); 0 with *pa
 * the policy or NULL (none applies), -1 asked: wait */
static int
sts_ask(const struct route *rt, const char *domain, uint64_t now,
    const struct sts_ans **pa)
{
	*pa = NULL;
	if (ssts_fd() < 0 || rt->literal || rt->lmtp || rt->tls[0] != '\0' ||
	    strcasecmp(rt->name, domain) != 0)
		return 0;
	if ((*pa = ssts_policy(domain, now)) == NULL)
		return -1;
	if ((*pa)->pol.mode == STS_NONE)
		*pa = NULL;
	return 0;
}

/* sts_start - a remote job under an MTA-STS policy: only the MX hosts
 * it allows, TLS verified when it enforces; else a deferral */
static void
sts_start(struct send *s, struct live *l, const struct route *rt,
    const struct rcache *c, const struct sts_ans *pa, size_t *idx, size_t n)
{
	struct route r2 = *rt;
	struct rcache c2;
	struct rcache no = { NULL, 1, 0, 0, ST_TEMP, NULL, NULL, 0 };
	char why[JOB_TEXT_MAX];

	if (ssts_apply(pa, c, &c2, r2.tls, sizeof r2.tls, why,
	    sizeof why) == -1) {
		no.text = why;
		answer_group(s, l, idx, n, &no);
		return;
	}
	(void)start_remote(s, l, &r2, &c2, idx, n);
	free(c2.host);
}

static void
dispatch_remote(struct send *s, struct live *l, uint64_t now)
{
	size_t *idx = calloc(JOB_RCPT_MAX, sizeof *idx), n;
	const struct sts_ans *pa = NULL;
	struct route rt;
	struct rcache *c;
	struct dcount *d;

	for (size_t i = 0; idx != NULL && i < l->nrc; i++) {
		if (l->rc[i].kind != RC_REMOTE || !due(&l->rc[i], now))
			continue;
		if (s->rsock < 0 || s->nremote >= s->c.conc_remote)
			break;
		route_get(s, &l->rc[i], &rt);
		if ((d = dc_find(s, rt.dkey, 0)) != NULL &&
		    d->n >= s->c.conc_dest)
			continue;
		c = NULL;
		if (!rt.literal && s->dsock < 0) {
			/* no resolver (-D not given): nothing but routes */
			static struct rcache none = { NULL, 1, 0, 0, ST_TEMP,
			    "4.3.5 no resolver and no route", NULL, 0 };

			n = group(s, l, i, &rt, idx, now);
			answer_group(s, l, idx, n, &none);
			continue;
		}
		if (!rt.literal && (c = resolve_ask(s, rt.name, now)) == NULL) {
			l->waiting = 1;
			continue;
		}
		pa = NULL;
		if (c != NULL && c->status == ST_OK &&
		    sts_ask(&rt, l->rc[i].domain, now, &pa) == -1) {
			l->waiting = 1;
			continue;
		}
		n = group(s, l, i, &rt, idx, now);
		if (c != NULL && c->status != ST_OK)
			answer_group(s, l, idx, n, c);
		else if (pa != NULL)
			sts_start(s, l, &rt, c, pa, idx, n);
		else
			(void)start_remote(s, l, &rt, c, idx, n);
	}
	free(idx);
}

/* ---- reports and the end of a message ---- */

static int
qw_put(void *ctx, const void *p, size_t n)
{
	return qw_write(ctx, p, n);
}

static int
commit_report(struct send *s, struct live *l, const char *to,
    const struct brec *v, size_t n)
{
	/* RFC 8689 5: a report on REQUIRETLS mail tells of it as much as
	 * the mail itself did, so it goes with REQUIRETLS too, and as if
	 * RET=HDRS had been given: never the body, whatever RET said */
	uint32_t rtls = l->info.flags & ENV_REQUIRETLS;
	struct bctx bc = { s->c.hostname, l->m->id, to, l->info.envid,
	    l->info.arrival, now_s(), l->info.arrival + s->c.lifetime,
	    rtls ? RET_HDRS : l->info.ret, -1, NULL };
	struct env e;
	struct qw q;
	int rv = -1;

	env_init(&e);
	/* send's pool: none of the queue's files, but a create or write
	 * that finds the file system full gives send's retired files'
	 * space back and tries once more */
	if (qw_begin_pool(&q, s->qfd, &s->pool) == -1)
		return -1;
	bc.msgfd = open_mess(s, l->m->id);
	if (env_set(&e.sender, "") == 0 && env_set(&e.envid, "") == 0 &&
	    env_set(&e.auth, "") == 0 && env_set(&e.client, "") == 0 &&
	    env_set(&e.helo, "") == 0 && env_set(&e.proto, "local") == 0 &&
	    env_add_rcpt(&e, to, 0, "") == 0 &&
	    bounce_write(&bc, v, n, qw_put, &q) == 0) {
		e.arrival = now_s();
		e.flags = ENV_BOUNCE | rtls;
		rv = qw_commit(&q, &e);
		if (rv == 0)
			log_kv("report", "id", l->m->id, "to", to, "new",
			    q.id, NULL);
	} else
		qw_abort(&q);
	if (bc.msgfd >= 0)
		close(bc.msgfd);
	env_free(&e);
	return rv;
}

static const char *
target_of(const struct live *l, const struct brec *r)
{
	return r->sender[0] != '\0' ? r->sender : l->info.sender;
}

/* report_to - one report of the records whose target is to */
static int
report_to(struct send *s, struct live *l, const char *to,
    const struct brec *v, size_t n, struct brec *sel, const char *pm)
{
	size_t k = 0, nf = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(target_of(l, &v[i]), to) != 0)
			continue;
		/* a null sender gets no report: its failures go to
		 * postmaster, unless they are postmaster's own (a failed
		 * double bounce: logged and dropped) */
		if (to[0] != '\0' || v[i].action == BR_FAILED)
			sel[k++] = v[i];
		if (v[i].action == BR_FAILED && strcasecmp(v[i].addr, pm) != 0)
			nf++;
	}
	if (to[0] == '\0') {
		if (nf == 0 && k > 0)
			log_kv("double_bounce_dropped", "id", l->m->id, NULL);
		if (nf == 0)
			return 0;
		to = pm;
	}
	return k > 0 ? commit_report(s, l, to, sel, k) : 0;
}

/* make_report - turn bounce/ID into reports, one per target (the sender,
 * an owner- address, or postmaster for a double bounce); 0 when
 * bounce/ID is gone */
static int
make_report(struct send *s, struct live *l)
{
	struct buf b = BUF_INIT(RC_FILE_MAX), pm = BUF_INIT(600);
	struct brec *v = NULL, *sel = NULL;
	size_t n = 0, j;
	int rv = 0;

	if (fs_read(s->qfd, "bounce", l->m->id, &b) == -1 ||
	    br_decode(b.p, b.len, &v, &n) == -1) {
		rv = errno == ENOENT ? 0 : -1;
		goto out;
	}
	if (buf_fmt(&pm, "postmaster@%s", s->c.hostname) == -1 ||
	    buf_cstr(&pm) == -1 ||
	    (sel = calloc(n ? n : 1, sizeof *sel)) == NULL) {
		rv = -1;
		goto out;
	}
	for (size_t i = 0; i < n && rv == 0; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(target_of(l, &v[j]), target_of(l, &v[i])) == 0)
				break;
		if (j == i)	/* the first record for this target */
			rv = report_to(s, l, target_of(l, &v[i]), v, n, sel,
			    pm.p);
	}
out:
	if (rv == 0 && fs_unlink(s->qfd, "bounce", l->m->id) == 0)
		l->bounce = 0;
	br_free(v, n);
	free(sel);
	buf_free(&b);
	buf_free(&pm);
	return rv;
}

static void
finish(struct send *s, struct live *l)
{
	struct msg *m = l->m;

	/* todo/ID first (a crash before it went only repeats deliveries
	 * already made), info/ID last: while it exists, recovery finishes
	 * the removal.  bounce/ID is gone already (make_report). */
	if (m->todo) {
		send_retire(s, "todo", m->id);
		m->todo = 0;
	}
	if (!l->inner) {
		(void)fs_unlink(s->qfd, "local", m->id);
		(void)fs_unlink(s->qfd, "remote", m->id);
		(void)fs_unlink(s->qfd, "bounce", m->id);
	}
	/* retired, not unlinked: written again after the next barrier */
	send_retire(s, "mess", m->id);
	send_retire_info(s, m->id);
	log_kv("end", "id", m->id, NULL);
	l->ndirty = 0;		/* the files are gone: no marks to write */
	unload(s, l);
	idx_del(&s->idx, m);
}

/* step - dispatch what is due; unload or finish a message at rest.
 * Returns 1 if the message stays loaded. */
static int
step(struct send *s, struct live *l, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	int blocked = 0;

	if (!s->stopping && !l->waiting && !l->reread && !l->held) {
		dispatch_local(s, l, now);
		dispatch_remote(s, l, now);
	}
	if (l->busy > 0 || (l->waiting && !l->reread)) {
		write_marks(s, l);
		return 1;
	}
	if (l->reread) {
		idx_sched(&s->idx, l->m, now);
		unload(s, l);
		return 0;
	}
	if (l->held) {
		/* off the schedule until an R or Q record (release) or the
		 * next start reads hold/ again */
		log_kv("held", "id", l->m->id, NULL);
		idx_unsched(&s->idx, l->m);
		unload(s, l);
		return 0;
	}
	if (l->bounce && make_report(s, l) == -1) {
		log_kv("warn", "id", l->m->id, "op", "report", "err",
		    strerror(errno), NULL);
		next = now + 60;
	}
	for (size_t i = 0; i < l->nrc; i++) {
		if (!rc_pending(&l->rc[i]))
			continue;
		if (l->rc[i].next <= now)
			blocked = 1;
		if (l->rc[i].next < next)
			next = l->rc[i].next;
	}
	if (blocked && !s->stopping) {
		if (s->nloaded < LOADED_MAX / 2) {
			/* waits loaded for a free slot */
			write_marks(s, l);
			return 1;
		}
		/* too many wait for slots: make room for the others (new
		 * local mail must not starve behind a slow destination) */
		next = now + 10;
	}
	if (next == UINT64_MAX && !l->bounce) {
		finish(s, l);
		return 0;
	}
	idx_sched(&s->idx, l->m, next == UINT64_MAX ? now + 60 : next);
	unload(s, l);
	return 0;
}

static void
step_all(struct send *s, uint64_t now)
{
	struct live *l, *nx;

	for (l = s->loaded; l != NULL; l = nx) {
		nx = l->next;
		(void)step(s, l, now);
	}
}

static void
load_due(struct send *s, uint64_t now)
{
	struct msg *m;
	struct live *l;

	for (int k = 0; k < 200 && !s->stopping && s->nloaded < LOADED_MAX;
	    k++) {
		if ((m = idx_top(&s->idx)) == NULL || m->due > now)
			return;
		idx_unsched(&s->idx, m);
		if ((l = load(s, m)) == NULL) {
			if (fs_exists(s->qfd, "info", m->id) == 0)
				idx_del(&s->idx, m);
			else
				idx_sched(&s->idx, m, now + 300);
			continue;
		}
		(void)step(s, l, now);
	}
}

/* ---- peers ---- */

static void
on_lres(struct send *s)
{
	char p[FDPASS_MAX];
	struct lres r;
	struct job *j;
	ssize_t n;
	int fd;

	if ((n = fd_recv(s->lsock, p, sizeof p, &fd)) <= 0)
		die_msg(EXIT_TEMP, "lspawn", n == 0 ? "closed" : "bad message");
	if (fd >= 0)
		close(fd);
	if (lres_decode(&r, p, (size_t)n) == -1)
		die_msg(EXIT_TEMP, "lspawn", "bad result");
	if ((j = job_find(s, r.id, RC_LOCAL)) == NULL) {
		log_kv("warn", "op", "lres for no job", NULL);
		lres_free(&r);
		return;
	}
	result(s, j->l, j->rc[0], r.status, j->start_ms, "", r.text);
	job_end(s, j);
	lres_free(&r);
}

static void
on_rres(struct send *s)
{
	char p[FDPASS_MAX];
	struct rres r;
	struct job *j;
	ssize_t n;
	int fd;

	if ((n = fd_recv(s->rsock, p, sizeof p, &fd)) <= 0)
		die_msg(EXIT_TEMP, "rspawn", n == 0 ? "closed" : "bad message");
	if (fd >= 0)
		close(fd);
	if (rres_decode(&r, p, (size_t)n) == -1)
		die_msg(EXIT_TEMP, "rspawn", "bad result");
	if ((j = job_find(s, r.id, RC_REMOTE)) == NULL) {
		log_kv("warn", "op", "rres for no job", NULL);
		rres_free(&r);
		return;
	}
	/* a failure MTA-STS testing let pass is reported as one */
	ssts_session(j->dkey, r.tlsfail[0] != '\0' ? ST_TEMP : r.nrcpt ?
	    r.rcpt[0].status : ST_TEMP, r.mta, r.tlsfail[0] != '\0' ?
	    r.tlsfail : r.nrcpt ? r.rcpt[0].text : "");
	relay_port = r.port;
	for (size_t k = 0; k < j->n; k++)
		result(s, j->l, j->rc[k], k < r.nrcpt ? r.rcpt[k].status :
		    ST_TEMP, j->start_ms, r.mta, k < r.nrcpt ? r.rcpt[k].text :
		    "4.3.0 no result for this recipient");
	relay_port = 0;
	job_end(s, j);
	rres_free(&r);
}

static void
on_rans(struct send *s, const void *p, size_t n)
{
	struct rans a;
	struct rcache *c = NULL;

	if (rans_decode(&a, p, n) == -1)
		die_msg(EXIT_TEMP, "resolve", "bad answer");
	for (size_t i = 0; i < s->nrc; i++)
		if (s->rc[i].exp == 0 && s->rc[i].qid == a.id)
			c = &s->rc[i];
	if (c != NULL) {
		c->status = a.status;
		c->text = a.text, a.text = NULL;
		c->host = a.host, a.host = NULL;
		c->nhost = a.nhost, a.nhost = 0;
		c->exp = now_s() + (a.status == ST_TEMP ? 30 :
		    s->c.resolve_ttl);
		if (c->status == ST_OK && c->nhost == 0)
			c->status = ST_TEMP;
	}
	rans_free(&a);
	for (struct live *l = s->loaded; l != NULL; l = l->next)
		l->waiting = 0;
	s->dirty = 1;
}

static void
on_resolve(struct send *s)
{
	uint32_t len;
	ssize_t k;

	if (buf_reserve(&s->dbuf, 16384) == -1)
		die_msg(EXIT_TEMP, "resolve", "answer too long");
	k = read(s->dsock, s->dbuf.p + s->dbuf.len, s->dbuf.cap - s->dbuf.len);
	if (k <= 0) {
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		die_msg(EXIT_TEMP, "resolve", "closed");
	}
	s->dbuf.len += (size_t)k;
	while (s->dbuf.len >= 4) {
		const unsigned char *h = (const unsigned char *)s->dbuf.p;

		len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		    (uint32_t)h[2] << 8 | h[3];
		if (len > JOB_MAX)
			die_msg(EXIT_TEMP, "resolve", "record too long");
		if (s->dbuf.len < 4 + (size_t)len)
			return;
		on_rans(s, s->dbuf.p + 4, len);
		buf_drop(&s->dbuf, 4 + (size_t)len);
	}
}

static void
flush(struct send *s, const char *domain, size_t n)
{
	struct flushreq *f;
	uint64_t now = now_s();

	s->flushseq++;
	f = &s->fl[s->flushseq % FLUSH_MAX];
	f->seq = s->flushseq;
	cpy(f->domain, sizeof f->domain, domain, n);
	log_kv("flush", "domain", f->domain[0] ? f->domain : "*", NULL);
	for (struct live *l = s->loaded; l != NULL; l = l->next)
		apply_flushes(s, l);
	/* lowering every later entry to now keeps the heap order */
	for (size_t i = 0; i < s->idx.hn; i++)
		if (s->idx.heap[i]->due > now)
			s->idx.heap[i]->due = now;
	s->dirty = 1;
}

/* reread - R: sandmail-rm marked a message's recipients: read it again
 * as soon as nothing of it is in flight */
static void
reread(struct send *s, const char *id, size_t n)
{
	char b[QID_MAX + 1];
	struct msg *m;

	cpy(b, sizeof b, id, n);
	if ((m = idx_get(&s->idx, b)) == NULL)
		return;
	log_kv("reread", "id", b, NULL);
	if (m->live != NULL)
		m->live->reread = 1;
	else
		idx_sched(&s->idx, m, now_s());
	s->dirty = 1;
}

/* rc_drop_all - forget every cached route not being asked for now */
static void
rc_drop_all(struct send *s)
{
	for (size_t i = 0; i < s->nrc; i++)
		if (s->rc[i].name != NULL && s->rc[i].exp != 0)
			rc_clear(&s->rc[i]);
}

/* requeue - Q: forget cached routes; read the message again (or every
 * message) as soon as nothing of it is in flight, every recipient due */
static void
requeue(struct send *s, const char *id, size_t n)
{
	char b[QID_MAX + 1];
	struct msg *m;

	rc_drop_all(s);
	if (n == 0) {
		log_kv("requeue", "id", "*", NULL);
		flush(s, "", 0);
		return;
	}
	cpy(b, sizeof b, id, n);
	if ((m = idx_get(&s->idx, b)) == NULL)
		return;
	log_kv("requeue", "id", b, NULL);
	m->requeue = 1;
	if (m->live != NULL)
		m->live->reread = 1;
	else
		idx_sched(&s->idx, m, now_s());
	s->dirty = 1;
}

/* send_trigger_bytes - T, F, R, Q and C records from lock/trigger */
void
send_trigger_bytes(struct send *s, const char *p, size_t n)
{
	if (buf_put(&s->tbuf, p, n) == -1)
		s->tbuf.len = 0;
	while (s->tbuf.len > 0) {
		const unsigned char *t = (const unsigned char *)s->tbuf.p;

		if (t[0] == 'F') {
			if (s->tbuf.len < 2 || s->tbuf.len < 2 + (size_t)t[1])
				return;
			flush(s, s->tbuf.p + 2, t[1]);
			buf_drop(&s->tbuf, 2 + (size_t)t[1]);
			continue;
		}
		if (t[0] == 'R' || t[0] == 'Q' || t[0] == 'C') {
			if (s->tbuf.len < 2 || s->tbuf.len < 2 + (size_t)t[1])
				return;
			if (t[0] == 'R')
				reread(s, s->tbuf.p + 2, t[1]);
			else if (t[0] == 'Q')
				requeue(s, s->tbuf.p + 2, t[1]);
			else
				send_committed(s, s->tbuf.p + 2, t[1]);
			buf_drop(&s->tbuf, 2 + (size_t)t[1]);
			continue;
		}
		if (t[0] == 'T')
			s->todo = 1;
		buf_drop(&s->tbuf, 1);
	}
}

static void
on_trigger(struct send *s)
{
	char b[4096];
	ssize_t k;

	while ((k = read(s->trig, b, sizeof b)) > 0)
		send_trigger_bytes(s, b, (size_t)k);
}

/* ---- recovery ---- */

typedef void scan_fn(struct send *, const char *, const struct stat *);

static void
scan(struct send *s, const char *dir, scan_fn *f, int want_stat)
{
	struct dirent *d;
	struct stat st;
	DIR *dp;
	int fd;

	if ((fd = openat(s->qfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1
	    || (dp = fdopendir(fd)) == NULL)
		die_temp("opendir", dir);
	while ((d = readdir(dp)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (want_stat && fstatat(fd, d->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		f(s, d->d_name, &st);
	}
	closedir(dp);
}

static void
rec_tmp(struct send *s, const char *name, const struct stat *st)
{
	char p[300];

	if ((uint64_t)st->st_mtime + DAY < now_s() &&
	    fs_path(p, sizeof p, "tmp", name) == 0 && unlinkat(s->qfd, p, 0) == 0)
		log_kv("recover", "removed", p, NULL);
}

static void
rec_pool(struct send *s, const char *name, const struct stat *st)
{
	(void)st;
	send_pool_start(s, name);
}

static void
rec_info(struct send *s, const char *name, const struct stat *st)
{
	struct msg *m;

	(void)st;
	if (!send_idok(name))
		return;
	if ((m = idx_add(&s->idx, name, now_s())) == NULL)
		die_temp("index", name);
	m->flushseq = s->flushseq;
}

/* same_boot - whether todo/ID was sealed by the queue in this boot: then
 * no power loss came between its commit and now, and an info/ID split
 * from it (written whole, then renamed) is whole too, durable or not */
static int
same_boot(struct send *s, const char *id)
{
	static const uint8_t zero[SEAL_BOOT];
	struct buf b = BUF_INIT(64u * 1024 * 1024);
	struct seal sl;
	size_t off, len;
	int r;

	r = fs_read(s->qfd, "todo", id, &b) == 0 &&
	    seal_split(b.p, b.len, &sl, &off, &len) == 1 &&
	    memcmp(sl.boot, s->boot, SEAL_BOOT) == 0 &&
	    memcmp(s->boot, zero, SEAL_BOOT) != 0;
	buf_free(&b);
	return r;
}

/* rec_todo - a todo/ID beside its info/ID at start: a split whose
 * todo/ID had not gone yet, so its info/ID was not yet made durable
 * (send_pre.c, pre_finish).  In the boot that sealed todo/ID (a send
 * killed, no power loss) info/ID is whole: it is made durable now with
 * mess/ID, as the barrier it missed would have, and todo/ID goes, so no
 * delivery or sandmail-rm mark made since the split is undone.  Otherwise (an
 * earlier boot, or a todo/ID with no seal) info/ID may be torn: it and
 * its bounce/ID go, and pre_run splits todo/ID again, at worst repeating
 * a delivery or a report.  A first-version message (local/ID or
 * remote/ID) synced its split before todo/ID was ever there: its info/ID
 * counts and todo/ID goes (pre_run).  todo/ is scanned after info/,
 * before anything is loaded. */
static void
rec_todo(struct send *s, const char *name, const struct stat *st)
{
	char sync[4][POOL_NAME];
	struct msg *m;

	(void)st;
	if (!send_idok(name) || (m = idx_get(&s->idx, name)) == NULL ||
	    fs_exists(s->qfd, "local", name) != 0 ||
	    fs_exists(s->qfd, "remote", name) != 0)
		return;
	if (same_boot(s, name)) {
		/* mess/ID too: the queue's barrier comes after its rename
		 * into todo/, and may not have ended (send_pre.c, barrier) */
		if (fs_path(sync[0], sizeof sync[0], "info", name) == -1 ||
		    fs_path(sync[1], sizeof sync[1], "mess", name) == -1)
			return;		/* send_idok: never */
		snprintf(sync[2], sizeof sync[2], "info");
		snprintf(sync[3], sizeof sync[3], "mess");
		if (fs_sync_files(s->qfd, sync, 4, 0) == 0 &&
		    fs_unlink(s->qfd, "todo", name) == 0) {
			log_kv("recover", "id", name, "state",
			    "split kept: sealed in this boot", NULL);
			return;
		}
		log_kv("warn", "id", name, "op", "keep split", "err",
		    strerror(errno), NULL);
	}
	idx_del(&s->idx, m);
	(void)fs_unlink(s->qfd, "info", name);
	(void)fs_unlink(s->qfd, "bounce", name);
	log_kv("recover", "id", name, "state",
	    "split again: todo/ID still there", NULL);
}

static void
rec_orphan(struct send *s, const char *dir, const char *name, int age)
{
	struct stat st;
	char p[300];

	if (!send_idok(name) || idx_get(&s->idx, name) != NULL ||
	    fs_exists(s->qfd, "todo", name) != 0)
		return;
	if (fs_path(p, sizeof p, dir, name) == -1 ||
	    fstatat(s->qfd, p, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return;
	if (age && (uint64_t)st.st_mtime + DAY >= now_s())
		return;
	if (unlinkat(s->qfd, p, 0) == 0)
		log_kv("recover", "removed", p, NULL);
}

static void
rec_mess(struct send *s, const char *n, const struct stat *st)
{
	(void)st;
	rec_orphan(s, "mess", n, 1);	/* queue may be writing it now */
}

static void
rec_local(struct send *s, const char *n, const struct stat *st)
{
	(void)st;
	rec_orphan(s, "local", n, 0);
}

static void
rec_remote(struct send *s, const char *n, const struct stat *st)
{
	(void)st;
	rec_orphan(s, "remote", n, 0);
}

static void
rec_bounce(struct send *s, const char *n, const struct stat *st)
{
	(void)st;
	rec_orphan(s, "bounce", n, 0);
}

/* sweep - orphans: mess/ without todo/ or info/ (after a day: queue may
 * be writing it), and local/, remote/, bounce/ left by an interrupted
 * removal.  Runs between rounds, when no split is half done. */
static void
sweep(struct send *s)
{
	scan(s, "mess", rec_mess, 0);
	scan(s, "local", rec_local, 0);
	scan(s, "remote", rec_remote, 0);
	scan(s, "bounce", rec_bounce, 0);
	log_kv("swept", NULL);
}

/* send_recover - rebuild the index from the queue directory */
void
send_recover(struct send *s)
{
	struct timespec a, b;
	struct logln l;

	clock_gettime(CLOCK_MONOTONIC, &a);
	scan(s, "tmp", rec_tmp, 1);
	/* what was retired before a crash is durably gone once the
	 * directories it left are synced: only then may it be written
	 * again */
	if (s->c.syncfs ? syncfs(s->qfd) == -1 :
	    fs_sync_dir(s->qfd, "info") == -1 ||
	    fs_sync_dir(s->qfd, "todo") == -1 ||
	    fs_sync_dir(s->qfd, "mess") == -1)
		die_temp(s->c.syncfs ? "syncfs" : "fsync", NULL);
	scan(s, "tmp", rec_pool, 0);
	hand_over(s);		/* the rm.* the listing found */
	scan(s, "info", rec_info, 0);
	scan(s, "todo", rec_todo, 0);
	s->todo = 1;
	/* orphans are not urgent: look for them once start is over */
	s->sweep_at = now_s() + s->c.sweep_delay;
	clock_gettime(CLOCK_MONOTONIC, &b);
	log_start(&l, "recovered");
	log_u(&l, "messages", s->idx.n);
	log_u(&l, "ms", (unsigned long long)((b.tv_sec - a.tv_sec) * 1000 +
	    (b.tv_nsec - a.tv_nsec) / 1000000));
	log_done(&l);
}

/* ---- the loop ---- */

static void
on_signals(struct send *s, uint64_t now)
{
	if (send_sighup || send_sigalrm || send_sigterm)
		s->dirty = 1;
	if (send_sighup) {
		send_sighup = 0;
		tables_refresh(s, 1);
	}
	if (send_sigalrm) {
		send_sigalrm = 0;
		flush(s, "", 0);
	}
	if (send_sigterm && !s->stopping) {
		s->stopping = 1;
		s->stop_at = now + s->c.term_wait;
		log_kv("stopping", NULL);
	}
}

static int
timeout_ms(struct send *s, uint64_t now)
{
	struct msg *m = idx_top(&s->idx);
	uint64_t t = 5;

	if (s->todo)
		return 0;
	if (m != NULL && s->nloaded < LOADED_MAX && !s->stopping)
		t = m->due <= now ? 0 : m->due - now < t ? m->due - now : t;
	return (int)(t * 1000);
}

static int
readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP));
}

/* send_loop - run until TERM (0) */
int
send_loop(struct send *s)
{
	struct pollfd p[5];
	sigset_t none;
	uint64_t now, laststep = 0;
	int ms;

	sigemptyset(&none);
	for (;;) {
		now = now_s();
		on_signals(s, now);
		tables_refresh(s, 0);
		if (s->stopping && (s->nlocal + s->nremote == 0 ||
		    now >= s->stop_at)) {
			for (struct live *l = s->loaded; l != NULL;
			    l = l->next)
				write_marks(s, l);
			if (s->needsync)
				(void)send_sync(s);
			log_kv("stop", NULL);
			return 0;
		}
		if (s->todo && !s->stopping)
			s->todo = pre_run(s) == 1;
		if (s->sweep_at != 0 && now >= s->sweep_at && !s->todo) {
			s->sweep_at = 0;
			sweep(s);
		}
		if (s->c.stats_interval != 0 && now >= s->stats_at) {
			s->stats_at = now + s->c.stats_interval;
			send_stats(s, now);
		}
		load_due(s, now);
		if (s->dirty || laststep + 5 <= now) {
			/* slots were freed, answers came: the messages kept
			 * loaded (blocked or waiting) may go on now */
			s->dirty = 0;
			laststep = now;
			step_all(s, now);
		}
		p[0] = (struct pollfd){ s->trig, POLLIN, 0 };
		p[1] = (struct pollfd){ s->lsock, POLLIN, 0 };
		p[2] = (struct pollfd){ s->rsock, POLLIN, 0 };
		p[3] = (struct pollfd){ s->dsock, POLLIN, 0 };
		p[4] = (struct pollfd){ ssts_fd(), POLLIN, 0 };
		if (s->needsync && (send_mono_ms() >= s->sync_at ||
		    s->stopping) && send_sync(s) == -1) {
			/* try again after a window */
			s->needsync = 1;
			s->sync_at = send_mono_ms() + SEND_SYNC_WINDOW_MS;
		}
		ms = s->dirty ? 0 : timeout_ms(s, now);
		if (s->needsync) {
			uint64_t t = send_mono_ms();

			ms = s->sync_at <= t ? 0 : (int)(s->sync_at - t) < ms ?
			    (int)(s->sync_at - t) : ms;
		}
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

		if (ppoll(p, 5, &ts, &none) == -1) {
			if (errno == EINTR)
				continue;
			die_temp("poll", NULL);
		}
		if (p[0].revents & POLLIN)
			on_trigger(s);
		/* every result waiting, without a poll before the first */
		if (s->lsock >= 0 && (p[1].revents & (POLLIN | POLLHUP)))
			do
				on_lres(s);
			while (readable(s->lsock));
		if (s->rsock >= 0 && (p[2].revents & (POLLIN | POLLHUP)))
			do
				on_rres(s);
			while (readable(s->rsock));
		if (s->dsock >= 0 && (p[3].revents & (POLLIN | POLLHUP)))
			on_resolve(s);
		if (ssts_fd() >= 0 && (p[4].revents & (POLLIN | POLLHUP)) &&
		    ssts_read(s, now_s()) == 1) {
			for (struct live *l = s->loaded; l != NULL;
			    l = l->next)
				l->waiting = 0;
			s->dirty = 1;
		}
	}
}
