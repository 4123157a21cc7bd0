/* fdpass: descriptors over UNIX sockets, checked on arrival. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdpass.h"

/* fd_send - one message, with a descriptor when fd >= 0 */
int
fd_send(int sock, const void *p, size_t n, int fd)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t r;

	if (fd >= 0) {
		memset(&u, 0, sizeof u);
		m.msg_control = u.buf;
		m.msg_controllen = sizeof u.buf;
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	do
		r = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (r == -1 && errno == EINTR);
	if (r < 0)
		return -1;
	if ((size_t)r != n)
		return errno = EPROTO, -1;
	return 0;
}

/* fd_recv - one message and at most one descriptor */
ssize_t
fd_recv(int sock, void *p, size_t n, int *fd)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { .iov_base = p, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *c;
	ssize_t r;
	int bad = 0, got;

	*fd = -1;
	do
		r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (r == -1 && errno == EINTR);
	if (r < 0)
		return -1;
	for (c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		for (size_t i = 0; (i + 1) * sizeof(int) <=
		    c->cmsg_len - CMSG_LEN(0); i++) {
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int),
			    sizeof got);
			if (*fd == -1)
				*fd = got;
			else {
				close(got);	/* never leak a stray fd */
				bad = 1;
			}
		}
	}
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		bad = 1;
	if (bad) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return errno = EPROTO, -1;
	}
	return r;
}
