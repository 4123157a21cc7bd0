/* addr: RFC 5321 paths and mailboxes (section 4.1.2), parsed from bytes a
 * client sent.  The local part is kept unquoted (escapes removed) and the
 * domain as given; addr_format quotes again where the grammar needs it.
 * Source routes (<@a,@b:u@c>) are accepted and dropped (RFC 5321 C).
 * Limits (4.5.3.1): local part 64, domain 255, path 256 octets. */
#ifndef SANDMAIL_ADDR_H
#define SANDMAIL_ADDR_H

#include <stddef.h>

#include "buf.h"

#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	255
#define ADDR_PATH_MAX	256

enum addr_err {
	ADDR_OK = 0,
	ADDR_SYNTAX,		/* not a path/mailbox */
	ADDR_TOOLONG,		/* a length limit */
	ADDR_8BIT,		/* non-ASCII without SMTPUTF8, or bad UTF-8 */
	ADDR_NULL_REFUSED,	/* <> where it is not allowed */
};

/* flags */
#define ADDR_UTF8	0x01	/* SMTPUTF8 in force: UTF-8 allowed */
#define ADDR_ALLOW_NULL	0x02	/* <> accepted (MAIL FROM) */
#define ADDR_POSTMASTER	0x04	/* <Postmaster> with no domain (RCPT) */

struct addr {
	char	local[ADDR_LOCAL_MAX + 1];	/* unquoted, NUL-free */
	char	domain[ADDR_DOMAIN_MAX + 1];	/* "" for <> or <postmaster> */
	size_t	llen, dlen;
	int	null;		/* the null path <> */
	int	literal;	/* domain is an address literal [..] */
};

/* addr_parse_path: s[0..n) starts with '<'; on ADDR_OK *used is the length
 * through '>', so the caller parses ESMTP parameters from there. */
enum addr_err addr_parse_path(const char *s, size_t n, unsigned flags,
	    struct addr *, size_t *used);
/* addr_parse_mailbox: the whole of s[0..n) is local@domain */
enum addr_err addr_parse_mailbox(const char *s, size_t n, unsigned flags,
	    struct addr *);
/* addr_format: append local@domain, quoting the local part if needed;
 * the null path appends nothing */
int	addr_format(struct buf *, const struct addr *);
/* domain_check: a domain name (not a literal); ADDR_OK or an error */
enum addr_err domain_check(const char *s, size_t n, unsigned flags);
const char *addr_strerror(enum addr_err);
/* addr_literal_key: s[0..n) is exactly an address literal ("[192.0.2.1]",
 * "[IPv6:2001:db8::1]", any case); append its one spelling for table
 * keys, lower case, the address as inet_ntop writes it ("[ipv6:2001:
 * db8::1]"); 0, or -1 (EINVAL: not a literal) */
int	addr_literal_key(const char *s, size_t n, struct buf *);

#endif
