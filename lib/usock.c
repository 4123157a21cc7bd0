/* usock: the local services' UNIX sockets (usock.h) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sbx.h"
#include "usock.h"

char *
usock_path(const struct conf *c, const char *key, const char *name)
{
	char *q, *p;
	size_t n;

	if (conf_str(c, key, NULL) != NULL)
		return conf_path(c, key, NULL);
	if ((q = conf_path(c, "queue", "/var/spool/sandmail")) == NULL)
		return NULL;
	n = strlen(q) + sizeof "/lock/" + strlen(name);
	if ((p = malloc(n)) != NULL)
		snprintf(p, n, "%s/lock/%s", q, name);
	free(q);
	return p;
}

/* sun_set - path into sa; -1 (ENAMETOOLONG) if it does not fit */
static int
sun_set(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	if (n >= sizeof sa->sun_path)
		return errno = ENAMETOOLONG, -1;
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

int
usock_connect(const char *path, int nonblock)
{
	struct sockaddr_un sa;
	int fd, e;

	if (sun_set(&sa, path) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock ? SOCK_NONBLOCK : 0), 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    (nonblock && fcntl(fd, F_SETFL, 0) == -1)) {
		e = errno;
		close(fd);
		return errno = e, -1;
	}
	return fd;
}

int
usock_listen(const char *path, gid_t gid, const char **op)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, e, shared = gid != (gid_t)-1 && geteuid() == 0;

	*op = "socket";
	if (sun_set(&sa, path) == -1)
		return -1;
	*op = "unlink";
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	*op = "socket";
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
	old = umask(0177);	/* never a moment open to others */
	e = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	*op = "bind";
	if (e == -1)
		goto fail;
	*op = "chown";
	if (shared && chown(path, 0, gid) == -1)
		goto fail;
	*op = "listen";
	if (chmod(path, shared ? 0660 : 0600) == -1 || listen(fd, 1024) == -1)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	return errno = e, -1;
}

unsigned
usock_fd_room(unsigned want, unsigned reserve)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return want;
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)want + reserve)
		return rl.rlim_cur > reserve + 16 ?
		    (unsigned)(rl.rlim_cur - reserve) : 16;
	return want;
}

gid_t
usock_clients_gid(const struct conf *c, const char *const *keys)
{
	uid_t u;
	gid_t g;

	for (; *keys != NULL; keys++)
		if (priv_lookup(conf_str(c, *keys, "sandmaild"), &u, &g) == 0)
			return g;
	return (gid_t)-1;
}
