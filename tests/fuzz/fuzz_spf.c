/* fuzz_spf: SPF records and DNS answers from outside.  The first byte
 * picks: the input as a DNS packet for dnsans_parse (TXT, MX, A); as a
 * macro-string expanded both ways; or as a zone of SPF records (lines,
 * the first at "f.test", the next at "1.test", "2.test" ...; any other
 * name has no records) that check_host evaluates from "f.test" for an
 * IPv4 and an IPv6 client.  Bounded time: the lookup limit holds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsans.h"
#include "spf.h"

#define LINES_MAX	16

static const char *line[LINES_MAX];
static size_t len[LINES_MAX], nlines;
static unsigned queries;

static void
zone_dns(void *arg, const char *name, uint16_t type, struct dnsans *a)
{
	size_t k;

	(void)arg;
	queries++;
	a->n = a->txtlen = 0;
	a->st = DA_NXDOMAIN;
	if (strcmp(name, "f.test") == 0)
		k = 0;
	else if (name[0] >= '1' && name[0] <= '9' && strcmp(name + 1,
	    ".test") == 0)
		k = (size_t)(name[0] - '0');
	else
		return;
	if (k >= nlines)
		return;
	a->st = DA_OK;
	if (type == DNS_T_TXT && len[k] <= sizeof a->txt) {
		memcpy(a->txt, line[k], len[k]);
		a->rr[0].type = DNS_T_TXT;
		a->rr[0].off = 0;
		a->rr[0].len = len[k];
		a->n = 1;
	} else if (type == DNS_T_A) {
		memset(&a->rr[0], 0, sizeof a->rr[0]);
		a->rr[0].type = DNS_T_A;
		a->rr[0].ip[0] = 192, a->rr[0].ip[3] = (uint8_t)k;
		a->n = 1;
	} else if (type == DNS_T_MX) {
		memset(&a->rr[0], 0, sizeof a->rr[0]);
		a->rr[0].type = DNS_T_MX;
		snprintf(a->rr[0].name, sizeof a->rr[0].name, "%zu.test",
		    (k + 1) % 10);
		a->n = 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct dnsans a;
	struct spf_req q = { "192.0.2.1", "u@f.test", "h.test", "f.test",
	    "r.test", zone_dns, NULL };
	struct spf_out o;
	char out[600];
	const char *p;
	size_t i, s;

	if (n == 0)
		return 0;
	p = (const char *)d + 1;
	n--;
	switch (d[0] % 3) {
	case 0:
		(void)dnsans_parse(d + 1, n, "f.test", DNS_T_TXT, &a);
		(void)dnsans_parse(d + 1, n, "f.test", DNS_T_MX, &a);
		(void)dnsans_parse(d + 1, n, "f.test", DNS_T_A, &a);
		break;
	case 1:
		(void)spf_macro(&q, "f.test", p, n, 0, out, sizeof out);
		(void)spf_macro(&q, "f.test", p, n, 1, out, sizeof out);
		break;
	default:
		for (nlines = 0, s = i = 0; i <= n && nlines < LINES_MAX; i++)
			if (i == n || p[i] == '\n') {
				line[nlines] = p + s;
				len[nlines++] = i - s;
				s = i + 1;
			}
		queries = 0;
		(void)spf_check(&q, &o);
		if (queries > 400)
			abort();	/* the limits did not hold */
		q.ip = "2001:db8::1";
		(void)spf_check(&q, &o);
		break;
	}
	return 0;
}
