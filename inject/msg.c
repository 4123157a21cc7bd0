/* msg: the message as sandmail-inject reads it from its caller (a user,
 * cron, PHP, mutt): line ends, the lone dot, the header section completed
 * and cleaned, the recipients of -t.  Runs as the calling user; the bytes
 * are the caller's own, but cron and PHP pass on what others wrote, so
 * every length is bounded and no header value can add a line. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "buf.h"
#include "hdr.h"
#include "inject.h"

/* line ends --------------------------------------------------------------- */

struct obuf {
	char	 b[4096];
	size_t	 n;
	inj_sink *sink;
	void	*ctx;
	int	 err;
};

static void
ob_put(struct obuf *o, const char *p, size_t n)
{
	while (n > 0 && !o->err) {
		size_t k = sizeof o->b - o->n;

		if (k > n)
			k = n;
		memcpy(o->b + o->n, p, k);
		o->n += k, p += k, n -= k;
		if (o->n == sizeof o->b) {
			if (o->sink(o->ctx, o->b, o->n) == -1)
				o->err = 1;
			o->n = 0;
		}
	}
}

static int
ob_flush(struct obuf *o)
{
	if (!o->err && o->n > 0 && o->sink(o->ctx, o->b, o->n) == -1)
		o->err = 1;
	o->n = 0;
	return o->err ? -1 : 0;
}

/* lnorm_init - a fresh line-end converter */
void
lnorm_init(struct lnorm *l, int dot)
{
	l->st = LN_BOL;
	l->dot = dot;
	l->ended = 0;
	l->eightbit = 0;
}

/* one byte through the state machine; returns 1 at the lone dot */
static int
lnorm_byte(struct lnorm *l, char c, struct obuf *o)
{
	switch (l->st) {
	case LN_DOT:
		if (c == '\n')
			return 1;
		if (c == '\r') {
			l->st = LN_DOTCR;
			return 0;
		}
		ob_put(o, ".", 1);
		l->st = LN_MID;
		break;
	case LN_DOTCR:
		if (c == '\n')
			return 1;
		ob_put(o, ".", 1);
		l->st = LN_CR;
		break;
	default:
		break;
	}
	if (l->st == LN_CR) {
		if (c == '\n') {
			ob_put(o, "\n", 1);
			l->st = LN_BOL;
			return 0;
		}
		ob_put(o, "\r", 1);		/* a bare CR stays */
		l->st = LN_MID;
	}
	if (c == '\r')
		l->st = LN_CR;
	else if (c == '.' && l->st == LN_BOL && l->dot)
		l->st = LN_DOT;
	else {
		ob_put(o, &c, 1);
		l->st = c == '\n' ? LN_BOL : LN_MID;
		l->eightbit |= (unsigned char)c > 127;
	}
	return 0;
}

/* lnorm_feed - convert n bytes to the sink; stops at the lone dot */
int
lnorm_feed(struct lnorm *l, const char *p, size_t n, inj_sink *sink,
    void *ctx)
{
	struct obuf o = { .n = 0, .sink = sink, .ctx = ctx, .err = 0 };

	for (size_t i = 0; i < n && !l->ended; i++)
		if (lnorm_byte(l, p[i], &o))
			l->ended = 1;
	return ob_flush(&o);
}

/* lnorm_end - the end of input: what is pending, and a last LF */
int
lnorm_end(struct lnorm *l, inj_sink *sink, void *ctx)
{
	struct obuf o = { .n = 0, .sink = sink, .ctx = ctx, .err = 0 };

	if (!l->ended) {
		switch (l->st) {
		case LN_MID:
		case LN_CR:		/* a CR at the very end ends the line */
			ob_put(&o, "\n", 1);
			break;
		case LN_DOT:		/* "." then EOF: the end, as sendmail */
		case LN_DOTCR:
		case LN_BOL:
			break;
		}
	}
	l->ended = 1;
	l->st = LN_BOL;
	return ob_flush(&o);
}

/* the header section ------------------------------------------------------ */

static int
hb_sink(void *ctx, const void *p, size_t n)
{
	return buf_put(ctx, p, n);
}

/* inj_msg_init - ready to read a message */
void
inj_msg_init(struct inj_msg *m, int dot)
{
	memset(m, 0, sizeof *m);
	lnorm_init(&m->ln, dot);
	/* room for the fields and for the start of the body read with them */
	buf_init(&m->hb, INJ_HDR_MAX + 2 * 65536);
}

