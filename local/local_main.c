/* sandmail-local: deliver one message to one maildir (or program), as
 * the recipient's uid.  sandmail-lspawn runs the same code (lrun.c) in
 * a forked child without exec for maildirs; it execs this program for
 * "|command" destinations, and when lspawn_exec is on.  Admins may run
 * it by hand.
 *
 *   sandmail-local [-P] [-H host] [-T seconds] -- qid sender rcpt dest
 *
 * fd 0 is the message (a regular file, read with pread), fd 1 a pipe
 * that gets one line of text for the delivery report, fd 2 the log.
 * Exit: 0 delivered, 100 permanent failure, 111 temporary failure. */
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "lrun.h"

static void
usage(void)
{
	die_msg(EXIT_TEMP, "usage", "sandmail-local [-P] [-H host] "
	    "[-T seconds] -- qid sender rcpt dest");
}

static void
opts_parse(struct lrun *o, int argc, char *argv[])
{
	int c;

	memset(o, 0, sizeof *o);
	o->d.host = "localhost";
	o->timeout = 86400;
	while ((c = getopt(argc, argv, "+PH:T:")) != -1) {
		switch (c) {
		case 'P':
			o->programs = 1;
			break;
		case 'H':
			o->d.host = optarg;
			break;
		case 'T':
			if (parse_ull(optarg, &o->timeout) == -1 ||
			    o->timeout == 0 || o->timeout > 86400 * 7)
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 4)
		usage();
	o->d.qid = argv[optind];
	o->d.sender = argv[optind + 1];
	o->d.rcpt = argv[optind + 2];
	o->dest = argv[optind + 3];
}

int
main(int argc, char *argv[])
{
	struct lrun o;

	log_init("local");
	opts_parse(&o, argc, argv);
	lrun_deliver(&o);
}
