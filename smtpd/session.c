/* session: one SMTP session (RFC 5321 with ESMTP), as a state machine: an
 * enum of states, a verb table with the states each verb is legal in, and
 * a small handler per verb.  Runs sandboxed: it reads the client from
 * s->in and answers on s->out (lib/io.h, so TLS slides underneath), looks
 * up tables already mapped, and talks to the queue over a socket already
 * open.  It trusts nothing the client sends.
 *
 * STARTTLS and AUTH live in auth.c: STARTTLS swaps s->in/s->out onto
 * s->tlsc and resets the session to ST_GREET (RFC 3207 4.2); AUTH sets
 * s->auth_user, which may_relay(), proto_name() and the envelope read.
 * The session limit is a deadline every read and write is cut to, so the
 * 421 goes out through TLS too (the alarm in listen.c is a backstop).
 *
 * Reads go through s->dl (lib/io.h), which gives a whole unit of input a
 * deadline rather than each read: smtpd_timeout bounds the time to
 * receive one command line (RFC 5321 4.5.3.2), however its bytes are
 * spread, and data.c's rule bounds the message text.  A per-read timeout
 * alone restarted with every byte: one byte a second held a session for
 * the whole session limit. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "filter.h"
#include "log.h"
#include "smtpd.h"

#define IN(st)		(1u << (st))
#define ANY		(IN(ST_NSTATES) - 1)
#define NOT_BDAT	(ANY & ~IN(ST_BDAT))	/* RFC 3030 2: only BDAT, RSET, QUIT */
#define REPLY_MAX	1024

typedef int verb_fn(struct session *, const char *, size_t);

static verb_fn verb_helo, verb_ehlo, verb_mail, verb_rcpt, verb_rset,
    verb_noop, verb_quit, verb_help, verb_vrfy, verb_expn, verb_etrn,
    verb_never;

/* The verbs, where each is legal, and when HELP names it (NULL: never,
 * as for the obsolete ones). */
static int show_always(const struct session *);
static int show_etrn(const struct session *);
static int show_expn(const struct session *);
static int show_starttls(const struct session *);
static int show_auth(const struct session *);

static const struct verb {
	const char	*name;
	unsigned	 legal;
	verb_fn		*f;
	int		(*help)(const struct session *);
} verbs[] = {
	{ "HELO", NOT_BDAT,			verb_helo, show_always },
	{ "EHLO", NOT_BDAT,			verb_ehlo, show_always },
	{ "MAIL", IN(ST_HELO),			verb_mail, show_always },
	{ "RCPT", IN(ST_MAIL) | IN(ST_RCPT),	verb_rcpt, show_always },
	{ "DATA", IN(ST_MAIL) | IN(ST_RCPT),	cmd_data, show_always },
	/* BDAT is taken in every state: its chunk must be read even when
	 * refused, or the chunk's bytes would be read as commands */
	{ "BDAT", ANY,				cmd_bdat, show_always },
	{ "RSET", ANY,				verb_rset, show_always },
	{ "NOOP", NOT_BDAT,			verb_noop, show_always },
	{ "QUIT", ANY,				verb_quit, show_always },
	{ "HELP", NOT_BDAT,			verb_help, show_always },
	{ "VRFY", NOT_BDAT,			verb_vrfy, show_always },
	{ "EXPN", NOT_BDAT,			verb_expn, show_expn },
	{ "ETRN", IN(ST_HELO),			verb_etrn, show_etrn },
	{ "STARTTLS", IN(ST_GREET) | IN(ST_HELO), verb_starttls,
	    show_starttls },
	{ "AUTH", IN(ST_HELO),			verb_auth, show_auth },
	/* RFC 5321 4.1.3 obsoletes these; TURN gives the connection to
	 * whoever claims a domain (RFC 2505 2.13) */
	{ "SEND", NOT_BDAT,			verb_never, NULL },
	{ "SOML", NOT_BDAT,			verb_never, NULL },
	{ "SAML", NOT_BDAT,			verb_never, NULL },
	{ "TURN", NOT_BDAT,			verb_never, NULL },
};

static int show_always(const struct session *s) { (void)s; return 1; }

