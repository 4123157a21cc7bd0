/* job: codecs for send's conversations with lspawn, rspawn and resolve. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fdpass.h"
#include "job.h"
#include "rec.h"
#include "tlsa.h"

#define NAME_MAX_	1024	/* addresses, host names, paths */
#define TLSA_NAME_MAX	253	/* a DNS name */

static int
bad(void)
{
	errno = EPROTO;
	return -1;
}

static int
valid_status(uint8_t s)
{
	return s == ST_OK || s == ST_TEMP || s == ST_PERM;
}

static int
begin(struct cur *c, const void *p, size_t n, uint8_t want)
{
	uint8_t t;

	cur_init(c, p, n);
	if (cur_u8(c, &t) == -1 || t != want)
		return bad();
	return 0;
}

/* ljob_encode - a local delivery job */
int
ljob_encode(struct buf *b, const struct ljob *j)
{
	return pk_u8(b, JOB_LJOB) | pk_u32(b, j->id) | pk_cstr(b, j->qid) |
	    pk_cstr(b, j->sender) | pk_cstr(b, j->rcpt) |
	    pk_cstr(b, j->dest) | pk_u32(b, j->uid) | pk_u32(b, j->gid);
}

/* ljob_decode - parse a local delivery job */
int
ljob_decode(struct ljob *j, const void *p, size_t n)
{
	struct cur c;

	memset(j, 0, sizeof *j);
	if (begin(&c, p, n, JOB_LJOB) == -1 || cur_u32(&c, &j->id) == -1 ||
	    cur_cstr(&c, &j->qid, NAME_MAX_) == -1 ||
	    cur_cstr(&c, &j->sender, NAME_MAX_) == -1 ||
	    cur_cstr(&c, &j->rcpt, NAME_MAX_) == -1 ||
	    cur_cstr(&c, &j->dest, 4096) == -1 ||
	    cur_u32(&c, &j->uid) == -1 || cur_u32(&c, &j->gid) == -1 ||
	    cur_end(&c) == -1) {
		ljob_free(j);
		return bad();
	}
	return 0;
}

/* ljob_free - release a decoded job */
void
ljob_free(struct ljob *j)
{
	free(j->qid);
	free(j->sender);
	free(j->rcpt);
	free(j->dest);
	memset(j, 0, sizeof *j);
}

/* lres_encode - the result of a local delivery */
int
lres_encode(struct buf *b, const struct lres *r)
{
	return pk_u8(b, JOB_LRES) | pk_u32(b, r->id) | pk_u8(b, r->status) |
	    pk_cstr(b, r->text);
}

/* lres_send - encode and send one result, its text cut at max */
int
lres_send(int fd, uint32_t id, uint8_t status, const char *text, size_t n,
    size_t max)
{
	struct buf b = BUF_INIT(FDPASS_MAX);
	char t[JOB_TEXT_MAX + 1];
	struct lres r = { id, status, t };
	int rv;

	if (max > JOB_TEXT_MAX)
		max = JOB_TEXT_MAX;
	if (n > max)
		n = max;
	memcpy(t, text, n);
	t[n] = '\0';
	rv = lres_encode(&b, &r) == -1 ? -1 : fd_send(fd, b.p, b.len, -1) ==
	    -1 ? -1 : 0;
	buf_free(&b);
	return rv;
}

/* lres_decode - parse the result of a local delivery */
int
lres_decode(struct lres *r, const void *p, size_t n)
{
	struct cur c;

	memset(r, 0, sizeof *r);
	if (begin(&c, p, n, JOB_LRES) == -1 || cur_u32(&c, &r->id) == -1 ||
	    cur_u8(&c, &r->status) == -1 || !valid_status(r->status) ||
	    cur_cstr(&c, &r->text, JOB_TEXT_MAX) == -1 || cur_end(&c) == -1) {
		lres_free(r);
		return bad();
	}
	return 0;
}

/* lres_free - release a decoded result */
void
lres_free(struct lres *r)
{
	free(r->text);
	memset(r, 0, sizeof *r);
}

