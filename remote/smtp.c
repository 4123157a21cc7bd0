/* smtp: the SMTP client of sandmail-rspawn's workers (RFC 5321).
 *
 * Runs sandboxed: it may connect, read and write sockets, and read the
 * message from the descriptor it was handed.  Everything the server says
 * is bounded by reply.c; what we send comes from send's job, checked for
 * CR and LF before it goes on a command line. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "dane.h"
#include "env.h"
#include "log.h"
#include "mime7.h"
#include "rtls.h"
#include "smtp.h"
#include "uconn.h"
#ifdef REMOTE_TLS
#include "tls.h"
#endif

#define MSG_MAX		(1024ULL * 1024 * 1024)	/* conversion ceiling */
#define CMD_MAX		2048

enum rst { R_PENDING, R_ACCEPTED, R_DONE };

struct tx {
	const struct smtp_cfg	*cfg;
	const struct rjob	*job;
	int			 msgfd;
	struct rres		*res;
	uint8_t			*st;
	char			 last[JOB_TEXT_MAX];	/* for pending ones */
	int			 scanned, has8, haslong;
	int			 conv;		/* 1 done, -1 failed */
	unsigned		 conv_mode;	/* MIME7_* of body */
	int			 pol;		/* enum smtp_tls: the job's */
	int			 hpol;		/* the host's (dane.h) */
	int			 rtls;		/* REQUIRETLS (RFC 8689) */
	int			 sts_testing;	/* MTA-STS testing (smtp.h) */
	int			 conv_same;	/* the conversion changed nothing */
	const char		*conv_why;
	struct buf		 body;		/* the 7-bit version */
	struct buf		 msg;		/* the message, for conversion */
};

/* smtp_conn_init - no connection yet */
void
smtp_conn_init(struct smtp_conn *c)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->tlsv = "none";
}

/* smtp_param_ok - xtext and addresses: printable ASCII, no space */
int
smtp_param_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

static int
addr_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n' || *s == '<' || *s == '>')
			return 0;
	return 1;
}

static void
settime(struct smtp_conn *c, int ms)
{
	c->rd.timeout_ms = c->wr.timeout_ms = ms;
#ifdef REMOTE_TLS
	if (c->tls)
		((struct tlsconn *)c->tlsc)->timeout_ms = ms;
#endif
}

static void
conn_close(struct smtp_conn *c)
{
#ifdef REMOTE_TLS
	if (c->tls) {
		tls_close(c->tlsc);
		free(c->tlsc);
	}
#endif
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->tls = 0;
	c->tlsc = NULL;
	c->tlsv = "none";
}

static int
cmd(struct smtp_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* a command into the write buffer (flushed by get() or explicitly) */
static int
cmd(struct smtp_conn *c, const char *fmt, ...)
{
	char line[CMD_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line - 2)
		return errno = E2BIG, -1;
	line[n++] = '\r';
	line[n++] = '\n';
	return wr_put(&c->wr, line, (size_t)n);
}

static int
get(struct smtp_conn *c, int ms, struct reply *r)
{
	settime(c, ms);
	if (c->wr.len > 0 && wr_flush(&c->wr) == -1)
		return -1;
	return reply_read(&c->rd, r);
}

/* the text of a result: "host[addr] said: 550 5.1.1 ..." */
static void
said(struct tx *t, const struct smtp_conn *c, const struct reply *r,
    char *out, size_t outsz)
{
	char one[REPLY_TEXT_MAX + 8];

	(void)t;
	reply_oneline(r, one, sizeof one);
	snprintf(out, outsz, "%s said: %s", c->mta, one);
}

static void
trouble(struct tx *t, const struct smtp_conn *c, const char *stage)
{
	/* RFC 3463 X.4.2: bad connection */
	snprintf(t->last, sizeof t->last, "4.4.2 lost connection with %s %s: "
	    "%s", c->mta, stage, errno == EPROTO ? "not an SMTP reply" :
	    strerror(errno));
}

static void
result(struct tx *t, uint32_t i, uint8_t status, const char *text)
{
	free(t->res->rcpt[i].text);
	t->res->rcpt[i].status = status;
	t->res->rcpt[i].text = strdup(text);
	if (t->res->rcpt[i].text == NULL)
		die_temp("result", "memory");
	t->st[i] = R_DONE;
}

/* every recipient not yet done gets status and text */
static void
result_all(struct tx *t, uint8_t status, const char *text)
{
	for (uint32_t i = 0; i < t->job->nrcpt; i++)
		if (t->st[i] != R_DONE)
			result(t, i, status, text);
}

static int
pending(const struct tx *t)
{
	for (uint32_t i = 0; i < t->job->nrcpt; i++)
		if (t->st[i] != R_DONE)
			return 1;
	return 0;
}

/* --- connecting --- */

static int
tcp_connect(const char *addr, uint16_t port, int ms)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	struct pollfd p;
	socklen_t len, el = sizeof(int);
	int fd, err = 0, r, one = 1;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		len = sizeof *v4;
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		len = sizeof *v6;
	} else
		return errno = EINVAL, -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		do
			r = poll(&p, 1, ms);
		while (r == -1 && errno == EINTR);
		if (r == 0)
			errno = ETIMEDOUT;
		if (r <= 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
			goto fail;
		if (err != 0) {
			errno = err;
			goto fail;
		}
	}
	/* blocking from here; every read and write polls with its timeout */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1)
		goto fail;
	/* No Nagle: each write is whole already (the pipelined commands,
	 * 16 KiB of the message, its end).  With Nagle the end of a message,
	 * a segment under the MSS sent while an earlier one is unacknowledged,
	 * waits for the server's delayed ACK (40 ms on Linux) before the
	 * server can answer: every message.  A failure only costs that. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int
lmtp(const struct tx *t)
{
	return t->job->proto == PROTO_LMTP;
}

/* EHLO, or LHLO for LMTP (RFC 2033 4.1: no HELO to fall back to) */
static int
ehlo(struct tx *t, struct smtp_conn *c)
{
	struct reply r;

	if (cmd(c, "%s %s", lmtp(t) ? "LHLO" : "EHLO", t->cfg->helo) == -1 ||
	    get(c, t->cfg->t_cmd, &r) == -1)
		return trouble(t, c, lmtp(t) ? "after LHLO" : "after EHLO"),
		    -1;
	if (r.code / 100 == 2) {
		ehlo_parse(&r, &c->ehlo);
		return 0;
	}
	memset(&c->ehlo, 0, sizeof c->ehlo);
	if (r.code / 100 == 5 && !lmtp(t)) {
		if (cmd(c, "HELO %s", t->cfg->helo) == -1 ||
		    get(c, t->cfg->t_cmd, &r) == -1)
			return trouble(t, c, "after HELO"), -1;
		if (r.code / 100 == 2)
			return 0;
	}
	said(t, c, &r, t->last, sizeof t->last);
	return -1;
}