/* show_expn - EXPN answers (rather than 502) only these clients */
static int
show_expn(const struct session *s)
{
	return s->cfg->expn_real && may_relay(s);
}

static int
show_etrn(const struct session *s)
{
	return may_relay(s);
}

static int
show_starttls(const struct session *s)
{
	return s->ctx != NULL && s->tls == NULL;
}

/* RFC 8689 2: REQUIRETLS only inside TLS (STARTTLS or port 465), and
 * not to a local sendmail -bs, where there is no next hop to ask */
static int
show_requiretls(const struct session *s)
{
	return s->tls != NULL && !(s->mode & MODE_LOCAL);
}

static int
show_auth(const struct session *s)
{
	return auth_offered(s) && s->auth_user == NULL;
}

/* The EHLO keywords, in the order sent; SIZE gets its number added. */
static const struct ehlo_kw {
	const char	*kw;
	int		(*show)(const struct session *);
} ehlo_kw[] = {
	{ "PIPELINING",		show_always },
	{ "SIZE",		show_always },
	{ "8BITMIME",		show_always },
	{ "ENHANCEDSTATUSCODES", show_always },
	{ "DSN",		show_always },
	{ "SMTPUTF8",		show_always },
	{ "CHUNKING",		show_always },
	{ "ETRN",		show_etrn },
	{ "STARTTLS",		show_starttls },
	{ "REQUIRETLS",		show_requiretls },
	{ "AUTH PLAIN LOGIN",	show_auth },
	{ "HELP",		show_always },
};

/* Bad-sequence hints, by state. */
static const char *const seq_hint[ST_NSTATES] = {
	[ST_GREET] = "send HELO/EHLO first",
	[ST_HELO] = "need MAIL first",
	[ST_MAIL] = "need RCPT first",
	[ST_RCPT] = "command not allowed in a transaction",
	[ST_BDAT] = "only BDAT, RSET or QUIT during BDAT",
};

/* past_deadline - the whole-session limit is used up */
int
past_deadline(const struct session *s)
{
	return s->deadline >= 0 && io_now_ms() >= s->deadline;
}

/* io_timeouts - ms for the next reads and writes (plain or TLS), cut to
 * what is left of the session limit */
void
io_timeouts(struct session *s, int ms)
{
	long long left;

	if (s->deadline >= 0) {
		left = s->deadline - io_now_ms();
		if (left < 0)
			left = 0;
		if (ms < 0 || left < ms)
			ms = (int)left;
	}
	s->in.timeout_ms = ms;
	s->out.timeout_ms = ms;
	s->tlsc.timeout_ms = ms;
}

/* read_deadline - the reads from now on must be done by at (io_now_ms
 * time; -1: no bound but the session limit) */
void
read_deadline(struct session *s, long long at)
{
	if (s->deadline >= 0 && (at < 0 || at > s->deadline))
		at = s->deadline;
	s->dl.deadline = at;
}

/* session_init - a session on infd/outfd with a queue path ready */
void
session_init(struct session *s, const struct smtpd_cfg *cfg,
    struct tables *tabs, struct qc *qc, int qc_ok, int infd, int outfd)
{
	memset(s, 0, offsetof(struct session, in));
	s->cfg = cfg;
	s->tabs = tabs;
	s->qc = qc;
	s->qc_ok = qc_ok;
	rd_init(&s->in, infd, io_read_dl, &s->dl);
	s->dl = (struct io_dl){ io_read_fd, &s->in.timeout_ms,
	    &s->in.timeout_ms, -1 };
	wr_init(&s->out, outfd, NULL, NULL);
	s->in.timeout_ms = cfg->timeout_ms;
	s->out.timeout_ms = cfg->timeout_ms;
	buf_init(&s->line, cfg->line_max);
	buf_init(&s->scratch, TBL_KEY_MAX * 4);
	buf_init(&s->info, TBL_KEY_MAX * 4);
	buf_init(&s->dout, IO_BUFSIZE);
	env_init(&s->env);
	s->state = ST_GREET;
	s->why = "eof";
	s->deadline = cfg->session_limit == 0 ? -1 :
	    io_now_ms() + (long long)cfg->session_limit * 1000;
}

