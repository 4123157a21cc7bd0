/* guard: failure counts per address, network, login and in total, for
 * the authentication service's delays and lockouts (guard.h). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authc.h"
#include "guard.h"
#include "log.h"
#include "netkey.h"

enum { W_HOST, W_NET, W_LOGIN, W_PAIR };

#define KNOWN_MS	((long long)GUARD_KNOWN_DAYS * 86400 * 1000)

/* guard_init - an empty table and a fresh hash key */
void
guard_init(struct guard *g, const struct guard_cfg *c)
{
	memset(g, 0, sizeof *g);
	g->cfg = *c;
	randombytes_buf(g->hkey, sizeof g->hkey);
	if ((g->e = calloc(GUARD_MAX, sizeof *g->e)) == NULL)
		die_temp("calloc", NULL);
}

void
guard_free(struct guard *g)
{
	free(g->e);
	g->e = NULL;
	g->n = 0;
}

static uint64_t
hash(const struct guard *g, uint8_t tag, const void *p, size_t n)
{
	unsigned char in[1 + 18 + AUTH_LOGIN_MAX], out[8];
	uint64_t v = 0;

	if (n > sizeof in - 1)
		n = sizeof in - 1;
	in[0] = tag;
	memcpy(in + 1, p, n);
	crypto_shorthash(out, in, n + 1, g->hkey);
	for (int i = 0; i < 8; i++)
		v = v << 8 | out[i];
	return v | 1;		/* 0 marks a free slot */
}

/* guard_who - the keys of a request from ip for login */
void
guard_who(const struct guard *g, struct guard_who *w, const char *ip,
    const char *login, size_t llen)
{
	struct netkey k;

	unsigned char pair[sizeof k.b + AUTH_LOGIN_MAX];

	(void)netkey_of(ip, NK_HOST, &k);
	w->k[W_HOST] = hash(g, 'h', k.b, sizeof k.b);
	if (llen > AUTH_LOGIN_MAX)
		llen = AUTH_LOGIN_MAX;
	memcpy(pair, k.b, sizeof k.b);
	memcpy(pair + sizeof k.b, login, llen);
	w->k[W_PAIR] = hash(g, 'p', pair, sizeof k.b + llen);
	(void)netkey_of(ip, NK_NET, &k);
	w->k[W_NET] = hash(g, 'n', k.b, sizeof k.b);
	w->k[W_LOGIN] = hash(g, 'l', login, llen);
}

#define PROBE	32

/* find - key's entry: open addressing, at most PROBE slots from its hash */
static struct guard_ent *
find(struct guard *g, uint64_t key)
{
	size_t i = key % GUARD_MAX;

	for (int k = 0; k < PROBE; k++, i = (i + 1) % GUARD_MAX) {
		if (g->e[i].key == key)
			return &g->e[i];
		if (g->e[i].key == 0)
			return NULL;
	}
	return NULL;
}

/* count - the failures of key still counted at now */
static unsigned
count(struct guard *g, uint64_t key, long long now)
{
	struct guard_ent *e = find(g, key);

	if (e == NULL || now - e->last >= (long long)g->cfg.lockout_ms)
		return 0;
	return e->count;
}

/* slot - key's entry, made (in a free slot of its probe window, or in
 * the one whose last use is oldest there) */
static struct guard_ent *
slot(struct guard *g, uint64_t key, long long now)
{
	struct guard_ent *e, *old = NULL;
	size_t i = key % GUARD_MAX;

	if ((e = find(g, key)) != NULL) {
		if (now - e->last >= (long long)g->cfg.lockout_ms &&
		    e->count > 0)
			e->count = 0;
		return e;
	}
	for (int k = 0; k < PROBE; k++, i = (i + 1) % GUARD_MAX) {
		e = &g->e[i];
		if (e->key == 0) {
			g->n++;
			break;
		}
		if (old == NULL || e->last < old->last)
			old = e;
		e = NULL;
	}
	if (e == NULL)
		e = old;
	e->key = key;
	e->count = 0;
	e->last = now;
	return e;
}

static unsigned
limit(const struct guard *g, int which)
{
	return which == W_NET ? g->cfg.lockout_net : g->cfg.lockout;
}

/* known - the login has succeeded from this address lately */
static int
known(struct guard *g, const struct guard_who *w, long long now)
{
	struct guard_ent *e = find(g, w->k[W_PAIR]);

	return e != NULL && e->count == 0 && now - e->last < KNOWN_MS;
}

/* guard_locked - the address, network or login is locked out (the
 * login not for an address it is known from) */
int
guard_locked(struct guard *g, const struct guard_who *w, long long now)
{
	for (int i = W_HOST; i <= W_LOGIN; i++)
		if (count(g, w->k[i], now) >= limit(g, i) &&
		    (i != W_LOGIN || !known(g, w, now)))
			return 1;
	return 0;
}

/* guard_score - 0 for a login from an address it has logged in from
 * lately; else 1 and the failures counted against the request's address
 * and network (not its login: an honest user shares that with the
 * guessers of its password) */
unsigned
guard_score(struct guard *g, const struct guard_who *w, long long now)
{
	if (known(g, w, now))
		return 0;
	return 1 + count(g, w->k[W_HOST], now) + count(g, w->k[W_NET], now);
}

/* guard_fail - one failure more: the delay of its answer */
unsigned long
guard_fail(struct guard *g, const struct guard_who *w, long long now)
{
	unsigned long d = g->cfg.delay_ms;
	unsigned worst = 0;
	struct guard_ent *e;

	for (int i = W_HOST; i <= W_LOGIN; i++) {
		e = slot(g, w->k[i], now);
		if (e->count > worst)
			worst = e->count;
		if (e->count < UINT32_MAX)
			e->count++;
		e->last = now;
	}
	if (now / 60000 != g->gmin) {
		g->gmin = now / 60000;
		g->gcount = 0;
	}
	g->gcount++;
	for (unsigned i = 0; i < worst && d < g->cfg.delay_max_ms; i++)
		d *= 2;
	if (g->gcount > g->cfg.global || d > g->cfg.delay_max_ms)
		d = g->cfg.delay_max_ms;
	if (d < g->cfg.delay_ms)
		d = g->cfg.delay_ms;
	return d;
}

/* guard_ok - a right password: the address and the login start again,
 * and the pair is known */
void
guard_ok(struct guard *g, const struct guard_who *w, long long now)
{
	struct guard_ent *e;

	if ((e = find(g, w->k[W_PAIR])) == NULL)
		e = slot(g, w->k[W_PAIR], now);
	e->count = 0;		/* count 0, last: a success */
	e->last = now;

	if ((e = find(g, w->k[W_HOST])) != NULL)
		e->count = 0;
	if ((e = find(g, w->k[W_LOGIN])) != NULL)
		e->count = 0;
}
