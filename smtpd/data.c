/* data: the message text, DATA (RFC 5321 4.1.1.4, 4.5.2) and BDAT
 * (RFC 3030), streamed to the queue as it arrives.
 *
 * The decoder is a byte-at-a-time state machine with no I/O: CRLF becomes
 * LF, a leading dot is removed, and only CRLF "." CRLF ends DATA.  A CR
 * not followed by LF, or an LF not preceded by CR, is never a line end:
 * it marks the message bad (SMTP smuggling, CVE-2023-51764/5/6), the rest
 * is read to the real end, and the whole message is refused, so one DATA
 * can never become two messages.  NUL bytes, the size limit and the hop
 * count are checked on the decoded bytes.
 *
 * Time: the text must keep coming.  No silence may last longer than
 * smtpd_data_timeout, and the text as a whole (from the 354, or from the
 * first BDAT of a transaction to its LAST, the BDAT lines included) must
 * arrive within smtpd_data_timeout plus one second per smtpd_min_data_rate
 * bytes received: a client on a slow link gets the time its bytes earn,
 * one that trickles a byte now and then is cut with 421 (Postfix's
 * smtpd_min_data_rate, counted over the whole text rather than per line,
 * so short lines trickled one by one do not each start afresh). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "filter.h"
#include "log.h"
#include "smtpd.h"

#define RECV_HDR	"received:"

/* data_init - a decoder for one message */
void
data_init(struct data *d, uint64_t max, unsigned max_hops, int bdat)
{
	memset(d, 0, sizeof *d);
	d->st = DS_BOL;
	d->bdat = bdat;
	d->max = max;
	d->max_hops = max_hops;
	d->inhdr = 1;
}

/* hdr_byte - count Received: lines in the header (a mail loop guard) */
static void
hdr_byte(struct data *d, char c)
{
	if (!d->inhdr)
		return;
	if (c == '\n') {
		if (d->hlen == 0)
			d->inhdr = 0;	/* the empty line ends the header */
		d->hlen = 0;
		return;
	}
	if (d->hlen < sizeof d->hb) {
		d->hb[d->hlen++] = c;
		if (d->hlen == sizeof d->hb &&
		    strncasecmp(d->hb, RECV_HDR, sizeof d->hb) == 0 &&
		    ++d->nrecv > d->max_hops)
			d->bad |= D_LOOP;
	} else if (d->hlen == sizeof d->hb)
		d->hlen++;	/* past the name: stop looking */
}

/* put - one decoded byte */
static void
put(struct data *d, struct buf *out, char c)
{
	if (c == '\0')
		d->bad |= D_NUL;
	if (d->bad)
		return;
	if (++d->size > d->max) {
		d->bad |= D_TOOBIG;
		return;
	}
	hdr_byte(d, c);
	if (out->len < out->cap)
		out->p[out->len++] = c;
	else
		d->bad |= D_QFAIL;
}

/* text - a byte inside a line */
static void
text(struct data *d, char c, struct buf *out)
{
	if (c == '\r') {
		d->st = DS_CR;
		return;
	}
	d->st = DS_TEXT;
	if (c == '\n') {
		d->bad |= D_BARE;	/* LF without CR: not a line end */
		return;
	}
	put(d, out, c);
}

static void
step(struct data *d, char c, struct buf *out)
{
	switch (d->st) {
	case DS_BOL:
		if (c == '.' && !d->bdat)
			d->st = DS_BOL_DOT;
		else
			text(d, c, out);
		break;
	case DS_BOL_DOT:
		if (c == '\r')
			d->st = DS_BOL_DOT_CR;
		else
			text(d, c, out);	/* the stuffed dot is dropped */
		break;
	case DS_BOL_DOT_CR:
		if (c == '\n') {
			d->st = DS_END;
			break;
		}
		d->bad |= D_BARE;
		text(d, c, out);
		break;
	case DS_CR:
		if (c == '\n') {
			put(d, out, '\n');
			d->st = DS_BOL;
			break;
		}
		d->bad |= D_BARE;	/* CR without LF */
		text(d, c, out);
		break;
	case DS_TEXT:
		text(d, c, out);
		break;
	case DS_END:
		break;
	}
}

/* plain - how many bytes of p[0..n) hold no CR, LF or NUL: inside a
 * body line those go out as they are, with no state to change */