/* smtp_tls_policy - see smtp.h */
int
smtp_tls_policy(const char *s)
{
	static const char *const name[] = { "none", "may", "encrypt",
	    "verify", "dane", "dane-only" };

	for (int i = 0; s != NULL && i < 6; i++)
		if (strcmp(s, name[i]) == 0)
			return i;
	return -1;
}

/* smtp_job_tls - see smtp.h */
int
smtp_job_tls(const char *s)
{
	if (s != NULL && strcmp(s, "mta-sts") == 0)
		return TLS_STS;
	if (s != NULL && strcmp(s, "mta-sts-testing") == 0)
		return TLS_STS_TESTING;
	return smtp_tls_policy(s);
}

static int
tls_required(const struct tx *t)
{
	return t->hpol == TLS_ENCRYPT || t->hpol == TLS_VERIFY ||
	    t->hpol == TLS_DANE_MATCH;
}

/* MTA-STS testing (RFC 8461 5): what would have deferred the delivery
 * under enforce is logged and kept for the TLS report, and the delivery
 * goes on */
static void
sts_testing_fail(struct tx *t, struct smtp_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
sts_testing_fail(struct tx *t, struct smtp_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->tlsfail, sizeof c->tlsfail, fmt, ap);
	va_end(ap);
	log_kv("mta-sts", "id", t->job->qid, "mx", c->host, "mode", "testing",
	    "result", "would fail under enforce: delivered all the same",
	    "why", c->tlsfail, NULL);
}

#ifdef REMOTE_TLS
/* the handshake under the host's policy: TLSA records, PKIX, or none */
static int
tls_handshake(struct tx *t, struct smtp_conn *c, struct tlsconn *tc,
    const struct route_host *h, char *err, size_t errsz)
{
	struct tlsa recs[JOB_TLSA_MAX];
	const char *alt[2], *at, *base;
	int n;

	if (t->hpol != TLS_DANE_MATCH)
		return tls_connect(tc, t->cfg->tls_ctx, c->fd, c->host,
		    t->hpol == TLS_VERIFY ? TLS_ENFORCE : t->sts_testing ?
		    TLS_CHECK : 0, t->cfg->t_cmd, err, errsz);
	if ((n = dane_records(h, recs, JOB_TLSA_MAX)) == -1) {
		snprintf(err, errsz, "bad TLSA record in the job");
		return -1;
	}
	/* RFC 7672 3.2.2, a DANE-TA certificate's name: the TLSA base
	 * domain (the expanded name when the records came from it; also
	 * the SNI, RFC 7672 8.1), the MX host name, and, for a host of the
	 * recipients' own secure MX set, their domain (the next hop) */
	base = h->tlsa_name != NULL && h->tlsa_name[0] != '\0' ?
	    h->tlsa_name : c->host;
	alt[0] = c->host;
	alt[1] = h->mx == MX_SECURE && t->job->nrcpt > 0 &&
	    (at = strrchr(t->job->rcpt[0].addr, '@')) != NULL ? at + 1 : NULL;
	return tls_connect_dane(tc, t->cfg->tls_ctx, c->fd, base, alt, 2,
	    recs, (size_t)n, t->cfg->t_cmd, err, errsz);
}

static int
starttls(struct tx *t, struct smtp_conn *c, const struct route_host *h)
{
	struct reply r;
	struct tlsconn *tc;
	char err[256];

	if (cmd(c, "STARTTLS") == -1 || get(c, t->cfg->t_cmd, &r) == -1)
		return trouble(t, c, "after STARTTLS"), -1;
	if (r.code != 220) {
		said(t, c, &r, t->last, sizeof t->last);
		return -1;
	}
	rd_discard(&c->rd);	/* nothing sent before TLS counts */
	if ((tc = calloc(1, sizeof *tc)) == NULL)
		die_temp("tls", "memory");
	if (tls_handshake(t, c, tc, h, err, sizeof err) == -1) {
		free(tc);
		/* RFC 3463 X.7.5: cryptographic failure */
		snprintf(t->last, sizeof t->last, "4.7.5 TLS with %s failed: "
		    "%s", c->mta, err);
		if (t->sts_testing && !tls_required(t))
			sts_testing_fail(t, c, "%s", t->last);
		return -1;
	}
	c->tls = 1;
	c->tlsc = tc;
	c->tlsv = t->hpol == TLS_DANE_MATCH ? "dane-verified" :
	    t->hpol == TLS_VERIFY ? "verified" : "unverified";
	if (t->sts_testing && t->hpol != TLS_DANE_MATCH &&
	    t->hpol != TLS_VERIFY) {
		if (tls_verified(tc, err, sizeof err) == 0)
			c->tlsv = "verified";
		else
			sts_testing_fail(t, c, "4.7.5 TLS with %s failed: %s",
			    c->mta, err);
	}
	rd_init(&c->rd, c->fd, tls_read_op, tc);
	wr_init(&c->wr, c->fd, tls_write_op, tc);
	log_kv("tls", "id", t->job->qid, "mta", c->mta, "version",
	    tls_version(tc), "cipher", tls_cipher(tc), "verify", c->tlsv,
	    NULL);
	return ehlo(t, c);
}
#endif

