/* stsmsg: send <-> sts records (see stsmsg.h).  A record is a pk_*
 * payload framed by rec.c: 'Q' u32 qid, str domain; 'A' u32 qid, str
 * domain, u8 mode, u32 n, n × str mx pattern, str why; 'R' str domain,
 * u8 ok, str result-type, str mx; 'M' str rcpt, str message. */
#include <errno.h>
#include <string.h>

#include "rec.h"
#include "stsmsg.h"

static int
copy(char *dst, size_t dsz, const char *p, size_t n)
{
	if (n >= dsz || memchr(p, '\0', n) != NULL)
		return errno = EPROTO, -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

int
sts_req_encode(struct buf *b, const struct sts_req *q)
{
	size_t st = b->len;

	if (pk_begin(b) == -1 || pk_u8(b, 'Q') == -1 ||
	    pk_u32(b, q->qid) == -1 || pk_cstr(b, q->domain) == -1)
		return -1;
	return pk_finish(b, st);
}

int
sts_req_decode(const void *p, size_t n, struct sts_req *q)
{
	struct cur c;
	const char *s;
	size_t sn;
	uint8_t t;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != 'Q' || cur_u32(&c, &q->qid) == -1 ||
	    cur_str(&c, &s, &sn) == -1 || cur_end(&c) == -1 ||
	    copy(q->domain, sizeof q->domain, s, sn) == -1)
		return errno = EPROTO, -1;
	return 0;
}

int
sts_ans_encode(struct buf *b, const struct sts_ans *a)
{
	size_t st = b->len;

	if (pk_begin(b) == -1 || pk_u8(b, 'A') == -1 ||
	    pk_u32(b, a->qid) == -1 || pk_cstr(b, a->domain) == -1 ||
	    pk_u8(b, (uint8_t)a->pol.mode) == -1 ||
	    pk_u32(b, (uint32_t)a->pol.nmx) == -1)
		return -1;
	for (size_t i = 0; i < a->pol.nmx; i++)
		if (pk_cstr(b, a->pol.mx[i]) == -1)
			return -1;
	if (pk_cstr(b, a->why) == -1)
		return -1;
	return pk_finish(b, st);
}

int
sts_ans_decode(const void *p, size_t n, struct sts_ans *a)
{
	struct cur c;
	const char *s;
	size_t sn;
	uint32_t nmx;
	uint8_t t, mode;

	memset(a, 0, sizeof *a);
	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != 'A' || cur_u32(&c, &a->qid) == -1 ||
	    cur_str(&c, &s, &sn) == -1 ||
	    copy(a->domain, sizeof a->domain, s, sn) == -1 ||
	    cur_u8(&c, &mode) == -1 || mode > STS_ENFORCE ||
	    cur_u32(&c, &nmx) == -1 || nmx > STS_MX_MAX)
		return errno = EPROTO, -1;
	a->pol.mode = (enum sts_mode)mode;
	a->pol.nmx = nmx;
	for (uint32_t i = 0; i < nmx; i++)
		if (cur_str(&c, &s, &sn) == -1 ||
		    copy(a->pol.mx[i], sizeof a->pol.mx[i], s, sn) == -1)
			return errno = EPROTO, -1;
	if (cur_str(&c, &s, &sn) == -1 || cur_end(&c) == -1 ||
	    copy(a->why, sizeof a->why, s, sn) == -1)
		return errno = EPROTO, -1;
	return 0;
}

int
sts_res_encode(struct buf *b, const struct sts_res *r)
{
	size_t st = b->len;

	if (pk_begin(b) == -1 || pk_u8(b, 'R') == -1 ||
	    pk_cstr(b, r->domain) == -1 || pk_u8(b, r->ok) == -1 ||
	    pk_cstr(b, r->type) == -1 || pk_cstr(b, r->mx) == -1)
		return -1;
	return pk_finish(b, st);
}

int
sts_res_decode(const void *p, size_t n, struct sts_res *r)
{
	struct cur c;
	const char *s;
	size_t sn;
	uint8_t t;

	memset(r, 0, sizeof *r);
	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != 'R' || cur_str(&c, &s, &sn) == -1 ||
	    copy(r->domain, sizeof r->domain, s, sn) == -1 ||
	    cur_u8(&c, &r->ok) == -1 || cur_str(&c, &s, &sn) == -1 ||
	    copy(r->type, sizeof r->type, s, sn) == -1 ||
	    cur_str(&c, &s, &sn) == -1 ||
	    copy(r->mx, sizeof r->mx, s, sn) == -1 || cur_end(&c) == -1)
		return errno = EPROTO, -1;
	return 0;
}

int
sts_mail_encode(struct buf *b, const char *rcpt, const void *msg, size_t len)
{
	size_t st = b->len;

	if (pk_begin(b) == -1 || pk_u8(b, 'M') == -1 ||
	    pk_cstr(b, rcpt) == -1 || pk_str(b, msg, len) == -1)
		return -1;
	return pk_finish(b, st);
}

int
sts_mail_decode(const void *p, size_t n, struct sts_mail *m)
{
	struct cur c;
	const char *s;
	size_t sn;
	uint8_t t;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != 'M' || cur_str(&c, &s, &sn) == -1 ||
	    copy(m->rcpt, sizeof m->rcpt, s, sn) == -1 ||
	    cur_str(&c, &m->msg, &m->len) == -1 || cur_end(&c) == -1)
		return errno = EPROTO, -1;
	return 0;
}
