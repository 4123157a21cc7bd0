/* policyd: Postfix's SMTP access policy delegation at RCPT, so that
 * postgrey, policyd-spf or postfwd plug in unchanged.  For each recipient
 * that our own checks accepted, from a client that may not relay, the
 * session writes "name=value" lines and an empty line to the policy
 * server and reads the same back; the "action=" line decides.
 *
 * The connection (smtpd_policy_service: unix:/path or inet:IP:port) is
 * made before the sandbox, once per process: a session can reach that
 * server and no other, and keeps the connection for the requests of all
 * the sessions the worker serves.  A connection that fails (time-out,
 * EOF, bytes nobody asked for, an answer we cannot read) is closed for
 * good and the worker serves no further session (policyd_usable), so the
 * next worker connects afresh.  Meanwhile smtpd_policy_failure decides:
 * tempfail (451 4.3.5) or dunno (accept).  Answers other than defers are
 * kept for smtpd_policy_cache seconds, per process, keyed by the client,
 * HELO, sender and recipient.  PREPEND's header goes into the message
 * after our Received: line (once, however many recipients asked).
 * HOLD (access(5): accept, then hold) for a recipient that is then
 * accepted quarantines the whole message like a milter's quarantine:
 * committed as usual with ENV_HOLD, so send puts it on hold (hold/ID)
 * before any delivery, until sandmail-queuectl releases it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "filter.h"
#include "log.h"
#include "saddr.h"
#include "smtpd.h"

#define PD_LINE_MAX	4096	/* one answer line */
#define PD_ANSWER_MAX	8192	/* a whole answer */
#define PD_CACHE_N	64
#define PD_PREPEND_MAX	2048	/* PREPEND headers for one message */

static struct {
	const char	*service;	/* NULL: no policy service */
	int		 timeout_ms;
	int		 dunno;		/* failure mode: accept */
	long long	 cache_ms;
	int		 eom;		/* ask at the end of the message too */
	int		 fd;
	int		 lost;		/* the connection failed once */
	unsigned long	 seq;		/* transactions begun, for instance=:
					 * one value for every request of one
					 * message, as Postfix's */
	char		 rb[PD_ANSWER_MAX];
	size_t		 rlen;
} P = { .fd = -1 };

/* the headers PREPEND asked for, for the transaction's message: lines
 * ending in LF, each once */
static struct buf prepend = BUF_INIT(PD_PREPEND_MAX);

/* HOLD: the reason asked for the recipient being decided (pend), and
 * for the transaction's message once a recipient that asked is taken */
static char hold_pend[PD_TEXT_MAX], hold[PD_TEXT_MAX];

static struct pd_cached {
	unsigned char	 key[16];
	long long	 expires;	/* 0: free */
	struct pd_verdict v;
} cache[PD_CACHE_N];

