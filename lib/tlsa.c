/* tlsa: TLSA records in wire and text form (RFC 6698 2.1, 2.2). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tlsa.h"

/* tlsa_parse - usage, selector, matching type, then the data */
int
tlsa_parse(const uint8_t *rdata, size_t n, struct tlsa *t)
{
	memset(t, 0, sizeof *t);
	if (n < 4)		/* RFC 6698 2.1: the data may not be empty */
		return errno = EPROTO, -1;
	t->usage = rdata[0];
	t->selector = rdata[1];
	t->mtype = rdata[2];
	t->len = n - 3;
	if (t->len > TLSA_DATA_MAX) {
		t->oversize = 1;
		t->len = 0;
		return 0;
	}
	memcpy(t->data, rdata + 3, t->len);
	return 0;
}

/* tlsa_usable - see tlsa.h */
int
tlsa_usable(const struct tlsa *t)
{
	if ((t->usage != TLSA_DANE_TA && t->usage != TLSA_DANE_EE) ||
	    t->selector > 1 || t->oversize || t->len == 0)
		return 0;
	switch (t->mtype) {
	case 0:
		return 1;
	case 1:
		return t->len == 32;	/* SHA2-256 */
	case 2:
		return t->len == 64;	/* SHA2-512 */
	default:
		return 0;
	}
}

/* tlsa_format - the text form carried in RANS and RJOB */
int
tlsa_format(const struct tlsa *t, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	int n;
	size_t o;

	if (t->oversize)
		return errno = E2BIG, -1;
	n = snprintf(out, outsz, "%u %u %u ", t->usage, t->selector,
	    t->mtype);
	if (n < 0 || (size_t)n >= outsz || outsz - (size_t)n <= 2 * t->len)
		return errno = E2BIG, -1;
	o = (size_t)n;
	for (size_t i = 0; i < t->len; i++) {
		out[o++] = hex[t->data[i] >> 4];
		out[o++] = hex[t->data[i] & 15];
	}
	out[o] = '\0';
	return 0;
}

static int
num8(const char **s, uint8_t *v)
{
	unsigned x = 0;
	int digits = 0;

	while (**s >= '0' && **s <= '9' && digits < 3) {
		x = x * 10 + (unsigned)(**s - '0');
		(*s)++;
		digits++;
	}
	if (digits == 0 || x > 255 || **s != ' ')
		return -1;
	(*s)++;
	*v = (uint8_t)x;
	return 0;
}

static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* tlsa_scan - see tlsa.h */
int
tlsa_scan(const char *s, struct tlsa *t)
{
	int hi, lo;

	memset(t, 0, sizeof *t);
	if (num8(&s, &t->usage) == -1 || num8(&s, &t->selector) == -1 ||
	    num8(&s, &t->mtype) == -1)
		return errno = EINVAL, -1;
	while (s[0] != '\0') {
		if (t->len == TLSA_DATA_MAX || (hi = nibble(s[0])) == -1 ||
		    (lo = nibble(s[1])) == -1)
			return errno = EINVAL, -1;
		t->data[t->len++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return t->len == 0 ? (errno = EINVAL, -1) : 0;
}
