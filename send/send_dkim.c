/* send_dkim: DKIM signatures for mail that leaves through rspawn.  send
 * has the envelope (how the message came in) and may read mess/ID; the
 * keys live in sandmail-sign, which gets only a 32-byte hash to sign.
 * What is signed (doc/design.md "DKIM signing"): a message submitted by
 * an authenticated client, injected locally, sent by a relay client or
 * made by send itself, when the domain of its From: address has keys in
 * sandmail-sign's table; one signature per key (rsa-sha256 and
 * ed25519-sha256 when both exist), relaxed/relaxed, over the bytes of
 * mess/ID as rspawn's worker sends them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arc.h"
#include "authres.h"
#include "buf.h"
#include "dkim.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "rec.h"
#include "send_srv.h"
#include "sign.h"

#define SIGN_MSG_MAX	(64u << 20)	/* a message we read to sign */

/* sdkim_hello - the signing service's greeting: its banner and keys */
int
sdkim_hello(struct send *s)
{
	struct buf b = BUF_INIT(SIGN_HELLO_MAX);
	struct rd rd;
	int r;

	if (s->ksock < 0)
		return 0;
	rd_init(&rd, s->ksock, io_read_fd, NULL);
	if ((r = rec_read(&rd, &b, SIGN_HELLO_MAX)) != 1 ||
	    sign_hello_decode(&s->keys, b.p, b.len) == -1) {
		buf_free(&b);
		return r == 0 ? (errno = EPROTO, -1) : -1;
	}
	buf_free(&b);
	return 0;
}

/* submitted - whether the message is ours to sign: it came from an
 * authenticated client, a local sender, a relay client, or send */
static int
submitted(struct send *s, const struct env *e)
{
	struct buf v = BUF_INIT(4096);
	int r;

	if ((e->flags & ENV_BOUNCE) || (e->auth && e->auth[0] != '\0') ||
	    (e->proto && strcmp(e->proto, "local") == 0))
		return 1;
	if (e->client == NULL || e->client[0] == '\0')
		return 0;
	r = tbl_ip(&s->t.t[T_RELAY], e->client, &v) == 1;
	buf_free(&v);
	return r;
}

