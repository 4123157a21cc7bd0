/* rfc5322: the lexical pieces of RFC 5322 header fields (3.2.1-3.2.4)
 * that several readers step over without looking inside: comments
 * (nested, with quoted-pairs), quoted strings, and CFWS.  The bytes come
 * from outside: an index never goes past n, a quoted-pair at the very end
 * stops there, and NUL or 8-bit bytes are plain text (obs-ctext,
 * obs-qtext, RFC 6532's UTF-8). */
#ifndef SANDMAIL_RFC5322_H
#define SANDMAIL_RFC5322_H

#include <stddef.h>

/* blanks between tokens: SP, HTAB, and the CR LF of a folded line */
#define RFC5322_WSP(c)	((c) == ' ' || (c) == '\t' || (c) == '\r' || \
			    (c) == '\n')

/* rfc5322_skip: p[*i] opens a comment '(' or a quoted string '"'; moves
 * *i just past its end and returns 0, or, unterminated, to n with -1.
 * At any other byte, *i moves one on (0). */
int	rfc5322_skip(const char *p, size_t n, size_t *i);

/* rfc5322_cfws: the index of the first byte at or after i that is
 * neither a blank nor in a comment; n if none (or a comment is open) */
size_t	rfc5322_cfws(const char *p, size_t n, size_t i);

#endif
