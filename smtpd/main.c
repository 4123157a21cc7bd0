/* sandmail-smtpd: the SMTP receiver.  Without -l, one session on fd 0/1
 * under tcpserver (or s6-tcpserver, or a systemd socket with Accept=yes);
 * with -l ADDR:PORT[/MODE] (repeatable), its own listener that forks
 * sandboxed session workers (reused on port 25: worker.c).  -m MODE
 * (smtp, submission, smtps, tls) sets the mode of fd 0/1 or of every -l
 * without its own; -m local (fd 0/1 only) is sendmail -bs, a local
 * user's submission.  Trusts nothing read from a client; a session is
 * sandboxed before it reads a byte and touches only the fds it holds. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "sbx.h"
#include "smtpd.h"

#define MAX_LISTEN	16

static void
usage(void)
{
	die_msg(EXIT_PERM, "usage", "sandmail-smtpd [-c conf] [-m mode] "
	    "[-l addr:port[/mode]]...");
}

/* bind_now - the listener resolves every library symbol once, at start,
 * not lazily in each forked session: a lazy binding there looks symbols up
 * (CPU) and writes a GOT page, copying it, in every child.  So it runs
 * itself again once with LD_BIND_NOW set; the second run (LD_BIND_NOW
 * set) only clears it, so that nothing it spawns inherits it.  If the
 * exec fails, we go on lazily. */
static void
bind_now(char *argv[])
{
	char self[4096];
	ssize_t n;

	if (getenv("LD_BIND_NOW") != NULL) {
		unsetenv("LD_BIND_NOW");
		return;
	}
	/* the real path, not /proc/self/exe: ps would call us "exe" */
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0 || setenv("LD_BIND_NOW", "1", 1) == -1)
		return;
	self[n] = '\0';
	(void)execv(self, argv);
	unsetenv("LD_BIND_NOW");
}

int
main(int argc, char *argv[])
{
	struct smtpd_cfg cfg;
	struct conf conf;
	struct tables tabs;
	char *addrs[MAX_LISTEN];
	const char *path = NULL;
	size_t naddrs = 0;
	unsigned mode = 0;
	int c;

	log_init("smtpd");
	/* nothing the supervisor left open reaches a session or the
	 * sandmail-auth it execs */
	sbx_close_inherited();
	while ((c = getopt(argc, argv, "c:l:m:")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'm':
			if (mode_parse(optarg, &mode) == -1)
				usage();
			break;
		case 'l':
			if (naddrs == MAX_LISTEN)
				usage();
			addrs[naddrs++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (naddrs > 0 && (mode & MODE_LOCAL)))
		usage();
	if (naddrs > 0)
		bind_now(argv);
	cfg_load(&cfg, &conf, path);
	priv_nodump();		/* the TLS key: no core file, here or below */
	if (tables_open(&tabs, &cfg) == -1)
		die_msg(EXIT_TEMP, "tables", "cannot open tables");
	tzset();		/* libc reads /etc/localtime now, not later */
	if (naddrs > 0 && sandbox_prepare() == -1)
		die_temp("sandbox", "compile");
	if (naddrs > 0) {
		c = listen_run(&cfg, &tabs, addrs, naddrs, mode);
		tables_close(&tabs);
		cfg_free(&cfg);
		conf_free(&conf);
		return c;
	}
	session_ucspi(&cfg, &tabs, mode);
}
