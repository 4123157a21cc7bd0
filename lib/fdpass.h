/* fdpass: one message with at most one descriptor over a UNIX socket
 * (SCM_RIGHTS).  Used with SOCK_SEQPACKET socket pairs, where one message
 * is one job, so the message and its descriptor cannot drift apart. */
#ifndef SANDMAIL_FDPASS_H
#define SANDMAIL_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX	65536	/* the largest job or result message */

/* fd_send: send n bytes and fd (-1 for none); 0 or -1 */
int	fd_send(int sock, const void *p, size_t n, int fd);
/* fd_recv: receive one message; *fd gets a descriptor or -1.
 * Returns the length, 0 at EOF, -1 on error (EPROTO: truncated message,
 * more than one descriptor, or a control message of another kind). */
ssize_t	fd_recv(int sock, void *p, size_t n, int *fd);

#endif
