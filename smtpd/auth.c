/* auth: STARTTLS (RFC 3207), implicit TLS (RFC 8314) and AUTH (RFC 4954,
 * PLAIN of RFC 4616 and LOGIN) for a session, and the sender restriction
 * of an authenticated client (RFC 6409 6.1).  Runs sandboxed: the server
 * context was made before the sandbox, so a handshake reads and writes
 * the socket only, and a password check is a record to the one
 * sandmail-auth service over a connection the listener made for the
 * session at its first AUTH (lib/authc.h).  smtpd never sees a hash.
 *
 * The STARTTLS injection (CVE-2011-0411): bytes a client sent after
 * STARTTLS, before the handshake, were never encrypted; they are thrown
 * away, and the plain-text buffer is empty when TLS starts, so nothing
 * read before the handshake is ever answered inside it. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sodium.h>

#include "listen.h"
#include "log.h"
#include "smtpd.h"

#define LOGIN_PROMPT	"334 VXNlcm5hbWU6"	/* "Username:" */
#define PASS_PROMPT	"334 UGFzc3dvcmQ6"	/* "Password:" */
#define SASL_MAX	(3 * AUTH_FIELD_MAX)	/* PLAIN's three fields */

/* auth_offered - AUTH may be used now: it is on for this listener, and
 * the link is TLS (or loopback, if allowed) */
int
auth_offered(const struct session *s)
{
	/* no connection to sandmail-auth (fd -1) still offers AUTH: its
	 * checks answer 454, a temporary failure, rather than hide AUTH from
	 * a submitter */
	if (s->ac == NULL)
		return 0;
	if (!(s->mode & MODE_SUBMISSION) && !s->cfg->auth)
		return 0;
	return s->tls != NULL || (s->cfg->auth_plain_lo && listen_is_loopback(s->ip));
}

/* quick_ack - ACK the client's Finished now.  A client with Nagle on
 * holds its first command until that ACK, which our kernel would delay
 * (40 ms) since we have nothing to send.  Not a socket (a test's pipe):
 * harmless failure. */
