/* mstat: see mstat.h.  Which line feeds which counter:
 *   smtpd connect                      sandmail_smtpd_connections_total
 *   smtpd accept                       sandmail_smtpd_accepted_total
 *   smtpd refuse (stage=, reason=)     sandmail_smtpd_rejected_total
 *   smtpd, pop3d refuse at AUTH        sandmail_auth_failures_total
 *   queue queued (size=)               sandmail_queued_total, _bytes_total
 *   send delivered/deferred/bounced    sandmail_deliveries_total, by
 *     (relay=, status=, delay=)          kind (local, remote, none) and
 *                                        status; the delay of the sent
 *                                        ones: sandmail_delivery_delay_
 *                                        seconds (a histogram)
 *   send rcpt_fail                     deliveries, kind none, bounced
 *   smtpd/pop3d tls (version=)         sandmail_tls_sessions_total, in
 *   any other program's tls            the same, out (rspawn's workers)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlog.h"
#include "mstat.h"

const unsigned long long mt_bucket_le[MT_NBUCKET] = {
	1, 5, 30, 60, 300, 1800, 3600, 14400, 86400
};

static const char *const kind_names[MK_N] = { "local", "remote", "none" };
static const char *const status_names[MS_N] = { "sent", "deferred",
    "bounced", "expired" };
static const char *const gauge_keys[MG_N] = { "todo", "info", "bounce",
    "hold", "oldest", "active_local", "active_remote", "time" };

void
mt_init(struct mt *m)
{
	memset(m, 0, sizeof *m);
}

static void
cut(char *d, const char *s)
{
	snprintf(d, MT_LABEL_MAX + 1, "%s", s);
}

/* fam_bump - the set (a, b), or "other" once the family is full: the
 * labels come from the log, and a client must not grow us */
static void
fam_bump(struct mt_fam *f, const char *a, const char *b)
{
	struct mt_set *v;

	for (size_t i = 0; i < f->n; i++)
		if (strncmp(f->v[i].a, a, MT_LABEL_MAX) == 0 &&
		    strncmp(f->v[i].b, b, MT_LABEL_MAX) == 0) {
			f->v[i].n++;
			return;
		}
	if (f->n < MT_SETS_MAX - 1) {
		v = &f->v[f->n++];
		cut(v->a, a);
		cut(v->b, b);
		v->n = 1;
		return;
	}
	v = &f->v[MT_SETS_MAX - 1];
	if (f->n == MT_SETS_MAX - 1) {
		cut(v->a, "other");
		cut(v->b, "other");
		v->n = 0;
		f->n++;
	}
	v->n++;
}

static unsigned long long
num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	return end == s ? 0 : v;
}

static int
is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void
delivery(struct mt *m, const char *p, size_t n, const char *ev)
{
	char relay[16], st[40], d[32];
	int k, s;

	if (!dlog_get(p, n, "status", st, sizeof st))
		snprintf(st, sizeof st, "%s", is(ev, "delivered") ? "sent" :
		    ev);
	s = is(st, "sent") ? MS_SENT : is(st, "deferred") ? MS_DEFERRED :
	    is(st, "expired") ? MS_EXPIRED : MS_BOUNCED;
	if (!dlog_get(p, n, "relay", relay, sizeof relay))
		relay[0] = '\0';
	k = is(relay, "local") ? MK_LOCAL : is(relay, "none") ||
	    relay[0] == '\0' ? MK_NONE : MK_REMOTE;
	m->deliv[k][s]++;
	if (s == MS_SENT && dlog_get(p, n, "delay", d, sizeof d)) {
		unsigned long long v = num(d);

		for (int i = 0; i < MT_NBUCKET; i++)
			if (v <= mt_bucket_le[i])
				m->bucket[i]++;
		m->delay_count++;
		m->delay_sum += v;
	}
}

