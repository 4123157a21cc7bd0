/* hdr: the parts of RFC 5322 that sandmail-inject needs: walking the
 * header fields of a message (LF line ends, folded lines kept) and taking
 * the addr-specs out of an address-list (To:, Cc:, Bcc:), with display
 * names, groups, comments, quoted strings and route-addrs.  Trusts
 * nothing in the bytes: every loop is bounded by the length given. */
#ifndef SANDMAIL_INJECT_HDR_H
#define SANDMAIL_INJECT_HDR_H

#include <stddef.h>

#define HDR_NAME_MAX	128	/* a field name longer than this is no header */

struct hdr_field {
	const char	*name;		/* the field name, not NUL-ended */
	size_t		 nlen;
	const char	*val;		/* after the colon, through the last LF */
	size_t		 vlen;
	const char	*raw;		/* the whole field with its LFs */
	size_t		 rlen;
};

/* hdr_field_len: the length of the field starting at s[0..n) (through the
 * LF that ends its last continuation line, or n), or 0 if s does not start
 * with "name:". */
size_t	hdr_field_len(const char *s, size_t n);
/* hdr_next: the next field of the header block s[0..n) at *off; 1 a field
 * (and *off moves past it), 0 at the end or at a line that is no field */
int	hdr_next(const char *s, size_t n, size_t *off, struct hdr_field *);
/* hdr_is: the field's name is name, case-insensitively */
int	hdr_is(const struct hdr_field *, const char *name);

/* hdr_addr_cb: one addr-spec as written (comments and white space gone,
 * quoted strings kept with their quotes), e.g. "\"a b\"@example.org" or an
 * unqualified "root".  Return 0 to go on, -1 to stop (the error is passed
 * on). */
typedef int hdr_addr_cb(void *ctx, const char *addr, size_t len);

enum hdr_err {
	HDR_OK = 0,
	HDR_SYNTAX = -1,	/* unterminated quote/comment/<, stray token */
	HDR_STOP = -2,		/* the callback said stop */
	HDR_TOOLONG = -3,	/* one address over HDR_ADDR_MAX */
};

#define HDR_ADDR_MAX	1024

/* hdr_addrlist: call cb for each address of the address-list s[0..n)
 * (folded lines allowed); HDR_OK or an enum hdr_err */
int	hdr_addrlist(const char *s, size_t n, hdr_addr_cb *cb, void *ctx);
const char *hdr_strerror(int);

#endif
