/* fuzz_mhdr: smtpd/milters.c's pure parts on arbitrary bytes: a client's
 * header section split into fields (mhdr_name, mhdr_end), and a milter's
 * name and value made into a field (mhdr_make) and its body into LF lines
 * (mbody_lf).  Beyond not crashing: every field found starts with its
 * name and a colon and ends with an LF not followed by a fold; a made
 * field is one field (no CR, every inner LF followed by white space, no
 * line of white space only) ending in its only unfolded LF; the body
 * conversion drops exactly the CRs before an LF. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/filter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
split(const char *p, size_t n)
{
	size_t i = 0, nl;
	long e;

	while (i < n && p[i] != '\n') {
		if ((e = mhdr_end(p, n, i, 1)) == -1)
			return;
		if ((size_t)e < i || (size_t)e >= n || p[e] != '\n' ||
		    ((size_t)e + 1 < n && (p[e + 1] == ' ' ||
		    p[e + 1] == '\t')))
			__builtin_trap();
		if ((nl = mhdr_name(p + i, (size_t)e - i)) == 0)
			return;
		if (p[i + nl] != ':')
			__builtin_trap();
		i = (size_t)e + 1;
	}
}

static void
made(const char *f, size_t len, size_t nl)
{
	size_t i, ws;

	if (len < nl + 2 || f[nl] != ':' || f[len - 1] != '\n')
		__builtin_trap();
	for (i = 0, ws = 0; i + 1 < len; i++) {
		if (f[i] == '\r' || f[i] == '\0')
			__builtin_trap();
		if (f[i] == '\n') {
			if (f[i + 1] != ' ' && f[i + 1] != '\t')
				__builtin_trap();
			ws = 1;
			continue;
		}
		if (ws && f[i] != ' ' && f[i] != '\t')
			ws = 0;
		if (ws && f[i + 1] == '\n')
			__builtin_trap();	/* a white-space line */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	const char *s = (const char *)p;
	char *name, *value, *f, *out;
	const char *z;
	size_t len, k, o;
	int cr = 0;

	split(s, n);
	/* name NUL value NUL, as a milter's packet carries them */
	if ((z = memchr(s, '\0', n)) == NULL)
		return 0;
	k = (size_t)(z - s);
	if ((name = strndup(s, k)) == NULL ||
	    (value = strndup(z + 1, n - k - 1)) == NULL) {
		free(name);
		return 0;
	}
	if ((f = mhdr_make(name, value, n & 1, &len)) != NULL) {
		made(f, len, strlen(name));
		free(f);
	}
	if ((out = malloc(n + 1)) != NULL) {
		o = mbody_lf(s, n, &cr, out);
		/* each CR before an LF dropped, a last CR held */
		for (k = 0, len = 0; k < n; k++) {
			if (s[k] == '\r' && (k + 1 == n || s[k + 1] == '\n'))
				continue;
			if (len >= o || out[len++] != s[k])
				__builtin_trap();
		}
		if (len != o || cr != (n > 0 && s[n - 1] == '\r'))
			__builtin_trap();
		free(out);
	}
	free(name);
	free(value);
	return 0;
}
