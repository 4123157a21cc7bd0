/* utf8: strict UTF-8 validation, shared by the address parser (SMTPUTF8)
 * and the logger (which passes valid UTF-8 through and escapes the rest). */
#ifndef SANDMAIL_UTF8_H
#define SANDMAIL_UTF8_H

#include <stddef.h>

/* utf8_seq: the length (2..4) of a valid multi-byte sequence at p[0..n),
 * or 0.  Strict: no overlong forms, no surrogates, nothing past U+10FFFF,
 * and no C1 controls (U+0080..U+009F), which belong in no address and
 * could steer a terminal reading the log. */
size_t	utf8_seq(const unsigned char *p, size_t n);

#endif
