/* sandmail-milterc: drive lib/milter.c against a real milter, for the
 * tests (tests/integration/test_milter.py).  Usage:
 *
 *	sandmail-milterc [-t secs] IP:PORT CLIENT_IP HELO SENDER RCPT... < msg
 *
 * Runs connect, HELO, MAIL, each RCPT, DATA, the headers, end of headers,
 * the body (LF made CRLF) and end of message, with the macros milters
 * commonly read, and prints one line per stage: "STAGE VERDICT [reply]",
 * then "mod TYPE NAME: VALUE" per change asked at end of message.  It
 * stops (ABORT) at a verdict other than continue, as an MTA would, except
 * that a refused recipient only drops that recipient. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "milter.h"

static const char *const vname[] = {
	[MV_CONTINUE] = "continue", [MV_ACCEPT] = "accept",
	[MV_REJECT] = "reject", [MV_TEMPFAIL] = "tempfail",
	[MV_DISCARD] = "discard", [MV_REPLY] = "reply", [MV_SKIP] = "skip",
	[MV_FAIL] = "fail",
};

static struct milter M;

static void
say(const char *stage, const struct milter_res *r)
{
	printf("%s %s%s%s\n", stage, vname[r->v], r->v == MV_REPLY ? " " : "",
	    r->v == MV_REPLY ? r->reply : "");
	fflush(stdout);
}

/* stage - one stage; 1 go on, 0 stop (printed) */
static int
stage(const char *name, char cmd, const void *d, size_t n,
    const char *const *macros)
{
	struct milter_res r = { 0 };

	(void)milter_stage(&M, cmd, d, n, macros, &r);
	say(name, &r);
	milter_res_free(&r);
	return r.v == MV_CONTINUE;
}

/* num - a whole decimal number up to max; 0 or -1 */
static int
num(const char *s, unsigned long max, unsigned long *v)
{
	char *e;

	errno = 0;
	*v = strtoul(s, &e, 10);
	return errno != 0 || e == s || *e != '\0' || *v > max ? -1 : 0;
}

static int
dial(const char *hp)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *c = strrchr(hp, ':');
	unsigned long port;
	int fd;

	if (c == NULL || (size_t)(c - hp) >= sizeof host)
		return -1;
	memcpy(host, hp, (size_t)(c - hp));
	host[c - hp] = '\0';
	if (num(c + 1, 65535, &port) == -1)
		return -1;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* headers - each header of msg (unfolded at the milter's end: it gets
 * the folded value as is), then EOH; the body's offset or -1 */
static long
headers(const char *msg, size_t n)
{
	struct buf h = BUF_INIT(1 << 20);
	size_t i = 0, e, c, v;

	while (i < n && msg[i] != '\n') {
		for (e = i; e < n; e++)
			if (msg[e] == '\n' && (e + 1 >= n ||
			    (msg[e + 1] != ' ' && msg[e + 1] != '\t')))
				break;
		for (c = i; c < e && msg[c] != ':'; c++)
			;
		h.len = 0;
		v = c < e ? c + 1 : e;
		/* the space after the colon is the milter's only if it
		 * asked for it (as Postfix does) */
		if (!(M.proto & MP_HDR_LEADSPC) && v < e && msg[v] == ' ')
			v++;
		if (buf_put(&h, msg + i, c - i) == -1 ||
		    buf_putc(&h, '\0') == -1 ||
		    buf_put(&h, msg + v, e - v) == -1 ||
		    buf_putc(&h, '\0') == -1) {
			buf_free(&h);
			return -1;
		}
		if (!stage("header", MC_HEADER, h.p, h.len, NULL)) {
			buf_free(&h);
			return -1;
		}
		i = e + 1;
	}
	buf_free(&h);
	if (!stage("eoh", MC_EOH, NULL, 0, NULL))
		return -1;
	return (long)(i < n ? i + 1 : n);
}