void
mt_line(struct mt *m, const char *p, size_t n)
{
	char prog[32], ev[32], a[MT_LABEL_MAX + 1], b[MT_LABEL_MAX + 1];

	if (!dlog_get(p, n, "prog", prog, sizeof prog) ||
	    !dlog_get(p, n, "event", ev, sizeof ev))
		return;
	m->lines++;
	if (is(prog, "smtpd") && is(ev, "connect"))
		m->connections++;
	else if (is(prog, "smtpd") && is(ev, "accept"))
		m->accepted++;
	else if (is(prog, "smtpd") && is(ev, "refuse")) {
		if (!dlog_get(p, n, "stage", a, sizeof a))
			cut(a, "connect");
		if (!dlog_get(p, n, "reason", b, sizeof b))
			cut(b, "unknown");
		fam_bump(&m->rejected, a, b);
		if (is(a, "AUTH"))
			fam_bump(&m->authfail, "smtp", "");
	} else if (is(prog, "pop3d") && is(ev, "refuse")) {
		if (dlog_get(p, n, "stage", a, sizeof a) && is(a, "AUTH"))
			fam_bump(&m->authfail, "pop3", "");
	} else if (is(prog, "queue") && is(ev, "queued")) {
		m->queued++;
		if (dlog_get(p, n, "size", a, sizeof a))
			m->bytes += num(a);
	} else if (is(prog, "send") && (is(ev, "delivered") ||
	    is(ev, "deferred") || is(ev, "bounced")))
		delivery(m, p, n, ev);
	else if (is(prog, "send") && is(ev, "rcpt_fail"))
		m->deliv[MK_NONE][MS_BOUNCED]++;
	else if (is(ev, "tls")) {
		if (!dlog_get(p, n, "version", b, sizeof b))
			cut(b, "unknown");
		fam_bump(&m->tls, is(prog, "smtpd") || is(prog, "pop3d") ?
		    "in" : "out", b);
	}
}

int
mt_gauges_parse(struct mt_gauges *g, const char *p, size_t n)
{
	int known = 0;

	memset(g, 0, sizeof *g);
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl != NULL ? (size_t)(nl - p) : n;
		char ln[64], *sp, *end;
		unsigned long long v;

		if (len < sizeof ln) {
			memcpy(ln, p, len);
			ln[len] = '\0';
			if ((sp = strchr(ln, ' ')) != NULL) {
				*sp++ = '\0';
				v = strtoull(sp, &end, 10);
				for (int i = 0; i < MG_N; i++)
					if (end != sp && *end == '\0' &&
					    sp[0] >= '0' && sp[0] <= '9' &&
					    is(ln, gauge_keys[i])) {
						g->have[i] = 1;
						g->v[i] = v;
						known = 1;
					}
			}
		}
		p += len, n -= len;
		if (n > 0)
			p++, n--;
	}
	return known ? 0 : -1;
}

int
mt_label_escape(struct buf *b, const char *s)
{
	for (size_t i = 0; s[i] != '\0' && i < MT_LABEL_MAX; i++) {
		const char *e = s[i] == '\\' ? "\\\\" : s[i] == '"' ? "\\\"" :
		    s[i] == '\n' ? "\\n" : NULL;

		if ((e != NULL ? buf_puts(b, e) : buf_putc(b, s[i])) == -1)
			return -1;
	}
	return 0;
}