/* printable - copy text as printable ASCII, at most sz - 1 bytes */
static void
printable(char *out, size_t sz, const char *p, size_t n)
{
	size_t i;

	if (n > sz - 1)
		n = sz - 1;
	for (i = 0; i < n; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
	out[n] = '\0';
}

static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* esc_len - the length of an enhanced status code of class c at the
 * start of p (RFC 3463: class.subject.detail, 1-3 digits each), or 0 */
static size_t
esc_len(const char *p, size_t n, char c)
{
	size_t i = 0, k, part;

	if (n < 5 || p[0] != c || p[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (k = 0; i < n && digit(p[i]) && k < 3; i++, k++)
			;
		if (k == 0)
			return 0;
		if (part == 0) {
			if (i >= n || p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && p[i] != ' ')
		return 0;
	return i;
}

static int
word_is(const char *w, size_t wl, const char *s)
{
	return strlen(s) == wl && strncasecmp(w, s, wl) == 0;
}

/* action - the value of action= into v; 0 or -1 (unknown) */
static int
action(const char *p, size_t n, struct pd_verdict *v)
{
	static const char *const logged[] = { "WARN", "INFO", "PREPEND",
	    "FILTER", "REDIRECT", "BCC", "DISCARD", "DEFER_IF_REJECT",
	    "DUNNO", "OK" };
	size_t wl, t, el;

	memset(v, 0, sizeof *v);
	for (wl = 0; wl < n && p[wl] != ' ' && p[wl] != '\t'; wl++)
		;
	for (t = wl; t < n && (p[t] == ' ' || p[t] == '\t'); t++)
		;
	if (wl == 0)
		return -1;
	printable(v->action, sizeof v->action, p, wl);
	if (wl == 3 && (p[0] == '4' || p[0] == '5') && digit(p[1]) &&
	    digit(p[2])) {
		memcpy(v->code, p, 3);
		v->kind = p[0] == '5' ? PD_REJECT : PD_DEFER;
		if ((el = esc_len(p + t, n - t, p[0])) > 0) {
			printable(v->esc, sizeof v->esc, p + t, el);
			for (t += el; t < n && p[t] == ' '; t++)
				;
		} else
			snprintf(v->esc, sizeof v->esc, "%c.7.1", p[0]);
		printable(v->text, sizeof v->text, p + t, n - t);
		return 0;
	}
	if (word_is(p, wl, "REJECT")) {
		v->kind = PD_REJECT;
		memcpy(v->code, "554", 4);
		memcpy(v->esc, "5.7.1", 6);
	} else if (word_is(p, wl, "DEFER") ||
	    word_is(p, wl, "DEFER_IF_PERMIT")) {
		/* the policy check is our last one: a permit follows */
		v->kind = PD_DEFER;
		memcpy(v->code, "450", 4);
		memcpy(v->esc, "4.7.1", 6);
	} else if (word_is(p, wl, "HOLD")) {
		v->kind = PD_HOLD;
	} else {
		for (el = 0; el < sizeof logged / sizeof logged[0]; el++)
			if (word_is(p, wl, logged[el]))
				break;
		if (el == sizeof logged / sizeof logged[0])
			return -1;
		v->kind = PD_ACCEPT;
	}
	printable(v->text, sizeof v->text, p + t, n - t);
	if (v->text[0] == '\0' && v->kind == PD_REJECT)
		snprintf(v->text, sizeof v->text, "Access denied");
	if (v->text[0] == '\0' && v->kind == PD_DEFER)
		snprintf(v->text, sizeof v->text, "Try again later");
	return 0;
}

/* pd_parse - one answer: name=value lines, then an empty line */
long
pd_parse(const char *p, size_t n, struct pd_verdict *v)
{
	size_t i = 0, e, l;
	int seen = 0;

	for (;;) {
		const char *nl = memchr(p + i, '\n', n - i);

		if (nl == NULL)
			return n - i > PD_LINE_MAX || n > PD_ANSWER_MAX ?
			    -1 : 0;
		e = (size_t)(nl - p);
		l = e - i;
		if (l > 0 && p[e - 1] == '\r')
			l--;
		if (l > PD_LINE_MAX || e >= PD_ANSWER_MAX ||
		    memchr(p + i, '\0', l) != NULL)
			return -1;
		if (l == 0)
			return seen ? (long)(e + 1) : -1;
		if (memchr(p + i, '=', l) == NULL)
			return -1;
		if (!seen && l >= 7 && memcmp(p + i, "action=", 7) == 0) {
			if (action(p + i + 7, l - 7, v) == -1)
				return -1;
			seen = 1;
		}
		i = e + 1;
	}
}

/* policyd_load - the keys (doc/sandmail.conf.5) */
void
policyd_load(const struct conf *c)
{
	const char *f;

	P.service = conf_str(c, "smtpd_policy_service", NULL);
	P.timeout_ms = (int)conf_secs(c, "smtpd_policy_timeout", 10) * 1000;
	f = conf_str(c, "smtpd_policy_failure", "tempfail");
	P.dunno = strcmp(f, "dunno") == 0;
	P.cache_ms = (long long)conf_secs(c, "smtpd_policy_cache", 10) * 1000;
	P.eom = conf_bool(c, "smtpd_policy_eom", 0);
}

/* await - poll fd for ev until the deadline (io_now_ms); 1, 0 late, -1 */
static int
await(int fd, short ev, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	long long left;
	int r;

	for (;;) {
		left = deadline - io_now_ms();
		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r != 0)
			return r;
	}
}

/* policyd_port - the policy service's TCP port, or 0 (none, or UNIX) */
unsigned
policyd_port(void)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (P.service == NULL || saddr_service(P.service, &ss, &len) == -1)
		return 0;
	return saddr_port(&ss);
}

static void
lose(const char *why)
{
	log_kv("policy", "event", "failure", "service", P.service,
	    "err", why, NULL);
	if (P.fd >= 0)
		close(P.fd);
	P.fd = -1;
	P.lost = 1;
	P.rlen = 0;
}

/* policyd_open - connect to the policy service, before the sandbox; a
 * failure is logged and leaves the failure mode in force */
void
policyd_open(void)
{
	struct sockaddr_storage ss;
	socklen_t len, el = sizeof(int);
	int fd, e = 0;

	if (P.service == NULL || P.fd >= 0)
		return;
	if (saddr_service(P.service, &ss, &len) == -1) {
		lose("bad smtpd_policy_service");
		return;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		lose(strerror(errno));
		return;
	}
	P.fd = fd;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1) {
		if (errno != EINPROGRESS) {
			lose(strerror(errno));
			return;
		}
		if (await(fd, POLLOUT, io_now_ms() + P.timeout_ms) != 1) {
			lose("connect timed out");
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1 ||
		    e != 0) {
			lose(strerror(e ? e : errno));
			return;
		}
	}
}

/* policyd_usable - no policy connection was lost in this process */
int
policyd_usable(void)
{
	return !P.lost;
}

/* put_attr - "name=value\n", CR and LF in the value made '?' */
static int
put_attr(struct buf *b, const char *name, const char *val)
{
	size_t i, s = b->len;

	if (buf_fmt(b, "%s=%s\n", name, val ? val : "") == -1)
		return -1;
	for (i = s + strlen(name) + 1; i < b->len - 1; i++)
		if (b->p[i] == '\n' || b->p[i] == '\r')
			b->p[i] = '?';
	return 0;
}

/* request - the request for rcpt at RCPT (rcpt != NULL), or at the end
 * of the message (NULL: Postfix's END-OF-MESSAGE, the recipient only when
 * there is one, the text's size) */
static int
request(struct buf *b, const struct session *s, const char *rcpt)
{
	char n[64];
	int r = 0;
	int eom = rcpt == NULL;

	if (eom)
		rcpt = s->env.nrcpt == 1 ? s->env.rcpt[0].addr : "";
	r |= put_attr(b, "request", "smtpd_access_policy");
	r |= put_attr(b, "protocol_state", eom ? "END-OF-MESSAGE" : "RCPT");
	r |= put_attr(b, "protocol_name", s->esmtp ? "ESMTP" : "SMTP");
	r |= put_attr(b, "client_address", s->ip);
	r |= put_attr(b, "client_name", "unknown");
	r |= put_attr(b, "reverse_client_name", "unknown");
	r |= put_attr(b, "server_address", s->localip);
	r |= put_attr(b, "helo_name", s->helo);
	r |= put_attr(b, "sender", s->env.sender);
	r |= put_attr(b, "recipient", rcpt);
	snprintf(n, sizeof n, "%zu", s->env.nrcpt);
	r |= put_attr(b, "recipient_count", n);
	r |= put_attr(b, "queue_id", "");
	snprintf(n, sizeof n, "%ld.%u.%lu", (long)getpid(), s->nmsg, P.seq);
	r |= put_attr(b, "instance", n);
	snprintf(n, sizeof n, "%llu", (unsigned long long)(eom ?
	    s->env.size : s->mp.size));
	r |= put_attr(b, "size", n);
	r |= put_attr(b, "sasl_username", s->auth_user);
	r |= put_attr(b, "encryption_protocol", s->tls ? "TLS" : "");
	r |= buf_putc(b, '\n');
	return r ? -1 : 0;
}

/* ask - one request and its answer; 0 or -1 (the connection is lost) */
static int
ask(const struct buf *req, struct pd_verdict *v)
{
	struct pollfd p = { .fd = P.fd, .events = POLLIN };
	long long dl = io_now_ms() + P.timeout_ms;
	size_t off = 0;
	ssize_t k;
	long used;

	if (P.fd < 0)
		return -1;
	/* between requests the server says nothing: anything readable
	 * now is EOF (it closed an idle connection) or noise */
	if (poll(&p, 1, 0) != 0) {
		lose("closed or spoke out of turn");
		return -1;
	}
	while (off < req->len) {
		k = write(P.fd, req->p + off, req->len - off);
		if (k > 0) {
			off += (size_t)k;
			continue;
		}
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1 && errno == EAGAIN && await(P.fd, POLLOUT, dl) == 1)
			continue;
		lose(k == -1 && errno != EAGAIN ? strerror(errno) :
		    "write timed out");
		return -1;
	}
	P.rlen = 0;
	for (;;) {
		if ((used = pd_parse(P.rb, P.rlen, v)) > 0) {
			if ((size_t)used != P.rlen) {
				lose("bytes after the answer");
				return -1;
			}
			P.rlen = 0;
			return 0;
		}
		if (used == -1 || P.rlen == sizeof P.rb) {
			lose("malformed answer");
			return -1;
		}
		k = read(P.fd, P.rb + P.rlen, sizeof P.rb - P.rlen);
		if (k > 0) {
			P.rlen += (size_t)k;
			continue;
		}
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1 && errno == EAGAIN && await(P.fd, POLLIN, dl) == 1)
			continue;
		lose(k == 0 ? "closed" : k == -1 && errno != EAGAIN ?
		    strerror(errno) : "timed out");
		return -1;
	}
}

