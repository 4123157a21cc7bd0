/* sandmail-resolve: the DNS stub resolver of send (uid sandmailr).
 * Reads RQRY records on fd 0, answers RANS records on fd 1.  Trusts
 * nothing a name server sends; once sandboxed it may only make UDP and
 * TCP sockets and connect them to its configured name servers, and sees
 * no file (chroot when root, Landlock): resolve/rsbx.c. */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "resolver.h"
#include "rsbx.h"
#include "sbx.h"

SBX_NO_LEAK_CHECK

int
main(int argc, char *argv[])
{
	struct conf cf;
	struct rcfg c;
	const struct rcfg *ro;
	int opt;
	const char *path = NULL;

	log_init("resolve");
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			die_msg(EXIT_TEMP, "usage", "sandmail-resolve [-c conf]");
		path = optarg;
	}
	conf_load(&cf, path);
	resolve_config(&c, &cf);
	/* the user, chroot, a read-only copy of the name servers, Landlock,
	 * the filter (rsbx.c) */
	ro = resolve_sandbox(&cf, &c);
	log_kv("start", "nameservers", ro->nns > 1 ? "several" : "one", NULL);
	if (resolver_run(ro, 0, 1) == -1)
		die_temp("protocol", "send");
	return EXIT_OK;
}