static int
head(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_fmt(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static int
fam(struct buf *b, const char *name, const char *help, const char *la,
    const char *lb, const struct mt_fam *f)
{
	int r = head(b, name, "counter", help);

	for (size_t i = 0; r == 0 && i < f->n; i++) {
		r |= buf_fmt(b, "%s{%s=\"", name, la);
		r |= mt_label_escape(b, f->v[i].a);
		if (lb != NULL) {
			r |= buf_fmt(b, "\",%s=\"", lb);
			r |= mt_label_escape(b, f->v[i].b);
		}
		r |= buf_fmt(b, "\"} %llu\n", f->v[i].n);
	}
	return r == 0 ? 0 : -1;
}

static int
one(struct buf *b, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	return head(b, name, type, help) == 0 &&
	    buf_fmt(b, "%s %llu\n", name, v) == 0 ? 0 : -1;
}

static int
gauges(struct buf *b, const struct mt_gauges *g, unsigned long long now)
{
	static const char *const dirs[] = { "todo", "info", "bounce",
	    "hold" };
	int r = 0;

	if (!g->have[MG_TIME])
		return 0;
	r |= head(b, "sandmail_queue_messages", "gauge", "Entries in a "
	    "queue directory (todo: not yet preprocessed; info: in the "
	    "queue; bounce: with reports to send; hold: held).");
	for (int i = MG_TODO; i <= MG_HOLD; i++)
		if (g->have[i])
			r |= buf_fmt(b, "sandmail_queue_messages{queue=\"%s\"} "
			    "%llu\n", dirs[i], g->v[i]);
	if (g->have[MG_OLDEST])
		r |= one(b, "sandmail_queue_oldest_age_seconds", "gauge",
		    "Age of the oldest message in the queue (0: empty).",
		    g->v[MG_OLDEST] == 0 || g->v[MG_OLDEST] > g->v[MG_TIME] ?
		    0 : g->v[MG_TIME] - g->v[MG_OLDEST]);
	r |= head(b, "sandmail_deliveries_active", "gauge",
	    "Deliveries send has handed to lspawn or rspawn and not yet "
	    "seen the result of.");
	r |= buf_fmt(b, "sandmail_deliveries_active{kind=\"local\"} %llu\n"
	    "sandmail_deliveries_active{kind=\"remote\"} %llu\n",
	    g->v[MG_ACTIVE_LOCAL], g->v[MG_ACTIVE_REMOTE]);
	r |= one(b, "sandmail_send_stats_age_seconds", "gauge",
	    "Seconds since send last wrote the queue gauges.",
	    now > g->v[MG_TIME] ? now - g->v[MG_TIME] : 0);
	return r == 0 ? 0 : -1;
}

int
mt_render(const struct mt *m, const struct mt_gauges *g,
    unsigned long long now, struct buf *b)
{
	int r = 0;

	r |= one(b, "sandmail_log_lines_total", "counter",
	    "sandmail log lines read.", m->lines);
	r |= one(b, "sandmail_smtpd_connections_total", "counter",
	    "SMTP connections smtpd took.", m->connections);
	r |= one(b, "sandmail_smtpd_accepted_total", "counter",
	    "Messages smtpd accepted (250 after DATA).", m->accepted);
	r |= fam(b, "sandmail_smtpd_rejected_total", "SMTP refusals by "
	    "stage and reason.", "stage", "reason", &m->rejected);
	r |= fam(b, "sandmail_auth_failures_total", "Failed AUTH attempts.",
	    "service", NULL, &m->authfail);
	r |= one(b, "sandmail_queued_total", "counter",
	    "Messages the queue service committed (SMTP and sendmail).",
	    m->queued);
	r |= one(b, "sandmail_queued_bytes_total", "counter",
	    "Bytes of the messages committed.", m->bytes);
	r |= head(b, "sandmail_deliveries_total", "counter", "Delivery "
	    "attempts per recipient by kind and status (none: no job ran).");
	for (int k = 0; k < MK_N; k++)
		for (int s = 0; s < MS_N; s++)
			r |= buf_fmt(b, "sandmail_deliveries_total{kind=\"%s\","
			    "status=\"%s\"} %llu\n", kind_names[k],
			    status_names[s], m->deliv[k][s]);
	r |= head(b, "sandmail_delivery_delay_seconds", "histogram",
	    "Time from the queue's commit to each successful delivery.");
	for (int i = 0; i < MT_NBUCKET; i++)
		r |= buf_fmt(b, "sandmail_delivery_delay_seconds_bucket"
		    "{le=\"%llu\"} %llu\n", mt_bucket_le[i], m->bucket[i]);
	r |= buf_fmt(b, "sandmail_delivery_delay_seconds_bucket{le=\"+Inf\"}"
	    " %llu\nsandmail_delivery_delay_seconds_sum %llu\n"
	    "sandmail_delivery_delay_seconds_count %llu\n", m->delay_count,
	    m->delay_sum, m->delay_count);
	r |= fam(b, "sandmail_tls_sessions_total", "TLS sessions by "
	    "direction (in: smtpd, pop3d; out: deliveries) and version.",
	    "direction", "version", &m->tls);
	r |= gauges(b, g, now);
	return r == 0 ? 0 : -1;
}