static int
hosts_encode(struct buf *b, const struct route_host *h, uint32_t n)
{
	int r = pk_u32(b, n);

	for (uint32_t i = 0; i < n && r == 0; i++) {
		r = pk_cstr(b, h[i].name) | pk_u32(b, h[i].pref) |
		    pk_u32(b, h[i].port) | pk_u32(b, h[i].naddr);
		for (uint32_t k = 0; k < h[i].naddr && r == 0; k++)
			r = pk_cstr(b, h[i].addr[k]);
		if (r == 0)
			r = pk_u8(b, h[i].dane ? h[i].dane : DANE_NONE) |
			    pk_u32(b, h[i].ntlsa);
		for (uint32_t k = 0; k < h[i].ntlsa && r == 0; k++)
			r = pk_cstr(b, h[i].tlsa[k]);
		if (r == 0)
			r = pk_u8(b, h[i].mx ? h[i].mx : MX_INSECURE) |
			    pk_cstr(b, h[i].tlsa_name ? h[i].tlsa_name : "");
	}
	return r ? -1 : 0;
}

/* route_hosts_free - release an array of hosts */
void
route_hosts_free(struct route_host *h, uint32_t n)
{
	if (h == NULL)
		return;
	for (uint32_t i = 0; i < n; i++) {
		free(h[i].name);
		for (uint32_t k = 0; k < h[i].naddr; k++)
			free(h[i].addr[k]);
		free(h[i].addr);
		for (uint32_t k = 0; k < h[i].ntlsa; k++)
			free(h[i].tlsa[k]);
		free(h[i].tlsa);
		free(h[i].tlsa_name);
	}
	free(h);
}

static int
dane_ok(uint8_t d)
{
	return d == DANE_NONE || d == DANE_SECURE || d == DANE_UNUSABLE ||
	    d == DANE_FAIL;
}

/* a host's DANE state and TLSA records: only DANE_SECURE has records,
 * and each must be one record in tlsa.h's text form */
static int
tlsa_decode(struct cur *c, struct route_host *h)
{
	struct tlsa t;
	uint32_t n;

	if (cur_u8(c, &h->dane) == -1 || !dane_ok(h->dane) ||
	    cur_u32(c, &n) == -1 || n > JOB_TLSA_MAX ||
	    (n > 0) != (h->dane == DANE_SECURE))
		return bad();
	if (n > 0 && (h->tlsa = calloc(n, sizeof *h->tlsa)) == NULL)
		return -1;
	for (; h->ntlsa < n; h->ntlsa++)
		if (cur_cstr(c, &h->tlsa[h->ntlsa], TLSA_TEXT_MAX) == -1 ||
		    tlsa_scan(h->tlsa[h->ntlsa], &t) == -1) {
			h->ntlsa++;	/* freed with the host */
			return bad();
		}
	return 0;
}

/* a host name from DNS as dns.c reads it: printable, no space */
static int
name_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static int
host_decode(struct cur *c, struct route_host *h)
{
	uint32_t pref, port, na;

	if (cur_cstr(c, &h->name, NAME_MAX_) == -1 ||
	    cur_u32(c, &pref) == -1 || cur_u32(c, &port) == -1 ||
	    cur_u32(c, &na) == -1 || pref > 65535 || port > 65535 ||
	    na > JOB_ADDRS_MAX)
		return bad();
	h->pref = (uint16_t)pref;
	h->port = (uint16_t)port;
	if (na > 0 && (h->addr = calloc(na, sizeof *h->addr)) == NULL)
		return -1;
	for (; h->naddr < na; h->naddr++)
		if (cur_cstr(c, &h->addr[h->naddr], 64) == -1)
			return bad();
	if (tlsa_decode(c, h) == -1)
		return -1;
	if (cur_u8(c, &h->mx) == -1 ||
	    (h->mx != MX_INSECURE && h->mx != MX_SECURE && h->mx != MX_ROUTE &&
	    h->mx != MX_LITERAL))
		return bad();
	/* where the records were found: only a host that has them, and a
	 * DNS name (at most 253 bytes, no spaces or controls) */
	if (cur_cstr(c, &h->tlsa_name, TLSA_NAME_MAX) == -1)
		return bad();
	if (h->tlsa_name[0] != '\0' && (h->dane != DANE_SECURE ||
	    !name_ok(h->tlsa_name)))
		return bad();
	return 0;
}

