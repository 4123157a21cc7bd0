/* sandmail-pop3d: the POP3 server (RFC 1939, 2449, 2595, 5034).  Without
 * -l, one connection on fd 0/1 under tcpserver (the client's address from
 * TCPREMOTEIP); with -l ADDR:PORT, its own listener forking one child per
 * connection.  -T: implicit TLS (port 995).  Each connection is split in
 * a sandboxed login process and, after login, a mailbox process that runs
 * as the mailbox owner, sandboxed to the maildir (session.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "listen.h"
#include "log.h"
#include "pop3d.h"
#include "sbx.h"

#define MAX_LISTEN	16

static void
usage(void)
{
	die_msg(EXIT_PERM, "usage", "sandmail-pop3d [-c conf] [-T] "
	    "[-l addr:port]...");
}

static void
peer_env(struct peerinfo *p)
{
	const char *ip = getenv("TCPREMOTEIP"), *port = getenv("TCPREMOTEPORT");

	memset(p, 0, sizeof *p);
	snprintf(p->ip, sizeof p->ip, "%s", ip && *ip ? ip : "unknown");
	snprintf(p->port, sizeof p->port, "%s", port && *port ? port : "0");
	p->loopback = listen_is_loopback(p->ip);
}

int
main(int argc, char *argv[])
{
	struct pop3_cfg cfg;
	struct peerinfo peer;
	struct conf conf;
	char *addrs[MAX_LISTEN];
	const char *path = NULL;
	size_t naddrs = 0;
	int c, implicit = 0;

	log_init("pop3d");
	/* nothing the supervisor left open reaches a session or the
	 * sandmail-auth it execs */
	sbx_close_inherited();
	while ((c = getopt(argc, argv, "c:l:T")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'l':
			if (naddrs == MAX_LISTEN)
				usage();
			addrs[naddrs++] = optarg;
			break;
		case 'T':
			implicit = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	cfg_load(&cfg, &conf, path);
	if (implicit)
		cfg.implicit_tls = 1;
	if (naddrs > 0) {
		int code = listen_run(&cfg, addrs, naddrs);

		/* _exit: the listener holds nothing to flush, and in an ASan
		 * build LeakSanitizer's exit check (it stops the process
		 * with a ptrace tracer of its own) hung now and then after
		 * SIGTERM under runsv, the listener spinning and the tracer
		 * in wait4 (test_runit, 2 of 10 runs); the sessions, forked
		 * processes, keep their own exit checks */
		_exit(code);
	}
	peer_env(&peer);
	session_run(&cfg, 0, 1, &peer);
}