/* inj_msg_free - release the header buffer */
void
inj_msg_free(struct inj_msg *m)
{
	buf_free(&m->hb);
}

static void
msg_split(struct inj_msg *m, size_t hend, size_t bstart, int blank)
{
	m->hend = hend;
	m->bstart = bstart;
	m->blank = blank;
	m->ready = 1;
}

/* look at each complete line not yet seen: a field, a continuation, the
 * blank line, or the first body line (a section with no blank line) */
static void
msg_scan(struct inj_msg *m)
{
	while (!m->ready && m->scan < m->hb.len) {
		const char *s = m->hb.p + m->scan;
		size_t left = m->hb.len - m->scan;
		const char *lf = memchr(s, '\n', left);
		size_t len;

		if (lf == NULL)
			return;
		len = (size_t)(lf - s) + 1;
		if (m->scan == 0 && len >= 5 && memcmp(s, "From ", 5) == 0)
			m->hstart = len;	/* an mbox From_ line: dropped */
		else if (len == 1)
			msg_split(m, m->scan, m->scan + 1, 1);
		else if ((s[0] == ' ' || s[0] == '\t') && m->scan > m->hstart)
			;			/* a continuation line */
		else if (hdr_field_len(s, len) == 0)
			msg_split(m, m->scan, m->scan, 0);
		if (!m->ready)
			m->scan += len;
	}
}

/* inj_msg_feed - bytes of the message until its header section is whole */
int
inj_msg_feed(struct inj_msg *m, const char *p, size_t n)
{
	if (lnorm_feed(&m->ln, p, n, hb_sink, &m->hb) == -1)
		return -1;
	msg_scan(m);
	if (!m->ready && m->hb.len - m->hstart > INJ_HDR_MAX)
		return errno = E2BIG, -1;
	return 0;
}

/* inj_msg_eof - no more input: whatever is left is the header section */
int
inj_msg_eof(struct inj_msg *m)
{
	if (lnorm_end(&m->ln, hb_sink, &m->hb) == -1)
		return -1;
	msg_scan(m);
	if (!m->ready)
		msg_split(m, m->hb.len, m->hb.len, 0);
	if (m->hstart > m->hend)
		m->hstart = m->hend;
	return 0;
}

/* header completion ------------------------------------------------------- */

static const char *const dropped[] = {
	/* as Postfix's message_drop_headers: never passed on */
	"bcc", "resent-bcc", "return-path", "content-length", NULL,
};

static int
in_list(const struct hdr_field *f, const char *const *names)
{
	for (; *names != NULL; names++)
		if (hdr_is(f, *names))
			return 1;
	return 0;
}

static int
has_resent(const char *h, size_t n)
{
	static const char *const rs[] = { "resent-to", "resent-cc",
	    "resent-bcc", NULL };
	struct hdr_field f;
	size_t off = 0;

	while (hdr_next(h, n, &off, &f))
		if (in_list(&f, rs))
			return 1;
	return 0;
}

/* a display name as a phrase: atoms and spaces as they are, anything else
 * as a quoted-string; control characters (a CR, an LF) never get in */
static int
put_phrase(struct buf *out, const char *name)
{
	const char *p;
	int plain = 1;

	for (p = name; *p; p++)
		if (!(((unsigned char)*p >= 'a' && (unsigned char)*p <= 'z') ||
		    ((unsigned char)*p >= 'A' && (unsigned char)*p <= 'Z') ||
		    ((unsigned char)*p >= '0' && (unsigned char)*p <= '9') ||
		    *p == ' ' || (unsigned char)*p > 127 ||
		    strchr("!#$%&'*+-/=?^_`{|}~", *p) != NULL))
			plain = 0;
	if (!plain && buf_putc(out, '"') == -1)
		return -1;
	for (p = name; *p; p++) {
		if ((unsigned char)*p < 32 || *p == 127)
			continue;
		if (!plain && (*p == '"' || *p == '\\') &&
		    buf_putc(out, '\\') == -1)
			return -1;
		if (buf_putc(out, *p) == -1)
			return -1;
	}
	return plain ? 0 : buf_putc(out, '"');
}

