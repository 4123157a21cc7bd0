/* srsc: the records of the SRS check service and the session's client
 * (srsc.h).  Trusts nothing it decodes: every field bounded, every
 * record consumed exactly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rec.h"
#include "srsc.h"

/* srsc_attach - talk to the service on fd */
void
srsc_attach(struct srsc *c, int fd, int timeout_ms)
{
	c->fd = fd;
	c->greeted = 0;
	rd_init(&c->rd, fd, NULL, NULL);
	wr_init(&c->wr, fd, NULL, NULL);
	c->rd.timeout_ms = c->wr.timeout_ms = timeout_ms;
}

void
srsc_close(struct srsc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->greeted = 0;
}

int
srsc_hello_encode(struct buf *b)
{
	size_t start = b->len;

	if (pk_begin(b) == -1 || pk_u8(b, SRSC_HELLO) == -1 ||
	    pk_cstr(b, SRSC_BANNER) == -1)
		return -1;
	return pk_finish(b, start);
}

int
srsc_hello_decode(const void *p, size_t n)
{
	struct cur c;
	const char *v;
	size_t vl;
	uint8_t t;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != SRSC_HELLO ||
	    cur_str(&c, &v, &vl) == -1 || cur_end(&c) != 0 ||
	    vl != strlen(SRSC_BANNER) || memcmp(v, SRSC_BANNER, vl) != 0)
		return errno = EPROTO, -1;
	return 0;
}

int
srsc_req_encode(struct buf *b, const char *l, size_t n)
{
	size_t start = b->len;

	if (n > SRSC_LOCAL_MAX)
		return errno = E2BIG, -1;
	if (pk_begin(b) == -1 || pk_u8(b, SRSC_REQ) == -1 ||
	    pk_str(b, l, n) == -1)
		return -1;
	return pk_finish(b, start);
}

int
srsc_req_decode(const void *p, size_t n, const char **l, size_t *ln)
{
	struct cur c;
	uint8_t t;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != SRSC_REQ ||
	    cur_str(&c, l, ln) == -1 || cur_end(&c) != 0 ||
	    *ln > SRSC_LOCAL_MAX)
		return errno = EPROTO, -1;
	return 0;
}

int
srsc_res_encode(struct buf *b, enum srs_res r)
{
	size_t start = b->len;

	if (pk_begin(b) == -1 || pk_u8(b, SRSC_RES) == -1 ||
	    pk_u8(b, (uint8_t)r) == -1)
		return -1;
	return pk_finish(b, start);
}

int
srsc_res_decode(const void *p, size_t n, enum srs_res *r)
{
	struct cur c;
	uint8_t t, v;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != SRSC_RES || cur_u8(&c, &v) == -1 ||
	    cur_end(&c) != 0 || v > SRS_ERROR)
		return errno = EPROTO, -1;
	*r = (enum srs_res)v;
	return 0;
}

/* ask - one request and its answer; -1 on any failure */
static int
ask(struct srsc *c, const char *l, size_t n, enum srs_res *r)
{
	struct buf b = BUF_INIT(SRSC_REC_MAX + REC_HDR);
	int k = -1;

	if (!c->greeted) {
		if (rec_read(&c->rd, &b, SRSC_REC_MAX) != 1 ||
		    srsc_hello_decode(b.p, b.len) == -1)
			goto done;
		c->greeted = 1;
	}
	b.len = 0;
	if (srsc_req_encode(&b, l, n) == -1 ||
	    wr_put(&c->wr, b.p, b.len) == -1 || wr_flush(&c->wr) == -1 ||
	    rec_read(&c->rd, &b, SRSC_REC_MAX) != 1 ||
	    srsc_res_decode(b.p, b.len, r) == -1)
		goto done;
	k = 0;
done:
	buf_free(&b);
	return k;
}

/* srsc_check - the service's verdict (see srsc.h) */
enum srs_res
srsc_check(struct srsc *c, const char *l, size_t n)
{
	enum srs_res r;

	if (c->fd < 0)
		return SRS_ERROR;
	if (n > SRSC_LOCAL_MAX)
		return SRS_SYNTAX;
	if (ask(c, l, n, &r) == -1) {
		srsc_close(c);
		return SRS_ERROR;
	}
	return r;
}
