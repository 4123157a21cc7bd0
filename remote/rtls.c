/* rtls: the TLS-Required header field (RFC 8689 5). */
#include <string.h>
#include <strings.h>

#include "rtls.h"

#define NAME		"TLS-Required"
#define NAME_LEN	(sizeof NAME - 1)

static int
wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* blanks and folds from i on; the index of what follows, or n at the
 * end of the field (a line end not followed by a blank) */
static size_t
skip_blank(const char *p, size_t n, size_t i)
{
	for (; i < n; i++) {
		if (p[i] == '\n') {
			if (i + 1 < n && (p[i + 1] == ' ' || p[i + 1] == '\t'))
				continue;	/* folded: the field goes on */
			return n;
		}
		if (!wsp(p[i]))
			return i;
	}
	return n;
}

/* the value of the field starting at p[i] (after "name:"), unfolded:
 * "No" with blanks and folds around it only */
static int
value_is_no(const char *p, size_t n, size_t i)
{
	i = skip_blank(p, n, i);
	if (i + 2 > n || (p[i] | 0x20) != 'n' || (p[i + 1] | 0x20) != 'o')
		return 0;
	return skip_blank(p, n, i + 2) == n;
}

/* rtls_header_no - see rtls.h */
int
rtls_header_no(const char *p, size_t n)
{
	size_t i = 0, e;

	while (i < n && p[i] != '\n' && !(p[i] == '\r' && i + 1 < n &&
	    p[i + 1] == '\n')) {
		/* a field starts at i; its name ends at the colon */
		for (e = i; e < n && p[e] != ':' && p[e] != '\n'; e++)
			;
		if (e < n && p[e] == ':') {
			size_t k = e;

			while (k > i && wsp(p[k - 1]))
				k--;		/* "Name :" (obsolete syntax) */
			if (k - i == NAME_LEN &&
			    strncasecmp(p + i, NAME, NAME_LEN) == 0 &&
			    value_is_no(p, n, e + 1))
				return 1;
		}
		/* to the next line that does not continue this field */
		for (;;) {
			const char *nl = memchr(p + i, '\n', n - i);

			if (nl == NULL)
				return 0;
			i = (size_t)(nl - p) + 1;
			if (i >= n || (p[i] != ' ' && p[i] != '\t'))
				break;
		}
	}
	return 0;
}