static size_t
plain(const char *p, size_t n)
{
	const char *cr = memchr(p, '\r', n);
	size_t k = cr != NULL ? (size_t)(cr - p) : n;
	const char *lf = memchr(p, '\n', k);

	if (lf != NULL)
		k = (size_t)(lf - p);
	return strnlen(p, k);
}

/* put_run - k plain bytes at once: what put() does to each of them */
static void
put_run(struct data *d, struct buf *out, const char *p, size_t k)
{
	if (d->bad)
		return;
	if (k > d->max - d->size) {
		d->size = d->max + 1;
		d->bad |= D_TOOBIG;
		return;
	}
	d->size += k;
	if (k > out->cap - out->len) {
		d->bad |= D_QFAIL;
		return;
	}
	memcpy(out->p + out->len, p, k);
	out->len += k;
}

/* data_feed - decode p[0..n) into out until the end of DATA; returns how
 * many bytes were used (the rest belong to the next command).  Past the
 * header, the plain bytes inside a line are taken as one run; every
 * other byte goes through the state machine. */
size_t
data_feed(struct data *d, const char *p, size_t n, struct buf *out)
{
	size_t i = 0, k;

	if (buf_reserve(out, n) == -1)
		d->bad |= D_QFAIL;
	while (i < n && d->st != DS_END) {
		if (d->st == DS_TEXT && !d->inhdr &&
		    (k = plain(p + i, n - i)) > 0) {
			put_run(d, out, p + i, k);
			i += k;
			continue;
		}
		step(d, p[i++], out);
	}
	return i;
}

/* data_last - BDAT LAST: a CR at the very end has no LF */
void
data_last(struct data *d)
{
	if (d->st == DS_CR || d->st == DS_BOL_DOT_CR)
		d->bad |= D_BARE;
	d->st = DS_END;
}