static int
body(const char *p, size_t n)
{
	struct buf b = BUF_INIT(MILTER_CHUNK + 2);
	size_t i;

	for (i = 0; i < n; i++) {
		if ((p[i] == '\n' && buf_putc(&b, '\r') == -1) ||
		    buf_putc(&b, p[i]) == -1) {
			buf_free(&b);
			return -1;
		}
		if (b.len >= MILTER_CHUNK - 1 || i + 1 == n) {
			if (!stage("body", MC_BODY, b.p, b.len, NULL)) {
				buf_free(&b);
				return -1;
			}
			b.len = 0;
		}
	}
	buf_free(&b);
	return 0;
}

int
main(int argc, char **argv)
{
	static char msg[1 << 20];
	struct buf a = BUF_INIT(4096);
	struct milter_res r = { 0 };
	const char *mac_conn[] = { "j", "mx.test", "{daemon_name}",
	    "sandmail", "_", "client.test [127.0.0.1]", "{client_addr}",
	    NULL, NULL };
	const char *mac_mail[] = { "i", "TESTID", "{mail_addr}", NULL, NULL };
	const char *mac_rcpt[] = { "{rcpt_addr}", NULL, NULL };
	unsigned long secs;
	int t = 5, i, fd, nok = 0;
	size_t n = 0;
	ssize_t k;
	long off;

	signal(SIGPIPE, SIG_IGN);
	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		if (num(argv[2], 3600, &secs) == -1)
			return 2;
		t = (int)secs;
		argv += 2;
		argc -= 2;
	}
	if (argc < 6) {
		fprintf(stderr, "usage: sandmail-milterc [-t secs] IP:PORT "
		    "CLIENT_IP HELO SENDER RCPT... < msg\n");
		return 2;
	}
	while (n < sizeof msg && (k = read(0, msg + n, sizeof msg - n)) > 0)
		n += (size_t)k;
	if ((fd = dial(argv[1])) == -1 || milter_open(&M, fd, t * 1000)) {
		printf("open fail\n");
		return 1;
	}
	printf("open ok actions=0x%x steps=0x%x\n", M.actions, M.proto);
	mac_conn[7] = argv[2];
	mac_mail[3] = argv[4];
	/* connect: host name, family '4', port, address */
	if (buf_fmt(&a, "client.test%c4%c%c%s%c", 0, 0x61, 0xa9, argv[2],
	    0) == -1 || !stage("connect", MC_CONNECT, a.p, a.len, mac_conn) ||
	    !stage("helo", MC_HELO, argv[3], strlen(argv[3]) + 1, NULL))
		goto out;
	a.len = 0;
	if (buf_fmt(&a, "<%s>%c", argv[4], 0) == -1 ||
	    !stage("mail", MC_MAIL, a.p, a.len, mac_mail))
		goto out;
	for (i = 5; i < argc; i++) {
		a.len = 0;
		mac_rcpt[1] = argv[i];
		if (buf_fmt(&a, "<%s>%c", argv[i], 0) == -1)
			goto out;
		(void)milter_stage(&M, MC_RCPT, a.p, a.len, mac_rcpt, &r);
		say("rcpt", &r);
		if (r.v == MV_FAIL)
			goto out;
		nok += r.v == MV_CONTINUE || r.v == MV_ACCEPT;
	}
	if (nok == 0 || !stage("data", MC_DATA, NULL, 0, NULL) ||
	    (off = headers(msg, n)) == -1 ||
	    body(msg + off, n - (size_t)off) == -1)
		goto out;
	(void)milter_stage(&M, MC_EOB, NULL, 0, NULL, &r);
	say("eom", &r);
	for (unsigned j = 0; j < r.nmods; j++)
		printf("mod %c %s: %s\n", r.mods[j].type, r.mods[j].name ?
		    r.mods[j].name : "", r.mods[j].value ? r.mods[j].value : "");
	milter_res_free(&r);
	milter_close(&M);
	buf_free(&a);
	return 0;
out:
	(void)milter_stage(&M, MC_ABORT, NULL, 0, NULL, &r);
	milter_close(&M);
	buf_free(&a);
	return 0;
}