/* session_free - release what the session holds */
void
session_free(struct session *s)
{
	buf_free(&s->line);
	buf_free(&s->scratch);
	buf_free(&s->info);
	buf_free(&s->dout);
	env_free(&s->env);
	srs_end(s);
	if (s->auth_user != NULL)
		sodium_memzero(s->auth_user, strlen(s->auth_user));
	free(s->auth_user);
	s->auth_user = NULL;
	if (s->tls != NULL)
		tls_close(&s->tlsc);
	s->tls = NULL;
}

/* may_relay - the client may send to any domain: its address is in
 * relayclients, or (the TLS issue) it has authenticated */
int
may_relay(const struct session *s)
{
	return s->relayclient || s->auth_user != NULL;
}

/* proto_name - for the Received: line and the envelope: RFC 3848's
 * keywords, and RFC 6531 3.7.3's for a transaction with SMTPUTF8 */
const char *
proto_name(const struct session *s)
{
	static const char *const esmtp[2][2] = {
		{ "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } };
	static const char *const utf8[2][2] = {
		{ "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } };

	if (!s->esmtp)
		return "SMTP";
	return (s->mp.utf8 ? utf8 : esmtp)[s->tls != NULL]
	    [s->auth_user != NULL];
}

static void
vreply(struct session *s, const char *fmt, va_list ap)
{
	char b[REPLY_MAX];
	int n = vsnprintf(b, sizeof b - 2, fmt, ap);

	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof b - 3)
		n = (int)(sizeof b - 3);	/* cut: still one line */
	b[n++] = '\r';
	b[n++] = '\n';
	/* every 5xx counts towards max_errors; 421 closes anyway */
	if (b[0] == '5')
		s->nerr++;
	(void)wr_put(&s->out, b, (size_t)n);
}

/* reply - one reply line; CRLF is added */
void
reply(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, fmt, ap);
	va_end(ap);
}

/* refuse - a refusal: logged with its reason, then answered */
void
refuse(struct session *s, const char *reason, const char *fmt, ...)
{
	struct logln l;
	char b[REPLY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	if (n < 0)
		b[0] = '\0';
	s->nrej++;
	log_start(&l, "refuse");
	log_s(&l, "ip", s->ip);
	if (s->id[0] != '\0')
		log_s(&l, "id", s->id);
	log_s(&l, "stage", s->stage != NULL ? s->stage : "connect");
	if (s->helo[0] != '\0')
		log_s(&l, "helo", s->helo);
	if (s->state >= ST_MAIL && s->env.sender != NULL)
		log_s(&l, "from", s->env.sender);
	if (s->auth_user != NULL)
		log_s(&l, "user", s->auth_user);
	log_s(&l, "reason", reason);
	log_s(&l, "reply", b);
	log_done(&l);
	reply(s, "%s", b);
}

/* xact_reset - forget the transaction; abort a message begun */
void
xact_reset(struct session *s)
{
	if (s->begun && qc_abort(s->qc) == -1)
		s->qc_ok = 0;
	s->begun = 0;
	s->id[0] = '\0';
	policyd_reset();
	verify_reset();
	milters_abort(s);
	env_free(&s->env);
	env_init(&s->env);
	memset(&s->mp, 0, sizeof s->mp);
	if (s->state != ST_GREET)
		s->state = ST_HELO;
}

static int
verb_never(struct session *s, const char *a, size_t n)
{
	(void)a, (void)n;
	reply(s, "502 5.5.1 Command not implemented");
	return 0;
}

static int
greet_name(struct session *s, const char *a, size_t n, int esmtp)
{
	if (n == 0) {
		reply(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return -1;
	}
	helo_sanitize(a, n, s->helo, sizeof s->helo);
	s->esmtp = esmtp;
	xact_reset(s);
	s->state = ST_HELO;
	if (!milters_helo(s)) {
		s->state = ST_GREET;	/* refused: greet again */
		return -1;
	}
	return 0;
}

static int
verb_helo(struct session *s, const char *a, size_t n)
{
	if (greet_name(s, a, n, 0) == 0)
		reply(s, "250 %s", s->cfg->hostname);
	return 0;
}

static int
verb_ehlo(struct session *s, const char *a, size_t n)
{
	const struct ehlo_kw *k;
	size_t i, last = 0;

	if (greet_name(s, a, n, 1) == -1)
		return 0;
	for (i = 0; i < sizeof ehlo_kw / sizeof ehlo_kw[0]; i++)
		if (ehlo_kw[i].show(s))
			last = i;
	reply(s, "250-%s", s->cfg->hostname);
	for (i = 0; i < sizeof ehlo_kw / sizeof ehlo_kw[0]; i++) {
		k = &ehlo_kw[i];
		if (!k->show(s))
			continue;
		if (strcmp(k->kw, "SIZE") == 0)
			reply(s, "250%cSIZE %llu", i == last ? ' ' : '-',
			    (unsigned long long)s->cfg->max_size);
		else
			reply(s, "250%c%s", i == last ? ' ' : '-', k->kw);
	}
	return 0;
}

static int
has_8bit(const char *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)a[i] >= 0x80)
			return 1;
	return 0;
}

static void
path_error(struct session *s, enum addr_err e, const char *which)
{
	if (e == ADDR_8BIT)
		refuse(s, "8bit address", "553 5.6.7 %s address needs "
		    "SMTPUTF8", which);
	else if (e == ADDR_TOOLONG)
		refuse(s, "address too long", "501 5.1.%c %s address too "
		    "long", which[0] == 'S' ? '7' : '3', which);
	else
		refuse(s, "address syntax", "501 5.1.%c Bad %s address "
		    "syntax", which[0] == 'S' ? '7' : '3', which);
}

static int
param_error(struct session *s, enum param_err e)
{
	if (e == P_UNKNOWN)
		refuse(s, "unknown parameter",
		    "555 5.5.4 Unsupported parameter");
	else
		refuse(s, "bad parameter", "501 5.5.4 Bad parameter syntax");
	return 0;
}

static int
mail_set_env(struct session *s, const struct addr *a)
{
	struct buf b = BUF_INIT(ENV_ADDR_MAX);
	int r;

	r = addr_format(&b, a) == -1 || buf_cstr(&b) == -1 ||
	    env_set(&s->env.sender, b.len ? b.p : "") == -1 ||
	    env_set(&s->env.envid, s->mp.envid) == -1 ? -1 : 0;
	buf_free(&b);
	s->env.flags = (s->mp.utf8 ? ENV_SMTPUTF8 : 0) |
	    (s->mp.body8 ? ENV_8BITMIME : 0) |
	    (s->mp.requiretls ? ENV_REQUIRETLS : 0);
	s->env.ret = (uint8_t)s->mp.ret;
	return r;
}

static int
verb_mail(struct session *s, const char *a, size_t n)
{
	struct addr ad;
	enum addr_err ae;
	enum param_err pe;
	size_t end;

	if ((s->mode & MODE_SUBMISSION) && s->auth_user == NULL) {
		refuse(s, "auth required", "530 5.7.0 Authentication "
		    "required");
		return 0;
	}
	if (cmd_path(a, n, "FROM:", ADDR_ALLOW_NULL | ADDR_UTF8, &ad, &end,
	    &ae) == -1) {
		path_error(s, ae, "Sender");
		return 0;
	}
	if (!s->esmtp && end < n)
		return param_error(s, P_UNKNOWN);
	if ((pe = mail_params(a + end, n - end, &s->mp)) != P_OK)
		return param_error(s, pe);
	if (s->mp.requiretls && !show_requiretls(s))
		return param_error(s, P_UNKNOWN);	/* not offered here */
	if (!s->mp.utf8 && has_8bit(a, end)) {
		path_error(s, ADDR_8BIT, "Sender");
		return 0;
	}
	if (s->mp.size > s->cfg->max_size) {
		refuse(s, "declared size", "552 5.3.4 Message size exceeds "
		    "fixed limit");
		return 0;
	}
	if (mail_set_env(s, &ad) == -1) {
		reply(s, "451 4.3.0 Out of memory");
		return 0;
	}
	if (!sender_allowed(s, s->env.sender))
		return 0;
	/* the rate limits and the queue connection (worker.c) */
	if (s->mail_rate != NULL && s->mail_rate(s) == -1) {
		refuse(s, "smtpd_msg_rate", "450 4.7.1 Too many messages, "
		    "slow down and try again later");
		return 0;
	}
	if (s->queue_need != NULL && s->queue_need(s) == -1) {
		refuse(s, "queue unavailable", "451 4.3.0 Queue unavailable, "
		    "try again later");
		return 0;
	}
	if (!verify_mail(s))
		return 0;
	if (!milters_mail(s)) {
		xact_reset(s);
		return 0;
	}
	s->state = ST_MAIL;
	reply(s, "250 2.1.0 Ok");
	return 0;
}

/* rcpt_answer - answer a recipient by verdict; 1 when accepted */
static int
rcpt_answer(struct session *s, enum rcpt_verdict v, const char *addr,
    const struct buf *info)
{
	int il = info->len > 256 ? 256 : (int)info->len;

	switch (v) {
	case RV_OK:
		return 1;
	case RV_FORWARD:
		return 1;
	case RV_UNKNOWN:
		refuse(s, "unknown user", "550 5.1.1 <%s>: Recipient address "
		    "rejected: User unknown", addr);
		return 0;
	case RV_MOVED:
		refuse(s, "moved", "551 5.1.6 User not local; please try "
		    "<%.*s>", il, info->p);
		return 0;
	case RV_RELAY:
		refuse(s, "relaying denied", "554 5.7.1 <%s>: Relay access "
		    "denied", addr);
		return 0;
	default:
		reply(s, "451 4.3.0 Temporary lookup failure");
		return 0;
	}
}

/* rcpt_parse - RCPT TO:<path> params into ad/rp; 0, 1 for <postmaster>
 * (always accepted: RFC 5321 4.5.1), or -1 (answered) */
static int
rcpt_parse(struct session *s, const char *a, size_t n, struct addr *ad,
    struct rcptparam *rp)
{
	enum addr_err ae;
	enum param_err pe;
	size_t end;
	unsigned fl = ADDR_POSTMASTER | (s->mp.utf8 ? ADDR_UTF8 : 0);

	if (cmd_path(a, n, "TO:", fl, ad, &end, &ae) == -1) {
		path_error(s, ae, "Recipient");
		return -1;
	}
	if (!s->esmtp && end < n)
		return param_error(s, P_UNKNOWN), -1;
	if ((pe = rcpt_params(a + end, n - end, rp)) != P_OK)
		return param_error(s, pe), -1;
	if (ad->dlen == 0) {	/* <postmaster> (RFC 5321 4.5.1) */
		size_t hl = strlen(s->cfg->hostname);

		if (hl > ADDR_DOMAIN_MAX)
			hl = ADDR_DOMAIN_MAX;
		memcpy(ad->domain, s->cfg->hostname, hl);
		ad->domain[hl] = '\0';
		ad->dlen = hl;
		return 1;
	}
	return 0;
}

static int
verb_rcpt(struct session *s, const char *a, size_t n)
{
	struct addr ad;
	struct rcptparam rp;
	struct buf b = BUF_INIT(ENV_ADDR_MAX);
	enum rcpt_verdict v;
	int r;

	if (s->env.nrcpt >= s->cfg->max_rcpt) {
		reply(s, "452 4.5.3 Too many recipients");
		return 0;
	}
	if ((r = rcpt_parse(s, a, n, &ad, &rp)) == -1)
		return 0;
	if (addr_format(&b, &ad) == -1 || buf_cstr(&b) == -1) {
		buf_free(&b);
		path_error(s, ADDR_TOOLONG, "Recipient");
		return 0;
	}
	v = r == 1 ? RV_OK : rcpt_check(s, &ad, &s->info);
	if (rcpt_answer(s, v, b.p, &s->info) && policyd_rcpt(s, b.p) &&
	    milters_rcpt(s, b.p)) {
		if (env_add_rcpt(&s->env, b.p, (uint8_t)rp.notify,
		    rp.orcpt) == -1)
			reply(s, "452 4.5.3 Too many recipients");
		else {
			policyd_taken();	/* its HOLD now counts */
			if (v == RV_FORWARD && s->cfg->forward_251)
				reply(s, "251 2.1.5 User not local; will "
				    "forward to <%.*s>", (int)(s->info.len >
				    256 ? 256 : s->info.len), s->info.p);
			else
				reply(s, "250 2.1.5 Ok");
		}
		if (s->env.nrcpt > 0)
			s->state = ST_RCPT;
	}
	buf_free(&b);
	return 0;
}

static int
verb_rset(struct session *s, const char *a, size_t n)
{
	(void)a, (void)n;
	xact_reset(s);
	reply(s, "250 2.0.0 Ok");
	return 0;
}

static int
verb_noop(struct session *s, const char *a, size_t n)
{
	(void)a, (void)n;
	reply(s, "250 2.0.0 Ok");
	return 0;
}

static int
verb_quit(struct session *s, const char *a, size_t n)
{
	(void)a, (void)n;
	xact_reset(s);
	reply(s, "221 2.0.0 %s closing connection", s->cfg->hostname);
	s->quit = 1;
	s->why = "quit";
	return 0;
}

/* verb_help - the commands this session may use now: no AUTH where
 * none is offered, no STARTTLS once TLS is on (the EHLO keywords' rules) */
static int
verb_help(struct session *s, const char *a, size_t n)
{
	char b[REPLY_MAX];
	size_t i, len = 0;
	int k;

	(void)a, (void)n;
	b[0] = '\0';
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		if (verbs[i].help == NULL || !verbs[i].help(s))
			continue;
		k = snprintf(b + len, sizeof b - len, " %s", verbs[i].name);
		if (k < 0 || (size_t)k >= sizeof b - len)
			break;
		len += (size_t)k;
	}
	reply(s, "214-2.0.0 Commands:%s", b);
	reply(s, "214 2.0.0 See RFC 5321");
	return 0;
}

/* vrfy_addr - VRFY's argument, "<a@b>", "a@b" or a bare user name */
static int
vrfy_addr(struct session *s, const char *a, size_t n, struct addr *ad)
{
	size_t used;

	if (n > 0 && a[0] == '<')
		return addr_parse_path(a, n, 0, ad, &used) == ADDR_OK &&
		    used == n && !ad->null ? 0 : -1;
	if (memchr(a, '@', n) != NULL)
		return addr_parse_mailbox(a, n, 0, ad) == ADDR_OK ? 0 : -1;
	if (n == 0 || n > ADDR_LOCAL_MAX ||
	    strlen(s->cfg->hostname) > ADDR_DOMAIN_MAX)
		return -1;
	memset(ad, 0, sizeof *ad);
	memcpy(ad->local, a, n);
	ad->llen = n;
	ad->dlen = strlen(s->cfg->hostname);
	memcpy(ad->domain, s->cfg->hostname, ad->dlen + 1);
	return memchr(a, '\0', n) == NULL ? 0 : -1;
}

static int
verb_vrfy(struct session *s, const char *a, size_t n)
{
	struct addr ad;
	struct buf b = BUF_INIT(ENV_ADDR_MAX);

	if (n == 0) {
		reply(s, "501 5.5.4 Syntax: VRFY address");
		return 0;
	}
	if (!s->cfg->vrfy_real || !may_relay(s)) {
		reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
		    "and attempt delivery");
		return 0;
	}
	if (vrfy_addr(s, a, n, &ad) == -1 || addr_format(&b, &ad) == -1 ||
	    buf_cstr(&b) == -1) {
		reply(s, "501 5.1.3 Bad address syntax");
		buf_free(&b);
		return 0;
	}
	if (rcpt_answer(s, rcpt_check(s, &ad, &s->info), b.p, &s->info))
		reply(s, "250 2.1.5 <%s>", b.p);
	buf_free(&b);
	return 0;
}

