/* env: the envelope codec. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "rec.h"

static const size_t nmagic = sizeof ENV_MAGIC - 1;

/* env_init - an empty envelope */
void
env_init(struct env *e)
{
	memset(e, 0, sizeof *e);
}

/* env_free - release everything */
void
env_free(struct env *e)
{
	free(e->sender);
	free(e->envid);
	free(e->auth);
	free(e->client);
	free(e->helo);
	free(e->proto);
	for (size_t i = 0; i < e->nrcpt; i++) {
		free(e->rcpt[i].addr);
		free(e->rcpt[i].orcpt);
	}
	free(e->rcpt);
	env_init(e);
}

/* env_set - replace a string field with a copy */
int
env_set(char **field, const char *s)
{
	char *d = strdup(s ? s : "");

	if (d == NULL)
		return -1;
	free(*field);
	*field = d;
	return 0;
}

/* env_add_rcpt - append a recipient */
int
env_add_rcpt(struct env *e, const char *addr, uint8_t notify,
    const char *orcpt)
{
	struct env_rcpt *r;

	if (e->nrcpt >= ENV_RCPT_MAX)
		return errno = E2BIG, -1;
	if ((e->nrcpt & (e->nrcpt - 1)) == 0) {	/* 0, 1, 2, 4, ...: grow */
		r = reallocarray(e->rcpt, e->nrcpt ? e->nrcpt * 2 : 1,
		    sizeof *r);
		if (r == NULL)
			return -1;
		e->rcpt = r;
	}
	r = &e->rcpt[e->nrcpt];
	r->addr = strdup(addr);
	r->orcpt = strdup(orcpt ? orcpt : "");
	r->notify = notify;
	if (r->addr == NULL || r->orcpt == NULL) {
		free(r->addr);
		free(r->orcpt);
		return -1;
	}
	e->nrcpt++;
	return 0;
}

/* env_encode - append the envelope's encoding to b */
int
env_encode(struct buf *b, const struct env *e)
{
	if (buf_put(b, ENV_MAGIC, nmagic) == -1 ||
	    pk_cstr(b, e->sender) == -1 || pk_cstr(b, e->envid) == -1 ||
	    pk_cstr(b, e->auth) == -1 || pk_cstr(b, e->client) == -1 ||
	    pk_cstr(b, e->helo) == -1 || pk_cstr(b, e->proto) == -1 ||
	    pk_u64(b, e->arrival) == -1 || pk_u64(b, e->size) == -1 ||
	    pk_u32(b, e->flags) == -1 || pk_u8(b, e->ret) == -1 ||
	    pk_u32(b, (uint32_t)e->nrcpt) == -1)
		return -1;
	for (size_t i = 0; i < e->nrcpt; i++)
		if (pk_cstr(b, e->rcpt[i].addr) == -1 ||
		    pk_cstr(b, e->rcpt[i].orcpt) == -1 ||
		    pk_u8(b, e->rcpt[i].notify) == -1)
			return -1;
	return 0;
}

static int
decode_fields(struct env *e, struct cur *c)
{
	uint32_t n;
	uint8_t notify;
	char *a, *o;

	if (cur_cstr(c, &e->sender, ENV_ADDR_MAX) == -1 ||
	    cur_cstr(c, &e->envid, ENV_FIELD_MAX) == -1 ||
	    cur_cstr(c, &e->auth, ENV_FIELD_MAX) == -1 ||
	    cur_cstr(c, &e->client, ENV_FIELD_MAX) == -1 ||
	    cur_cstr(c, &e->helo, ENV_FIELD_MAX) == -1 ||
	    cur_cstr(c, &e->proto, ENV_FIELD_MAX) == -1 ||
	    cur_u64(c, &e->arrival) == -1 || cur_u64(c, &e->size) == -1 ||
	    cur_u32(c, &e->flags) == -1 || cur_u8(c, &e->ret) == -1 ||
	    cur_u32(c, &n) == -1)
		return -1;
	if (n > ENV_RCPT_MAX || e->ret > RET_HDRS)
		return errno = EPROTO, -1;
	while (n-- > 0) {
		a = o = NULL;
		if (cur_cstr(c, &a, ENV_ADDR_MAX) == -1 ||
		    cur_cstr(c, &o, ENV_FIELD_MAX) == -1 ||
		    cur_u8(c, &notify) == -1 ||
		    env_add_rcpt(e, a, notify, o) == -1) {
			free(a);
			free(o);
			return errno = EPROTO, -1;
		}
		free(a);
		free(o);
	}
	return cur_end(c);
}

/* env_decode - parse an encoding made by env_encode, exactly */
int
env_decode(struct env *e, const void *p, size_t n)
{
	struct cur c;

	env_init(e);
	if (n < nmagic || memcmp(p, ENV_MAGIC, nmagic) != 0)
		return errno = EPROTO, -1;
	cur_init(&c, (const char *)p + nmagic, n - nmagic);
	if (decode_fields(e, &c) == -1) {
		env_free(e);
		return errno = EPROTO, -1;
	}
	return 0;
}
