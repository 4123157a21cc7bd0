/* send_bounce: RFC 3464 delivery status notifications (bounces, delay
 * notices, success reports) as send writes them into the queue.  The text
 * that comes from a remote server or from us is made one line of printable
 * ASCII before it goes into a header field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "send_int.h"

#define TEXT_MAX	900	/* of one diagnostic, under the 998 line limit */
#define HDRS_MAX	(1024 * 1024)	/* headers copied into a report */

struct out {
	bput_fn	*put;
	void	*ctx;
	struct buf b;
	int	 err;
};

static void
o_flush(struct out *o)
{
	if (o->err == 0 && o->b.len > 0 && o->put(o->ctx, o->b.p, o->b.len) == -1)
		o->err = -1;
	o->b.len = 0;
}

static void
o_put(struct out *o, const void *p, size_t n)
{
	if (o->b.len + n > 16384)
		o_flush(o);
	if (n > 16384) {
		if (o->err == 0 && o->put(o->ctx, p, n) == -1)
			o->err = -1;
		return;
	}
	if (buf_put(&o->b, p, n) == -1)
		o->err = -1;
}

static void
o_s(struct out *o, const char *s)
{
	o_put(o, s, strlen(s));
}

/* o_clean - s as one line of printable ASCII, at most TEXT_MAX bytes */
static void
o_clean(struct out *o, const char *s)
{
	char t[TEXT_MAX];
	size_t n = 0;

	for (; *s != '\0' && n < sizeof t; s++) {
		unsigned char c = (unsigned char)*s;

		t[n++] = c == '\r' || c == '\n' || c == '\t' ? ' ' :
		    c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	o_put(o, t, n);
}

/* o_xtext - an xtext value (RFC 3461 4), decoded and cleaned */
static void
o_xtext(struct out *o, const char *s)
{
	char t[TEXT_MAX + 1], hx[3] = { 0 };
	size_t n = 0;
	unsigned long v;
	char *end;

	for (; *s != '\0' && n < TEXT_MAX; s++) {
		if (s[0] == '+' && s[1] != '\0' && s[2] != '\0') {
			hx[0] = s[1], hx[1] = s[2];
			v = strtoul(hx, &end, 16);
			if (*end == '\0') {
				t[n++] = (char)v;
				s += 2;
				continue;
			}
		}
		t[n++] = *s;
	}
	t[n] = '\0';
	o_clean(o, t);
}

/* bounce_date - an RFC 5322 date in UTC */
void
bounce_date(uint64_t t, char *out, size_t sz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, sz, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		snprintf(out, sz, "Thu, 01 Jan 1970 00:00:00 +0000");
}

static int
is_code(const char *s, size_t *len)
{
	size_t i = 2, k;

	if ((s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	for (int part = 0; part < 2; part++) {
		for (k = 0; k < 3 && s[i] >= '0' && s[i] <= '9'; k++, i++)
			;
		if (k == 0)
			return 0;
		if (part == 0 && s[i++] != '.')
			return 0;
	}
	if (s[i] != '\0' && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
	    s[i] != '\n')
		return 0;
	*len = i;
	return 1;
}

/* bounce_status - the enhanced status code (RFC 3463) in text, or the
 * default for the action: 5.0.0, 4.0.0, 2.0.0; 1 if found in text */
int
bounce_status(const char *text, uint8_t action, char out[16])
{
	size_t n;

	for (const char *s = text; s != NULL && *s != '\0'; s++) {
		if (s != text && s[-1] != ' ' && s[-1] != '-' && s[-1] != '\t')
			continue;
		if (is_code(s, &n) && n < 16) {
			memcpy(out, s, n);
			out[n] = '\0';
			return 1;
		}
	}
	snprintf(out, 16, "%s", action == BR_FAILED ? "5.0.0" :
	    action == BR_DELAYED ? "4.0.0" : "2.0.0");
	return 0;
}

static const char *
action_word(uint8_t a)
{
	return a == BR_FAILED ? "failed" : a == BR_DELAYED ? "delayed" :
	    a == BR_RELAYED ? "relayed" : "delivered";
}

static int
has(const struct brec *r, size_t n, uint8_t action)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].action == action)
			return 1;
	return 0;
}

static void
headers(struct out *o, const struct bctx *c, const char *bd, int fail,
    int delay)
{
	char date[64];

	bounce_date(c->now, date, sizeof date);
	o_s(o, "From: MAILER-DAEMON@"), o_s(o, c->hostname);
	o_s(o, " (Mail Delivery System)\nTo: "), o_clean(o, c->to);
	o_s(o, "\nSubject: ");
	o_s(o, fail ? "Undelivered Mail Returned to Sender" : delay ?
	    "Delayed Mail (still being retried)" :
	    "Successful Mail Delivery Report");
	o_s(o, "\nDate: "), o_s(o, date);
	o_s(o, "\nMessage-ID: <"), o_s(o, c->qid), o_s(o, ".");
	o_put(o, fail ? "F" : delay ? "D" : "S", 1);
	o_s(o, "@"), o_s(o, c->hostname);
	o_s(o, ">\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\""), o_s(o, bd);
	o_s(o, "\"\n\nThis is a MIME-encapsulated message.\n\n");
}

