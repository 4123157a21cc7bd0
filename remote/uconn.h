/* uconn: the connector of sandmail-rspawn, the one process that opens
 * UNIX-domain sockets (LMTP to "unix:/path").  rspawn and its workers are
 * chrooted to an empty directory and may not create AF_UNIX sockets, so a
 * worker asks the connector: it sends the path with one end of a fresh
 * socket pair, and the connector answers on that pair with the connected
 * socket, or a line saying why not.  The connector is forked before the
 * chroot, runs as user_remote under a filter of its own, and connects
 * only to the paths sandmail.conf lists (lmtp_socket): a compromised
 * worker can reach those sockets and no others. */
#ifndef SANDMAIL_REMOTE_UCONN_H
#define SANDMAIL_REMOTE_UCONN_H

#include <stddef.h>
#include <sys/types.h>

#define UCONN_PATH_MAX	108	/* sun_path */

/* uconn_start: fork the connector (paths: n allowed socket paths, kept
 * by the child); it drops to uid/gid.  Returns the socket the workers
 * ask on, or -1 when n is 0 (no connector).  Exits 111 on failure. */
int	uconn_start(char *const *paths, size_t n, uid_t uid, gid_t gid);
/* uconn_connect: a connected stream socket to path, asked of the
 * connector on sock, waiting at most ms; -1 with why[] filled */
int	uconn_connect(int sock, const char *path, int ms, char *why,
	    size_t whysz);

#endif
