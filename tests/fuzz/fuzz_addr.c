/* fuzz_addr: RFC 5321 paths and mailboxes (lib/addr.c), and the CIDR
 * keys of lib/tbl.c.  The first byte picks the flags; the rest is what a
 * client would send after "MAIL FROM:".  Beyond not crashing, whatever is
 * accepted must hold the invariants the rest of sandmail relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "tbl.h"

static void
check_clean(const char *s, size_t n)
{
	size_t i;

	if (s[n] != '\0')
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

/* accepted - an address we accepted formats and parses back the same */
static void
accepted(const struct addr *a, unsigned flags)
{
	struct buf b = BUF_INIT(4 * ADDR_PATH_MAX);
	struct addr a2;

	if (a->llen > ADDR_LOCAL_MAX || a->dlen > ADDR_DOMAIN_MAX ||
	    strlen(a->local) != a->llen || strlen(a->domain) != a->dlen)
		abort();
	check_clean(a->local, a->llen);
	check_clean(a->domain, a->dlen);
	if (addr_format(&b, a) == -1)
		abort();
	if (!a->null && a->dlen > 0) {
		if (addr_parse_mailbox(b.p, b.len, flags, &a2) != ADDR_OK ||
		    a2.llen != a->llen || a2.dlen != a->dlen ||
		    memcmp(a2.local, a->local, a->llen) != 0 ||
		    memcmp(a2.domain, a->domain, a->dlen) != 0 ||
		    a2.literal != a->literal)
			abort();
	}
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf k = BUF_INIT(256);
	struct addr a;
	unsigned flags;
	size_t used;
	char *s;

	if (size < 1)
		return 0;
	flags = data[0] & 7;
	data++, size--;
	if (size > 0 && data[0] == '<' &&
	    addr_parse_path((const char *)data, size, flags, &a, &used) ==
	    ADDR_OK) {
		if (used > size || used > ADDR_PATH_MAX || data[used - 1] != '>')
			abort();
		accepted(&a, flags);
	}
	if (addr_parse_mailbox((const char *)data, size, flags, &a) == ADDR_OK)
		accepted(&a, flags);
	(void)domain_check((const char *)data, size, flags);
	/* a literal key is one spelling: keying it again changes nothing */
	if (addr_literal_key((const char *)data, size, &k) == 0) {
		struct buf k2 = BUF_INIT(256);

		if (addr_literal_key(k.p, k.len, &k2) == -1 || k2.len != k.len ||
		    memcmp(k2.p, k.p, k.len) != 0)
			abort();
		buf_free(&k2);
		k.len = 0;
	}
	/* tbl_ip_key on the bytes as a C string */
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (tbl_ip_key(s, &k) == 0 && (k.len == 0 || memchr(k.p, '/', k.len) ==
	    NULL))
		abort();
	free(s);
	buf_free(&k);
	return 0;
}