/* STARTTLS when offered (or required); 0 go on, -1 fail, 1 try again
 * on a new connection without TLS (policy "may", handshake failed) */
static int
maybe_tls(struct tx *t, struct smtp_conn *c, const struct route_host *h,
    int notls)
{
	if (t->hpol == TLS_NONE || notls)
		return 0;
	if (!(c->ehlo.ext & EXT_STARTTLS) || t->cfg->tls_ctx == NULL) {
		if (t->sts_testing && t->cfg->tls_ctx != NULL &&
		    t->hpol != TLS_DANE_MATCH)
			sts_testing_fail(t, c, "4.7.4 TLS is required for this "
			    "domain but the server does not offer STARTTLS");
		if (!tls_required(t))
			return 0;
		/* RFC 3463 X.7.4: security features not supported */
		snprintf(t->last, sizeof t->last, "4.7.4 TLS is required for "
		    "%s but %s", t->hpol == TLS_DANE_MATCH ? "this host (DANE "
		    "TLSA records)" : "this domain", t->cfg->tls_ctx == NULL ?
		    "this system has no TLS client" :
		    "the server does not offer STARTTLS");
		return -1;
	}
#ifdef REMOTE_TLS
	if (starttls(t, c, h) == -1)
		return tls_required(t) ? -1 : 1;
	return 0;
#else
	(void)h;
	return 0;
#endif
}