static int
hosts_decode(struct cur *c, struct route_host **out, uint32_t *nout)
{
	uint32_t n;

	*out = NULL;
	*nout = 0;
	if (cur_u32(c, &n) == -1 || n > JOB_HOST_MAX)
		return bad();
	if (n > 0 && (*out = calloc(n, sizeof **out)) == NULL)
		return -1;
	for (; *nout < n; (*nout)++)
		if (host_decode(c, &(*out)[*nout]) == -1) {
			(*nout)++;	/* free the partial one too */
			return bad();
		}
	return 0;
}

/* rjob_encode - a remote delivery job */
int
rjob_encode(struct buf *b, const struct rjob *j)
{
	int r;

	r = pk_u8(b, JOB_RJOB) | pk_u32(b, j->id) | pk_cstr(b, j->qid) |
	    pk_cstr(b, j->sender) | pk_cstr(b, j->envid) | pk_u8(b, j->ret) |
	    pk_u32(b, j->flags) | pk_u64(b, j->size) | pk_cstr(b, j->tls) |
	    pk_cstr(b, j->auth_user) | pk_cstr(b, j->auth_pass) |
	    pk_u32(b, j->nrcpt);
	for (uint32_t i = 0; i < j->nrcpt && r == 0; i++)
		r = pk_cstr(b, j->rcpt[i].addr) | pk_cstr(b, j->rcpt[i].orcpt) |
		    pk_u8(b, j->rcpt[i].notify);
	return r || hosts_encode(b, j->host, j->nhost) == -1 ? -1 :
	    (pk_cstr(b, j->dkim) | pk_u8(b, j->proto));
}

static int
rjob_fields(struct rjob *j, struct cur *c)
{
	uint32_t n;

	if (cur_u32(c, &j->id) == -1 || cur_cstr(c, &j->qid, NAME_MAX_) == -1 ||
	    cur_cstr(c, &j->sender, NAME_MAX_) == -1 ||
	    cur_cstr(c, &j->envid, NAME_MAX_) == -1 ||
	    cur_u8(c, &j->ret) == -1 || cur_u32(c, &j->flags) == -1 ||
	    cur_u64(c, &j->size) == -1 || cur_cstr(c, &j->tls, 16) == -1 ||
	    cur_cstr(c, &j->auth_user, NAME_MAX_) == -1 ||
	    cur_cstr(c, &j->auth_pass, NAME_MAX_) == -1 ||
	    cur_u32(c, &n) == -1 || n == 0 || n > JOB_RCPT_MAX)
		return bad();
	if ((j->rcpt = calloc(n, sizeof *j->rcpt)) == NULL)
		return -1;
	for (; j->nrcpt < n; j->nrcpt++) {
		struct rjob_rcpt *r = &j->rcpt[j->nrcpt];

		if (cur_cstr(c, &r->addr, NAME_MAX_) == -1 ||
		    cur_cstr(c, &r->orcpt, NAME_MAX_) == -1 ||
		    cur_u8(c, &r->notify) == -1) {
			j->nrcpt++;
			return bad();
		}
	}
	if (hosts_decode(c, &j->host, &j->nhost) == -1 ||
	    cur_cstr(c, &j->dkim, JOB_DKIM_MAX) == -1)
		return -1;
	if (cur_u8(c, &j->proto) == -1 || j->proto > PROTO_LMTP)
		return bad();
	return cur_end(c);
}

/* rjob_decode - parse a remote delivery job */
int
rjob_decode(struct rjob *j, const void *p, size_t n)
{
	struct cur c;

	memset(j, 0, sizeof *j);
	if (begin(&c, p, n, JOB_RJOB) == -1 || rjob_fields(j, &c) == -1) {
		rjob_free(j);
		return bad();
	}
	return 0;
}

/* rjob_free - release a decoded job */
void
rjob_free(struct rjob *j)
{
	free(j->qid);
	free(j->sender);
	free(j->envid);
	free(j->tls);
	free(j->auth_user);
	free(j->dkim);
	if (j->auth_pass != NULL)
		explicit_bzero(j->auth_pass, strlen(j->auth_pass));
	free(j->auth_pass);
	for (uint32_t i = 0; i < j->nrcpt; i++) {
		free(j->rcpt[i].addr);
		free(j->rcpt[i].orcpt);
	}
	free(j->rcpt);
	route_hosts_free(j->host, j->nhost);
	memset(j, 0, sizeof *j);
}

