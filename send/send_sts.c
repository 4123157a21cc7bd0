/* send_sts: MTA-STS in send (see send_sts.h).  Answers are kept for a
 * minute (sandmail-sts keeps the policies themselves, for max_age); a
 * question sts leaves unanswered for two minutes counts as no policy,
 * as a policy that cannot be fetched does (RFC 8461 5). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "env.h"
#include "exitcode.h"
#include "job.h"
#include "log.h"
#include "qwrite.h"
#include "rec.h"
#include "send_srv.h"
#include "send_sts.h"

#define SSTS_MAX	256		/* domains remembered */
#define SSTS_TTL	60		/* seconds an answer is used */
#define SSTS_WAIT	120		/* seconds to wait for one */
#define SSTS_IN_MAX	(STS_MAIL_MAX + 4096)	/* a TLS report, the largest */

struct ssts {
	uint64_t	 asked, exp;	/* exp 0: in flight */
	struct sts_ans	 a;		/* a.qid: of the question */
};

static int sock = -1;
static struct ssts *tab;
static size_t ntab;
static uint32_t nextq;
static struct buf in = BUF_INIT(SSTS_IN_MAX + 4);

void
ssts_init(int fd)
{
	sock = fd;
	if (fd >= 0 && (tab = calloc(SSTS_MAX, sizeof *tab)) == NULL)
		die_temp("malloc", NULL);
}

int
ssts_fd(void)
{
	return sock;
}

static struct ssts *
find(const char *domain)
{
	for (size_t i = 0; i < ntab; i++)
		if (strcasecmp(tab[i].a.domain, domain) == 0)
			return &tab[i];
	return NULL;
}

/* slot - a free entry, else the one asked longest ago */
static struct ssts *
slot(void)
{
	size_t old = 0;

	if (ntab < SSTS_MAX)
		return &tab[ntab++];
	for (size_t i = 1; i < ntab; i++)
		if (tab[i].asked < tab[old].asked)
			old = i;
	return &tab[old];
}

const struct sts_ans *
ssts_policy(const char *domain, uint64_t now)
{
	struct buf b = BUF_INIT(STS_REQ_MAX);
	struct ssts *e = find(domain);
	struct sts_req q;

	if (sock < 0)
		return NULL;
	if (e != NULL && e->exp == 0 && e->asked + SSTS_WAIT <= now) {
		log_kv("mta-sts", "domain", domain, "warn", "no answer from "
		    "sandmail-sts: no policy", NULL);
		e->a.pol.mode = STS_NONE, e->a.pol.nmx = 0;
		e->exp = now + SSTS_TTL / 2;
	}
	if (e != NULL && (e->exp == 0 || e->exp > now))
		return e->exp == 0 ? NULL : &e->a;
	if (strlen(domain) >= sizeof q.domain)
		return NULL;
	if (e == NULL)
		e = slot();
	memset(e, 0, sizeof *e);
	if (++nextq == 0)
		nextq = 1;
	q.qid = e->a.qid = nextq;
	memcpy(q.domain, domain, strlen(domain) + 1);
	memcpy(e->a.domain, domain, strlen(domain) + 1);
	e->asked = now;
	if (sts_req_encode(&b, &q) == -1 || rec_send(sock, &b) == -1)
		die_temp("send", "sandmail-sts");
	buf_free(&b);
	return NULL;
}

/* queue_report - a TLS report from sts: a new message from the null
 * sender (no report about a report can come back) to its rua */
static void
queue_report(struct send *s, const void *p, size_t n)
{
	struct sts_mail m;
	struct env e;
	struct qw q;
	int rv = -1;

	if (sts_mail_decode(p, n, &m) == -1)
		die_msg(EXIT_TEMP, "sandmail-sts", "bad report");
	env_init(&e);
	if (qw_begin(&q, s->qfd) == -1) {
		log_kv("warn", "op", "tlsrpt queue", "err", strerror(errno),
		    NULL);
		return;
	}
	if (qw_write(&q, m.msg, m.len) == 0 && env_set(&e.sender, "") == 0 &&
	    env_set(&e.envid, "") == 0 && env_set(&e.auth, "") == 0 &&
	    env_set(&e.client, "") == 0 && env_set(&e.helo, "") == 0 &&
	    env_set(&e.proto, "local") == 0 &&
	    env_add_rcpt(&e, m.rcpt, 0, "") == 0) {
		e.arrival = (uint64_t)time(NULL);
		e.flags = ENV_BOUNCE;
		rv = qw_commit(&q, &e);
	} else
		qw_abort(&q);
	if (rv == 0) {
		log_kv("tlsrpt", "to", m.rcpt, "new", q.id, NULL);
		s->todo = 1;
	} else
		log_kv("warn", "op", "tlsrpt queue", "to", m.rcpt, NULL);
	env_free(&e);
}

static void
take(struct send *s, const void *p, size_t n, uint64_t now)
{
	struct sts_ans a;

	if (n > 0 && *(const char *)p == 'M') {
		queue_report(s, p, n);
		return;
	}
	if (n > STS_ANS_MAX || sts_ans_decode(p, n, &a) == -1)
		die_msg(EXIT_TEMP, "sandmail-sts", "bad answer");
	for (size_t i = 0; i < ntab; i++)
		if (tab[i].exp == 0 && tab[i].a.qid == a.qid) {
			tab[i].a = a;
			tab[i].exp = now + SSTS_TTL;
			log_kv("mta-sts", "domain", a.domain, "mode",
			    sts_mode_name(a.pol.mode), "why", a.why, NULL);
		}
}

