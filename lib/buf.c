/* buf: bounded byte strings.  Every growth is checked against b->max and
 * for size_t overflow, so a peer can never make us allocate without end. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* buf_init - an empty buffer that will never hold more than max bytes */
void
buf_init(struct buf *b, size_t max)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

/* buf_free - release the memory; the buffer may be used again */
void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* buf_reserve - make room for n more bytes (plus one for a NUL) */
int
buf_reserve(struct buf *b, size_t n)
{
	size_t need, ncap, lim;
	char *np;

	if (__builtin_add_overflow(b->len, n, &need) || need > b->max ||
	    need == SIZE_MAX)
		return errno = E2BIG, -1;
	need++;				/* room for buf_cstr()'s NUL */
	if (need <= b->cap)
		return 0;
	/* never more than the ceiling (max + 1 cannot wrap: need did not) */
	lim = b->max == SIZE_MAX ? SIZE_MAX : b->max + 1;
	for (ncap = b->cap ? b->cap : 64; ncap < need; )
		ncap = ncap > lim / 2 ? lim : ncap * 2;
	if (ncap > lim)
		ncap = lim;
	if ((np = realloc(b->p, ncap)) == NULL)
		return -1;
	b->p = np, b->cap = ncap;
	return 0;
}

/* buf_put - append n bytes */
int
buf_put(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* buf_puts - append a C string without its NUL */
int
buf_puts(struct buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

/* buf_putc - append one byte */
int
buf_putc(struct buf *b, char c)
{
	return buf_put(b, &c, 1);
}

/* buf_vfmt - append formatted text; fails whole rather than truncating */
int
buf_vfmt(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	if (vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap) != n)
		return errno = EINVAL, -1;
	b->len += (size_t)n;
	return 0;
}

/* buf_fmt - append formatted text */
int
buf_fmt(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vfmt(b, fmt, ap);
	va_end(ap);
	return r;
}

/* buf_cstr - put a NUL after the contents, for handing to libc */
int
buf_cstr(struct buf *b)
{
	if (buf_reserve(b, 0) == -1)
		return -1;
	b->p[b->len] = '\0';
	return 0;
}

/* buf_drop - remove the first n bytes */
void
buf_drop(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* buf_eq - whether the contents are exactly the string s */
int
buf_eq(const struct buf *b, const char *s)
{
	size_t n = strlen(s);

	return b->len == n && (n == 0 || memcmp(b->p, s, n) == 0);
}