static int
b64(char *out, size_t outsz, const void *p, size_t n)
{
	if (sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) >
	    outsz)
		return -1;
	sodium_bin2base64(out, outsz, p, n, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

static int
auth_step(struct tx *t, struct smtp_conn *c, const char *line, int want)
{
	struct reply r;

	if (wr_puts(&c->wr, line) == -1 || wr_put(&c->wr, "\r\n", 2) == -1 ||
	    get(c, t->cfg->t_cmd, &r) == -1)
		return trouble(t, c, "during AUTH"), -1;
	if (r.code != want) {
		said(t, c, &r, t->last, sizeof t->last);
		return -1;
	}
	return 0;
}

/* smart host AUTH PLAIN (RFC 4616) or LOGIN; only over verified TLS
 * (tx_init refused the job's credentials under any other policy, so a
 * session here is verified once TLS is up) */
static int
auth(struct tx *t, struct smtp_conn *c)
{
	const struct rjob *j = t->job;
	char raw[1100], enc[1600], line[1700];
	size_t ul = strlen(j->auth_user), pl = strlen(j->auth_pass);
	int r;

	if (j->auth_user == NULL || j->auth_user[0] == '\0')
		return 0;
	if (!c->tls || t->pol != TLS_VERIFY) {
		snprintf(t->last, sizeof t->last, "4.7.0 will not send "
		    "credentials to %s without verified TLS", c->mta);
		return -1;
	}
	if (ul + pl + 2 > sizeof raw)
		return snprintf(t->last, sizeof t->last, "4.7.0 credentials "
		    "too long"), -1;
	if (c->ehlo.ext & EXT_AUTH_PLAIN) {
		raw[0] = '\0';
		memcpy(raw + 1, j->auth_user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, j->auth_pass, pl);
		r = b64(enc, sizeof enc, raw, ul + pl + 2);
		snprintf(line, sizeof line, "AUTH PLAIN %s", enc);
		sodium_memzero(raw, sizeof raw);
		r = r == -1 ? -1 : auth_step(t, c, line, 235);
	} else if (c->ehlo.ext & EXT_AUTH_LOGIN) {
		r = auth_step(t, c, "AUTH LOGIN", 334);
		if (r == 0 && b64(enc, sizeof enc, j->auth_user, ul) == 0)
			r = auth_step(t, c, enc, 334);
		if (r == 0 && b64(enc, sizeof enc, j->auth_pass, pl) == 0)
			r = auth_step(t, c, enc, 235);
	} else {
		snprintf(t->last, sizeof t->last, "4.7.0 %s offers no AUTH "
		    "PLAIN or LOGIN", c->mta);
		r = -1;
	}
	sodium_memzero(enc, sizeof enc);
	sodium_memzero(line, sizeof line);
	return r;
}

/* REQUIRETLS (RFC 8689 4.2.1): a host that cannot give verified TLS is
 * not to have the message, and when no host can the sender learns it by
 * a bounce, 5.7.30: the TLS failure (4.7.x) of this host becomes one */
static void
rtls_refuse(struct tx *t)
{
	char why[JOB_TEXT_MAX];
	const char *sp;

	if (!t->rtls || strncmp(t->last, "4.7.", 4) != 0 ||
	    (sp = strchr(t->last, ' ')) == NULL)
		return;		/* the network's fault: try again later */
	snprintf(why, sizeof why, "5.7.30 REQUIRETLS: %s", sp + 1);
	memcpy(t->last, why, strlen(why) + 1);
}

/* the next hop must offer REQUIRETLS itself (after TLS) */
static int
rtls_offered(struct tx *t, struct smtp_conn *c)
{
	if (!t->rtls || (c->ehlo.ext & EXT_REQUIRETLS))
		return 0;
	snprintf(t->last, sizeof t->last, "4.7.30 %s does not offer "
	    "REQUIRETLS", c->mta);
	return -1;
}

/* REQUIRETLS (RFC 8689 4.2.1, first item): the host must come from a
 * DNSSEC-secure MX lookup or be listed by an MTA-STS policy in enforce
 * mode (send gives such jobs tls "mta-sts" and only the listed hosts);
 * a host the routes table names is the administrator's choice.  A
 * recipient's address literal never will do: 4.2.1 has the certificate
 * match the MX host's name, or the domain's, as a DNS-ID or CN-ID (RFC
 * 6125, which has no IP identities), and a literal has neither; nor is
 * there a lookup DNSSEC or MTA-STS could vouch for */
static int
rtls_mx(struct tx *t, const struct route_host *h)
{
	if (t->rtls && h->mx == MX_LITERAL) {
		snprintf(t->last, sizeof t->last, "4.7.30 [%s] is an address "
		    "literal: no host name to authenticate its certificate "
		    "by", h->name);
		return -1;
	}
	if (!t->rtls || h->mx == MX_SECURE || h->mx == MX_ROUTE ||
	    t->pol == TLS_STS)
		return 0;
	snprintf(t->last, sizeof t->last, "4.7.30 MX host %s was not found "
	    "by a DNSSEC-secure MX lookup and no MTA-STS policy in enforce "
	    "mode lists it", h->name);
	return -1;
}

/* connect, greeting, EHLO, STARTTLS, AUTH: 0 ready, -1 (t->last says
 * why), 1 retry without TLS */
static int
session(struct tx *t, struct smtp_conn *c, const struct route_host *h,
    const char *addr, int notls)
{
	uint16_t port = h->port ? h->port : t->cfg->port;
	struct route_host dh;
	struct reply r;
	int k;

	conn_close(c);
	if (!notls)	/* (the retry in clear keeps why TLS failed) */
		c->tlsfail[0] = '\0';
	if (rtls_mx(t, h) == -1)
		return rtls_refuse(t), -1;
	/* DANE first: a host it rules out is not even connected to.  The
	 * TLSA records resolve found are those of mx_port: a route to
	 * another port has none that count */
	dh = *h;
	if (h->port != 0 && h->port != t->cfg->port)
		dh.dane = DANE_NONE, dh.ntlsa = 0;
	if (t->pol == TLS_STS) {
		/* DANE wins where both exist (RFC 8461 2) */
		t->hpol = dane_sts_policy(t->cfg->default_tls, &dh, t->last,
		    sizeof t->last);
		if (t->hpol == TLS_DANE_MATCH)
			log_kv("mta-sts", "id", t->job->qid, "mx", h->name,
			    "result", "DANE-secure TLSA records: DANE "
			    "instead of the policy's PKIX check", NULL);
	} else
		t->hpol = dane_host_policy(t->pol, &dh, t->last,
		    sizeof t->last);
	if (t->hpol == -1)
		return rtls_refuse(t), -1;
	/* REQUIRETLS: verified TLS, by TLSA records or else by the CA file
	 * and the host name (RFC 8689 4.2.1) */
	if (t->rtls && t->hpol != TLS_DANE_MATCH)
		t->hpol = TLS_VERIFY;
	snprintf(c->host, sizeof c->host, "%s", h->name);
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	snprintf(c->mta, sizeof c->mta, "%s[%s]", h->name, addr);
	c->port = port;
	if (lmtp(t) && strncmp(addr, "unix:", 5) == 0) {
		char why[400];

		/* LMTP to a local socket: the connector opens it */
		snprintf(c->mta, sizeof c->mta, "%s", addr);
		c->port = 0;
		if ((c->fd = uconn_connect(t->cfg->uconn, addr + 5,
		    t->cfg->t_connect, why, sizeof why)) == -1) {
			snprintf(t->last, sizeof t->last, "4.4.1 %s", why);
			return -1;
		}
	} else if ((c->fd = tcp_connect(addr, port, t->cfg->t_connect)) ==
	    -1) {
		/* X.4.1: no answer from host */
		snprintf(t->last, sizeof t->last, "4.4.1 connect to %s:%u: %s",
		    c->mta, port, strerror(errno));
		return -1;
	}
	rd_init(&c->rd, c->fd, NULL, NULL);
	wr_init(&c->wr, c->fd, NULL, NULL);
	if (get(c, t->cfg->t_greet, &r) == -1)
		return trouble(t, c, "while receiving the greeting"), -1;
	if (r.code != 220) {
		said(t, c, &r, t->last, sizeof t->last);
		smtp_quit(t->cfg, c);
		return -1;
	}
	if (ehlo(t, c) == -1 || (k = maybe_tls(t, c, h, notls)) == -1 ||
	    (k == 0 && rtls_offered(t, c) == -1) ||
	    (k == 0 && auth(t, c) == -1)) {
		rtls_refuse(t);
		smtp_quit(t->cfg, c);
		return -1;
	}
	if (k == 1)
		conn_close(c);
	return k;
}

/* --- the message --- */

/* scan - 8-bit bytes and lines too long for SMTP, once per job (in
 * chunks as large as data_send's: a 100 KiB message in 2 reads, not 7) */
static int
scan(struct tx *t)
{
	char b[65536];
	ssize_t n;
	size_t col = 0;
	off_t off = 0;

	if (t->scanned)
		return 0;
	while ((!t->has8 || !t->haslong) &&
	    (n = pread(t->msgfd, b, sizeof b, off)) > 0) {
		if (!t->has8 && mime7_has8bit(b, (size_t)n))
			t->has8 = 1;
		if (!t->haslong && mime7_haslong(b, (size_t)n, &col))
			t->haslong = 1;
		off += n;
	}
	if (n < 0)
		return -1;
	t->scanned = 1;
	return 0;
}

static int
load(struct tx *t)
{
	char b[65536];
	ssize_t n;

	off_t off = 0;

	buf_init(&t->msg, MSG_MAX);
	while ((n = pread(t->msgfd, b, sizeof b, off)) > 0) {
		if (buf_put(&t->msg, b, (size_t)n) == -1)
			return -1;
		off += n;
	}
	return n < 0 ? -1 : 0;
}

/* 8-bit data for a server without 8BITMIME, long lines for any: convert
 * once per job and mode (hosts of one route may differ in 8BITMIME) */
static int
downgrade(struct tx *t, unsigned mode)
{
	if (t->conv != 0 && t->conv_mode == mode)
		return t->conv;
	buf_free(&t->body);
	buf_init(&t->body, MSG_MAX);
	t->conv_mode = mode;
	if (load(t) == -1) {
		buf_free(&t->msg);
		t->conv_why = "cannot read the message";
		return t->conv = -1;
	}
	t->conv = mime7_reencode(t->msg.p ? t->msg.p : "", t->msg.len, mode,
	    &t->body, &t->conv_why) == 0 ? 1 : -1;
	/* 7-bit text declared BODY=8BITMIME comes out the same: its DKIM
	 * signatures still hold */
	t->conv_same = t->conv == 1 && t->body.len == t->msg.len &&
	    (t->msg.len == 0 || memcmp(t->body.p, t->msg.p, t->msg.len) == 0);
	buf_free(&t->msg);
	return t->conv;
}

/* Where the data stands between chunks. */
struct dstate {
	size_t	col;		/* octets of this line so far */
	int	hdr;		/* still in the header section */
};

/* LF -> CRLF and dot-stuffing (RFC 5321 4.5.2) of one chunk.  No line
 * goes out longer than MIME7_LINE_MAX octets (RFC 5321 4.5.3.1.6): what
 * mime7_reencode could not re-encode is broken as Postfix's
 * smtp_line_length_limit does, with CRLF SPACE in the header section (a
 * folded field) and CRLF in the body. */
static int
data_chunk(struct smtp_conn *c, const char *p, size_t n, struct dstate *d)
{
	size_t i = 0, k, room;

	while (i < n) {
		if (d->col == 0 && p[i] == '\n')
			d->hdr = 0;	/* the blank line ends the headers */
		if (d->col == 0 && p[i] == '.' && wr_put(&c->wr, ".", 1) == -1)
			return -1;
		const char *nl = memchr(p + i, '\n', n - i);

		k = nl ? (size_t)(nl - (p + i)) : n - i;
		room = MIME7_LINE_MAX - d->col;
		if (k > room) {
			/* the line is too long: send what fits, then break */
			if (wr_put(&c->wr, p + i, room) == -1 ||
			    wr_put(&c->wr, d->hdr ? "\r\n " : "\r\n",
			    d->hdr ? 3 : 2) == -1)
				return -1;
			i += room;
			d->col = d->hdr ? 1 : 0;
			continue;
		}
		if (wr_put(&c->wr, p + i, k) == -1)
			return -1;
		i += k;
		d->col += k;
		if (nl != NULL) {
			if (wr_put(&c->wr, "\r\n", 2) == -1)
				return -1;
			i++;
			d->col = 0;
		}
	}
	return 0;
}

static int
data_send(struct tx *t, struct smtp_conn *c)
{
	char b[65536];
	ssize_t n;
	struct dstate d = { 0, 1 };

	settime(c, t->cfg->t_data_block);
	/* send's DKIM-Signature fields cover the message as queued: they
	 * go first, except when the message goes out changed (a 7-bit or
	 * long-line re-encoding, or long lines broken), which they would
	 * not cover (the signature would fail: better none, as
	 * doc/design.md says) */
	if (!t->haslong && (t->conv != 1 || t->conv_same) &&
	    t->job->dkim != NULL && t->job->dkim[0] != '\0' &&
	    data_chunk(c, t->job->dkim, strlen(t->job->dkim), &d) == -1)
		return -1;
	if (t->conv == 1) {
		if (data_chunk(c, t->body.p, t->body.len, &d) == -1)
			return -1;
	} else {
		/* pread: the descriptor's offset may be shared with others */
		off_t off = 0;

		while ((n = pread(t->msgfd, b, sizeof b, off)) > 0) {
			if (data_chunk(c, b, (size_t)n, &d) == -1)
				return -1;
			off += n;
		}
		if (n < 0)
			return -1;
	}
	if (d.col > 0 && wr_put(&c->wr, "\r\n", 2) == -1)
		return -1;
	return wr_put(&c->wr, ".\r\n", 3);
}

/* --- one transaction --- */

/* checks that need no command: 0 go on, -1 every recipient is done */
static int
precheck(struct tx *t, struct smtp_conn *c, int *body8)
{
	const struct rjob *j = t->job;
	char text[JOB_TEXT_MAX];
	int need8 = (j->flags & (ENV_8BITMIME | ENV_BINARY)) != 0;
	unsigned mode = 0;

	*body8 = 0;
	if ((j->flags & ENV_SMTPUTF8) && !(c->ehlo.ext & EXT_SMTPUTF8)) {
		/* RFC 6531 3.5 / RFC 3463 X.6.7 */
		snprintf(text, sizeof text, "5.6.7 %s does not support "
		    "SMTPUTF8 (RFC 6531), which this message needs", c->mta);
		return result_all(t, ST_PERM, text), -1;
	}
	if ((c->ehlo.ext & EXT_SIZE) && c->ehlo.size > 0 &&
	    j->size > c->ehlo.size) {
		snprintf(text, sizeof text, "5.3.4 message size %llu exceeds "
		    "the limit of %llu bytes of %s",
		    (unsigned long long)j->size,
		    (unsigned long long)c->ehlo.size, c->mta);
		return result_all(t, ST_PERM, text), -1;
	}
	if (scan(t) == -1) {
		snprintf(t->last, sizeof t->last, "4.3.0 cannot read the "
		    "message: %s", strerror(errno));
		return result_all(t, ST_TEMP, t->last), -1;
	}
	if (c->ehlo.ext & EXT_8BITMIME)
		*body8 = need8;
	else if (need8 || t->has8)
		mode |= MIME7_8BIT;
	if (t->haslong)
		mode |= MIME7_LONG;
	t->conv = t->conv_mode == mode ? t->conv : 0;
	if (mode == 0)
		return 0;
	if (downgrade(t, mode) == -1 && mode == MIME7_LONG) {
		/* long lines alone never bounce: data_chunk breaks them */
		t->conv = 0;
		return 0;
	}
	if (t->conv == -1) {
		snprintf(text, sizeof text, "5.6.3 %s does not support "
		    "8BITMIME and the message cannot be converted: %s", c->mta,
		    t->conv_why ? t->conv_why : "error");
		return result_all(t, ST_PERM, text), -1;
	}
	return 0;
}

static int
mail_cmd(struct tx *t, struct smtp_conn *c, int body8)
{
	const struct rjob *j = t->job;
	char p[1400];
	size_t o = 0;

	p[0] = '\0';
#define ADD(...) do {							\
	int n_ = snprintf(p + o, sizeof p - o, __VA_ARGS__);		\
	if (n_ < 0 || (size_t)n_ >= sizeof p - o)			\
		return errno = E2BIG, -1;				\
	o += (size_t)n_;						\
} while (0)
	if (c->ehlo.ext & EXT_SIZE)
		ADD(" SIZE=%llu", (unsigned long long)j->size +
		    (j->dkim != NULL ? strlen(j->dkim) : 0));
	if (body8)
		ADD(" BODY=8BITMIME");
	if (j->flags & ENV_SMTPUTF8)
		ADD(" SMTPUTF8");
	if (t->rtls)
		ADD(" REQUIRETLS");
	if (c->ehlo.ext & EXT_DSN) {
		if (j->ret == RET_FULL || j->ret == RET_HDRS)
			ADD(" RET=%s", j->ret == RET_FULL ? "FULL" : "HDRS");
		if (j->envid[0] != '\0' && smtp_param_ok(j->envid))
			ADD(" ENVID=%s", j->envid);
	}
#undef ADD
	return cmd(c, "MAIL FROM:<%s>%s", j->sender, p);
}

