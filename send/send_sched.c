/* send_sched: the retry schedule and the message index (a hash by ID
 * and a binary heap by due time).  About 90 bytes per queued message, so
 * 100,000 messages cost about 9 MB; nothing of a message's files is held
 * until it is due (send_loop.c loads it then). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "send_int.h"

/* sched_next - the first schedule point after now (see send_int.h) */
uint64_t
sched_next(uint64_t arrival, uint64_t now, uint64_t first, uint64_t max)
{
	uint64_t t = arrival, step = first ? first : 1;

	if (max < step)
		max = step;
	if (now < arrival)
		return arrival + step;
	/* skip whole max-sized steps at once once the steps are capped */
	while (t <= now) {
		if (step >= max) {
			t += ((now - t) / max + 1) * max;
			break;
		}
		t += step;
		step = step > max / 2 ? max : step * 2;
	}
	return t;
}

static size_t
hash(const char *s, size_t sz)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)(h % sz);
}

/* idx_init - an empty index */
void
idx_init(struct index *x)
{
	memset(x, 0, sizeof *x);
}

static int
rehash(struct index *x)
{
	size_t nsz = x->tabsz ? x->tabsz * 2 : 1024, h;
	struct msg **nt, *m, *nx;

	if ((nt = calloc(nsz, sizeof *nt)) == NULL)
		return -1;
	for (size_t i = 0; i < x->tabsz; i++)
		for (m = x->tab[i]; m != NULL; m = nx) {
			nx = m->hnext;
			h = hash(m->id, nsz);
			m->hnext = nt[h];
			nt[h] = m;
		}
	free(x->tab);
	x->tab = nt;
	x->tabsz = nsz;
	return 0;
}

/* idx_get - the message with this ID, or NULL */
struct msg *
idx_get(struct index *x, const char *id)
{
	struct msg *m;

	if (x->tabsz == 0)
		return NULL;
	for (m = x->tab[hash(id, x->tabsz)]; m != NULL; m = m->hnext)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static int
less(const struct index *x, size_t a, size_t b)
{
	return x->heap[a]->due < x->heap[b]->due;
}

static void
swap(struct index *x, size_t a, size_t b)
{
	struct msg *t = x->heap[a];

	x->heap[a] = x->heap[b];
	x->heap[b] = t;
	x->heap[a]->hi = a;
	x->heap[b]->hi = b;
}

static void
up(struct index *x, size_t i)
{
	while (i > 0 && less(x, i, (i - 1) / 2)) {
		swap(x, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
down(struct index *x, size_t i)
{
	size_t l, s;

	for (;;) {
		l = 2 * i + 1;
		s = i;
		if (l < x->hn && less(x, l, s))
			s = l;
		if (l + 1 < x->hn && less(x, l + 1, s))
			s = l + 1;
		if (s == i)
			return;
		swap(x, i, s);
		i = s;
	}
}

/* idx_unsched - take a message off the heap (it stays in the hash) */
void
idx_unsched(struct index *x, struct msg *m)
{
	size_t i = m->hi;

	if (i == IDX_NONE)
		return;
	m->hi = IDX_NONE;
	x->hn--;
	if (i == x->hn)
		return;
	x->heap[i] = x->heap[x->hn];
	x->heap[i]->hi = i;
	up(x, i);
	down(x, i);
}

/* idx_sched - (re)place a message on the heap at due */
void
idx_sched(struct index *x, struct msg *m, uint64_t due)
{
	idx_unsched(x, m);
	m->due = due;
	m->hi = x->hn;
	x->heap[x->hn++] = m;
	up(x, m->hi);
}

/* idx_add - a new message, scheduled at due; NULL on ENOMEM/EEXIST */
struct msg *
idx_add(struct index *x, const char *id, uint64_t due)
{
	struct msg *m, **nh;
	size_t h, ncap;

	if (idx_get(x, id) != NULL)
		return errno = EEXIST, NULL;
	if (strlen(id) > QID_MAX)
		return errno = EINVAL, NULL;
	if (x->n >= x->tabsz / 2 && rehash(x) == -1)
		return NULL;
	/* room for every message, scheduled or not: idx_sched never grows */
	if (x->n + 1 > x->hcap) {
		ncap = x->hcap ? x->hcap * 2 : 1024;
		if ((nh = reallocarray(x->heap, ncap, sizeof *nh)) == NULL)
			return NULL;
		x->heap = nh;
		x->hcap = ncap;
	}
	if ((m = calloc(1, sizeof *m)) == NULL)
		return NULL;
	memcpy(m->id, id, strlen(id) + 1);
	m->hi = IDX_NONE;
	h = hash(id, x->tabsz);
	m->hnext = x->tab[h];
	x->tab[h] = m;
	x->n++;
	idx_sched(x, m, due);
	return m;
}

/* idx_del - forget a message altogether and free it */
void
idx_del(struct index *x, struct msg *m)
{
	struct msg **pp;

	idx_unsched(x, m);
	if (m->arrival != 0 && m->arrival == x->oldest)
		x->ostale = 1;
	for (pp = &x->tab[hash(m->id, x->tabsz)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			x->n--;
			break;
		}
	free(m);
}

/* idx_top - the message due first, or NULL */
struct msg *
idx_top(const struct index *x)
{
	return x->hn ? x->heap[0] : NULL;
}

/* idx_arrival - see send_int.h */
void
idx_arrival(struct index *x, struct msg *m, uint64_t t)
{
	if (m->arrival != 0 && m->arrival == x->oldest && t != m->arrival)
		x->ostale = 1;
	m->arrival = t;
	if (t != 0 && (x->oldest == 0 || t < x->oldest))
		x->oldest = t;
}

/* idx_oldest - see send_int.h */
uint64_t
idx_oldest(struct index *x)
{
	const struct msg *m;

	if (!x->ostale)
		return x->oldest;
	x->oldest = 0;
	for (size_t i = 0; i < x->tabsz; i++)
		for (m = x->tab[i]; m != NULL; m = m->hnext)
			if (m->arrival != 0 && (x->oldest == 0 ||
			    m->arrival < x->oldest))
				x->oldest = m->arrival;
	x->ostale = 0;
	return x->oldest;
}

/* idx_free - free every message and the tables */
void
idx_free(struct index *x)
{
	struct msg *m, *nx;

	for (size_t i = 0; i < x->tabsz; i++)
		for (m = x->tab[i]; m != NULL; m = nx) {
			nx = m->hnext;
			free(m);
		}
	free(x->tab);
	free(x->heap);
	idx_init(x);
}
