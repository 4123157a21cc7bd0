/* fuzz_rec: the record reader (lib/rec.c) and every decoder built on it:
 * the envelope (env.c), a todo/ file's envelope and seal (seal.c) and
 * send's job messages (job.c).  The first byte
 * picks the decoder.  What a decoder accepts must encode back to exactly
 * the same bytes: the decoders consume their input exactly. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "job.h"
#include "rec.h"
#include "seal.h"

struct mem {
	const uint8_t	*p;
	size_t		 n, pos;
};

static ssize_t
mem_read(int fd, void *p, size_t n, void *ctx)
{
	struct mem *m = ctx;
	size_t k = m->n - m->pos;

	(void)fd;
	if (k > n)
		k = n;
	if (k > 7)		/* short reads, to cut records anywhere */
		k = 7;
	memcpy(p, m->p + m->pos, k);
	m->pos += k;
	return (ssize_t)k;
}

static void
same(const struct buf *b, const uint8_t *p, size_t n)
{
	if (b->len != n || (n > 0 && memcmp(b->p, p, n) != 0))
		abort();
}

#define ROUND(type, pfx)						\
	do {								\
		struct type v;						\
		if (pfx##_decode(&v, p, n) == 0) {			\
			if (pfx##_encode(&b, &v) == -1)			\
				abort();				\
			same(&b, p, n);					\
			pfx##_free(&v);					\
		}							\
	} while (0)

static void
decode(uint8_t which, const uint8_t *p, size_t n)
{
	struct buf b = BUF_INIT(1 << 24);
	struct seal sl;
	struct env e;
	int k;

	switch (which % 8) {
	case 0:
		if (env_decode(&e, p, n) == 0) {
			if (env_encode(&b, &e) == -1)
				abort();
			same(&b, p, n);
			env_free(&e);
		}
		break;
	case 1: ROUND(ljob, ljob); break;
	case 2: ROUND(lres, lres); break;
	case 3: ROUND(rjob, rjob); break;
	case 4: ROUND(rres, rres); break;
	case 5: ROUND(rqry, rqry); break;
	case 6: ROUND(rans, rans); break;
	case 7:
		if ((k = seal_env(&e, p, n, &sl)) >= 0) {
			if ((k == 1 && seal_reserve(&b) == -1) ||
			    env_encode(&b, &e) == -1 ||
			    (k == 1 && seal_fill(&b, 0, &sl) == -1))
				abort();
			same(&b, p, n);
		}
		env_free(&e);
		break;
	}
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(1 << 20);
	struct mem m;
	struct rd r;
	int k;

	if (size < 1)
		return 0;
	/* each payload as one message */
	decode(data[0], data + 1, size - 1);
	/* the same bytes as a stream of records, each decoded */
	m.p = data + 1, m.n = size - 1, m.pos = 0;
	rd_init(&r, -1, mem_read, &m);
	while ((k = rec_read(&r, &out, 4096)) == 1) {
		if (out.len > 4096)
			abort();
		decode(data[0], (const uint8_t *)out.p, out.len);
	}
	if (k == -1 && errno != EPROTO && errno != EMSGSIZE)
		abort();
	buf_free(&out);
	return 0;
}