static int
add_from(const struct inj_opts *o, struct buf *out)
{
	const char *p;
	int named = 0;

	for (p = o->fullname; p != NULL && *p; p++)
		if ((unsigned char)*p > 32 && *p != 127)
			named = 1;
	if (buf_puts(out, "From: ") == -1)
		return -1;
	if (named) {
		if (put_phrase(out, o->fullname) == -1 ||
		    buf_fmt(out, " <%s>\n", o->from_addr) == -1)
			return -1;
		return 0;
	}
	return buf_fmt(out, "%s\n", o->from_addr);
}

static int
add_msgid(const struct inj_opts *o, struct buf *out)
{
	struct tm tm;
	char ts[32];

	if (gmtime_r(&o->now, &tm) == NULL ||
	    strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm) == 0)
		return -1;
	return buf_fmt(out, "Message-ID: <%s.%s@%s>\n", ts, o->uniq,
	    o->hostname);
}

/* inj_date - RFC 5322 3.3 date-time, local time with its offset */
int
inj_date(struct buf *b, time_t t)
{
	struct tm tm;
	char s[64];

	/* the C locale (we never call setlocale): English names */
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof s, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	return buf_puts(b, s);
}

struct seen {
	int	 from, date, msgid;
};

static int
copy_fields(const struct inj_opts *o, const char *h, size_t n,
    struct buf *out, inj_rcpt_cb *cb, void *ctx, struct seen *sn)
{
	static const char *const plain[] = { "to", "cc", "bcc", NULL };
	static const char *const rs[] = { "resent-to", "resent-cc",
	    "resent-bcc", NULL };
	const char *const *rcpt = has_resent(h, n) ? rs : plain;
	struct hdr_field f;
	size_t off = 0;
	int r;

	while (hdr_next(h, n, &off, &f)) {
		if (o->tflag && in_list(&f, rcpt) &&
		    (r = hdr_addrlist(f.val, f.vlen, cb, ctx)) != 0)
			return r;
		sn->from |= hdr_is(&f, "from");
		sn->date |= hdr_is(&f, "date");
		sn->msgid |= hdr_is(&f, "message-id");
		if (!in_list(&f, dropped) && buf_put(out, f.raw, f.rlen) == -1)
			return HDR_TOOLONG;
	}
	/* inj_msg only ends a section at a field boundary; be safe anyway */
	if (off < n && buf_put(out, h + off, n - off) == -1)
		return HDR_TOOLONG;
	return 0;
}

/* inj_headers - the header section cleaned and completed */
int
inj_headers(const struct inj_opts *o, const char *h, size_t n,
    struct buf *out, inj_rcpt_cb *cb, void *ctx)
{
	struct seen sn = { 0, 0, 0 };
	int r;

	if ((r = copy_fields(o, h, n, out, cb, ctx, &sn)) != 0)
		return r;
	if ((!sn.from && add_from(o, out) == -1) ||
	    (!sn.date && (buf_puts(out, "Date: ") == -1 ||
	    inj_date(out, o->now) == -1 || buf_putc(out, '\n') == -1)) ||
	    (!sn.msgid && add_msgid(o, out) == -1))
		return HDR_TOOLONG;
	return 0;
}

/* the envelope ----------------------------------------------------------- */

/* does addr have a domain: an '@' outside quotes and literals? */
static int
has_domain(const char *s, size_t n)
{
	int q = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && q)
			i++;
		else if (s[i] == '"')
			q = !q;
		else if (s[i] == '@' && !q)
			return 1;
	}
	return 0;
}

/* inj_qualify - addr as an envelope mailbox, qualified with domain */
int
inj_qualify(const char *addr, size_t n, const char *domain, struct buf *out)
{
	struct buf t = BUF_INIT(ADDR_PATH_MAX * 2 + 8);
	struct addr a;
	int r;

	if (buf_put(&t, addr, n) == -1 || (!has_domain(addr, n) &&
	    buf_fmt(&t, "@%s", domain) == -1)) {
		buf_free(&t);
		return ADDR_TOOLONG;
	}
	r = addr_parse_mailbox(t.p, t.len, ADDR_UTF8, &a);
	buf_free(&t);
	if (r != ADDR_OK)
		return r;
	return addr_format(out, &a) == -1 ? ADDR_TOOLONG : ADDR_OK;
}
