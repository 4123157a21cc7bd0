/* rfc5322: comments, quoted strings and CFWS, skipped (lib/rfc5322.h). */
#include "rfc5322.h"

/* rfc5322_skip - see rfc5322.h */
int
rfc5322_skip(const char *p, size_t n, size_t *i)
{
	size_t j = *i, depth = 0;
	char open = j < n ? p[j] : '\0';

	if (open != '(' && open != '"') {
		*i = j < n ? j + 1 : n;
		return 0;
	}
	for (j++; j < n; j++) {
		if (p[j] == '\\') {		/* quoted-pair: skip the next */
			if (++j == n)
				break;
		} else if (open == '"') {
			if (p[j] == '"') {
				*i = j + 1;
				return 0;
			}
		} else if (p[j] == '(')
			depth++;
		else if (p[j] == ')' && depth-- == 0) {
			*i = j + 1;
			return 0;
		}
	}
	*i = n;
	return -1;
}

/* rfc5322_cfws - see rfc5322.h */
size_t
rfc5322_cfws(const char *p, size_t n, size_t i)
{
	while (i < n) {
		if (RFC5322_WSP(p[i]))
			i++;
		else if (p[i] != '(' || rfc5322_skip(p, n, &i) == -1)
			break;		/* unterminated: i is n */
	}
	return i;
}
