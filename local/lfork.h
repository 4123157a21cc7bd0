/* lfork: sandmail-lspawn's forker.  seccomp filters are inherited and
 * only ever narrow, so the process that forks delivery children must
 * allow what a child needs before its own filter (setresuid, opening
 * and making the maildir).  Those calls are kept out of lspawn itself,
 * which reads send's jobs: lspawn forks, before any job, a forker that
 * keeps of root only CAP_SETUID and CAP_SETGID (as user_lspawn, so it
 * can open or create no file root could), enters a filter of its own,
 * and on lspawn's request (a kind byte and the LJOB, with the message
 * and the child's socket or pipe) checks the job again and clones a
 * child whose parent is lspawn (CLONE_PARENT: lspawn waits for and
 * kills it as before).  The child becomes the recipient, drops every
 * capability and delivers (lspawn.c, lwork.c).  See doc/design.md,
 * "lspawn's workers". */
#ifndef SANDMAIL_LFORK_H
#define SANDMAIL_LFORK_H

#include <sys/types.h>

#include "job.h"
#include "lspawn.h"

#define LFORK_NAME	"sandmail-lfork"	/* its comm; children: lspawn's */

/* lfork_start: fork the forker (before lspawn's filter; it runs as
 * c->fuid/c->fgid when c->root).  lspawn's end of its socket. */
int	lfork_start(const struct lspawn_cfg *c);
/* lfork_enter: the forker's identity (CAP_SETUID and CAP_SETGID as
 * c->fuid when root) and filter; 0 or -1 with errno.  The probe calls
 * it as the forker does. */
int	lfork_enter(const struct lspawn_cfg *c);
/* lfork_spawn: ask the forker for a child for j (worker or one-job);
 * its pid, or -1 (the forker refused: errno EINVAL, or failed).  Exits
 * 111 when the forker is gone. */
pid_t	lfork_spawn(int sock, const struct ljob *j, int msgfd, int wfd,
	    int worker);
/* lfork_become: in a child: become uid/gid (groups: gid), drop every
 * capability, verify that neither root nor the forker's powers come
 * back.  0 or -1 with errno. */
int	lfork_become(uid_t uid, gid_t gid);

#endif