static int
rcpt_cmd(struct tx *t, struct smtp_conn *c, uint32_t i)
{
	const struct rjob_rcpt *r = &t->job->rcpt[i];
	char p[1200] = "", nt[40] = "";
	int n = 0;

	if ((c->ehlo.ext & EXT_DSN) && r->notify != 0) {
		if (r->notify & NOTIFY_NEVER)
			snprintf(nt, sizeof nt, "NEVER");
		else
			snprintf(nt, sizeof nt, "%s%s%s",
			    r->notify & NOTIFY_SUCCESS ? "SUCCESS," : "",
			    r->notify & NOTIFY_FAILURE ? "FAILURE," : "",
			    r->notify & NOTIFY_DELAY ? "DELAY," : "");
		if (nt[0] != '\0' && nt[strlen(nt) - 1] == ',')
			nt[strlen(nt) - 1] = '\0';
		n = snprintf(p, sizeof p, " NOTIFY=%s", nt);
	}
	if ((c->ehlo.ext & EXT_DSN) && r->orcpt[0] != '\0' &&
	    smtp_param_ok(r->orcpt) && n >= 0 && (size_t)n < sizeof p)
		snprintf(p + n, sizeof p - (size_t)n, " ORCPT=%s", r->orcpt);
	return cmd(c, "RCPT TO:<%s>%s", r->addr, p);
}

