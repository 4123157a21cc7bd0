/* fuzz_smtpd: the SMTP receiver on arbitrary client bytes.  The first
 * byte picks a target: a whole session (command parser, verb table,
 * parameters, policy with empty tables, DATA and BDAT through the
 * decoder; no queue, so messages end in 451), the DATA/BDAT decoder alone
 * fed in two slices, or the MAIL/RCPT parameter and path parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/smtpd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* The session logs a line per refusal and per disconnect on fd 2, which
 * would fill the run's log; -close_fd_mask=2 makes libFuzzer keep its
 * own (and the sanitizers') output on a copy of stderr and close fd 2 for
 * the target.  libFuzzer reads its flags after this hook. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char mask[] = "-close_fd_mask=2";
	static char *args[64];
	int i, n = *argc < 62 ? *argc : 62;

	for (i = 0; i < n; i++)
		args[i] = (*argv)[i];
	args[n++] = mask;
	args[n] = NULL;
	*argc = n;
	*argv = args;
	return 0;
}

struct fake {
	const uint8_t	*p;
	size_t		 n, pos;
};

static ssize_t
fake_read(int fd, void *p, size_t n, void *ctx)
{
	struct fake *f = ctx;
	size_t k = f->n - f->pos;

	(void)fd;
	if (k > n)
		k = n;
	if (k > 7)		/* short reads: replies interleave */
		k = k / 2;
	memcpy(p, f->p + f->pos, k);
	f->pos += k;
	return (ssize_t)k;
}

static ssize_t
fake_write(int fd, void *p, size_t n, void *ctx)
{
	(void)fd, (void)p, (void)ctx;
	return (ssize_t)n;
}

static void
fuzz_session(const uint8_t *p, size_t n, int relay)
{
	static struct session s;
	struct smtpd_cfg cfg;
	struct tables tabs;
	struct qc qc;
	struct fake f = { p, n, 0 };
	size_t i;

	memset(&cfg, 0, sizeof cfg);
	cfg.hostname = "mx.fuzz";
	cfg.delim = "-+";
	cfg.max_size = 4096;
	cfg.max_rcpt = 5;
	cfg.max_errors = 20;
	cfg.max_hops = 3;
	cfg.line_max = 256;
	cfg.timeout_ms = cfg.data_timeout_ms = 1000;
	cfg.vrfy_real = cfg.expn_real = relay;
	for (i = 0; i < T_COUNT; i++)
		tabs.t[i].fd = -1, tabs.t[i].path = NULL;
	memset(&qc, 0, sizeof qc);
	qc.fd = -1;
	session_init(&s, &cfg, &tabs, &qc, 1, -1, -1);
	rd_init(&s.in, -1, fake_read, &f);
	wr_init(&s.out, -1, fake_write, &f);
	s.relayclient = relay;
	session_run(&s);
	session_free(&s);
}

static void
fuzz_data(const uint8_t *p, size_t n, int bdat)
{
	struct data d;
	struct buf out = BUF_INIT(1 << 16);
	size_t cut = n > 0 ? p[0] % (n + 1) : 0, used;

	data_init(&d, 1024, 2, bdat);
	used = data_feed(&d, (const char *)p, cut, &out);
	if (used == cut && cut < n)
		used += data_feed(&d, (const char *)p + cut, n - cut, &out);
	if (used > n || out.len > n || d.size > n)
		abort();
	if (bdat)
		data_last(&d);
	buf_free(&out);
}

static void
fuzz_params(const uint8_t *p, size_t n)
{
	struct mailparam mp;
	struct rcptparam rp;
	struct addr a;
	enum addr_err e;
	char helo[HELO_MAX + 1];
	size_t end;

	(void)mail_params((const char *)p, n, &mp);
	(void)rcpt_params((const char *)p, n, &rp);
	(void)xtext_valid((const char *)p, n);
	if (cmd_path((const char *)p, n, "FROM:", ADDR_ALLOW_NULL | ADDR_UTF8,
	    &a, &end, &e) == 0 && end > n)
		abort();
	(void)cmd_path((const char *)p, n, "TO:", ADDR_POSTMASTER, &a, &end,
	    &e);
	helo_sanitize((const char *)p, n, helo, sizeof helo);
	for (size_t i = 0; helo[i] != '\0'; i++)
		if (helo[i] == '\r' || helo[i] == '\n' || helo[i] == ' ')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	switch (p[0] % 5) {
	case 0:
	case 1:
		fuzz_session(p + 1, n - 1, p[0] % 5);
		break;
	case 2:
	case 3:
		fuzz_data(p + 1, n - 1, p[0] % 5 == 3);
		break;
	default:
		fuzz_params(p + 1, n - 1);
		break;
	}
	return 0;
}