static void
cache_key(const struct session *s, const char *rcpt, unsigned char k[16])
{
	crypto_generichash_state st;
	const char *f[4] = { s->ip, s->helo, s->env.sender, rcpt };

	crypto_generichash_init(&st, NULL, 0, 16);
	for (int i = 0; i < 4; i++)
		crypto_generichash_update(&st, (const unsigned char *)
		    (f[i] ? f[i] : ""), strlen(f[i] ? f[i] : "") + 1);
	crypto_generichash_final(&st, k, 16);
}

static struct pd_cached *
cache_find(const unsigned char k[16], long long now)
{
	for (size_t i = 0; i < PD_CACHE_N; i++)
		if (cache[i].expires > now &&
		    memcmp(cache[i].key, k, 16) == 0)
			return &cache[i];
	return NULL;
}

static void
cache_put(const unsigned char k[16], long long now,
    const struct pd_verdict *v)
{
	struct pd_cached *c = &cache[0];

	if (P.cache_ms == 0 || v->kind == PD_DEFER)
		return;		/* a defer (greylisting) is about time */
	for (size_t i = 0; i < PD_CACHE_N; i++)
		if (cache[i].expires < c->expires)
			c = &cache[i];
	memcpy(c->key, k, 16);
	c->expires = now + P.cache_ms;
	c->v = *v;
}

