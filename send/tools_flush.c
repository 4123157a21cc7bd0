/* sandmail-flush: ask send to deliver everything pending now, or only
 * what goes to one domain (the F record of lock/trigger, as smtpd's ETRN
 * does). */
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"
#include "qwrite.h"
#include "tools_common.h"

int
main(int argc, char *argv[])
{
	unsigned char rec[2 + 255];
	const char *dom = "";
	struct tools t;
	size_t n;
	int i;

	log_init("flush");
	if ((i = tools_open(argc, argv, &t)) == -1 || argc - i > 1) {
		fputs("usage: sandmail-flush [-c conf] [domain]\n", stderr);
		return EXIT_PERM;
	}
	if (i < argc)
		dom = argv[i];
	if ((n = strlen(dom)) > 255) {
		fputs("sandmail-flush: domain too long\n", stderr);
		return EXIT_PERM;
	}
	rec[0] = 'F';
	rec[1] = (unsigned char)n;
	memcpy(rec + 2, dom, n);
	switch (qw_trigger(t.qfd, rec, n + 2)) {
	case 0:
		return EXIT_OK;
	case 1:
		fputs("sandmail-flush: send is not running (or is busy); "
		    "nothing done\n", stderr);
		return EXIT_TEMP;
	}
	die_temp("write", "lock/trigger");
}
