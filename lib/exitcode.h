/* The exit codes of the whole system (qmail's convention).  A parent reads
 * 0 and 100 as they say; anything else, a signal included, is temporary. */
#ifndef SANDMAIL_EXITCODE_H
#define SANDMAIL_EXITCODE_H

enum exitcode {
	EXIT_OK = 0,
	EXIT_PERM = 100,
	EXIT_TEMP = 111,
};

#endif
