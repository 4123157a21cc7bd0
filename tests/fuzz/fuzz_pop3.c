/* fuzz_pop3: sandmail-pop3d's parsers and encoders on arbitrary bytes.
 * The first byte picks a target: the command parser on one line; the
 * output encoder (CRLF, dot stuffing, TOP) on a message fed in two
 * slices, with its invariants checked; a TRANSACTION session over a
 * small maildir made at start-up (QUIT becomes NOOP so the maildir stays
 * as it was between runs); or AUTH PLAIN's decoding (base64, then the
 * authzid NUL authcid NUL passwd split, auth/authclient.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../pop3d/pop3d.h"
#include "authc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

static char md[] = "/tmp/fuzz_pop3.XXXXXX";
static struct buf out = BUF_INIT(1 << 24);

static void
put(const char *sub, const char *name, const char *data)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s/%s", md, sub, name);
	if ((f = fopen(p, "w")) == NULL)
		abort();
	fputs(data, f);
	fclose(f);
}

static void
cleanup(void)
{
	static const char *const f[] = { "new/1.M1P1.h", "cur/2.M2P2.h:2,S",
	    "new/3.M3P3.h,W=7", ".sandmail-pop3.lock", NULL };
	char p[256];
	int i;

	for (i = 0; f[i] != NULL; i++) {
		snprintf(p, sizeof p, "%s/%s", md, f[i]);
		unlink(p);
	}
	snprintf(p, sizeof p, "%s/new", md);
	rmdir(p);
	snprintf(p, sizeof p, "%s/cur", md);
	rmdir(p);
	rmdir(md);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[256];

	(void)argc;
	(void)argv;
	if (mkdtemp(md) == NULL)
		abort();
	snprintf(p, sizeof p, "%s/new", md);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/cur", md);
	mkdir(p, 0700);
	put("new", "1.M1P1.h", "Subject: a\n\n.one\n..\nx");
	put("cur", "2.M2P2.h:2,S", "Subject: b\r\n\r\ntwo\r\n");
	put("new", "3.M3P3.h,W=7", "no header, no body");
	atexit(cleanup);
	return 0;
}

static ssize_t
cap_op(int fd, void *p, size_t n, void *ctx)
{
	(void)fd;
	(void)ctx;
	if (out.len > (1 << 20))
		out.len = 0;	/* keep memory bounded */
	if (buf_put(&out, p, n) == -1)
		return -1;
	return (ssize_t)n;
}

static void
fuzz_parse(const uint8_t *d, size_t n)
{
	struct pop3_cmd c;
	const char *s = (const char *)d;

	if (pop3_parse(s, n, &c) == PE_OK && c.arg != NULL &&
	    (c.arg < s || c.arg + c.alen > s + n))
		abort();
}

/* check: the encoded text has no bare LF and no lone "." line but the
 * last, and un-stuffed it is as long as the encoder counted */
static void
check(const struct stuff *s, const char *p, size_t n)
{
	size_t i, bol = 1, body = 0;

	if (n < 3 || memcmp(p + n - 3, ".\r\n", 3) != 0)
		abort();
	for (i = 0; i < n - 3; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			abort();
		if (bol && p[i] == '.') {
			if (i + 1 >= n - 3 || p[i + 1] != '.')
				abort();
			i++;	/* the stuffed dot */
		}
		body++;
		bol = p[i] == '\n';
	}
	if (!bol || body != s->out)
		abort();
}

static void
fuzz_stuff(const uint8_t *d, size_t n)
{
	struct stuff s;
	struct wr w;
	long lines;
	size_t cut;

	if (n < 2)
		return;
	lines = d[0] == 0xff ? -1 : d[0] % 8;
	cut = d[1] % (n - 1);
	d += 2, n -= 2;
	if (cut > n)
		cut = n;
	out.len = 0;
	wr_init(&w, -1, cap_op, NULL);
	stuff_init(&s, lines);
	if (stuff_feed(&s, (const char *)d, cut, &w) == -1 ||
	    stuff_feed(&s, (const char *)d + cut, n - cut, &w) == -1 ||
	    stuff_end(&s, &w) == -1 || wr_flush(&w) == -1)
		abort();
	check(&s, out.p, out.len);
	if (lines == -1) {	/* the fast count agrees with the encoder */
		struct stuff c;

		stuff_init(&c, -1);
		stuff_count(&c, (const char *)d, cut);
		stuff_count(&c, (const char *)d + cut, n - cut);
		stuff_end(&c, NULL);
		if (c.out != s.out)
			abort();
	}
}

static void
fuzz_trans(const uint8_t *d, size_t n)
{
	struct buf line = BUF_INIT(POP3_LINE_MAX + 2);
	struct mbox mb;
	struct wr w;
	const uint8_t *nl, *end = d + n;
	size_t k;
	int q;

	if (mbox_open(&mb, md) == -1 || mbox_scan(&mb, 100) == -1)
		abort();
	wr_init(&w, -1, cap_op, NULL);
	for (; d < end; d += k) {
		nl = memchr(d, '\n', (size_t)(end - d));
		k = nl ? (size_t)(nl - d) + 1 : (size_t)(end - d);
		if (k > POP3_LINE_MAX)
			continue;
		line.len = 0;
		if (buf_put(&line, d, k) == -1)
			abort();
		if (pop3_chomp(line.p, line.len) >= 4 &&
		    strncasecmp(line.p, "QUIT", 4) == 0)
			memcpy(line.p, "NOOP", 4);
		if (trans_line(&mb, line.p, line.len, &w, &q) != 1)
			abort();
	}
	(void)wr_flush(&w);
	buf_free(&line);
	mbox_close(&mb);
}

static void
fuzz_sasl(const uint8_t *d, size_t n)
{
	struct buf dec = BUF_INIT(AUTH_FIELD_MAX);
	struct auth_plain ap;
	const char *m;

	if (auth_b64_decode((const char *)d, n, &dec, AUTH_FIELD_MAX) == 0) {
		m = dec.p ? dec.p : "";
		if (dec.len > AUTH_FIELD_MAX)
			abort();
		if (auth_plain(&ap, m, dec.len) == 0 &&
		    (ap.clen == 0 || ap.plen == 0 || ap.clen > AUTH_LOGIN_MAX ||
		    ap.authcid < m || ap.passwd + ap.plen != m + dec.len ||
		    memchr(ap.authcid, '\0', ap.clen) != NULL))
			abort();
	}
	buf_free(&dec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n == 0)
		return 0;
	if (d[0] % 4 == 3) {
		fuzz_sasl(d + 1, n - 1);
		return 0;
	}
	switch (d[0] % 4) {
	case 0:
		fuzz_parse(d + 1, n - 1);
		break;
	case 1:
		fuzz_stuff(d + 1, n - 1);
		break;
	default:
		fuzz_trans(d + 1, n - 1);
		break;
	}
	return 0;
}
