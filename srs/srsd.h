/* srsd: how sandmail-srs confines itself (srs/srs_sbx.c), apart from its
 * loop so that sandmail-probe (testtools/probe.c) enters exactly this
 * sandbox before it plays the attacker. */
#ifndef SANDMAIL_SRSD_H
#define SANDMAIL_SRSD_H

#include <sys/types.h>

#include "conf.h"

/* srs_sandbox: chroot to empty_dir, user_srs (sandmailh) when root, the
 * parent's death (TERM) armed again after the drop (parent: the pid it
 * must still be), not dumpable, the filter: sbx_base and accept4 on lfd
 * only.  Exits 111 on any failure. */
void	srs_sandbox(const struct conf *, int lfd, pid_t parent);

#endif