static void
quick_ack(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

/* tls_start - the server handshake on the client socket, then the
 * session's reads and writes go through it; 0, or -1 (the session ends) */
int
tls_start(struct session *s)
{
	char err[256], nb[32];
	size_t left;

	if (wr_flush(&s->out) == -1)
		return s->why = "write error", -1;
	if ((left = rd_pending(&s->in)) > 0) {
		snprintf(nb, sizeof nb, "%zu", left);
		log_kv("refuse", "ip", s->ip, "reason",
		    "bytes pipelined before the tls handshake", "discarded",
		    nb, NULL);
		rd_discard(&s->in);
	}
	io_timeouts(s, s->cfg->timeout_ms);
	/* the handshake's reads are tls_accept's, not under s->dl: a
	 * silence bound the session's reads have (s->dl.idle, worker.c) is
	 * kept up to the client's first handshake bytes (a read of none).
	 * Its deadline is the handshake's own, not what is left of the
	 * STARTTLS line's (a client slow to send that line would otherwise
	 * get only the rest of it for its first handshake bytes). */
	if (s->dl.idle != NULL)
		read_deadline(s, io_now_ms() + s->cfg->timeout_ms);
	if (s->dl.idle != NULL &&
	    io_read_dl(s->in.fd, NULL, 0, &s->dl) != 0) {
		log_kv("tls_fail", "ip", s->ip, "err", "no handshake", NULL);
		s->why = "tls handshake failed";
		return -1;
	}
	if (tls_accept(&s->tlsc, s->ctx, s->in.fd, s->tlsc.timeout_ms, err,
	    sizeof err) == -1) {
		log_kv("tls_fail", "ip", s->ip, "err", err, NULL);
		s->why = "tls handshake failed";
		return -1;
	}
	if (rd_pending(&s->in) != 0 || s->out.len != 0) {
		/* cannot happen: both emptied above; never go on if so */
		tls_abort(&s->tlsc);
		return s->why = "plain bytes at tls start", -1;
	}
	quick_ack(s->in.fd);
	s->tls = &s->tlsc;
	s->dl.op = tls_read_op;		/* under s->in's deadline op */
	s->dl.ctx = &s->tlsc;
	s->dl.wait = &s->tlsc.timeout_ms;
	s->out.op = tls_write_op;
	s->out.ctx = &s->tlsc;
	alarm_tls();
	log_kv("tls", "ip", s->ip, "version", tls_version(&s->tlsc),
	    "cipher", tls_cipher(&s->tlsc), NULL);
	return 0;
}

static void
forget_auth(struct session *s)
{
	if (s->auth_user != NULL)
		sodium_memzero(s->auth_user, strlen(s->auth_user));
	free(s->auth_user);
	s->auth_user = NULL;
}

/* verb_starttls - RFC 3207: 220, the handshake, then back to the start:
 * the EHLO name, any AUTH and the transaction are forgotten (4.2) */
int
verb_starttls(struct session *s, const char *a, size_t n)
{
	(void)a;
	if (n != 0) {
		reply(s, "501 5.5.4 Syntax: STARTTLS");
		return 0;
	}
	if (s->tls != NULL) {
		reply(s, "503 5.5.1 TLS already active");
		return 0;
	}
	if (s->ctx == NULL) {
		reply(s, "454 4.7.0 TLS not available");
		return 0;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	if (tls_start(s) == -1)
		return -1;
	xact_reset(s);
	forget_auth(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->state = ST_GREET;
	return 0;
}

/* sasl_line - a client's SASL answer to a prompt, base64-decoded into
 * out: 0, 1 answered (cancelled or bad), -1 the session ends */
static int
sasl_line(struct session *s, const char *prompt, struct buf *out,
    size_t max)
{
	int r;

	reply(s, "%s", prompt);
	io_timeouts(s, s->cfg->timeout_ms);
	if (wr_flush(&s->out) == -1)
		return s->why = "write error", -1;
	/* an answer is a line like a command: smtpd_timeout for all of it */
	read_deadline(s, io_now_ms() + s->cfg->timeout_ms);
	errno = 0;
	r = rd_line(&s->in, &s->line, s->cfg->line_max);
	if (r == 0 || (r == -1 && errno != E2BIG)) {
		s->why = r == 0 ? "eof in auth" : "read error in auth";
		return -1;
	}
	if (r == -1) {
		reply(s, "500 5.5.6 Line too long");
		return 1;
	}
	s->line.len--;
	if (s->line.len > 0 && s->line.p[s->line.len - 1] == '\r')
		s->line.len--;
	if (s->line.len == 1 && s->line.p[0] == '*') {
		reply(s, "501 5.0.0 Authentication cancelled");
		return 1;
	}
	r = auth_b64_decode(s->line.p, s->line.len, out, max);
	sodium_memzero(s->line.p, s->line.len);
	if (r == -1) {
		reply(s, "501 5.5.2 Cannot decode response");
		return 1;
	}
	return 0;
}

/* initial - an initial response (RFC 4954 4) decoded into out, or the
 * prompt's answer when there is none; as sasl_line */
static int
initial(struct session *s, const char *ir, size_t irl, const char *prompt,
    struct buf *out, size_t max)
{
	if (irl == 0)
		return sasl_line(s, prompt, out, max);
	if (auth_b64_decode(ir, irl, out, max) == -1) {
		reply(s, "501 5.5.2 Cannot decode response");
		return 1;
	}
	return 0;
}

/* check - ask sandmail-auth; 0 answered, -1 the session ends */
static int
check(struct session *s, const char *mech, const char *login, size_t ll,
    const char *pass, size_t pl)
{
	char canon[AUTH_LOGIN_MAX + 1];
	enum auth_status st;

	/* under the listener, the connection is asked for now (worker.c) */
	if (s->auth_need != NULL)
		(void)s->auth_need(s);
	st = auth_check(s->ac, "smtp", login, ll, pass, pl, s->ip, canon,
	    sizeof canon);
	switch (st) {
	case AUTH_OK:
		if ((s->auth_user = strdup(canon)) == NULL) {
			reply(s, "454 4.7.0 Temporary authentication failure");
			return 0;
		}
		log_kv("auth", "ip", s->ip, "mech", mech, "user", canon, NULL);
		reply(s, "235 2.7.0 Authentication successful");
		if (s->authed != NULL)
			s->authed(s);
		return 0;
	case AUTH_BAD:
		refuse(s, "auth failed", "535 5.7.8 Authentication "
		    "credentials invalid");
		return 0;
	case AUTH_DISCONNECT:
		refuse(s, "auth failures", "421 4.7.0 %s Too many "
		    "authentication failures, closing", s->cfg->hostname);
		s->why = "auth failures";
		return -1;
	default:
		log_kv("error", "op", "auth", "ip", s->ip, "err",
		    "sandmail-auth unavailable", NULL);
		reply(s, "454 4.7.0 Temporary authentication failure");
		return 0;
	}
}

static int
auth_plain_mech(struct session *s, const char *ir, size_t irl,
    struct buf *m)
{
	struct auth_plain ap;
	int r;

	if ((r = initial(s, ir, irl, "334 ", m, SASL_MAX)) != 0)
		return r == 1 ? 0 : -1;
	if (auth_plain(&ap, m->p, m->len) == -1) {
		if (errno == EPERM)
			refuse(s, "authzid", "535 5.7.8 Authentication "
			    "credentials invalid");
		else
			reply(s, "501 5.5.2 Bad PLAIN response");
		return 0;
	}
	return check(s, "PLAIN", ap.authcid, ap.clen, ap.passwd, ap.plen);
}

static int
auth_login_mech(struct session *s, const char *ir, size_t irl,
    struct buf *u, struct buf *p)
{
	int r;

	if ((r = initial(s, ir, irl, LOGIN_PROMPT, u, AUTH_LOGIN_MAX)) != 0 ||
	    (r = sasl_line(s, PASS_PROMPT, p, AUTH_FIELD_MAX)) != 0)
		return r == 1 ? 0 : -1;
	return check(s, "LOGIN", u->p, u->len, p->p, p->len);
}

/* verb_auth - AUTH mechanism [initial-response] */
int
verb_auth(struct session *s, const char *a, size_t n)
{
	struct buf u = BUF_INIT(SASL_MAX), p = BUF_INIT(AUTH_FIELD_MAX);
	size_t ml, i;
	int r;

	if (s->auth_user != NULL) {
		reply(s, "503 5.5.1 Already authenticated");
		return 0;
	}
	if (!auth_offered(s)) {
		if (s->ctx != NULL && s->tls == NULL && s->ac != NULL)
			refuse(s, "auth before tls", "538 5.7.11 Encryption "
			    "required for requested authentication mechanism");
		else
			reply(s, "502 5.5.1 AUTH not available");
		return 0;
	}
	for (ml = 0; ml < n && a[ml] != ' '; ml++)
		;
	for (i = ml; i < n && a[i] == ' '; i++)
		;
	if (ml == 5 && strncasecmp(a, "PLAIN", 5) == 0)
		r = auth_plain_mech(s, a + i, n - i, &u);
	else if (ml == 5 && strncasecmp(a, "LOGIN", 5) == 0)
		r = auth_login_mech(s, a + i, n - i, &u, &p);
	else {
		reply(s, "504 5.5.4 Unrecognized authentication type");
		r = 0;
	}
	if (u.p != NULL)
		sodium_memzero(u.p, u.cap);
	if (p.p != NULL)
		sodium_memzero(p.p, p.cap);
	buf_free(&u);
	buf_free(&p);
	return r;
}

/* senders_match - the senders entry v (comma-separated addresses and
 * @domains) lists sender, case-insensitively; 1 or 0 */
int
senders_match(const char *v, size_t vl, const char *sender)
{
	const char *at = strrchr(sender, '@');
	size_t sl = strlen(sender), i = 0, j, k;

	while (i < vl) {
		for (j = i; j < vl && v[j] != ','; j++)
			;
		for (k = j; k > i && (v[k - 1] == ' ' || v[k - 1] == '\t');)
			k--;
		while (i < k && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (k - i == sl && sl > 0 && strncasecmp(v + i, sender, sl) == 0)
			return 1;
		if (k > i && v[i] == '@' && at != NULL &&
		    k - i == strlen(at) && strncasecmp(v + i, at, k - i) == 0)
			return 1;
		i = j + 1;
	}
	return 0;
}

/* sender_allowed - an authenticated sender may use only the addresses
 * the senders table gives its login (smtpd_sender_restrict; on by
 * default in submission mode); 1, or 0 answered */
int
sender_allowed(struct session *s, const char *sender)
{
	int on = s->cfg->sender_restrict >= 0 ? s->cfg->sender_restrict :
	    (s->mode & MODE_SUBMISSION) != 0;
	struct buf key = BUF_INIT(TBL_KEY_MAX);
	int r;

	if (!on || s->auth_user == NULL)
		return 1;
	r = tbl_lower(&key, s->auth_user, strlen(s->auth_user)) == -1 ? -1 :
	    tbl_get(&s->tabs->t[T_SENDERS], key.p, key.len, &s->scratch);
	buf_free(&key);
	if (r == -1) {
		reply(s, "451 4.3.0 Temporary lookup failure");
		return 0;
	}
	if (r == 1 && senders_match(s->scratch.p, s->scratch.len, sender))
		return 1;
	refuse(s, "sender not owned", "553 5.7.1 <%s>: Sender address "
	    "rejected: not owned by user %s", sender, s->auth_user);
	return 0;
}
