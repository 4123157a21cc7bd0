/* stsmsg: send <-> sts records (see stsmsg.h).  A record is a pk_*
 * payload framed by rec.c: 'Q' u32 qid, str domain; 'A' u32 qid, str
 * domain, u8 mode, u32 n, n × str mx pattern, str why; 'R' str domain,
 * u8 ok, str result-type, str mx; 'M' str rcpt, str message.  Each
 * record is a row of the layouts below, and one encoder and one decoder
 * walk a row, so the two directions cannot drift apart. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "rec.h"
#include "stsmsg.h"

enum fkind {
	F_U8,		/* uint8_t */
	F_U32,		/* uint32_t */
	F_STR,		/* char[size], a str with no NUL on the wire */
	F_POL,		/* struct sts_policy: u8 mode, u32 n, n × str mx */
	F_BYTES,	/* const char * and, at offset size, its size_t length */
};

struct field {
	enum fkind	kind;
	size_t		off, size;
};

struct layout {
	uint8_t			 type;
	size_t			 size;		/* of the struct */
	const struct field	*f;
};

#define FLD(k, s, m)	{ k, offsetof(s, m), sizeof ((s *)0)->m }
#define END		{ F_U8, 0, 0 }		/* size 0 ends a row */

static const struct field req_f[] = {
	FLD(F_U32, struct sts_req, qid),
	FLD(F_STR, struct sts_req, domain),
	END,
};
static const struct field ans_f[] = {
	FLD(F_U32, struct sts_ans, qid),
	FLD(F_STR, struct sts_ans, domain),
	FLD(F_POL, struct sts_ans, pol),
	FLD(F_STR, struct sts_ans, why),
	END,
};
static const struct field res_f[] = {
	FLD(F_STR, struct sts_res, domain),
	FLD(F_U8, struct sts_res, ok),
	FLD(F_STR, struct sts_res, type),
	FLD(F_STR, struct sts_res, mx),
	END,
};
static const struct field mail_f[] = {
	FLD(F_STR, struct sts_mail, rcpt),
	{ F_BYTES, offsetof(struct sts_mail, msg),
	    offsetof(struct sts_mail, len) },
	END,
};

static const struct layout req_l = { 'Q', sizeof(struct sts_req), req_f };
static const struct layout ans_l = { 'A', sizeof(struct sts_ans), ans_f };
static const struct layout res_l = { 'R', sizeof(struct sts_res), res_f };
static const struct layout mail_l = { 'M', sizeof(struct sts_mail), mail_f };

static int
copy(char *dst, size_t dsz, const char *p, size_t n)
{
	if (n >= dsz || memchr(p, '\0', n) != NULL)
		return errno = EPROTO, -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* pol_pack, pol_unpack - mode, the count, the patterns */
static int
pol_pack(struct buf *b, const struct sts_policy *pol)
{
	if (pk_u8(b, (uint8_t)pol->mode) == -1 ||
	    pk_u32(b, (uint32_t)pol->nmx) == -1)
		return -1;
	for (size_t i = 0; i < pol->nmx; i++)
		if (pk_cstr(b, pol->mx[i]) == -1)
			return -1;
	return 0;
}

static int
pol_unpack(struct cur *c, struct sts_policy *pol)
{
	const char *s;
	size_t sn;
	uint32_t nmx;
	uint8_t mode;

	if (cur_u8(c, &mode) == -1 || mode > STS_ENFORCE ||
	    cur_u32(c, &nmx) == -1 || nmx > STS_MX_MAX)
		return -1;
	pol->mode = (enum sts_mode)mode;
	pol->nmx = nmx;
	for (uint32_t i = 0; i < nmx; i++)
		if (cur_str(c, &s, &sn) == -1 ||
		    copy(pol->mx[i], sizeof pol->mx[i], s, sn) == -1)
			return -1;
	return 0;
}

/* field_pack, field_unpack - one field of the struct at v */
static int
field_pack(struct buf *b, const struct field *f, const char *v)
{
	switch (f->kind) {
	case F_U8:
		return pk_u8(b, *(const uint8_t *)(v + f->off));
	case F_U32:
		return pk_u32(b, *(const uint32_t *)(v + f->off));
	case F_STR:
		return pk_cstr(b, v + f->off);
	case F_POL:
		return pol_pack(b, (const struct sts_policy *)(v + f->off));
	case F_BYTES:
		return pk_str(b, *(const char *const *)(v + f->off),
		    *(const size_t *)(v + f->size));
	}
	return -1;
}

static int
field_unpack(struct cur *c, const struct field *f, char *v)
{
	const char *s;
	size_t sn;

	switch (f->kind) {
	case F_U8:
		return cur_u8(c, (uint8_t *)(v + f->off));
	case F_U32:
		return cur_u32(c, (uint32_t *)(v + f->off));
	case F_STR:
		if (cur_str(c, &s, &sn) == -1)
			return -1;
		return copy(v + f->off, f->size, s, sn);
	case F_POL:
		return pol_unpack(c, (struct sts_policy *)(v + f->off));
	case F_BYTES:
		return cur_str(c, (const char **)(v + f->off),
		    (size_t *)(v + f->size));
	}
	return -1;
}

/* msg_encode, msg_decode - a whole record of layout l */
static int
msg_encode(struct buf *b, const struct layout *l, const void *v)
{
	size_t st = b->len;

	if (pk_begin(b) == -1 || pk_u8(b, l->type) == -1)
		return -1;
	for (const struct field *f = l->f; f->size != 0; f++)
		if (field_pack(b, f, v) == -1)
			return -1;
	return pk_finish(b, st);
}

static int
msg_decode(const void *p, size_t n, const struct layout *l, void *v)
{
	struct cur c;
	uint8_t t;

	memset(v, 0, l->size);
	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != l->type)
		return errno = EPROTO, -1;
	for (const struct field *f = l->f; f->size != 0; f++)
		if (field_unpack(&c, f, v) == -1)
			return errno = EPROTO, -1;
	if (cur_end(&c) == -1)
		return errno = EPROTO, -1;
	return 0;
}

int
sts_req_encode(struct buf *b, const struct sts_req *q)
{
	return msg_encode(b, &req_l, q);
}

int
sts_req_decode(const void *p, size_t n, struct sts_req *q)
{
	return msg_decode(p, n, &req_l, q);
}

int
sts_ans_encode(struct buf *b, const struct sts_ans *a)
{
	return msg_encode(b, &ans_l, a);
}

int
sts_ans_decode(const void *p, size_t n, struct sts_ans *a)
{
	return msg_decode(p, n, &ans_l, a);
}

int
sts_res_encode(struct buf *b, const struct sts_res *r)
{
	return msg_encode(b, &res_l, r);
}

int
sts_res_decode(const void *p, size_t n, struct sts_res *r)
{
	return msg_decode(p, n, &res_l, r);
}

int
sts_mail_encode(struct buf *b, const char *rcpt, const void *msg, size_t len)
{
	struct sts_mail m = { .msg = msg, .len = len };

	if (copy(m.rcpt, sizeof m.rcpt, rcpt, strlen(rcpt)) == -1)
		return errno = E2BIG, -1;
	return msg_encode(b, &mail_l, &m);
}

int
sts_mail_decode(const void *p, size_t n, struct sts_mail *m)
{
	return msg_decode(p, n, &mail_l, m);
}