/* header_ok - "Name: value": a field name (RFC 5322 2.2) and a colon */
static int
header_ok(const char *h)
{
	size_t i;

	for (i = 0; h[i] != '\0' && h[i] != ':'; i++)
		if (h[i] <= 32 || h[i] >= 127)
			return 0;
	return i > 0 && h[i] == ':';
}

/* add_prepend - keep a PREPEND header for the message; 0, or -1 (not a
 * header, or no room: logged by the caller as not applied) */
static int
add_prepend(const char *h)
{
	size_t l = strlen(h);

	if (!header_ok(h))
		return -1;
	for (size_t i = 0; i < prepend.len; ) {
		const char *nl = memchr(prepend.p + i, '\n', prepend.len - i);
		size_t e = (size_t)(nl - prepend.p);

		if (e - i == l && memcmp(prepend.p + i, h, l) == 0)
			return 0;		/* once per message */
		i = e + 1;
	}
	if (prepend.len + l + 1 > PD_PREPEND_MAX ||
	    buf_put(&prepend, h, l) == -1 || buf_putc(&prepend, '\n') == -1)
		return -1;
	return 0;
}

/* policyd_headers - the PREPEND headers of this transaction, appended
 * to b (after our Received: line); 0 or -1 */
int
policyd_headers(struct buf *b)
{
	return prepend.len == 0 ? 0 : buf_put(b, prepend.p, prepend.len);
}

/* policyd_reset - a new transaction: no PREPEND headers, no HOLD */
void
policyd_reset(void)
{
	prepend.len = 0;
	hold_pend[0] = hold[0] = '\0';
	P.seq++;		/* the next transaction's instance= */
}

/* policyd_taken - the recipient last asked about was accepted: its HOLD
 * (if any) now holds the message */
void
policyd_taken(void)
{
	if (hold_pend[0] != '\0' && hold[0] == '\0')
		memcpy(hold, hold_pend, sizeof hold);
	hold_pend[0] = '\0';
}

/* policyd_commit - the message is about to be committed: a HOLD marks
 * it quarantined (ENV_HOLD) */