static int
verb_expn(struct session *s, const char *a, size_t n)
{
	struct addr ad;
	size_t i, j;
	int r;

	if (!s->cfg->expn_real || !may_relay(s)) {
		reply(s, "502 5.5.1 EXPN not available");
		return 0;
	}
	if (n == 0 || vrfy_addr(s, a, n, &ad) == -1) {
		reply(s, "501 5.5.4 Syntax: EXPN address");
		return 0;
	}
	if ((r = rcpt_alias(s, &ad, &s->scratch)) != 1) {
		reply(s, r == 0 ? "550 5.1.1 No such list" :
		    "451 4.3.0 Temporary lookup failure");
		return 0;
	}
	for (i = 0; i < s->scratch.len; i = j + 1) {
		for (j = i; j < s->scratch.len && s->scratch.p[j] != ','; j++)
			;
		while (i < j && s->scratch.p[i] == ' ')
			i++;
		reply(s, "250%c2.1.5 <%.*s>", j >= s->scratch.len ? ' ' : '-',
		    (int)(j - i > 256 ? 256 : j - i), s->scratch.p + i);
	}
	return 0;
}

/* verb_etrn - RFC 1985: run the queue for a domain, relay clients only */
static int
verb_etrn(struct session *s, const char *a, size_t n)
{
	char d[ADDR_DOMAIN_MAX + 1];

	if (n > 0 && a[0] == '@')
		a++, n--;
	if (n == 0 || n > ADDR_DOMAIN_MAX || a[0] == '#' ||
	    domain_check(a, n, 0) != ADDR_OK) {
		reply(s, "501 5.5.4 Syntax: ETRN domain");
		return 0;
	}
	memcpy(d, a, n);
	d[n] = '\0';
	if (!may_relay(s)) {
		refuse(s, "etrn not allowed", "458 4.7.1 Unable to queue "
		    "messages for node %s", d);
		return 0;
	}
	if (!s->qc_ok || (s->queue_need != NULL && s->queue_need(s) == -1) ||
	    qc_flush(s->qc, d) != QC_OK) {
		reply(s, "458 4.3.0 Unable to queue messages for node %s", d);
		return 0;
	}
	log_kv("etrn", "ip", s->ip, "domain", d, NULL);
	reply(s, "250 2.0.0 Queuing for node %s started", d);
	return 0;
}

