/* fuzz_srs: SRS local parts from outside (lib/srs.c): a bounce's RCPT TO
 * on port 25 (srs_check, in the session) and the reversal with the secret
 * (srs_reverse, in send); and senders that are rewritten (srs_forward).
 * Beyond not crashing: a reversal that succeeds never yields more than the
 * input's bytes plus "SRS0" and '@', srs_check and srs_reverse agree on
 * form and age, and what srs_forward makes reverses to what it was given
 * (an SRS1 to the SRS0 it guarded; a stale one stays stale).  The same
 * bytes as records of sandmail-srs's protocol (lib/srsc.c), which the
 * service decodes from smtpd's sessions: a request decoded points inside
 * the input and within SRSC_LOCAL_MAX. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srs.h"
#include "srsc.h"

#define NOW	((time_t)1765000000)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
forward_back(const struct srs_keys *k, const char *s, size_t n)
{
	struct buf f = BUF_INIT(1024), r = BUF_INIT(1024);
	const char *at = memchr(s, '@', n);
	size_t ll;

	if (at == NULL)
		return;
	ll = (size_t)(at - s);
	if (srs_forward(k, s, ll, at + 1, n - ll - 1, "f.test", NOW, &f) ==
	    0) {
		const char *fa = memchr(f.p, '@', f.len);
		enum srs_res want = SRS_OK, got;

		/* a stale SRS0 guarded as SRS1 stays stale */
		if (srs_check(s, ll, NOW, 21) == SRS_STALE)
			want = SRS_STALE;
		if (fa == NULL || (size_t)(fa - f.p) > SRS_LOCAL_MAX)
			abort();
		got = srs_reverse(k, f.p, (size_t)(fa - f.p), NOW, 21, &r);
		if (got != want)
			abort();
		/* SRS0 comes back as the sender itself (an SRS0 sender:
		 * guarded as SRS1, back to itself at its domain) */
		if (r.len != n && memcmp(f.p, "SRS1", 4) != 0)
			abort();
	}
	buf_free(&f);
	buf_free(&r);
}

static void
records(const uint8_t *d, size_t n)
{
	const char *l;
	size_t ln;
	enum srs_res r;

	if (srsc_req_decode(d, n, &l, &ln) == 0 && (ln > SRSC_LOCAL_MAX ||
	    (const uint8_t *)l < d || (const uint8_t *)l + ln > d + n))
		abort();
	if (srsc_res_decode(d, n, &r) == 0 && (n != 2 || r > SRS_ERROR))
		abort();
	(void)srsc_hello_decode(d, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct srs_keys k;
	struct srs_parts sp;
	struct buf out = BUF_INIT(2048);
	const char *s = (const char *)d;
	enum srs_res c, r;

	if (k.n == 0 && srs_keys_load(&k, "fuzz-secret\nold\n", 16) == -1)
		abort();
	c = srs_check(s, n, NOW, 21);
	r = srs_reverse(&k, s, n, NOW, 21, &out);
	if ((c != SRS_OK && r != c) || (c == SRS_OK && r != SRS_OK &&
	    r != SRS_BADHASH))
		abort();
	if (r == SRS_OK && (out.len > n + 5 || memchr(out.p, '@',
	    out.len) == NULL))
		abort();
	if (srs_parse(s, n, &sp) == 0 && (sp.hostlen == 0 ||
	    sp.host + sp.hostlen > s + n || sp.user + sp.userlen != s + n))
		abort();
	forward_back(&k, s, n);
	records(d, n);
	buf_free(&out);
	return 0;
}