/* rres_encode - per-recipient results of a remote delivery */
int
rres_encode(struct buf *b, const struct rres *r)
{
	int e = pk_u8(b, JOB_RRES) | pk_u32(b, r->id) | pk_cstr(b, r->mta) |
	    pk_u32(b, r->port) | pk_u32(b, r->nrcpt);

	for (uint32_t i = 0; i < r->nrcpt && e == 0; i++)
		e = pk_u8(b, r->rcpt[i].status) | pk_cstr(b, r->rcpt[i].text);
	if (e == 0)
		e = pk_cstr(b, r->tlsfail != NULL ? r->tlsfail : "");
	return e ? -1 : 0;
}

static int
rres_fields(struct rres *r, struct cur *c)
{
	uint32_t n;

	if (cur_u32(c, &r->id) == -1 || cur_cstr(c, &r->mta, NAME_MAX_) == -1 ||
	    cur_u32(c, &r->port) == -1 || r->port > 65535 ||
	    cur_u32(c, &n) == -1 || n > JOB_RCPT_MAX)
		return bad();
	if (n > 0 && (r->rcpt = calloc(n, sizeof *r->rcpt)) == NULL)
		return -1;
	for (; r->nrcpt < n; r->nrcpt++) {
		struct rres_rcpt *x = &r->rcpt[r->nrcpt];

		if (cur_u8(c, &x->status) == -1 || (!valid_status(x->status) &&
		    x->status != ST_PASSED) ||
		    cur_cstr(c, &x->text, JOB_TEXT_MAX) == -1) {
			r->nrcpt++;
			return bad();
		}
	}
	if (cur_cstr(c, &r->tlsfail, JOB_TEXT_MAX) == -1)
		return bad();
	return cur_end(c);
}

/* rres_decode - parse remote results */
int
rres_decode(struct rres *r, const void *p, size_t n)
{
	struct cur c;

	memset(r, 0, sizeof *r);
	if (begin(&c, p, n, JOB_RRES) == -1 || rres_fields(r, &c) == -1) {
		rres_free(r);
		return bad();
	}
	return 0;
}

/* rres_free - release decoded results */
void
rres_free(struct rres *r)
{
	free(r->mta);
	for (uint32_t i = 0; r->rcpt != NULL && i < r->nrcpt; i++)
		free(r->rcpt[i].text);
	free(r->rcpt);
	free(r->tlsfail);
	memset(r, 0, sizeof *r);
}

/* rqry_encode - ask for the route of a domain */
int
rqry_encode(struct buf *b, const struct rqry *q)
{
	return pk_u8(b, JOB_RQRY) | pk_u32(b, q->id) | pk_cstr(b, q->domain);
}

/* rqry_decode - parse a route query */
int
rqry_decode(struct rqry *q, const void *p, size_t n)
{
	struct cur c;

	memset(q, 0, sizeof *q);
	if (begin(&c, p, n, JOB_RQRY) == -1 || cur_u32(&c, &q->id) == -1 ||
	    cur_cstr(&c, &q->domain, 255) == -1 || cur_end(&c) == -1) {
		rqry_free(q);
		return bad();
	}
	return 0;
}

/* rqry_free - release a decoded query */
void
rqry_free(struct rqry *q)
{
	free(q->domain);
	memset(q, 0, sizeof *q);
}

/* rans_encode - the route of a domain */
int
rans_encode(struct buf *b, const struct rans *a)
{
	if ((pk_u8(b, JOB_RANS) | pk_u32(b, a->id) | pk_u8(b, a->status) |
	    pk_cstr(b, a->text)) != 0)
		return -1;
	return hosts_encode(b, a->host, a->nhost);
}

/* rans_decode - parse a route answer */
int
rans_decode(struct rans *a, const void *p, size_t n)
{
	struct cur c;

	memset(a, 0, sizeof *a);
	if (begin(&c, p, n, JOB_RANS) == -1 || cur_u32(&c, &a->id) == -1 ||
	    cur_u8(&c, &a->status) == -1 || !valid_status(a->status) ||
	    cur_cstr(&c, &a->text, JOB_TEXT_MAX) == -1 ||
	    hosts_decode(&c, &a->host, &a->nhost) == -1 || cur_end(&c) == -1) {
		rans_free(a);
		return bad();
	}
	return 0;
}

/* rans_free - release a decoded answer */
void
rans_free(struct rans *a)
{
	free(a->text);
	route_hosts_free(a->host, a->nhost);
	memset(a, 0, sizeof *a);
}
