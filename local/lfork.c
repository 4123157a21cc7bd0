/* lfork: the forker of sandmail-lspawn (lfork.h).
 *
 * Trusts lspawn no more than lspawn trusts send: a request is decoded
 * exactly, the job checked again with lspawn_check (uid in range, never
 * uid or gid 0, gid at least local_gid_min, an absolute maildir or an
 * allowed program), the descriptors must be a regular file and a socket
 * or pipe.  Its filter (lspawn_sbx.c) pins setresuid and setresgid at or
 * above the local minimums, allows no setuid, and pins the clone flags
 * to CLONE_PARENT. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "exitcode.h"
#include "fdpass.h"
#include "job.h"
#include "lfork.h"
#include "log.h"
#include "lspawn.h"
#include "sbx.h"

#define KIND_WORKER	'W'
#define KIND_ONCE	'E'

static unsigned char req[FDPASS_MAX + 1];

/* identity - as root: user_lspawn with CAP_SETUID and CAP_SETGID only */
static int
identity(const struct lspawn_cfg *c)
{
	if (!c->root)
		return 0;
	return priv_setid_only(c->fuid, c->fgid);
}

/* lfork_enter - the forker's identity, then its filter */
int
lfork_enter(const struct lspawn_cfg *c)
{
	if (identity(c) == -1)
		return -1;
	return lfork_sandbox(c);
}

/* lfork_become - the recipient, with no capability left */
int
lfork_become(uid_t uid, gid_t gid)
{
	return priv_become(uid, gid);
}

/* recv2 - one request with exactly two descriptors */
static ssize_t
recv2(int sock, void *p, size_t n, int fds[2])
{
	union {
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { .iov_base = p, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *cm;
	size_t k = 0, nfd;
	ssize_t r;
	int got;

	fds[0] = fds[1] = -1;
	while ((r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) == -1 &&
	    errno == EINTR)
		;
	if (r <= 0)
		return r;
	for (cm = CMSG_FIRSTHDR(&m); cm != NULL; cm = CMSG_NXTHDR(&m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			memcpy(&got, CMSG_DATA(cm) + i * sizeof(int),
			    sizeof got);
			if (k < 2)
				fds[k++] = got;
			else
				close(got);
		}
	}
	if (k != 2 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (size_t i = 0; i < k; i++)
			close(fds[i]);
		fds[0] = fds[1] = -1;
		return errno = EPROTO, -1;
	}
	return r;
}

static void
reply(int sock, int32_t v)
{
	if (send(sock, &v, sizeof v, MSG_NOSIGNAL) != (ssize_t)sizeof v)
		_exit(EXIT_TEMP);
}

/* one - check a request and clone its child; the pid or -errno */
static int32_t
one(const struct lspawn_cfg *c, int sock, const unsigned char *p, size_t n,
    const int fds[2])
{
	struct ljob j;
	struct stat st;
	uint8_t status;
	int worker;
	long pid;

	if (n < 1 || (p[0] != KIND_WORKER && p[0] != KIND_ONCE) ||
	    ljob_decode(&j, p + 1, n - 1) == -1)
		return -EPROTO;
	worker = p[0] == KIND_WORKER;
	if (lspawn_check(c, &j, fds[0], &status) != NULL ||
	    worker != (j.dest[0] != '|' && !c->exec) ||
	    fstat(fds[1], &st) == -1 ||
	    !(S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))) {
		ljob_free(&j);
		return -EINVAL;
	}
	/* the child is lspawn's: it waits for it and kills it */
	pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid == 0) {
		close(sock);
		lspawn_child(c, &j, fds[0], fds[1], worker);
	}
	ljob_free(&j);
	return pid == -1 ? -errno : (int32_t)pid;
}

/* serve - requests until lspawn hangs up */
static void __attribute__((noreturn))
serve(const struct lspawn_cfg *c, int sock)
{
	int fds[2];
	ssize_t n;
	int32_t v;

	for (;;) {
		if ((n = recv2(sock, req, sizeof req, fds)) == 0)
			_exit(EXIT_OK);
		if (n == -1 && errno != EPROTO)
			_exit(EXIT_TEMP);
		v = n == -1 ? -EPROTO : one(c, sock, req, (size_t)n, fds);
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		reply(sock, v);
	}
}

/* lfork_start - fork the forker; lspawn's end of its socket */
int
lfork_start(const struct lspawn_cfg *c)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		die_temp("socketpair", "forker");
	if ((pid = fork()) == -1)
		die_temp("fork", "forker");
	if (pid == 0) {
		/* send's socket (fd 0) and the tables are lspawn's
		 * business only */
		close(sv[0]);
		if (c->tables_fd >= 0)
			close(c->tables_fd);
		if (dup2(sv[1], 0) == -1)
			_exit(EXIT_TEMP);
		close(sv[1]);
		log_init("lspawn-fork");
		/* ps and the tests tell it from the deliveries */
		(void)prctl(PR_SET_NAME, LFORK_NAME, 0, 0, 0);
		if (lfork_enter(c) == -1)
			die_temp("forker", "sandbox");
		serve(c, 0);
	}
	close(sv[1]);
	return sv[0];
}

/* lfork_spawn - one request, one answer */
pid_t
lfork_spawn(int sock, const struct ljob *j, int msgfd, int wfd, int worker)
{
	struct buf b = BUF_INIT(FDPASS_MAX);
	union {
		char		buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr	align;
	} u;
	struct iovec iov;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *cm;
	int fds[2] = { msgfd, wfd };
	int32_t v;
	ssize_t r;

	if (buf_putc(&b, worker ? KIND_WORKER : KIND_ONCE) == -1 ||
	    ljob_encode(&b, j) == -1) {
		buf_free(&b);
		return errno = E2BIG, -1;
	}
	iov.iov_base = b.p;
	iov.iov_len = b.len;
	memset(&u, 0, sizeof u);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(cm), fds, sizeof fds);
	while ((r = sendmsg(sock, &m, MSG_NOSIGNAL)) == -1 && errno == EINTR)
		;
	buf_free(&b);
	if (r == -1)
		die_temp("forker", "send");
	while ((r = recv(sock, &v, sizeof v, 0)) == -1 && errno == EINTR)
		;
	if (r != (ssize_t)sizeof v)
		die_msg(EXIT_TEMP, "forker", "gone");
	if (v <= 0)
		return errno = v < 0 ? -v : EPROTO, -1;
	return (pid_t)v;
}
