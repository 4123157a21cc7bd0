/* fuzz_rfc5322: the comment, quoted-string and CFWS skippers of
 * lib/rfc5322.c on outside bytes.  Every index must stay within the
 * input, each skip must move on, and CFWS must stop only at the end or
 * at a byte that starts no blank or comment. */
#include <stdint.h>
#include <stdlib.h>

#include "rfc5322.h"

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *p = (const char *)d;
	size_t i, j;
	int rc;

	for (i = 0; i < n; i = j) {	/* the way the header readers walk */
		j = i;
		rc = rfc5322_skip(p, n, &j);
		if (j <= i || j > n || (rc == -1 && j != n))
			abort();
		if (rc == 0 && (p[i] == '(' || p[i] == '"') &&
		    p[j - 1] != (p[i] == '(' ? ')' : '"'))
			abort();
	}
	for (int k = 0; k < 2; k++) {	/* from the start; from a byte on */
		i = k == 0 || n == 0 ? 0 : d[0] % (n + 1);
		j = rfc5322_cfws(p, n, i);
		if (j < i || j > n || (j < n && (RFC5322_WSP(p[j]) ||
		    p[j] == '(')))
			abort();
	}
	return 0;
}
