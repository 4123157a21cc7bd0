/* qsbx: sandmail-queue's sandbox entry, in a file of its own so that
 * the attacker probe (testtools/probe.c) runs exactly this code. */
#ifndef SANDMAIL_QSBX_H
#define SANDMAIL_QSBX_H

#include <sys/types.h>

#include "conf.h"

/* queue_sandbox: as root become user_queue (set-uid: the queue user,
 * real ids too), confine paths to the queue directory dirfd (Landlock),
 * then the filter: *at calls on dirfd, accept4 on lfd (-1: none).
 * Returns the uid it now runs as; exits 111 on failure. */
uid_t	queue_sandbox(const struct conf *, int dirfd, int lfd,
	    int setuid_mode);

#endif
