/* fuzz_policyd: the policy answer parser (smtpd/policyd.c) on arbitrary
 * bytes, what a hostile or broken policy server may send.  Beyond not
 * crashing: an answer is never whole before it ends with an empty line,
 * never longer than its input, and what it yields is printable, NUL
 * terminated and in range; feeding the same bytes in two pieces gives
 * the same answer at the same length. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../smtpd/filter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
printable(const char *s, size_t sz)
{
	size_t n = strnlen(s, sz);

	if (n == sz)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f)
			__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct pd_verdict v, w;
	const char *s = (const char *)p;
	long r = pd_parse(s, n, &v), q;

	if (r > (long)n || r < -1)
		__builtin_trap();
	if (r <= 0)
		return 0;
	if (r < 2 || s[r - 1] != '\n')
		__builtin_trap();
	printable(v.text, sizeof v.text);
	printable(v.action, sizeof v.action);
	printable(v.esc, sizeof v.esc);
	if ((v.kind == PD_REJECT && v.code[0] != '5') ||
	    (v.kind == PD_DEFER && v.code[0] != '4') ||
	    ((v.kind == PD_REJECT || v.kind == PD_DEFER) &&
	    (strlen(v.code) != 3 || v.esc[0] != v.code[0])))
		__builtin_trap();
	/* the prefix before the end is never a whole answer */
	if (pd_parse(s, (size_t)r - 1, &w) > 0)
		__builtin_trap();
	q = pd_parse(s, (size_t)r, &w);
	if (q != r || w.kind != v.kind || strcmp(w.text, v.text) != 0)
		__builtin_trap();
	return 0;
}