static void
human(struct out *o, const struct bctx *c, const char *bd,
    const struct brec *r, size_t n, int fail, int delay)
{
	o_s(o, "--"), o_s(o, bd);
	o_s(o, "\nContent-Description: Notification\n"
	    "Content-Type: text/plain; charset=us-ascii\n\n"
	    "This is the mail system at host "), o_s(o, c->hostname);
	o_s(o, ".\n\n");
	if (fail)
		o_s(o, "I'm sorry to have to inform you that your message "
		    "could not\nbe delivered to one or more recipients. "
		    "It's attached below.\n\n");
	else if (delay)
		o_s(o, "Your message could not be delivered yet to one or "
		    "more\nrecipients. It will be retried until it is too "
		    "old.\nYou do not need to send it again.\n\n");
	else if (has(r, n, BR_RELAYED))
		o_s(o, "Your message was delivered to the recipients "
		    "listed below, or,\nwhere it says \"relayed\", handed "
		    "to a mail system that does not\nsend delivery "
		    "reports: there may be no further report.\n\n");
	else
		o_s(o, "Your message was delivered to the recipients "
		    "listed below.\n\n");
	for (size_t i = 0; i < n; i++) {
		o_s(o, "<"), o_clean(o, r[i].addr), o_s(o, ">: ");
		o_s(o, action_word(r[i].action));
		if (r[i].mta[0] != '\0')
			o_s(o, " (host "), o_clean(o, r[i].mta), o_s(o, ")");
		o_s(o, ": "), o_clean(o, r[i].text), o_s(o, "\n");
	}
	o_s(o, "\n");
}

static void
status_rcpt(struct out *o, const struct bctx *c, const struct brec *r)
{
	char st[16], date[64];

	o_s(o, "\nFinal-Recipient: rfc822; "), o_clean(o, r->addr);
	if (r->orcpt[0] != '\0')
		o_s(o, "\nOriginal-Recipient: "), o_xtext(o, r->orcpt);
	o_s(o, "\nAction: "), o_s(o, action_word(r->action));
	bounce_status(r->text, r->action, st);
	o_s(o, "\nStatus: "), o_s(o, st);
	if (r->mta[0] != '\0')
		o_s(o, "\nRemote-MTA: dns; "), o_clean(o, r->mta);
	/* a local delivery that worked has no diagnostic to give */
	if (r->mta[0] != '\0' || r->action != BR_DELIVERED) {
		o_s(o, r->mta[0] != '\0' ? "\nDiagnostic-Code: smtp; " :
		    "\nDiagnostic-Code: x-unix; ");
		o_clean(o, r->text);
	}
	bounce_date(r->time, date, sizeof date);
	o_s(o, "\nLast-Attempt-Date: "), o_s(o, date);
	if (r->action == BR_DELAYED) {
		bounce_date(c->until, date, sizeof date);
		o_s(o, "\nWill-Retry-Until: "), o_s(o, date);
	}
	o_s(o, "\n");
}

static void
status(struct out *o, const struct bctx *c, const char *bd,
    const struct brec *r, size_t n)
{
	char date[64];

	o_s(o, "--"), o_s(o, bd);
	o_s(o, "\nContent-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n\n"
	    "Reporting-MTA: dns; "), o_s(o, c->hostname);
	o_s(o, "\nX-Sandmail-Queue-ID: "), o_s(o, c->qid);
	if (c->envid != NULL && c->envid[0] != '\0')
		o_s(o, "\nOriginal-Envelope-Id: "), o_xtext(o, c->envid);
	bounce_date(c->arrival, date, sizeof date);
	o_s(o, "\nArrival-Date: "), o_s(o, date), o_s(o, "\n");
	for (size_t i = 0; i < n; i++)
		status_rcpt(o, c, &r[i]);
	o_s(o, "\n");
}

/* original - the headers (through the blank line), or all when full */
static void
original(struct out *o, const struct bctx *c, int full)
{
	char b[8192];
	off_t off = 0;
	ssize_t k = 0;
	int nl = 1;

	while (c->msgfd >= 0 && (k = pread(c->msgfd, b, sizeof b, off)) > 0) {
		if (!full) {
			for (ssize_t i = 0; i < k; i++) {
				if (b[i] == '\n' && nl) {
					o_put(o, b, (size_t)i);
					return;
				}
				nl = b[i] == '\n';
			}
			if (off + k > HDRS_MAX)
				return;
		}
		o_put(o, b, (size_t)k);
		off += k;
		nl = b[k - 1] == '\n';
	}
	if (k < 0)
		o->err = -1;
	if (!nl)
		o_s(o, "\n");
}

/* bounce_write - the whole report through put; 0 or -1 */
int
bounce_write(const struct bctx *c, const struct brec *r, size_t n,
    bput_fn *put, void *ctx)
{
	struct out o = { put, ctx, BUF_INIT(32768), 0 };
	char bd[QID_MAX + 300];
	int fail = has(r, n, BR_FAILED), delay = has(r, n, BR_DELAYED);
	int full = fail && c->ret == RET_FULL;

	if (c->boundary != NULL)
		snprintf(bd, sizeof bd, "%s", c->boundary);
	else
		snprintf(bd, sizeof bd, "%s/%.255s", c->qid, c->hostname);
	headers(&o, c, bd, fail, delay);
	human(&o, c, bd, r, n, fail, delay);
	status(&o, c, bd, r, n);
	o_s(&o, "--"), o_s(&o, bd);
	o_s(&o, full ? "\nContent-Description: Undelivered Message\n"
	    "Content-Type: message/rfc822\n\n" :
	    "\nContent-Description: Message Headers\n"
	    "Content-Type: text/rfc822-headers\n\n");
	original(&o, c, full);
	o_s(&o, "\n--"), o_s(&o, bd), o_s(&o, "--\n");
	o_flush(&o);
	buf_free(&o.b);
	return o.err ? -1 : 0;
}
