/* sandmail-spfcheck: lib/spf.c's check_host() with its DNS asked over
 * stdin/stdout, so that a test driver (tests/integration/test_spf_suite.py,
 * the RFC 7208 test suite) can answer from its own zone data exactly as
 * the suite's reference driver does.
 *
 *	sandmail-spfcheck IP SENDER HELO [RECEIVER]
 *
 * SENDER "" checks the HELO identity (postmaster@HELO).  For each query
 * it writes "Q TYPE NAME\n" (TYPE a number) and reads "NX\n", "TEMP\n"
 * or "OK N\n" and N lines "TYPE VALUE" (A/AAAA: the address; MX: the
 * host, "." for the root; PTR: the name; TXT: the bytes in hex, "-"
 * for none).  At the end: "R RESULT\nE EXPLANATION\n".
 * A test tool: never installed, no sandbox. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsans.h"
#include "spf.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void
ask(void *arg, const char *name, uint16_t type, struct dnsans *a)
{
	char line[8192], val[8192];
	unsigned n, t;

	(void)arg;
	a->n = a->txtlen = 0;
	a->st = DA_TEMP;
	printf("Q %u %s\n", type, name);
	fflush(stdout);
	if (fgets(line, sizeof line, stdin) == NULL)
		exit(111);
	if (strncmp(line, "NX", 2) == 0) {
		a->st = DA_NXDOMAIN;
		return;
	}
	if (sscanf(line, "OK %u", &n) != 1)
		return;
	a->st = DA_OK;
	while (n-- > 0) {
		struct dnsans_rr *rr = &a->rr[a->n];
		size_t l;

		if (fgets(line, sizeof line, stdin) == NULL ||
		    sscanf(line, "%u %8191s", &t, val) != 2)
			exit(111);
		if (a->n == DNSANS_RR_MAX)
			continue;
		memset(rr, 0, sizeof *rr);
		rr->type = (uint16_t)t;
		if (t == DNS_T_A && inet_pton(AF_INET, val, rr->ip) == 1)
			a->n++;
		else if (t == DNS_T_AAAA &&
		    inet_pton(AF_INET6, val, rr->ip) == 1)
			a->n++;
		else if ((t == DNS_T_MX || t == DNS_T_PTR) &&
		    strlen(val) < sizeof rr->name) {
			/* "." is the root: a null MX (RFC 7505) */
			memcpy(rr->name, val, strcmp(val, ".") == 0 ? 1 :
			    strlen(val) + 1);
			rr->name[strcmp(val, ".") == 0 ? 0 : strlen(val)] =
			    '\0';
			a->n++;
		} else if (t == DNS_T_TXT) {
			l = strcmp(val, "-") == 0 ? 0 : strlen(val) / 2;
			if (a->txtlen + l > sizeof a->txt)
				continue;
			rr->off = a->txtlen;
			rr->len = l;
			for (size_t i = 0; i < l; i++)
				a->txt[a->txtlen++] = (char)(hexval(val[2 * i])
				    << 4 | hexval(val[2 * i + 1]));
			a->n++;
		}
	}
}

int
main(int argc, char *argv[])
{
	char sender[600];
	const char *at;
	struct spf_out o;
	struct spf_req q;

	if (argc < 4) {
		fprintf(stderr, "usage: sandmail-spfcheck IP SENDER HELO "
		    "[RECEIVER]\n");
		return 100;
	}
	if (argv[2][0] == '\0')
		snprintf(sender, sizeof sender, "postmaster@%s", argv[3]);
	else if (argv[2][0] == '@')
		snprintf(sender, sizeof sender, "postmaster%s", argv[2]);
	else if (strchr(argv[2], '@') == NULL)
		snprintf(sender, sizeof sender, "postmaster@%s", argv[2]);
	else
		snprintf(sender, sizeof sender, "%s", argv[2]);
	at = strrchr(sender, '@');
	q = (struct spf_req){ argv[1], sender, argv[3], at + 1,
	    argc > 4 ? argv[4] : "receiver.test", ask, NULL };
	spf_check(&q, &o);
	printf("R %s\nE %s\n", spf_name(o.r), o.expl);
	return 0;
}