void
policyd_commit(struct session *s)
{
	if (hold[0] == '\0')
		return;
	s->env.flags |= ENV_HOLD;
	log_kv("quarantine", "id", s->id, "by", "policy", "reason", hold,
	    NULL);
}

/* policyd_rcpt - the policy service's word on rcpt */
int
policyd_rcpt(struct session *s, const char *rcpt)
{
	struct buf req = BUF_INIT(PD_ANSWER_MAX);
	struct pd_verdict v;
	struct pd_cached *c;
	unsigned char key[16];
	long long now = io_now_ms();
	int r;

	hold_pend[0] = '\0';
	if (P.service == NULL || (s->mode & MODE_LOCAL) || may_relay(s))
		return 1;
	cache_key(s, rcpt, key);
	if ((c = cache_find(key, now)) != NULL)
		v = c->v;
	else {
		r = request(&req, s, rcpt) == -1 ? (lose("request too long"),
		    -1) : ask(&req, &v);
		buf_free(&req);
		if (r == -1) {
			if (P.dunno)
				return 1;
			refuse(s, "policy service failed", "451 4.3.5 <%s>: "
			    "Server configuration problem", rcpt);
			return 0;
		}
		cache_put(key, now, &v);
	}
	switch (v.kind) {
	case PD_REJECT:
	case PD_DEFER:
		refuse(s, "policy", "%s %s <%s>: Recipient address rejected: "
		    "%s", v.code, v.esc, rcpt, v.text);
		return 0;
	case PD_HOLD:
		/* "HOLD" alone still needs a reason for the log */
		snprintf(hold_pend, sizeof hold_pend, "%s", v.text[0] != '\0' ?
		    v.text : "policy HOLD");
		log_kv("policy", "ip", s->ip, "rcpt", rcpt, "action", "HOLD",
		    "text", hold_pend, "applied", "hold", NULL);
		return 1;
	default:
		if (strcasecmp(v.action, "PREPEND") == 0 &&
		    add_prepend(v.text) == 0)
			return 1;
		if (strcasecmp(v.action, "OK") != 0 &&
		    strcasecmp(v.action, "DUNNO") != 0)
			log_kv("policy", "ip", s->ip, "rcpt", rcpt, "action",
			    v.action, "text", v.text, "applied", "no", NULL);
		return 1;
	}
}

/* policyd_eom - the policy service's word on the whole message, before
 * the milters' end of message and the commit (smtpd_policy_eom; Postfix's
 * check_policy_service in smtpd_end_of_data_restrictions): REJECT and
 * DEFER refuse the message, HOLD quarantines it; 1 go on, 0 refused
 * (answered).  Not cached: the message is new each time. */
int
policyd_eom(struct session *s)
{
	struct buf req = BUF_INIT(PD_ANSWER_MAX);
	struct pd_verdict v;
	int r;

	if (P.service == NULL || !P.eom || (s->mode & MODE_LOCAL) ||
	    may_relay(s))
		return 1;
	r = request(&req, s, NULL) == -1 ? (lose("request too long"), -1) :
	    ask(&req, &v);
	buf_free(&req);
	if (r == -1) {
		if (P.dunno)
			return 1;
		refuse(s, "policy service failed", "451 4.3.5 "
		    "<END-OF-MESSAGE>: Server configuration problem");
		return 0;
	}
	switch (v.kind) {
	case PD_REJECT:
	case PD_DEFER:
		refuse(s, "policy", "%s %s <END-OF-MESSAGE>: End-of-data "
		    "rejected: %s", v.code, v.esc, v.text);
		return 0;
	case PD_HOLD:
		if (hold[0] == '\0')
			snprintf(hold, sizeof hold, "%s", v.text[0] != '\0' ?
			    v.text : "policy HOLD");
		log_kv("policy", "ip", s->ip, "state", "END-OF-MESSAGE",
		    "action", "HOLD", "text", hold, "applied", "hold", NULL);
		return 1;
	default:
		/* the text is written: a PREPEND comes too late */
		if (strcasecmp(v.action, "OK") != 0 &&
		    strcasecmp(v.action, "DUNNO") != 0)
			log_kv("policy", "ip", s->ip, "state",
			    "END-OF-MESSAGE", "action", v.action, "text",
			    v.text, "applied", "no", NULL);
		return 1;
	}
}