/* replies to a RCPT: 2xx accepted, 5xx done, 4xx left for the next host */
static void
rcpt_reply(struct tx *t, struct smtp_conn *c, uint32_t i,
    const struct reply *r)
{
	char text[JOB_TEXT_MAX];

	said(t, c, r, text, sizeof text);
	if (r->code / 100 == 2)
		t->st[i] = R_ACCEPTED;
	else if (r->code / 100 == 5)
		result(t, i, ST_PERM, text);
	else if (lmtp(t))
		result(t, i, ST_TEMP, text);	/* one host: no next to try */
	else
		memcpy(t->last, text, strlen(text) + 1);
}

static void
unaccept(struct tx *t)
{
	for (uint32_t i = 0; i < t->job->nrcpt; i++)
		if (t->st[i] == R_ACCEPTED)
			t->st[i] = R_PENDING;
}

static int
accepted(const struct tx *t)
{
	int n = 0;

	for (uint32_t i = 0; i < t->job->nrcpt; i++)
		n += t->st[i] == R_ACCEPTED;
	return n;
}

static int
rset(struct tx *t, struct smtp_conn *c)
{
	struct reply r;

	if (cmd(c, "RSET") == -1 || get(c, t->cfg->t_cmd, &r) == -1 ||
	    r.code / 100 != 2) {
		conn_close(c);
		return -1;
	}
	return 0;
}

/* the status of a recipient whose delivery a server accepted */
static uint8_t
ok_status(const struct tx *t, const struct smtp_conn *c, uint32_t i)
{
	/* NOTIFY went with the recipient (rcpt_cmd): the next hop now owns
	 * the DSN request (RFC 3461 5.2.2) */
	return (c->ehlo.ext & EXT_DSN) && t->job->rcpt[i].notify != 0 ?
	    ST_PASSED : ST_OK;
}

/* LMTP after the end of data: one reply per accepted recipient, in the
 * order of their RCPT commands (RFC 2033 4.2), each that recipient's
 * own result.  A connection lost half way leaves the recipients not yet
 * answered pending (a later try may deliver them twice, never lose). */