int
ssts_read(struct send *s, uint64_t now)
{
	uint32_t len;
	ssize_t k;
	int got = 0;

	if (buf_reserve(&in, 65536) == -1)
		die_msg(EXIT_TEMP, "sandmail-sts", "answer too long");
	k = read(sock, in.p + in.len, in.cap - in.len);
	if (k <= 0) {
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			return 0;
		die_msg(EXIT_TEMP, "sandmail-sts", "closed");
	}
	in.len += (size_t)k;
	while (in.len >= 4) {
		const unsigned char *h = (const unsigned char *)in.p;

		len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		    (uint32_t)h[2] << 8 | h[3];
		if (len > SSTS_IN_MAX)
			die_msg(EXIT_TEMP, "sandmail-sts", "record too long");
		if (in.len < 4 + (size_t)len)
			break;
		take(s, in.p + 4, len, now);
		buf_drop(&in, 4 + (size_t)len);
		got = 1;
	}
	return got;
}

/* tell - one session's outcome to sts (for TLS reporting) */
static void
tell(const char *domain, int ok, const char *type, const char *mx)
{
	struct buf b = BUF_INIT(1024);
	struct sts_res r;

	memset(&r, 0, sizeof r);
	if (strlen(domain) >= sizeof r.domain || strlen(mx) >= sizeof r.mx)
		return;
	memcpy(r.domain, domain, strlen(domain) + 1);
	memcpy(r.mx, mx, strlen(mx) + 1);
	r.ok = (uint8_t)ok;
	snprintf(r.type, sizeof r.type, "%s", type);
	if (sts_res_encode(&b, &r) == -1 || rec_send(sock, &b) == -1)
		die_temp("send", "sandmail-sts");
	buf_free(&b);
}

/* tls_failure - the RFC 8460 result-type of rspawn's text, or NULL
 * when the text is not about TLS */
static const char *
tls_failure(const char *t)
{
	if (strncmp(t, "4.7.4 TLS is required", 21) == 0)
		return "starttls-not-supported";
	if (strncmp(t, "4.7.5 TLS with", 14) != 0)
		return NULL;
	if (strstr(t, "expired") != NULL)
		return "certificate-expired";
	if (strstr(t, "hostname mismatch") != NULL)
		return "certificate-host-mismatch";
	if (strstr(t, "verify failed") != NULL ||
	    strstr(t, "self-signed") != NULL ||
	    strstr(t, "self signed") != NULL ||
	    strstr(t, "local issuer") != NULL)
		return "certificate-not-trusted";
	return "validation-failure";
}

void
ssts_session(const char *domain, uint8_t st, const char *mta,
    const char *text)
{
	const struct ssts *e = sock >= 0 ? find(domain) : NULL;
	char mx[STS_NAME_BUF];
	const char *type;

	if (e == NULL || e->exp == 0 || e->a.pol.mode == STS_NONE)
		return;
	snprintf(mx, sizeof mx, "%.*s", (int)strcspn(mta, "["), mta);
	if ((type = tls_failure(text)) != NULL)
		tell(domain, 0, type, mx);
	else if (st == ST_OK || st == ST_PASSED || st == ST_PERM)
		tell(domain, 1, "", mx);	/* the server answered us */
	/* else no session (no connection, say): nothing to report */
}

int
ssts_apply(const struct sts_ans *a, const struct rcache *c,
    struct rcache *out, char *tls, size_t tlssz, char *why, size_t whysz)
{
	uint32_t k = 0;

	*out = *c;
	tls[0] = '\0';
	if (a->pol.mode == STS_NONE)
		return 0;
	if ((out->host = calloc(c->nhost ? c->nhost : 1,
	    sizeof *out->host)) == NULL)
		die_temp("malloc", NULL);
	for (uint32_t i = 0; i < c->nhost; i++) {
		if (sts_mx_match(&a->pol, c->host[i].name)) {
			out->host[k++] = c->host[i];
			continue;
		}
		tell(a->domain, 0, "validation-failure", c->host[i].name);
		log_kv("mta-sts", "domain", a->domain, "mode",
		    sts_mode_name(a->pol.mode), "mx", c->host[i].name,
		    "result", a->pol.mode == STS_ENFORCE ?
		    "not in the policy: not used" :
		    "not in the policy (testing: used all the same)", NULL);
		if (a->pol.mode == STS_TESTING)
			out->host[k++] = c->host[i];
	}
	out->nhost = k;
	if (a->pol.mode == STS_TESTING) {
		/* RFC 8461 5: deliver as ever, but check the certificate and
		 * report what enforce would have refused (smtp.h) */
		snprintf(tls, tlssz, "mta-sts-testing");
		return 0;
	}
	/* enforce: a PKIX-valid certificate for the MX name (RFC 8461 4.2),
	 * or DANE where it applies: rspawn decides per host (smtp.h) */
	snprintf(tls, tlssz, "mta-sts");
	if (k == 0) {
		free(out->host);
		out->host = NULL;
		snprintf(why, whysz, "4.7.0 MTA-STS policy of %s (enforce) "
		    "lists none of its MX hosts", a->domain);
		return -1;
	}
	return 0;
}
