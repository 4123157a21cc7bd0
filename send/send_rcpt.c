/* send_rcpt: the record formats of local/ID, remote/ID and bounce/ID.
 * Pure codecs: no I/O, so the tools and the unit tests link them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "send_int.h"

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* rc_encode - append one recipient record (fixed part and payload) */
int
rc_encode(struct buf *b, const struct rcpt *r)
{
	unsigned char fx[RC_FIXED];
	size_t el = strnlen(r->err, SEND_ERR_MAX), start;

	memset(fx, 0, sizeof fx);
	fx[0] = r->state;
	fx[1] = r->inner ? r->kind : 0;
	put64(fx + RC_OFF_NEXT, r->next);
	fx[RC_OFF_ERR] = (unsigned char)(el >> 8);
	fx[RC_OFF_ERR + 1] = (unsigned char)el;
	memcpy(fx + RC_OFF_ERR + 2, r->err, el);
	if (buf_put(b, fx, sizeof fx) == -1)
		return -1;
	start = b->len;
	if (pk_begin(b) == -1 || pk_cstr(b, r->addr) == -1 ||
	    pk_cstr(b, r->orcpt) == -1 || pk_u8(b, r->notify) == -1 ||
	    pk_cstr(b, r->dest) == -1 || pk_u32(b, r->uid) == -1 ||
	    pk_u32(b, r->gid) == -1 || pk_cstr(b, r->domain) == -1 ||
	    pk_cstr(b, r->sender) == -1)
		return -1;
	if (r->orig != NULL && r->orig[0] != '\0' &&
	    strcmp(r->orig, r->addr) != 0 && pk_cstr(b, r->orig) == -1)
		return -1;
	if (b->len - start - 4 > RC_PAYLOAD_MAX)
		return errno = E2BIG, -1;
	return pk_finish(b, start);
}

static int
valid_state(uint8_t s)
{
	return s == RC_PENDING || s == RC_WARNED || s == RC_DONE ||
	    s == RC_FAILED;
}

/* decode_one - one record; kind 0: the kind is byte 1 (SMINFO2) */
static int
decode_one(struct rcpt *r, const unsigned char *p, size_t n, uint8_t kind,
    size_t *used)
{
	struct cur c;
	uint32_t len;
	size_t el;

	if (n < RC_HDR || !valid_state(p[0]) || (kind == 0 &&
	    p[1] != RC_LOCAL && p[1] != RC_REMOTE))
		return errno = EPROTO, -1;
	memset(r, 0, sizeof *r);
	r->state = p[0];
	r->kind = kind ? kind : p[1];
	r->inner = kind == 0;
	r->next = get64(p + RC_OFF_NEXT);
	el = (size_t)p[RC_OFF_ERR] << 8 | p[RC_OFF_ERR + 1];
	if (el > SEND_ERR_MAX)
		return errno = EPROTO, -1;
	memcpy(r->err, p + RC_OFF_ERR + 2, el);
	r->err[el] = '\0';
	r->err[strnlen(r->err, el)] = '\0';
	len = (uint32_t)p[RC_FIXED] << 24 | (uint32_t)p[RC_FIXED + 1] << 16 |
	    (uint32_t)p[RC_FIXED + 2] << 8 | p[RC_FIXED + 3];
	if (len > RC_PAYLOAD_MAX || len > n - RC_HDR)
		return errno = EPROTO, -1;
	cur_init(&c, p + RC_HDR, len);
	if (cur_cstr(&c, &r->addr, ENV_ADDR_MAX) == -1 ||
	    cur_cstr(&c, &r->orcpt, ENV_FIELD_MAX) == -1 ||
	    cur_u8(&c, &r->notify) == -1 ||
	    cur_cstr(&c, &r->dest, 4096) == -1 ||
	    cur_u32(&c, &r->uid) == -1 || cur_u32(&c, &r->gid) == -1 ||
	    cur_cstr(&c, &r->domain, ENV_ADDR_MAX) == -1 ||
	    cur_cstr(&c, &r->sender, ENV_ADDR_MAX) == -1 ||
	    (cur_end(&c) == -1 && (cur_cstr(&c, &r->orig, ENV_ADDR_MAX) == -1 ||
	    cur_end(&c) == -1))) {
		rc_free(r);
		return errno = EPROTO, -1;
	}
	*used = RC_HDR + len;
	return 0;
}

/* decode_from - the records from off to n, appended to *v */
static int
decode_from(const unsigned char *s, size_t off, size_t n, uint8_t kind,
    struct rcpt **v, size_t *nv)
{
	size_t used, cap = *nv;
	struct rcpt *nr;

	while (off < n) {
		if (*nv == cap || cap == 0) {
			cap = cap ? cap * 2 : 8;
			if ((nr = reallocarray(*v, cap, sizeof *nr)) == NULL)
				return -1;
			*v = nr;
		}
		if (decode_one(&(*v)[*nv], s + off, n - off, kind, &used) == -1)
			return -1;
		(*v)[*nv].off = (off_t)off;
		(*nv)++;
		off += used;
	}
	return 0;
}

/* rc_decode - every record of an SMRCPT1 file image, appended to *v */
int
rc_decode(const void *p, size_t n, uint8_t kind, struct rcpt **v,
    size_t *nv)
{
	const unsigned char *s = p;

	if (n < RC_MAGIC_LEN || memcmp(s, RC_MAGIC, RC_MAGIC_LEN) != 0 ||
	    kind == 0)
		return errno = EPROTO, -1;
	return decode_from(s, RC_MAGIC_LEN, n, kind, v, nv);
}

