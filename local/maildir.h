/* maildir: unique names and the directories of one maildir
 * (https://cr.yp.to/proto/maildir.html).  Used by sandmail-local only. */
#ifndef SANDMAIL_MAILDIR_H
#define SANDMAIL_MAILDIR_H

#include <fcntl.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define MAILDIR_NAME_MAX	512	/* a file name under tmp/ or new/ */
#define MAILDIR_MKDIR_DEPTH	4	/* missing levels created at most */

/* The only ways sandmail-local creates files (lspawn's filter names them) */
#define MAILDIR_OFLAGS	(O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW)
#define MAILDIR_FOLDER_OFLAGS	(O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW)

struct maildir {
	int	dir, tmp, new;		/* O_DIRECTORY descriptors */
	int	journaled;		/* 1: new/ is on a file system that
					 * writes a name only in a journal
					 * commit (maildir_open, fsprobe.h) */
};

/* maildir_host: append host with '/' as \057 and ':' as \072 (and any
 * byte outside printable ASCII as \ooo), so a name never holds a path
 * separator or the info separator.  0, or -1 (E2BIG). */
int	maildir_host(struct buf *, const char *host);
/* maildir_name: "SEC.M<usec>P<pid>Q<n>R<hex>.<host>"; n counts the
 * deliveries of one process (a reused worker makes many), rnd is
 * hex-encoded.  0, or -1 (E2BIG). */
int	maildir_name(struct buf *, unsigned long long sec, unsigned long usec,
	    pid_t pid, unsigned long n, const unsigned char *rnd, size_t nrnd,
	    const char *host);
/* maildir_open: open path (an absolute directory), creating it (0700),
 * up to MAILDIR_MKDIR_DEPTH missing parents, and tmp/ new/ cur/ as
 * needed.  0, or -1 with errno. */
int	maildir_open(struct maildir *, const char *path);
void	maildir_close(struct maildir *);

#endif
