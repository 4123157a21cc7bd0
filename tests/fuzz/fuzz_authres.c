/* fuzz_authres: the inbound parsers of lib/dmarc.c and lib/authres.c on
 * outside bytes.  The first byte picks: a DMARC record; a From field's
 * value; an Authentication-Results field (is it ours?, and as an ARC-
 * Authentication-Results value: what passed, each kept domain
 * NUL-terminated within its array); or a whole
 * message whose DKIM signatures are verified with a key from a fake DNS
 * (the rest of the input's first line, as a key record), its ARC chain
 * checked with the same key, and the results written into an
 * Authentication-Results field; then an ARC set sealed onto it (a signer
 * that returns zeros): the sealed message must show one set more, whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arc.h"
#include "authres.h"
#include "buf.h"
#include "dmarc.h"

static void key_dns(void *, const char *, uint16_t, struct dnsans *);

static int
zero_sign(void *arg, const struct dkim_sigreq *q, struct dkim_sigout *o,
    size_t n)
{
	(void)arg, (void)q;
	for (size_t i = 0; i < n; i++) {
		memset(o[i].sig, 0, 256);
		o[i].siglen = 256;
	}
	return 0;
}

/* seal - arc_seal onto msg; what it makes must read back as a whole set */
static void
seal(const char *msg, size_t n, const struct authres *ar, const char *f,
    size_t fl)
{
	static struct arc_out o;
	struct dkim_sigreq q = { .alg = DKIM_RSA_SHA256, .hc = DKIM_RELAXED,
	    .bc = DKIM_RELAXED, .domain = "example.org", .selector = "s",
	    .t = 1700000000 };
	struct buf out = BUF_INIT(1 << 22);
	const char *colon = memchr(f, ':', fl);

	if (colon == NULL)
		abort();
	if (arc_seal(msg, n, colon + 1, fl - (size_t)(colon + 1 - f),
	    ar->arc.r, &q, zero_sign, NULL, &out) == 0) {
		if (buf_put(&out, msg, n) == -1)
			goto done;
		arc_verify(out.p, out.len, key_dns, NULL, &o);
		if (o.n != ar->arc.n + 1 || (o.r == ARC_FAIL &&
		    (strcmp(o.why, "incomplete set") == 0 ||
		    strcmp(o.why, "bad or repeated i=") == 0)))
			abort();
	}
done:
	buf_free(&out);
}

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
		/* rua= addresses: plain mailboxes only (they go in a log
		 * line and, later, an envelope) */
		if (dmarc_rec_parse(p, n, &r) == 0)
			for (size_t i = 0; i < r.nrua; i++) {
				size_t l = strnlen(r.rua[i], sizeof r.rua[i]);

				if (r.nrua > DMARC_RUA_MAX || l == 0 ||
				    l == sizeof r.rua[i] || strspn(r.rua[i],
				    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
				    "OPQRSTUVWXYZ0123456789@.-_+=") != l)
					abort();
			}
		break;
	case 1:
		(void)dmarc_from_domain(p, n, out, sizeof out);
		break;
	case 2: {
		struct arc_aar a;

		(void)ar_is_ours(p, n, "mx.example.org");
		(void)arc_aar_parse(p, n, &a);
		if (a.ndkim > ARC_AAR_DKIM_MAX ||
		    strnlen(a.dmarc, sizeof a.dmarc) == sizeof a.dmarc ||
		    strnlen(a.spf, sizeof a.spf) == sizeof a.spf)
			abort();
		for (size_t i = 0; i < a.ndkim; i++)
			if (strnlen(a.dkim[i], sizeof a.dkim[i]) ==
			    sizeof a.dkim[i])
				abort();
		break;
	}
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
		if (b.len > 0)
			seal(nl + 1, n - keylen - 1, &ar, b.p, b.len);
		break;
	}
	buf_free(&b);
	return 0;
}