/* rc_dir - where r's state byte is */
const char *
rc_dir(const struct rcpt *r)
{
	if (r->inner)
		return "info";
	return r->kind == RC_LOCAL ? "local" : "remote";
}

/* info_encode - the magic, the framed envelope (no recipients), recs */
int
info_encode(struct buf *b, const struct env *e, const void *recs, size_t n)
{
	struct env hd = *e;
	size_t start;

	hd.nrcpt = 0;
	hd.rcpt = NULL;
	if (buf_put(b, INFO_MAGIC, INFO_MAGIC_LEN) == -1)
		return -1;
	start = b->len;
	if (pk_begin(b) == -1 || env_encode(b, &hd) == -1 ||
	    pk_finish(b, start) == -1)
		return -1;
	return buf_put(b, recs, n);
}

/* info_decode - either version of info/ID */
int
info_decode(const void *p, size_t n, struct env *e, struct rcpt **v,
    size_t *nv, int *inner)
{
	const unsigned char *s = p;
	uint32_t len;

	*inner = 0;
	if (n < INFO_MAGIC_LEN || memcmp(s, INFO_MAGIC, INFO_MAGIC_LEN) != 0)
		return env_decode(e, p, n);
	if (n < INFO_MAGIC_LEN + 4)
		return errno = EPROTO, -1;
	s += INFO_MAGIC_LEN;
	len = (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 |
	    (uint32_t)s[2] << 8 | s[3];
	if (len > n - INFO_MAGIC_LEN - 4)
		return errno = EPROTO, -1;
	if (env_decode(e, s + 4, len) == -1)
		return -1;
	if (decode_from(p, INFO_MAGIC_LEN + 4 + (size_t)len, n, 0, v,
	    nv) == -1) {
		env_free(e);
		return -1;
	}
	*inner = 1;
	return 0;
}

/* rc_free - release one decoded recipient's strings */
void
rc_free(struct rcpt *r)
{
	free(r->addr);
	free(r->orcpt);
	free(r->dest);
	free(r->domain);
	free(r->sender);
	free(r->orig);
	r->addr = r->orcpt = r->dest = r->domain = r->sender = NULL;
	r->orig = NULL;
}

/* rc_pending - still to be delivered */
int
rc_pending(const struct rcpt *r)
{
	return r->state == RC_PENDING || r->state == RC_WARNED;
}

/* br_encode - append one framed bounce record */
int
br_encode(struct buf *b, const struct brec *r)
{
	size_t start = b->len;

	if (pk_begin(b) == -1 || pk_u8(b, r->action) == -1 ||
	    pk_u64(b, r->time) == -1 || pk_cstr(b, r->addr) == -1 ||
	    pk_cstr(b, r->orcpt) == -1 || pk_u8(b, r->notify) == -1 ||
	    pk_cstr(b, r->mta) == -1 || pk_cstr(b, r->text) == -1 ||
	    pk_cstr(b, r->sender) == -1)
		return -1;
	return pk_finish(b, start);
}

static void
br_clear(struct brec *r)
{
	free(r->addr);
	free(r->orcpt);
	free(r->mta);
	free(r->text);
	free(r->sender);
	memset(r, 0, sizeof *r);
}

static int
br_one(struct brec *r, const unsigned char *p, size_t len)
{
	struct cur c;

	memset(r, 0, sizeof *r);
	cur_init(&c, p, len);
	if (cur_u8(&c, &r->action) == -1 || cur_u64(&c, &r->time) == -1 ||
	    cur_cstr(&c, &r->addr, ENV_ADDR_MAX) == -1 ||
	    cur_cstr(&c, &r->orcpt, ENV_FIELD_MAX) == -1 ||
	    cur_u8(&c, &r->notify) == -1 ||
	    cur_cstr(&c, &r->mta, 1024) == -1 ||
	    cur_cstr(&c, &r->text, 8192) == -1 ||
	    cur_cstr(&c, &r->sender, ENV_ADDR_MAX) == -1 || cur_end(&c) == -1 ||
	    (r->action != BR_FAILED && r->action != BR_DELAYED &&
	    r->action != BR_DELIVERED && r->action != BR_RELAYED)) {
		br_clear(r);
		return errno = EPROTO, -1;
	}
	return 0;
}

/* br_decode - the whole records of a bounce file; a torn tail is skipped */
int
br_decode(const void *p, size_t n, struct brec **v, size_t *nv)
{
	const unsigned char *s = p;
	size_t off = 0, cap = 0;
	uint32_t len;
	struct brec *nr;

	*v = NULL, *nv = 0;
	while (n - off >= 4) {
		len = (uint32_t)s[off] << 24 | (uint32_t)s[off + 1] << 16 |
		    (uint32_t)s[off + 2] << 8 | s[off + 3];
		if (len > n - off - 4)
			break;		/* torn by a crash: never fsynced */
		if (*nv == cap) {
			cap = cap ? cap * 2 : 4;
			if ((nr = reallocarray(*v, cap, sizeof *nr)) == NULL)
				goto fail;
			*v = nr;
		}
		if (br_one(&(*v)[*nv], s + off + 4, len) == -1)
			goto fail;
		(*nv)++;
		off += 4 + (size_t)len;
	}
	return 0;
fail:
	br_free(*v, *nv);
	*v = NULL, *nv = 0;
	return -1;
}

/* br_free - release n records and the array */
void
br_free(struct brec *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		br_clear(&v[i]);
	free(v);
}

/* send_idok - a queue ID: [0-9A-Za-z]{1,32} */
int
send_idok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= QID_MAX || !((c >= '0' && c <= '9') ||
		    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return 0;
	}
	return n > 0;
}
