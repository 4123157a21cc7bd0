/* lrun: one delivery as sandmail-local makes it, once it runs as the
 * recipient (after exec; fd 0 is the message, a regular file read with
 * pread, fd 1 the report pipe, fd 2 the log; nothing else should be
 * open), and the maildir filter that sandmail-lspawn's workers (lwork.h)
 * share with it. */
#ifndef SANDMAIL_LRUN_H
#define SANDMAIL_LRUN_H

#include "deliver.h"
#include "maildir.h"

struct lrun {
	int		 programs;	/* "|command" allowed */
	unsigned long long timeout;	/* seconds, the delivery's deadline */
	struct dinfo	 d;		/* qid, sender, rcpt, host */
	const char	*dest;		/* /path/Maildir/ or |command */
};

/* lrun_deliver: check the envelope, set the deadline, confine to the
 * maildir (Landlock, then seccomp), deliver, write the report line on
 * fd 1 and _exit 0, 100 or 111.  Never returns. */
void	lrun_deliver(const struct lrun *) __attribute__((noreturn));
/* lrun_sandbox: the seccomp filter of a maildir delivery: files only
 * under m's tmp/ and new/; with sock >= 0 (a reused worker, lwork.h)
 * also recvmsg and sendmsg on sock.  0, or -1 with errno. */
int	lrun_sandbox(const struct maildir *, int sock);
/* lrun_fail: report what (with strerror(err) unless 0) and _exit code */
void	lrun_fail(const struct lrun *, int code, const char *what, int err)
	    __attribute__((noreturn));

#endif