static int
lmtp_replies(struct tx *t, struct smtp_conn *c)
{
	struct reply r;
	char text[JOB_TEXT_MAX];

	for (uint32_t i = 0; i < t->job->nrcpt; i++) {
		if (t->st[i] != R_ACCEPTED)
			continue;
		if (get(c, t->cfg->t_data_done, &r) == -1)
			return trouble(t, c, "after the end of data"),
			    unaccept(t), conn_close(c), -1;
		said(t, c, &r, text, sizeof text);
		result(t, i, r.code / 100 == 2 ? ok_status(t, c, i) :
		    r.code / 100 == 5 ? ST_PERM : ST_TEMP, text);
	}
	return 0;
}

/* after 354: the data and the final reply */
static int
data_phase(struct tx *t, struct smtp_conn *c)
{
	struct reply r;
	char text[JOB_TEXT_MAX];

	if (data_send(t, c) == -1)
		return trouble(t, c, "while sending the message"), unaccept(t),
		    conn_close(c), -1;
	if (lmtp(t))
		return lmtp_replies(t, c);
	if (get(c, t->cfg->t_data_done, &r) == -1)
		return trouble(t, c, "after the end of data"), unaccept(t),
		    conn_close(c), -1;
	said(t, c, &r, text, sizeof text);
	for (uint32_t i = 0; i < t->job->nrcpt; i++) {
		if (t->st[i] != R_ACCEPTED)
			continue;
		if (r.code / 100 == 2)
			result(t, i, ok_status(t, c, i), text);
		else if (r.code / 100 == 5)
			result(t, i, ST_PERM, text);
		else
			t->st[i] = R_PENDING;
	}
	if (r.code / 100 == 4)
		memcpy(t->last, text, strlen(text) + 1);
	return 0;
}

/* MAIL, RCPT..., DATA; pipelined when the server offers it (RFC 2920).
 * 0: the connection is in a clean state; -1: it is closed. */
static int
transaction(struct tx *t, struct smtp_conn *c)
{
	const struct rjob *j = t->job;
	int pipe = (c->ehlo.ext & EXT_PIPELINING) != 0, body8;
	struct reply r, mr;
	char text[JOB_TEXT_MAX];
	uint32_t i;

	r.code = mr.code = 0;
	if (precheck(t, c, &body8) == -1)
		return 0;
	if (mail_cmd(t, c, body8) == -1 ||
	    (!pipe && get(c, t->cfg->t_cmd, &mr) == -1))
		return trouble(t, c, "after MAIL FROM"), conn_close(c), -1;
	for (i = 0; i < j->nrcpt; i++) {
		if (t->st[i] != R_PENDING)
			continue;
		if (!pipe && mr.code / 100 != 2)
			break;
		if (rcpt_cmd(t, c, i) == -1 ||
		    (!pipe && get(c, t->cfg->t_cmd, &r) == -1))
			return trouble(t, c, "after RCPT TO"), unaccept(t),
			    conn_close(c), -1;
		if (!pipe)
			rcpt_reply(t, c, i, &r);
	}
	if (pipe) {
		if (cmd(c, "DATA") == -1 || get(c, t->cfg->t_cmd, &mr) == -1)
			return trouble(t, c, "after MAIL FROM"), conn_close(c),
			    -1;
		for (i = 0; i < j->nrcpt; i++) {
			if (t->st[i] != R_PENDING)
				continue;
			if (get(c, t->cfg->t_cmd, &r) == -1)
				return trouble(t, c, "after RCPT TO"),
				    unaccept(t), conn_close(c), -1;
			if (mr.code / 100 == 2)
				rcpt_reply(t, c, i, &r);
		}
		if (get(c, t->cfg->t_data_init, &r) == -1)
			return trouble(t, c, "after DATA"), unaccept(t),
			    conn_close(c), -1;
	}
	if (mr.code / 100 != 2) {
		said(t, c, &mr, text, sizeof text);
		if (mr.code / 100 == 5)
			result_all(t, ST_PERM, text);
		else
			memcpy(t->last, text, strlen(text) + 1);
		unaccept(t);
		if (pipe && r.code == 354 &&
		    (cmd(c, ".") == -1 || get(c, t->cfg->t_data_done, &r) == -1))
			return conn_close(c), -1;
		return rset(t, c);
	}
	if (accepted(t) == 0) {
		if (pipe && r.code == 354 &&
		    (cmd(c, ".") == -1 || get(c, t->cfg->t_data_done, &r) == -1))
			return conn_close(c), -1;
		return rset(t, c);
	}
	if (!pipe && (cmd(c, "DATA") == -1 ||
	    get(c, t->cfg->t_data_init, &r) == -1))
		return trouble(t, c, "after DATA"), unaccept(t), conn_close(c),
		    -1;
	if (r.code != 354) {
		said(t, c, &r, text, sizeof text);
		for (i = 0; i < j->nrcpt; i++)
			if (t->st[i] == R_ACCEPTED)
				result(t, i, r.code / 100 == 5 ? ST_PERM :
				    ST_TEMP, text);
		return rset(t, c);
	}
	return data_phase(t, c);
}

/* --- a whole job --- */

/* "TLS-Required: No" in the message's header section */
static int
tls_required_no(const struct tx *t)
{
	static char head[RTLS_HEAD_MAX];
	ssize_t n = pread(t->msgfd, head, sizeof head, 0);

	return n > 0 && rtls_header_no(head, (size_t)n);
}

