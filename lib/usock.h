/* usock: the local services' UNIX sockets (the queue's, sandmail-auth's,
 * sandmail-srs's): where a service's socket is, a client's connection
 * to it, and the service's own listening socket.  Logging and what a
 * failure means are the caller's. */
#ifndef SANDMAIL_USOCK_H
#define SANDMAIL_USOCK_H

#include <sys/types.h>

#include "conf.h"

/* usock_path: the setting key if set, else QUEUE/lock/name (malloc'd;
 * NULL when out of memory) */
char	*usock_path(const struct conf *c, const char *key, const char *name);
/* usock_connect: a close-on-exec stream connection to path; nonblock:
 * connect without waiting (a service whose backlog is full fails now),
 * the descriptor blocking again after.  The fd, or -1 with errno
 * (ENAMETOOLONG: no such socket name) */
int	usock_connect(const char *path, int nonblock);
/* usock_listen: a service's nonblocking listening socket at path (a
 * stale one replaced): as root with gid not -1, root:gid 0660 (its
 * clients connect by that group, no more as root); otherwise 0600.
 * The fd, or -1 with errno and *op naming the step that failed */
int	usock_listen(const char *path, gid_t gid, const char **op);
/* usock_clients_gid: the group by which a service's clients connect,
 * no more as root: that of the first of the user settings keys (a
 * NULL-ended list, each defaulting to sandmaild) that names a user;
 * -1 when none does (root alone connects) */
gid_t	usock_clients_gid(const struct conf *c, const char *const *keys);
/* usock_fd_room: the descriptor limit raised to its hard maximum; how
 * many of want clients fit below it with reserve descriptors left for
 * the rest (at least 16) */
unsigned	usock_fd_room(unsigned want, unsigned reserve);

#endif