/* from_domain - the domain of the (first) From: address, lowercased */
static int
from_domain(const struct dkim_fields *fs, char *d, size_t max)
{
	const char *p = NULL, *e, *at = NULL, *lt;
	size_t i, k = 0;

	for (i = 0; i < fs->n; i++)
		if (dkim_field_is(&fs->f[i], "from", 4)) {
			if (p != NULL)	/* two From fields: sign nothing */
				return -1;
			p = dkim_field_value(&fs->f[i], &k);
			e = p + k;
			k = 0;
		}
	if (p == NULL)
		return -1;
	/* "Name <a@b>" or "a@b": the first address's domain */
	if ((lt = memchr(p, '<', (size_t)(e - p))) != NULL)
		p = lt + 1;
	for (; p < e && *p != '>' && *p != ','; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		return -1;
	for (at++; at < p && k + 1 < max; at++) {
		char c = *at;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == ')' || c == '(')
			break;
		d[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	d[k] = '\0';
	return k > 0 ? 0 : -1;
}

/* ask_sign - the dkim_signfn that asks sandmail-sign: every request of
 * the message in one write, then their results in order */
static int
ask_sign(void *arg, const struct dkim_sigreq *q, struct dkim_sigout *o,
    size_t n)
{
	struct send *s = arg;
	struct buf b = BUF_INIT(DKIM_SIGS_MAX * (SIGN_REQ_MAX + REC_HDR));
	struct rd rd;
	const char *why;
	size_t i, wl, start;
	int r = -1;

	for (i = 0; i < n; i++) {
		start = b.len;
		if (pk_begin(&b) == -1 || sign_req_encode(&b, q[i].domain,
		    q[i].selector, q[i].alg, o[i].hash) == -1 ||
		    pk_finish(&b, start) == -1)
			goto out;
	}
	if (rec_send(s->ksock, &b) == -1)
		goto out;
	/* every result is read, a refused one too, so that the next
	 * message's results are its own */
	rd_init(&rd, s->ksock, io_read_fd, NULL);
	r = 0;
	for (i = 0; i < n; i++) {
		if (rec_read(&rd, &b, SIGN_REQ_MAX) != 1)
			die_temp("read", "sandmail-sign");
		if (sign_res_decode(b.p, b.len, o[i].sig, &o[i].siglen, &why,
		    &wl) == 0)
			continue;
		if (errno != ENOKEY)
			die_msg(EXIT_TEMP, "sandmail-sign", "malformed result");
		log_kv("warn", "op", "dkim sign", "domain", q[i].domain,
		    "selector", q[i].selector, "err", "refused", NULL);
		r = -1;
	}
out:
	buf_free(&b);
	return r;
}

/* read_mess - the whole of mess/ID */
static int
read_mess(int fd, struct buf *m)
{
	ssize_t n;

	for (;;) {
		if (buf_reserve(m, 65536) == -1)
			return -1;
		n = pread(fd, m->p + m->len, 65536, (off_t)m->len);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		m->len += (size_t)n;
	}
}

/* crlf_to_lf - the worker makes every LF a CRLF: give it LF */
static void
crlf_to_lf(struct buf *b)
{
	size_t i, j;

	for (i = j = 0; i < b->len; i++)
		if (!(b->p[i] == '\r' && i + 1 < b->len && b->p[i + 1] == '\n'))
			b->p[j++] = b->p[i];
	b->len = j;
}

/* arc_key - the first rsa-sha256 key for domain, or NULL */
static const struct sign_key *
arc_key(struct send *s, const char *domain)
{
	const struct sign_key *k;
	size_t i = 0;

	while ((k = sign_find(&s->keys, domain, &i)) != NULL &&
	    k->alg != DKIM_RSA_SHA256)
		;
	return k;
}

int
sdkim_has_rsa(struct send *s, const char *domain)
{
	return arc_key(s, domain) != NULL;
}

/* arc_ask_sign - ask_sign, noting a failure of sandmail-sign's (the one
 * failure of arc_seal that calls for another try later) */
static int arc_signer_failed;

static int
arc_ask_sign(void *arg, const struct dkim_sigreq *q, struct dkim_sigout *o,
    size_t n)
{
	if (ask_sign(arg, q, o, n) == 0)
		return 0;
	arc_signer_failed = 1;
	return -1;
}

/* our_ar - the first Authentication-Results field of fs that names our
 * authserv-id, or NULL.  smtpd puts its own first and removes any that
 * claim our id (verify.c), so this is smtpd's; whatever came with the
 * message for another id (some other ADMD's, or forged) is not ours to
 * vouch for: the AAR must be this ADMD's results (RFC 8617 4.1.1) */
static const struct dkim_field *
our_ar(const struct dkim_fields *fs, const char *id)
{
	for (size_t i = 0; i < fs->n; i++)
		if (ar_is_ours(fs->f[i].p, fs->f[i].n, id))
			return &fs->f[i];
	return NULL;
}

/* arc_fields - an ARC set (RFC 8617) for a message smtpd verified
 * (ENV_VERIFIED: it carries our Authentication-Results) that leaves
 * for another host: sealed with arc_domain's rsa-sha256 key in
 * sandmail-sign, cv= from the chain it came with, the AAR our field's
 * value; "" when not sealed, NULL when signing failed (try again
 * later) */
static const char *
arc_fields(struct send *s, struct live *l, int fd)
{
	static struct dkim_fields fs;
	struct buf m = BUF_INIT(SIGN_MSG_MAX), out = BUF_INIT(JOB_DKIM_MAX);
	struct dkim_sigreq q = { .alg = DKIM_RSA_SHA256,
	    .hc = DKIM_RELAXED, .bc = DKIM_RELAXED };
	const struct sign_key *k;
	const struct dkim_field *f = NULL;
	const char *av;
	size_t an;

	if (s->c.arc_domain == NULL || !(l->info.flags & ENV_VERIFIED))
		return l->dkim = strdup("");
	if ((k = arc_key(s, s->c.arc_domain)) == NULL ||
	    read_mess(fd, &m) == -1 ||
	    (m.len > 0 && memmem(m.p, m.len, "\r\n", 2) != NULL) ||
	    dkim_fields_split(&fs, m.p ? m.p : "", m.len) == -1 ||
	    (f = our_ar(&fs, s->c.authserv_id)) == NULL) {
		log_kv("arc", "id", l->m->id, "sealed", "no", "why", k == NULL ?
		    "no rsa key for arc_domain" : "no field of ours", NULL);
		buf_free(&m);
		return l->dkim = strdup("");
	}
	av = dkim_field_value(f, &an);
	q.domain = s->c.arc_domain;
	q.selector = k->selector;
	q.t = time(NULL);
	arc_signer_failed = 0;
	if (arc_seal(m.p, m.len, av, an,
	    l->info.flags & ENV_ARC_PASS ? ARC_PASS : ARC_FAIL, &q,
	    arc_ask_sign, s, &out) == -1 || buf_cstr(&out) == -1) {
		/* only the signer or memory can do better next time; a
		 * chain malformed, already 50 sets or too big to seal over
		 * (E2BIG: a sender's own doing) never will: sent unsealed */
		int bad = !arc_signer_failed && errno != ENOMEM;

		log_kv("warn", "id", l->m->id, "op", "arc seal", "err",
		    strerror(errno), NULL);
		buf_free(&m);
		buf_free(&out);
		return bad ? (l->dkim = strdup("")) : NULL;
	}
	buf_free(&m);
	crlf_to_lf(&out);
	(void)buf_cstr(&out);
	log_kv("arc", "id", l->m->id, "sealed", "yes", "domain", q.domain,
	    NULL);
	return l->dkim = out.p;
}

/* sdkim_fields - the DKIM-Signature fields for l (cached on l), or its
 * ARC set (arc_fields); "" when it is not signed; NULL when signing
 * failed (try again later) */
const char *
sdkim_fields(struct send *s, struct live *l, int fd)
{
	static struct dkim_fields fs;
	struct buf m = BUF_INIT(SIGN_MSG_MAX), out = BUF_INIT(JOB_DKIM_MAX);
	struct dkim_sigreq q = { .hc = DKIM_RELAXED, .bc = DKIM_RELAXED },
	    qs[DKIM_SIGS_MAX];
	const struct sign_key *k;
	char dom[SIGN_DOMAIN_MAX + 1];
	size_t i = 0;
	int nsig = 0;

	if (l->dkim != NULL)
		return l->dkim;
	if (s->keys.n == 0)
		return l->dkim = strdup("");
	if (!submitted(s, &l->info))
		return arc_fields(s, l, fd);
	/* A CR before an LF in mess/ID goes out as CR CR LF (the worker
	 * makes each LF a CRLF) while DKIM would read a line end: smtpd
	 * refuses such data, so this is rare; sign nothing rather than
	 * something that cannot verify. */
	if (read_mess(fd, &m) == -1 ||
	    (m.len > 0 && memmem(m.p, m.len, "\r\n", 2) != NULL) ||
	    dkim_fields_split(&fs, m.p ? m.p : "", m.len) == -1 ||
	    from_domain(&fs, dom, sizeof dom) == -1 ||
	    sign_find(&s->keys, dom, &i) == NULL) {
		buf_free(&m);
		return l->dkim = strdup("");
	}
	q.domain = dom;
	q.t = time(NULL);
	for (i = 0; nsig < DKIM_SIGS_MAX &&
	    (k = sign_find(&s->keys, dom, &i)) != NULL; nsig++) {
		qs[nsig] = q;
		qs[nsig].alg = k->alg;
		qs[nsig].selector = k->selector;
	}
	if (dkim_sign_msg(m.p, m.len, qs, (size_t)nsig, ask_sign, s,
	    &out) == -1) {
		log_kv("warn", "id", l->m->id, "op", "dkim sign", "domain",
		    dom, "err", strerror(errno), NULL);
		buf_free(&m);
		buf_free(&out);
		return NULL;
	}
	buf_free(&m);
	crlf_to_lf(&out);
	if (buf_cstr(&out) == -1) {
		buf_free(&out);
		return NULL;
	}
	l->dkim = out.p;
	log_kv("dkim", "id", l->m->id, "domain", dom, "signatures",
	    nsig == 1 ? "1" : "2+", NULL);
	return l->dkim;
}