static int
tx_init(struct tx *t, const struct smtp_cfg *cfg, const struct rjob *j,
    int msgfd, struct rres *res)
{
	memset(t, 0, sizeof *t);
	t->cfg = cfg;
	t->job = j;
	t->msgfd = msgfd;
	t->res = res;
	memset(res, 0, sizeof *res);
	res->id = j->id;
	res->nrcpt = j->nrcpt;
	if ((res->rcpt = calloc(j->nrcpt, sizeof *res->rcpt)) == NULL ||
	    (t->st = calloc(j->nrcpt, 1)) == NULL)
		return -1;
	snprintf(t->last, sizeof t->last, "4.4.1 no host of the route could "
	    "be reached");
	if (!addr_ok(j->sender))
		result_all(t, ST_PERM, "5.1.7 bad sender address");
	for (uint32_t i = 0; i < j->nrcpt; i++)
		if (!addr_ok(j->rcpt[i].addr) || j->rcpt[i].addr[0] == '\0')
			result(t, i, ST_PERM, "5.1.3 bad recipient address");
	/* LMTP goes to a local store: no TLS unless tls_policy asks */
	t->pol = j->tls != NULL && j->tls[0] != '\0' ?
	    smtp_job_tls(j->tls) : lmtp(t) ? TLS_NONE : cfg->default_tls;
	if (t->pol == TLS_STS_TESTING) {
		/* report only: the delivery goes as remote_tls says */
		t->sts_testing = 1;
		t->pol = cfg->default_tls;
	}
	if (t->pol == -1) {
		/* send only passes what sandmail-cdb accepted: fail closed */
		result_all(t, ST_TEMP, "4.7.0 unknown TLS policy in the job");
		return 0;
	}
	/* LMTP is final delivery into a store, not a relay */
	t->rtls = !lmtp(t) && (j->flags & ENV_REQUIRETLS) != 0;
	if (!t->rtls && (t->pol == TLS_DANE || t->pol == TLS_DANE_ONLY) &&
	    tls_required_no(t)) {
		/* RFC 8689 5: the sender asks that the recipient domain's
		 * TLS policy (DANE) be set aside; the admin's own encrypt
		 * or verify stand */
		log_kv("tls_required_no", "id", j->qid, "policy", j->tls != NULL
		    && j->tls[0] != '\0' ? j->tls : "remote_tls", NULL);
		t->pol = TLS_MAY;
	}
	if (j->auth_user != NULL && j->auth_user[0] != '\0' &&
	    t->pol != TLS_VERIFY) {
		/* a password goes only to a server whose certificate names
		 * it: under may or encrypt anyone on the path could read it */
		log_kv("auth_refused", "id", j->qid, "why", "credentials are "
		    "sent only with TLS policy verify", NULL);
		result_all(t, ST_TEMP, "4.7.0 smart host credentials are sent "
		    "only over verified TLS (TLS policy verify), not sent");
		return 0;
	}
	return 0;
}

static void
try_hosts(struct tx *t, struct smtp_conn *c)
{
	const struct rjob *j = t->job;

	for (uint32_t h = 0; h < j->nhost && pending(t); h++)
		for (uint32_t a = 0; a < j->host[h].naddr && pending(t); a++) {
			int k = session(t, c, &j->host[h], j->host[h].addr[a],
			    0);

			if (k == 1)
				k = session(t, c, &j->host[h],
				    j->host[h].addr[a], 1);
			if (k != 0)
				continue;
			if (transaction(t, c) == 0 && pending(t))
				smtp_quit(t->cfg, c);	/* 4xx: next host */
		}
}

/* a connection kept from an earlier job may carry REQUIRETLS mail only
 * to a host this job's route lets it go to */
static int
rtls_reuse(struct tx *t, const struct smtp_conn *c)
{
	char last[sizeof t->last];
	int ok = 0;

	memcpy(last, t->last, sizeof last);
	for (uint32_t i = 0; i < t->job->nhost && !ok; i++)
		ok = strcasecmp(t->job->host[i].name, c->host) == 0 &&
		    rtls_mx(t, &t->job->host[i]) == 0;
	memcpy(t->last, last, sizeof last);
	return ok;
}

static void
tx_free(struct tx *t)
{
	free(t->st);
	t->st = NULL;
	buf_free(&t->body);
	buf_free(&t->msg);
}

/* tx_fail - out of memory: what the job made goes, its results too */
static int
tx_fail(struct tx *t)
{
	tx_free(t);
	rres_free(t->res);
	return -1;
}

/* smtp_job - see smtp.h */
int
smtp_job(const struct smtp_cfg *cfg, struct smtp_conn *c,
    const struct rjob *j, int msgfd, struct rres *res)
{
	struct tx t;

	if (tx_init(&t, cfg, j, msgfd, res) == -1)
		return tx_fail(&t);
	if (c->fd >= 0 && t.rtls && (!(c->ehlo.ext & EXT_REQUIRETLS) ||
	    (strcmp(c->tlsv, "verified") != 0 &&
	    strcmp(c->tlsv, "dane-verified") != 0) || !rtls_reuse(&t, c)))
		smtp_quit(cfg, c);	/* made for mail that asked less */
	if (c->fd >= 0 && pending(&t)) {
		/* a reused connection: if it has gone stale, start over */
		if (transaction(&t, c) == -1)
			unaccept(&t);
		else if (pending(&t))
			smtp_quit(cfg, c);
	}
	if (pending(&t))
		try_hosts(&t, c);
	/* RFC 8689 4.2.1: REQUIRETLS mail no host could take bounces */
	result_all(&t, strncmp(t.last, "5.7.30", 6) == 0 ? ST_PERM : ST_TEMP,
	    t.last);
	if (c->fd < 0 && c->mta[0] == '\0')
		res->mta = strdup("");
	else {
		res->mta = strdup(c->mta);
		res->port = c->port;
	}
	/* the last session's (conn_close keeps it) */
	res->tlsfail = strdup(t.sts_testing ? c->tlsfail : "");
	if (res->mta == NULL || res->tlsfail == NULL)
		return tx_fail(&t);
	tx_free(&t);
	return 0;
}

/* smtp_quit - polite close */
void
smtp_quit(const struct smtp_cfg *cfg, struct smtp_conn *c)
{
	struct reply r;

	if (c->fd < 0)
		return;
	if (cmd(c, "QUIT") == 0)
		(void)get(c, cfg->t_cmd < 5000 ? cfg->t_cmd : 5000, &r);
	conn_close(c);
}
