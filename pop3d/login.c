/* login: the login process of one POP3 connection.  Runs as user_pop3d,
 * sandboxed (sbx_base + TLS_SBX_RULES: no files, no network but its fds)
 * before it reads a byte.  Speaks the AUTHORIZATION state (RFC 1939 4,
 * CAPA of RFC 2449, STLS of RFC 2595, AUTH PLAIN of RFC 5034) and hands
 * credentials to the monitor, which alone talks to sandmail-auth.  After
 * a good login it relays bytes between the client (TLS or not) and the
 * mailbox process, which answers every later command. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "authc.h"
#include "exitcode.h"
#include "log.h"
#include "pop3d.h"
#include "rec.h"
#include "tls.h"

#define MAX_ERRORS	20	/* bad commands before we hang up */

struct login {
	struct login_env *e;
	struct io_dl	 dl;		/* rd's op: a deadline per line */
	struct rd	 rd;		/* from the client */
	struct wr	 wr;		/* to the client */
	struct rd	 mrd;		/* from the monitor */
	struct wr	 mwr;		/* to the monitor */
	struct tlsconn	 tls;
	int		 tls_on;
	char		 user[AUTH_FIELD_MAX + 1];
	size_t		 ulen;		/* 0: no USER yet */
	unsigned	 errors;
};