static int
date822(char *b, size_t sz)
{
	static const char *const day[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = time(NULL);
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	n = snprintf(b, sz, "%s, %d %s %d %02d:%02d:%02d +0000",
	    day[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/* received_line - our trace header (RFC 5321 4.4), LF ended */
int
received_line(struct buf *b, const struct session *s)
{
	char date[64];
	int v6 = strchr(s->ip, ':') != NULL;

	if (date822(date, sizeof date) == -1)
		return -1;
	/* sendmail -bs: who ran it, as sendmail -t records it */
	if ((s->mode & MODE_LOCAL) && buf_fmt(b, "Received: from %s "
	    "(sandmail-inject -bs invoked by uid %lu)\n\tby %s (sandmail) "
	    "with %s", s->helo[0] ? s->helo : "?", s->luid, s->cfg->hostname,
	    proto_name(s)) == -1)
		return -1;
	if (!(s->mode & MODE_LOCAL) &&
	    buf_fmt(b, "Received: from %s (rDNS unknown [%s%s])\n"
	    "\tby %s (sandmail) with %s", s->helo[0] ? s->helo : "?",
	    v6 ? "IPv6:" : "", s->ip[0] ? s->ip : "local", s->cfg->hostname,
	    proto_name(s)) == -1)
		return -1;
	/* the TLS parameters, as a comment (RFC 5321 4.4 allows CFWS) */
	if (s->tls != NULL && buf_fmt(b, "\n\t(version=%s cipher=%s)",
	    tls_version(s->tls), tls_cipher(s->tls)) == -1)
		return -1;
	if (buf_fmt(b, " id %s", s->id) == -1)
		return -1;
	if (s->env.nrcpt == 1 &&
	    buf_fmt(b, "\n\tfor <%s>", s->env.rcpt[0].addr) == -1)
		return -1;
	return buf_fmt(b, "; %s\n", date);
}

/* queue_down - the queue cannot take the message now: 452 when it says
 * its file system is full (RFC 5321 4.2.5 insufficient system storage,
 * RFC 3463 4.3.1 mail system full), else 451 */
static void
queue_down(struct session *s, const char *why)
{
	if (s->qc_ok && strcmp(s->qc->status, "4.3.1") == 0)
		refuse(s, why, "452 4.3.1 Insufficient system storage, try "
		    "again later");
	else
		refuse(s, why, "451 4.3.0 Queue unavailable, try again later");
}

/* xact_open - M to the queue, its answer not awaited; 0 or -1 (answered) */
static int
xact_open(struct session *s, int bdat)
{
	data_init(&s->dm, s->cfg->max_size, s->cfg->max_hops, bdat);
	s->spooling = milters_spooling(s);
	if (!s->qc_ok || qc_begin_send(s->qc) != QC_OK) {
		queue_down(s, s->qc_ok ? s->qc->text : "no queue");
		s->id[0] = '\0';
		return -1;
	}
	(void)verify_holding(s);
	return 0;
}

/* xact_id - the queue's ID and our Received: line; 0, or -1 with
 * D_QDOWN set (the text is read and refused at its end) */
static int
xact_id(struct session *s)
{
	struct buf b = BUF_INIT(4096);

	if (qc_begin_wait(s->qc, s->id) != QC_OK) {
		s->dm.bad |= D_QDOWN;
		s->id[0] = '\0';
		return -1;
	}
	s->begun = 1;
	if (received_line(&b, s) == -1 || dnsbl_iprev_header(&b, s) == -1 ||
	    policyd_headers(&b) == -1 ||
	    (verify_held() ? verify_keep(b.p, b.len, 1) :
	    qc_data(s->qc, b.p, b.len)) == -1)
		s->dm.bad |= D_QFAIL;
	s->dm.size = 0;
	s->env.size = b.len;
	buf_free(&b);
	return 0;
}

/* data_out - the client's text to where it goes next: the milters'
 * spool while they want it (milters.c), else the queue.  verify.c hands
 * the client's text it held here too (our own fields, its
 * Authentication-Results first, go to the queue ahead of it). */
int
data_out(struct session *s, const char *p, size_t n)
{
	return s->spooling ? milters_spool(p, n) : qc_data(s->qc, p, n);
}

/* push - hand decoded bytes to the queue while the message is good (to
 * the milters' spool while they want it: milters.c) */
static void
push(struct session *s)
{
	if (s->dout.len > 0 && !s->dm.bad && s->begun &&
	    (verify_held() ? verify_keep(s->dout.p, s->dout.len, 0) :
	    data_out(s, s->dout.p, s->dout.len)) == -1)
		s->dm.bad |= D_QFAIL;
	s->dout.len = 0;
}

/* xfer_start - the text's clock starts (after the 354, at a first BDAT) */
static void
xfer_start(struct session *s)
{
	s->xfer_t0 = io_now_ms();
	s->xfer_bytes = 0;
}

/* data_deadline - when the text must be in by the rate rule (io_now_ms
 * time), -1 with the rule off */
long long
data_deadline(const struct session *s)
{
	uint64_t rate = s->cfg->min_data_rate, earned;

	if (rate == 0)
		return -1;
	/* ms earned, without overflow: capped far beyond any session */
	if (s->xfer_bytes / rate > (uint64_t)1 << 40)
		earned = (uint64_t)1 << 50;
	else
		earned = s->xfer_bytes / rate * 1000 +
		    s->xfer_bytes % rate * 1000 / rate;
	if (earned > (uint64_t)1 << 50)
		earned = (uint64_t)1 << 50;
	return s->xfer_t0 + s->cfg->data_timeout_ms + (long long)earned;
}

/* fill - more client bytes, flushing our replies first; 0 or -1 */
static int
fill(struct session *s)
{
	long long d;
	int r;

	if (rd_pending(&s->in) > 0)
		return 0;
	io_timeouts(s, s->cfg->data_timeout_ms);
	if (wr_flush(&s->out) == -1)
		return s->why = "write error", -1;
	io_timeouts(s, s->cfg->data_timeout_ms);
	read_deadline(s, d = data_deadline(s));
	if ((r = rd_fill(&s->in)) > 0)
		return 0;
	if (r == -1 && errno == ETIMEDOUT && past_deadline(s)) {
		reply(s, "421 4.4.2 %s Session time limit exceeded",
		    s->cfg->hostname);
		s->why = "session limit";
	} else if (r == -1 && errno == ETIMEDOUT && d >= 0 &&
	    io_now_ms() >= d) {
		reply(s, "421 4.4.2 %s Timeout: message data too slow, "
		    "closing", s->cfg->hostname);
		s->why = "data too slow";
	} else if (r == -1 && errno == ETIMEDOUT) {
		reply(s, "421 4.4.2 %s Timeout exceeded, closing",
		    s->cfg->hostname);
		s->why = "data timeout";
	} else
		s->why = r == 0 ? "eof in data" : "read error in data";
	return -1;
}

/* eat - feed up to want bytes (BDAT) or up to the end (DATA, want 0) */
static int
eat(struct session *s, uint64_t want, int keep)
{
	size_t avail, used;

	for (;;) {
		if (!s->dm.bdat && s->dm.st == DS_END)
			return 0;
		if (s->dm.bdat && want == 0)
			return 0;
		if (fill(s) == -1)
			return -1;
		avail = rd_pending(&s->in);
		if (s->dm.bdat && avail > want)
			avail = (size_t)want;
		if (keep)
			used = data_feed(&s->dm, s->in.b + s->in.pos, avail,
			    &s->dout);
		else
			used = avail;
		s->in.pos += used;
		s->xfer_bytes += used;
		if (s->dm.bdat)
			want -= used;
		push(s);
	}
}

static void
log_accept(struct session *s)
{
	struct logln l;

	log_start(&l, "accept");
	log_s(&l, "id", s->id);
	log_s(&l, "from", s->env.sender);
	log_u(&l, "nrcpt", s->env.nrcpt);
	log_u(&l, "size", s->env.size);
	log_s(&l, "ip", s->ip);
	log_s(&l, "proto", s->env.proto);
	log_done(&l);
}

static int
fill_env(struct session *s)
{
	s->env.arrival = (uint64_t)time(NULL);
	s->env.size += s->dm.size;
	return env_set(&s->env.client, s->ip) == -1 ||
	    env_set(&s->env.helo, s->helo) == -1 ||
	    env_set(&s->env.proto, (s->mode & MODE_LOCAL) ? "local" :
	    proto_name(s)) == -1 ||
	    env_set(&s->env.auth, s->auth_user ? s->auth_user : "") == -1 ||
	    (s->env.envid == NULL && env_set(&s->env.envid, "") == -1) ?
	    -1 : 0;
}

/* refuse_bad - the message is refused for what the decoder saw */
static void
refuse_bad(struct session *s)
{
	unsigned b = s->dm.bad;

	if (b & D_QDOWN)
		queue_down(s, s->qc->text);
	else if (b & D_BARE)
		refuse(s, "bare CR or LF", "550 5.6.11 Message refused: bare "
		    "CR or LF not allowed (RFC 5321 2.3.8)");
	else if (b & D_NUL)
		refuse(s, "NUL byte", "554 5.6.0 Message refused: NUL byte "
		    "not allowed");
	else if (b & D_TOOBIG)
		refuse(s, "size", "552 5.3.4 Message size exceeds fixed "
		    "limit");
	else if (b & D_LOOP)
		refuse(s, "mail loop", "554 5.4.6 Too many Received headers: "
		    "mail loop");
	else
		refuse(s, "queue write", "451 4.3.0 Queue write failed, try "
		    "again later");
}

/* printable - the queue's reason, made safe for a reply line */
static const char *
printable(char *t)
{
	for (char *p = t; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	return t[0] ? t : "refused by the queue";
}

/* finish - the end of the message: commit it or say why not */
static void
finish(struct session *s)
{
	uint64_t w;
	int r;

	s->state = ST_HELO;
	if (s->dm.bad || fill_env(s) == -1) {
		refuse_bad(s);
		xact_reset(s);
		return;
	}
	/* held for the checks (verify.c): they may refuse it */
	if (verify_end(s) == -1) {
		if (s->dm.bad)
			refuse_bad(s);
		xact_reset(s);
		return;
	}
	/* the policy service at END-OF-MESSAGE, before the milters' end of
	 * message as in Postfix (its end-of-data restrictions come first) */
	if (!policyd_eom(s)) {
		xact_reset(s);
		return;
	}
	if (s->spooling) {
		/* the milters have their say; the message they leave goes to
		 * the queue now, still uncommitted */
		s->spooling = 0;
		if (!milters_eom(s, s->dm.bdat, &w)) {
			xact_reset(s);
			return;
		}
		s->env.size = s->env.size - s->dm.size + w;
	}
	policyd_commit(s);	/* a policy HOLD: quarantined */
	s->begun = 0;		/* qc_end ends it either way */
	r = qc_end(s->qc, &s->env);
	if (r == QC_OK) {
		log_accept(s);
		s->nmsg++;
		s->nrcpt += (unsigned)s->env.nrcpt;
		reply(s, "250 2.0.0 Ok: queued as %s", s->id);
	} else if (r == QC_PERM)
		refuse(s, s->qc->text, "554 %s Message refused: %s",
		    s->qc->status[0] == '5' ? s->qc->status : "5.3.0",
		    printable(s->qc->text));
	else
		queue_down(s, s->qc->text);
	xact_reset(s);
}

/* cmd_data - DATA: 354, then the text up to CRLF.CRLF */
int
cmd_data(struct session *s, const char *a, size_t n)
{
	int r;

	(void)a;
	if (n > 0) {
		reply(s, "501 5.5.4 Syntax: DATA");
		return 0;
	}
	if (s->state != ST_RCPT) {
		refuse(s, "no recipients", "554 5.5.1 No valid recipients");
		return 0;
	}
	if (!milters_data(s))
		return 0;
	if (xact_open(s, 0) == -1)
		return 0;
	/* the 354 goes out while the queue makes the message's file; a
	 * queue that then refuses gets its 451 after the text */
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	r = wr_flush(&s->out);
	xfer_start(s);
	(void)xact_id(s);	/* even for a client gone: the answer is read
				 * and the message begun, so it is aborted */
	if (r == -1) {
		s->why = "write error";
		return -1;
	}
	if (eat(s, 0, 1) == -1)
		return -1;	/* EOF: xact_reset at the end aborts it */
	finish(s);
	return 0;
}

/* bdat_args - "n" or "n LAST"; 0 or -1 */
static int
bdat_args(const char *a, size_t n, uint64_t *size, int *last)
{
	size_t i;
	uint64_t x = 0;

	for (i = 0; i < n && a[i] >= '0' && a[i] <= '9'; i++)
		if (__builtin_mul_overflow(x, 10, &x) ||
		    __builtin_add_overflow(x, (uint64_t)(a[i] - '0'), &x))
			return -1;
	if (i == 0 || i > 20)
		return -1;
	*size = x;
	*last = 0;
	if (i == n)
		return 0;
	while (i < n && a[i] == ' ')
		i++;
	if (n - i == 4 && strncasecmp(a + i, "LAST", 4) == 0)
		return *last = 1, 0;
	return -1;
}

/* bdat_skip - read and drop a chunk we refuse, then answer */
static int
bdat_skip(struct session *s, uint64_t size)
{
	s->dm.bdat = 1;
	if (eat(s, size, 0) == -1)
		return -1;
	return 0;
}

/* cmd_bdat - one chunk (RFC 3030 2); the chunk is read in every case */
int
cmd_bdat(struct session *s, const char *a, size_t n)
{
	uint64_t size;
	int last;

	if (bdat_args(a, n, &size, &last) == -1) {
		/* the chunk's length is unknown: we cannot find the next
		 * command, so end the session */
		reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		s->quit = 1;
		s->why = "bad BDAT";
		return 0;
	}
	if (s->state != ST_BDAT)
		xfer_start(s);		/* a transaction's first chunk */
	if (s->state != ST_RCPT && s->state != ST_BDAT) {
		if (bdat_skip(s, size) == -1)
			return -1;
		if (s->state == ST_MAIL)
			refuse(s, "no recipients", "554 5.5.1 No valid "
			    "recipients");
		else
			refuse(s, "bad sequence", "503 5.5.1 Bad sequence of "
			    "commands");
		return 0;
	}
	if (s->state == ST_RCPT) {
		if (xact_open(s, 1) == -1 || xact_id(s) == -1) {
			if (s->dm.bad & D_QDOWN)
				refuse_bad(s);
			xact_reset(s);
			return bdat_skip(s, size);	/* answered 451 */
		}
		s->state = ST_BDAT;
	}
	if (eat(s, size, 1) == -1)
		return -1;
	if (!last) {
		reply(s, "250 2.0.0 %llu octets received",
		    (unsigned long long)size);
		return 0;
	}
	data_last(&s->dm);
	finish(s);
	return 0;
}
