/* buf: a byte string that always carries its length and a hard ceiling.
 * Used by every program; nothing here knows about mail. */
#ifndef SANDMAIL_BUF_H
#define SANDMAIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*p;
	size_t	 len, cap, max;	/* max: hard ceiling on len */
};

#define BUF_INIT(m)	{ NULL, 0, 0, (m) }

void	buf_init(struct buf *, size_t max);
void	buf_free(struct buf *);
int	buf_reserve(struct buf *, size_t n);
int	buf_put(struct buf *, const void *, size_t);
int	buf_puts(struct buf *, const char *);
int	buf_putc(struct buf *, char);
int	buf_fmt(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	buf_vfmt(struct buf *, const char *, va_list);
int	buf_cstr(struct buf *);		/* NUL after len, not counted */
void	buf_drop(struct buf *, size_t n);	/* remove n bytes from front */
int	buf_eq(const struct buf *, const char *);

#endif
