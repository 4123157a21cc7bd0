/* fuzz_authres: the inbound parsers of lib/dmarc.c and lib/authres.c on
 * outside bytes.  The first byte picks: a DMARC record; a From field's
 * value; an Authentication-Results field (is it ours?); or a whole
 * message whose DKIM signatures are verified with a key from a fake DNS
 * (the rest of the input's first line, as a key record), its ARC chain
 * checked with the same key, and the results written into an
 * Authentication-Results field. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arc.h"
#include "authres.h"
#include "buf.h"
#include "dmarc.h"

static const char *keyrec;
static size_t keylen;

static void
key_dns(void *arg, const char *name, uint16_t type, struct dnsans *a)
{
	(void)arg, (void)name;
	a->n = a->txtlen = 0;
	a->st = DA_OK;
	if (type != DNS_T_TXT || keylen > sizeof a->txt)
		return;
	memcpy(a->txt, keyrec, keylen);
	a->rr[0].type = DNS_T_TXT;
	a->rr[0].off = 0;
	a->rr[0].len = keylen;
	a->n = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct authres ar;
	struct dmarc_rec r;
	struct buf b = BUF_INIT(1 << 16);
	char out[256];
	const char *p, *nl;

	if (n == 0)
		return 0;
	p = (const char *)d + 1;
	n--;
	switch (d[0] % 4) {
	case 0:
		(void)dmarc_rec_parse(p, n, &r);
		break;
	case 1:
		(void)dmarc_from_domain(p, n, out, sizeof out);
		break;
	case 2:
		(void)ar_is_ours(p, n, "mx.example.org");
		break;
	default:
		if ((nl = memchr(p, '\n', n)) == NULL)
			return 0;
		keyrec = p;
		keylen = (size_t)(nl - p);
		memset(&ar, 0, sizeof ar);
		ar_dkim_verify(&ar, nl + 1, n - keylen - 1, key_dns, NULL,
		    (time_t)1700000000);
		arc_verify(nl + 1, n - keylen - 1, key_dns, NULL, &ar.arc);
		ar.arc_done = 1;
		if (ar_header(&ar, "mx.example.org", &b) == 0 &&
		    !ar_is_ours(b.p, b.len, "mx.example.org"))
			abort();	/* our own field must read as ours */
		break;
	}
	buf_free(&b);
	return 0;
}
