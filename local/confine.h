/* confine: Landlock for sandmail-local, on top of its seccomp filter.
 * seccomp can check that openat(2) gets the tmp/ descriptor, but not
 * where the path leads (an absolute path ignores the descriptor);
 * Landlock can: beneath the maildir the process may create, write,
 * link and remove regular files, and it may open nothing else at all. */
#ifndef SANDMAIL_CONFINE_H
#define SANDMAIL_CONFINE_H

/* confine_maildir: 0 confined, 1 the kernel has no usable Landlock
 * (ABI 2 or later: links between tmp/ and new/), -1 error with errno */
int	confine_maildir(int dir);

#endif
