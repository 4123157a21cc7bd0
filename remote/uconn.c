/* uconn: the UNIX-socket connector of sandmail-rspawn (see uconn.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "exitcode.h"
#include "fdpass.h"
#include "log.h"
#include "sbx.h"
#include "uconn.h"

static const struct sbx_rule uconn_rules[] = {
	SBX_ALLOW1(socket, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
	SBX_ALLOW(connect),
	SBX_ALLOW(sendmsg),
	SBX_ALLOW(recvmsg),
	SBX_LAST
};

static int
allowed(char *const *paths, size_t n, const char *p)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(paths[i], p) == 0)
			return 1;
	return 0;
}

/* one request: the path (not NUL-terminated) and the pair to answer on */
static void
serve(char *const *paths, size_t np, const char *msg, size_t n, int reply)
{
	struct sockaddr_un sa;
	char path[UCONN_PATH_MAX + 1], why[160];
	int fd = -1;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (n == 0 || n > UCONN_PATH_MAX || memchr(msg, '\0', n) != NULL) {
		snprintf(why, sizeof why, "bad socket path");
		goto no;
	}
	memcpy(path, msg, n);
	path[n] = '\0';
	if (!allowed(paths, np, path)) {
		/* RFC 3463 X.3.5: system incorrectly configured */
		snprintf(why, sizeof why, "%s is not an lmtp_socket in "
		    "sandmail.conf", path);
		log_kv("warning", "op", "uconn", "path", path, "err",
		    "not allowed", NULL);
		goto no;
	}
	memcpy(sa.sun_path, path, n);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		snprintf(why, sizeof why, "connect to unix:%s: %s", path,
		    strerror(errno));
		goto no;
	}
	(void)fd_send(reply, "K", 1, fd);
	close(fd);
	return;
no:
	if (fd >= 0)
		close(fd);
	(void)fd_send(reply, why, strlen(why), -1);
}

static void __attribute__((noreturn))
uconn_run(char *const *paths, size_t n, int sock)
{
	static char msg[UCONN_PATH_MAX + 2];
	ssize_t k;
	int reply;

	sbx_enter_or_die(uconn_rules);
	for (;;) {
		k = fd_recv(sock, msg, sizeof msg, &reply);
		if (k == 0)
			_exit(EXIT_OK);	/* rspawn and its workers are gone */
		if (k < 0) {
			if (errno == EINTR || errno == EPROTO)
				continue;
			_exit(EXIT_TEMP);
		}
		if (reply < 0)
			continue;
		/* a worker that does not read its answer stalls only itself;
		 * answers never go on the shared socket, so no worker can take
		 * another's connection */
		if (fcntl(reply, F_SETFL, fcntl(reply, F_GETFL) | O_NONBLOCK) ==
		    0)
			serve(paths, n, msg, (size_t)k, reply);
		close(reply);
	}
}

/* uconn_start - see uconn.h */
int
uconn_start(char *const *paths, size_t n, uid_t uid, gid_t gid)
{
	int sv[2];
	pid_t pid;

	if (n == 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (pid = fork()) == -1)
		die_temp("uconn", "fork");
	if (pid == 0) {
		close(sv[0]);
		/* keep fd 2 (the log) and our socket, nothing else */
		for (int fd = 0; fd < 1024; fd++)
			if (fd != 2 && fd != sv[1])
				close(fd);
		signal(SIGPIPE, SIG_IGN);
		priv_drop_or_die(uid, gid);
		uconn_run(paths, n, sv[1]);
	}
	close(sv[1]);
	return sv[0];
}

/* uconn_connect - see uconn.h */
int
uconn_connect(int sock, const char *path, int ms, char *why, size_t whysz)
{
	char msg[200];
	struct pollfd p;
	ssize_t k;
	int sv[2], fd = -1, r;
	size_t n = strlen(path);

	if (sock < 0) {
		snprintf(why, whysz, "no lmtp_socket in sandmail.conf: cannot "
		    "connect to unix:%s", path);
		return -1;
	}
	if (n == 0 || n > UCONN_PATH_MAX) {
		snprintf(why, whysz, "bad socket path");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		goto err;
	if (fd_send(sock, path, n, sv[1]) == -1) {
		close(sv[0]);
		close(sv[1]);
		goto err;
	}
	close(sv[1]);
	p = (struct pollfd){ .fd = sv[0], .events = POLLIN };
	do
		r = poll(&p, 1, ms);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		errno = ETIMEDOUT;
	if (r <= 0 || (k = fd_recv(sv[0], msg, sizeof msg - 1, &fd)) < 0) {
		close(sv[0]);
		goto err;
	}
	close(sv[0]);
	if (k == 1 && msg[0] == 'K' && fd >= 0) {
		/* blocking from here; reads and writes poll with timeouts */
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0)
			return fd;
		close(fd);
		goto err;
	}
	if (fd >= 0)
		close(fd);
	msg[k] = '\0';
	snprintf(why, whysz, "%s", k > 0 ? msg : "the connector is gone");
	return -1;
err:
	snprintf(why, whysz, "connect to unix:%s: %s", path, strerror(errno));
	return -1;
}