static const struct verb *
verb_find(const char *w, size_t wl)
{
	size_t i;

	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strlen(verbs[i].name) == wl &&
		    strncasecmp(verbs[i].name, w, wl) == 0)
			return &verbs[i];
	return NULL;
}

/* dispatch - one command line (CRLF removed) */
static int
dispatch(struct session *s, const char *p, size_t n)
{
	const struct verb *v;
	size_t wl, i;

	s->stage = "command";
	if (memchr(p, '\0', n) != NULL || memchr(p, '\r', n) != NULL) {
		refuse(s, "bad character", "500 5.5.2 Invalid character in "
		    "command");
		return 0;
	}
	for (wl = 0; wl < n && p[wl] != ' '; wl++)
		;
	for (i = wl; i < n && p[i] == ' '; i++)
		;
	while (n > i && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	s->ncmd++;
	if ((v = verb_find(p, wl)) != NULL)
		s->stage = v->name;
	else {
		refuse(s, "unknown command", "500 5.5.2 Command unrecognized");
		return 0;
	}
	if (!(v->legal & IN(s->state))) {
		refuse(s, "bad sequence", "503 5.5.1 Bad sequence of "
		    "commands: %s", seq_hint[s->state]);
		return 0;
	}
	return v->f(s, p + i, n - i);
}

/* cmd_deadline - a command line must come whole within smtpd_timeout of
 * our asking for it; between BDAT chunks the text's rule goes on too */
static void
cmd_deadline(struct session *s)
{
	long long at = io_now_ms() + s->cfg->timeout_ms, d;

	if (s->state == ST_BDAT && (d = data_deadline(s)) >= 0 && d < at)
		at = d;
	read_deadline(s, at);
}

/* read_timeout - answer a read cut by a deadline: the session limit, the
 * text's rate (data.c), or the time for one command line */
static void
read_timeout(struct session *s)
{
	long long d;

	if (past_deadline(s)) {
		reply(s, "421 4.4.2 %s Session time limit exceeded",
		    s->cfg->hostname);
		s->why = "session limit";
	} else if (s->state == ST_BDAT && (d = data_deadline(s)) >= 0 &&
	    io_now_ms() >= d) {
		reply(s, "421 4.4.2 %s Timeout: message data too slow, "
		    "closing", s->cfg->hostname);
		s->why = "data too slow";
	} else {
		reply(s, "421 4.4.2 %s Timeout exceeded waiting for a "
		    "complete command line, closing", s->cfg->hostname);
		s->why = s->line.len > 0 ? "slow command" : "timeout";
	}
}

/* read_cmd - the next command line: 1 got one, 0 go on, -1 end */
static int
read_cmd(struct session *s)
{
	int r;

	io_timeouts(s, s->cfg->timeout_ms);
	if (rd_pending(&s->in) == 0 && wr_flush(&s->out) == -1)
		return s->why = "write error", -1;
	if (past_deadline(s)) {
		reply(s, "421 4.4.2 %s Session time limit exceeded",
		    s->cfg->hostname);
		s->why = "session limit";
		return -1;
	}
	io_timeouts(s, s->cfg->timeout_ms);
	cmd_deadline(s);
	errno = 0;
	if ((r = rd_line(&s->in, &s->line, s->cfg->line_max)) == 1) {
		s->line.len--;			/* LF */
		if (s->line.len > 0 && s->line.p[s->line.len - 1] == '\r')
			s->line.len--;
		return 1;
	}
	if (r == 0)
		return -1;			/* EOF between commands */
	if (errno == E2BIG) {
		refuse(s, "line too long", "500 5.5.6 Line too long");
		return 0;
	}
	if (errno == ETIMEDOUT)
		read_timeout(s);
	else if (errno != 0 && errno != EPROTO)
		s->why = "read error";
	return -1;
}

/* early_talker - bytes before the greeting: a spammer's shortcut, and
 * what a smuggler's pipelining looks like (RFC 5321 4.3.1).  1 spoke
 * early, 0 quiet, -1 already gone (EOF) */
static int
early_talker(struct session *s)
{
	struct pollfd p = { .fd = s->in.fd, .events = POLLIN };

	if (s->tls != NULL || poll(&p, 1, s->cfg->greet_delay_ms) <= 0)
		return 0;
	return rd_fill(&s->in) > 0 ? 1 : -1;
}

static void
log_end(struct session *s)
{
	struct logln l;

	log_start(&l, "disconnect");
	log_s(&l, "ip", s->ip);
	log_s(&l, "port", s->port);
	log_s(&l, "reason", s->why);
	log_u(&l, "msgs", s->nmsg);
	log_u(&l, "rcpts", s->nrcpt);
	log_u(&l, "refused", s->nrej);
	log_u(&l, "errors", s->nerr);
	log_u(&l, "cmds", s->ncmd);
	log_done(&l);
}

static int
greet(struct session *s)
{
	/* a local user's piped script (sendmail -bs) writes ahead */
	int e = (s->mode & MODE_LOCAL) ? 0 : early_talker(s);

	if (e == -1)
		return -1;	/* why: "eof" */
	if (e == 1) {
		refuse(s, "early talker", "554 5.5.0 %s protocol violation: "
		    "client spoke before the greeting", s->cfg->hostname);
		s->why = "early talker";
		return -1;
	}
	if (!s->qc_ok) {
		reply(s, "421 4.3.0 %s Service not available: %s",
		    s->cfg->hostname, "queue unavailable");
		s->why = "no queue";
		return -1;
	}
	if (!dnsbl_connect(s)) {
		s->why = "dnsbl";
		return -1;
	}
	if (!milters_connect(s)) {
		s->why = "milter";
		return -1;
	}
	reply(s, "220 %s ESMTP sandmail", s->cfg->hostname);
	return 0;
}

/* session_run - the whole session; 0 when it ended normally */
int
session_run(struct session *s)
{
	int r;

	if ((s->mode & MODE_TLS) && tls_start(s) == -1)
		s->quit = 1;
	else if (greet(s) == 0) {
		while (!s->quit) {
			if ((r = read_cmd(s)) == -1)
				break;
			if (r == 1 && dispatch(s, s->line.p, s->line.len) == -1)
				break;
			if (s->nerr >= s->cfg->max_errors) {
				reply(s, "421 4.7.0 %s Too many errors, "
				    "closing", s->cfg->hostname);
				s->why = "too many errors";
				break;
			}
		}
	}
	if (s->quit && s->ending != NULL)
		s->ending(s);
	(void)wr_flush(&s->out);
	xact_reset(s);
	milters_end(s);
	log_end(s);
	return 0;
}
