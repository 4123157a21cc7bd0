/* netkey: client addresses as /32, /24 (IPv4) or /64, /48 (IPv6) keys. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "netkey.h"

static void
mask(uint8_t *a, unsigned bits)
{
	for (unsigned i = 0; i < 16; i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			a[i] &= (uint8_t)(0xff00u >> bits);
			bits = 0;
		}
	}
}

/* netkey_of - the network of ip for kind (see netkey.h) */
int
netkey_of(const char *ip, enum netkey_kind kind, struct netkey *k)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	uint8_t a[16];
	unsigned bits;

	memset(k, 0, sizeof *k);
	memset(a, 0, sizeof a);
	if (inet_pton(AF_INET, ip, a) == 1)
		k->b[0] = 4;
	else if (inet_pton(AF_INET6, ip, a) == 1) {
		k->b[0] = 6;
		if (memcmp(a, mapped, sizeof mapped) == 0) {
			memmove(a, a + 12, 4);
			memset(a + 4, 0, 12);
			k->b[0] = 4;
		}
	} else
		return -1;
	if (k->b[0] == 4)
		bits = kind == NK_HOST ? 32 : 24;
	else
		bits = kind == NK_HOST ? 64 : 48;
	mask(a, bits);
	k->b[1] = (uint8_t)bits;
	memcpy(k->b + 2, a, 16);
	return 0;
}

/* netkey_text - the key for a log line */
void
netkey_text(const struct netkey *k, char *out, unsigned long outsz)
{
	char a[INET6_ADDRSTRLEN];

	if (k->b[0] == 0 || inet_ntop(k->b[0] == 4 ? AF_INET : AF_INET6,
	    k->b + 2, a, sizeof a) == NULL) {
		snprintf(out, outsz, "unknown");
		return;
	}
	snprintf(out, outsz, "%s/%u", a, k->b[1]);
}

int
netkey_eq(const struct netkey *x, const struct netkey *y)
{
	return memcmp(x->b, y->b, sizeof x->b) == 0;
}
