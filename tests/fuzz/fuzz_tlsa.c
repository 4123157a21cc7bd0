/* fuzz_tlsa: TLSA records (lib/tlsa.c) on arbitrary bytes: the wire form
 * a name server sends, and the text form a job carries (which send and
 * resolve make, but rspawn's workers parse again).  Every record that
 * parses must format, and its text must scan back to the same record. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tlsa.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
roundtrip(const struct tlsa *t)
{
	char s[TLSA_TEXT_MAX];
	struct tlsa u;

	if (t->oversize) {
		if (tlsa_usable(t) || tlsa_format(t, s, sizeof s) != -1)
			__builtin_trap();
		return;
	}
	if (tlsa_format(t, s, sizeof s) == -1 || strlen(s) >= sizeof s)
		__builtin_trap();
	if (tlsa_scan(s, &u) == -1 || u.usage != t->usage ||
	    u.selector != t->selector || u.mtype != t->mtype ||
	    u.len != t->len || memcmp(u.data, t->data, t->len) != 0 ||
	    tlsa_usable(&u) != tlsa_usable(t))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	char s[2 * TLSA_TEXT_MAX];
	struct tlsa t;

	if (tlsa_parse(p, n, &t) == 0) {
		if (t.len > TLSA_DATA_MAX)
			__builtin_trap();
		roundtrip(&t);
	}
	/* the same bytes as text */
	if (n < sizeof s) {
		memcpy(s, p, n);
		s[n] = '\0';
		if (tlsa_scan(s, &t) == 0) {
			if (t.len == 0 || t.len > TLSA_DATA_MAX)
				__builtin_trap();
			roundtrip(&t);
		}
	}
	return 0;
}