static int
say(struct login *l, const char *s)
{
	if (wr_puts(&l->wr, s) == -1 || wr_put(&l->wr, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/* line_deadline - pop3_timeout for one whole command line (RFC 1939 3's
 * autologout timer), not for each read: a byte a second is no command */
static void
line_deadline(struct login *l)
{
	l->dl.deadline = io_now_ms() + l->e->cfg->timeout_ms;
}

static int
login_allowed(const struct login *l)
{
	return l->tls_on || (l->e->cfg->plain_loopback && l->e->peer->loopback);
}

static int
capa(struct login *l)
{
	if (say(l, "+OK Capability list follows") == -1 ||
	    say(l, "TOP") == -1 || say(l, "UIDL") == -1 ||
	    say(l, "RESP-CODES") == -1 || say(l, "PIPELINING") == -1 ||
	    say(l, "AUTH-RESP-CODE") == -1)
		return -1;
	if (l->e->tls != NULL && !l->tls_on && say(l, "STLS") == -1)
		return -1;
	if (login_allowed(l) && (say(l, "USER") == -1 ||
	    say(l, "SASL PLAIN") == -1))
		return -1;
	return say(l, "IMPLEMENTATION sandmail") == -1 ? -1 : say(l, ".");
}

static void
set_tls_ops(struct login *l)
{
	l->dl = (struct io_dl){ tls_read_op, &l->tls, &l->tls.timeout_ms,
	    -1 };
	rd_init(&l->rd, l->e->in, io_read_dl, &l->dl);
	wr_init(&l->wr, l->e->out, tls_write_op, &l->tls);
	l->tls_on = 1;
}

/* start_tls: the handshake on the client fd; -1 means hang up */
static int
start_tls(struct login *l)
{
	char err[256];

	if (tls_accept(&l->tls, l->e->tls, l->e->in, l->e->cfg->timeout_ms,
	    err, sizeof err) == -1) {
		log_kv("tls_fail", "ip", l->e->peer->ip, "err", err, NULL);
		return -1;
	}
	set_tls_ops(l);
	log_kv("tls", "ip", l->e->peer->ip, "version", tls_version(&l->tls),
	    "cipher", tls_cipher(&l->tls), NULL);
	return 0;
}

static int
stls(struct login *l)
{
	if (l->tls_on)
		return say(l, "-ERR already under TLS");
	if (l->e->tls == NULL)
		return say(l, "-ERR TLS not available");
	if (say(l, "+OK Begin TLS negotiation") == -1 ||
	    wr_flush(&l->wr) == -1)
		return -1;
	/* Bytes a client pipelined after STLS were sent in the clear and
	 * must not be read as if they came through TLS (CVE-2011-0411). */
	if (rd_pending(&l->rd) > 0)
		log_kv("tls_injection", "ip", l->e->peer->ip, "action",
		    "discarded", NULL);
	rd_discard(&l->rd);
	l->ulen = 0;
	return start_tls(l);
}

/* relay: after login, client <-> mailbox process until either ends */
static int
relay(struct login *l)
{
	struct pollfd p[2];
	char b[16384];
	ssize_t n;
	int k;

	/* the mailbox process times each command line now: the relay
	 * only watches for a client idle pop3_timeout */
	l->dl.deadline = -1;
	/* what the mailbox process sent along with its OK record (read
	 * into our buffer with it) goes to the client first ... */
	if (rd_pending(&l->mrd) > 0) {
		if (wr_put(&l->wr, l->mrd.b + l->mrd.pos, rd_pending(&l->mrd))
		    == -1 || wr_flush(&l->wr) == -1)
			return EXIT_OK;
		rd_discard(&l->mrd);
	}
	/* ... and what the client pipelined after its PASS to it */
	if (rd_pending(&l->rd) > 0) {
		if (wr_put(&l->mwr, l->rd.b + l->rd.pos, rd_pending(&l->rd))
		    == -1 || wr_flush(&l->mwr) == -1)
			return EXIT_OK;
		rd_discard(&l->rd);
	}
	for (;;) {
		p[0].fd = l->e->in, p[0].events = POLLIN, p[0].revents = 0;
		p[1].fd = l->e->mon, p[1].events = POLLIN, p[1].revents = 0;
		if (!(l->tls_on && SSL_pending(l->tls.ssl) > 0)) {
			k = poll(p, 2, l->e->cfg->timeout_ms);
			if (k == 0) {
				log_kv("timeout", "ip", l->e->peer->ip, NULL);
				(void)say(l, "-ERR autologout: idle too long");
				(void)wr_flush(&l->wr);
				return EXIT_OK;
			}
			if (k == -1) {
				if (errno == EINTR)
					continue;
				return EXIT_TEMP;
			}
		} else
			p[0].revents = POLLIN;
		if (p[1].revents) {
			n = read(l->e->mon, b, sizeof b);
			if (n <= 0)
				break;	/* the mailbox process is done */
			if (wr_put(&l->wr, b, (size_t)n) == -1 ||
			    wr_flush(&l->wr) == -1)
				return EXIT_OK;
		}
		if (p[0].revents) {
			if ((k = rd_fill(&l->rd)) <= 0)
				return EXIT_OK;	/* the client went away */
			if (wr_put(&l->mwr, l->rd.b + l->rd.pos,
			    rd_pending(&l->rd)) == -1 ||
			    wr_flush(&l->mwr) == -1)
				return EXIT_OK;
			rd_discard(&l->rd);
		}
	}
	(void)wr_flush(&l->wr);
	return EXIT_OK;
}

/* check: the monitor's verdict on login/pass; 1 logged in (relay now),
 * 0 refused (answered), -1 hang up */
static int
check(struct login *l, const char *mech, const char *login, size_t llen,
    const char *pass, size_t plen)
{
	struct buf rec = BUF_INIT(ML_REC_MAX);
	const char *t;
	size_t tn;
	uint8_t st;
	struct cur c;
	int r = -1;

	if (pk_u8(&rec, ML_LOGIN) == -1 || pk_cstr(&rec, mech) == -1 ||
	    pk_str(&rec, login, llen) == -1 || pk_str(&rec, pass, plen) == -1 ||
	    rec_write(&l->mwr, rec.p, rec.len) == -1 ||
	    wr_flush(&l->mwr) == -1)
		goto out;
	sodium_memzero(rec.p, rec.cap);
	sodium_memzero(l->mwr.b, sizeof l->mwr.b);
	if (rec_read(&l->mrd, &rec, ML_REC_MAX) != 1)
		goto out;
	cur_init(&c, rec.p, rec.len);
	if (cur_u8(&c, &st) == -1 || cur_str(&c, &t, &tn) == -1 ||
	    cur_end(&c) != 0)
		goto out;
	switch (st) {
	case ML_OK:
		r = 1;
		break;
	case ML_BAD:
		r = say(l, "-ERR [AUTH] Authentication failed") == -1 ? -1 : 0;
		break;
	case ML_TEMP:
		r = say(l, "-ERR [SYS/TEMP] Temporary authentication failure, "
		    "try again later") == -1 ? -1 : 0;
		break;
	case ML_DISCONNECT:
		(void)say(l, "-ERR [AUTH] Too many authentication failures");
		r = -1;
		break;
	}
out:
	if (rec.p != NULL)
		sodium_memzero(rec.p, rec.cap);
	buf_free(&rec);
	l->ulen = 0;
	if (r == -1)
		(void)wr_flush(&l->wr);
	return r;
}

static const char no_plain[] =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure "
    "connections: use STLS first";

static int
user(struct login *l, const struct pop3_cmd *c)
{
	if (!login_allowed(l))
		return say(l, no_plain) == -1 ? -1 : 0;
	if (c->alen > AUTH_LOGIN_MAX)
		return say(l, "-ERR [AUTH] name too long") == -1 ? -1 : 0;
	memcpy(l->user, c->arg, c->alen);
	l->ulen = c->alen;
	return say(l, "+OK") == -1 ? -1 : 0;
}

static int
pass(struct login *l, const struct pop3_cmd *c)
{
	if (!login_allowed(l))
		return say(l, no_plain) == -1 ? -1 : 0;
	if (l->ulen == 0)
		return say(l, "-ERR USER first") == -1 ? -1 : 0;
	return check(l, "USER", l->user, l->ulen, c->arg, c->alen);
}

/* auth_cmd: AUTH (RFC 5034), PLAIN only */
static int
auth_cmd(struct login *l, const struct pop3_cmd *c, struct buf *line)
{
	struct buf dec = BUF_INIT(AUTH_FIELD_MAX);
	struct auth_plain ap;
	const char *ir;
	size_t irn, n;
	int r;

	if (c->alen == 0) {	/* the mechanism list, as Dovecot gives it */
		if (say(l, "+OK") == -1 ||
		    (login_allowed(l) && say(l, "PLAIN") == -1))
			return -1;
		return say(l, ".") == -1 ? -1 : 0;
	}
	if (!login_allowed(l))
		return say(l, no_plain) == -1 ? -1 : 0;
	/* the argument is not NUL-terminated: bounded search */
	ir = memchr(c->arg, ' ', c->alen);
	n = ir ? (size_t)(ir - c->arg) : c->alen;
	if (n != 5 || strncasecmp(c->arg, "PLAIN", 5) != 0)
		return say(l, "-ERR unsupported authentication mechanism") ==
		    -1 ? -1 : 0;
	if (n < c->alen) {
		ir = c->arg + n + 1;
		irn = c->alen - n - 1;
	} else {
		if (say(l, "+ ") == -1 || wr_flush(&l->wr) == -1)
			return -1;
		line_deadline(l);
		if ((r = rd_line(&l->rd, line, POP3_LINE_MAX)) != 1)
			return r == -1 && errno == E2BIG ?
			    (say(l, "-ERR line too long") == -1 ? -1 : 0) : -1;
		ir = line->p;
		irn = pop3_chomp(line->p, line->len);
	}
	if (irn == 1 && ir[0] == '*')
		return say(l, "-ERR AUTH cancelled") == -1 ? -1 : 0;
	if (auth_b64_decode(ir, irn, &dec, AUTH_FIELD_MAX) == -1 ||
	    auth_plain(&ap, dec.p ? dec.p : "", dec.len) == -1) {
		buf_free(&dec);
		return say(l, "-ERR [AUTH] invalid PLAIN response") == -1 ?
		    -1 : 0;
	}
	r = check(l, "PLAIN", ap.authcid, ap.clen, ap.passwd, ap.plen);
	sodium_memzero(dec.p, dec.cap);
	buf_free(&dec);
	return r;
}

/* command: one line in the AUTHORIZATION state; 1 logged in, 0 go on,
 * -1 hang up */
static int
command(struct login *l, struct buf *line)
{
	struct pop3_cmd c;
	enum pop3_perr e = pop3_parse(line->p, line->len, &c);

	if (e != PE_OK || c.verb == V_UNKNOWN) {
		if (++l->errors > MAX_ERRORS) {
			(void)say(l, "-ERR too many errors");
			return -1;
		}
		return say(l, e == PE_SYNTAX ? "-ERR syntax error" :
		    "-ERR unknown command") == -1 ? -1 : 0;
	}
	switch (c.verb) {
	case V_CAPA:
		return capa(l) == -1 ? -1 : 0;
	case V_STLS:
		return stls(l) == -1 ? -1 : 0;
	case V_USER:
		return user(l, &c);
	case V_PASS:
		return pass(l, &c);
	case V_AUTH:
		return auth_cmd(l, &c, line);
	case V_QUIT:
		(void)say(l, "+OK sandmail POP3 server signing off");
		return -1;
	case V_APOP:
		return say(l, "-ERR APOP not supported") == -1 ? -1 : 0;
	default:
		if (++l->errors > MAX_ERRORS) {
			(void)say(l, "-ERR too many errors");
			return -1;
		}
		return say(l, "-ERR log in first") == -1 ? -1 : 0;
	}
}

static int
serve(struct login *l)
{
	struct buf line = BUF_INIT(POP3_LINE_MAX);
	int k;

	for (;;) {
		if (rd_pending(&l->rd) == 0 && wr_flush(&l->wr) == -1)
			break;
		line_deadline(l);
		k = rd_line(&l->rd, &line, POP3_LINE_MAX);
		if (k == -1 && errno == ETIMEDOUT) {
			/* RFC 1939 3: close without a reply */
			log_kv("timeout", "ip", l->e->peer->ip, NULL);
			break;
		}
		if (k == -1 && errno == E2BIG) {
			if (say(l, "-ERR line too long") == -1)
				break;
			continue;
		}
		if (k != 1)
			break;
		k = command(l, &line);
		sodium_memzero(line.p, line.cap);	/* PASS, AUTH */
		if (k == 1) {
			buf_free(&line);
			return relay(l);
		}
		if (k == -1)
			break;
	}
	(void)wr_flush(&l->wr);
	buf_free(&line);
	return EXIT_OK;
}

/* login_run - the login process (see pop3d.h) */
int
login_run(struct login_env *e)
{
	struct login *l;
	int r;

	if ((l = calloc(1, sizeof *l)) == NULL)
		return EXIT_TEMP;
	l->e = e;
	l->dl = (struct io_dl){ io_read_fd, &l->rd.timeout_ms,
	    &l->rd.timeout_ms, -1 };
	rd_init(&l->rd, e->in, io_read_dl, &l->dl);
	wr_init(&l->wr, e->out, NULL, NULL);
	l->rd.timeout_ms = l->wr.timeout_ms = e->cfg->timeout_ms;
	rd_init(&l->mrd, e->mon, NULL, NULL);
	wr_init(&l->mwr, e->mon, NULL, NULL);
	l->mwr.timeout_ms = e->cfg->timeout_ms;
	if (e->cfg->implicit_tls && start_tls(l) == -1)
		return EXIT_OK;
	if (say(l, "+OK sandmail POP3 server ready") == -1)
		return EXIT_OK;
	r = serve(l);
	if (l->tls_on)
		tls_close(&l->tls);
	free(l);
	return r;
}
