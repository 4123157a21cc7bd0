/* send_sbx: sandmail-send's sandbox entry, in a file of its own so that
 * the attacker probe (testtools/probe.c) runs exactly this code. */
#ifndef SANDMAIL_SEND_SBX_H
#define SANDMAIL_SEND_SBX_H

#include <sys/types.h>

/* send_sandbox: as root become uid/gid; confine paths (Landlock) to the
 * queue directory qfd (read, write, create, rename, remove) and the
 * tables directory (read only, to map changed tables again); then the
 * filter: files only through qfd, tables opened read-only.  parent, if
 * not 0, is sandmail-start: the parent-death signal (TERM) it set before
 * the exec, which the drop clears, is set again, and its absence is
 * fatal.  Exits 111 on failure; returns the uid it now runs as. */
uid_t	send_sandbox(int qfd, const char *tables, uid_t uid, gid_t gid,
	    pid_t parent);

#endif
