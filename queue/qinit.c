/* qinit: the queue directory layout (DESIGN.md, "The queue").
 *
 * As root, each directory belongs to the program that writes it:
 *   tmp/ mess/ todo/    user_queue, group of user_send, 02770: send reads
 *                       and removes messages and writes its bounces there;
 *                       set-gid, so every file made there (0640) gets the
 *                       group of user_send, whoever's egid made it (the
 *                       service's, or the set-uid queue's caller's)
 *   info/ local/ remote/ bounce/   user_send, 0700
 *   hold/               user_send, 0700: sandmail-queuectl (root) puts
 *                       hold/ID there; send only reads it
 *   lock/               user_queue, group of user_send, 0771: queue makes
 *                       queue.sock there; smtpd only needs to search it
 *   lock/trigger        FIFO, user_send, group of user_queue, 0620
 * Run as a plain user, everything is that user's and 0700 (FIFO 0600). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qinit.h"

enum { OWN_QUEUE, OWN_SEND, OWN_TRIGGER };

static const struct qdir {
	const char	*name;
	int		 own;
	mode_t		 rootmode;
} qdirs[] = {
	{ "tmp", OWN_QUEUE, 02770 },
	{ "mess", OWN_QUEUE, 02770 },
	{ "todo", OWN_QUEUE, 02770 },
	{ "info", OWN_SEND, 0700 },
	{ "local", OWN_SEND, 0700 },
	{ "remote", OWN_SEND, 0700 },
	{ "bounce", OWN_SEND, 0700 },
	{ "hold", OWN_SEND, 0700 },
	{ "lock", OWN_QUEUE, 0771 },
};

static int
owner(int dfd, const char *name, int own, const struct qinit_ids *ids)
{
	uid_t u;
	gid_t g;

	if (!ids->chown)
		return 0;
	u = own == OWN_SEND || own == OWN_TRIGGER ? ids->suid : ids->quid;
	g = own == OWN_TRIGGER ? ids->qgid : ids->sgid;
	return fchownat(dfd, name, u, g, AT_SYMLINK_NOFOLLOW);
}

static int
mkdir_at(int dfd, const struct qdir *d, const struct qinit_ids *ids)
{
	mode_t m = ids->chown ? d->rootmode : 0700;
	struct stat st;

	if (mkdirat(dfd, d->name, m) == -1 && errno != EEXIST)
		return -1;
	if (fstatat(dfd, d->name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return errno = ENOTDIR, -1;
	if (owner(dfd, d->name, d->own, ids) == -1 ||
	    fchmodat(dfd, d->name, m, 0) == -1)
		return -1;
	return 0;
}

static int
mkfifo_at(int dfd, const struct qinit_ids *ids)
{
	mode_t m = ids->chown ? 0620 : 0600;
	struct stat st;

	if (mkfifoat(dfd, "lock/trigger", m) == -1 && errno != EEXIST)
		return -1;
	if (fstatat(dfd, "lock/trigger", &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (!S_ISFIFO(st.st_mode))
		return errno = EEXIST, -1;
	if (owner(dfd, "lock/trigger", OWN_TRIGGER, ids) == -1 ||
	    fchmodat(dfd, "lock/trigger", m, 0) == -1)
		return -1;
	return 0;
}

/* qinit - make dir and everything in it */
int
qinit(const char *dir, const struct qinit_ids *ids, const char **what)
{
	mode_t old = umask(0);
	int dfd, e;

	*what = dir;
	if (mkdir(dir, ids->chown ? 0755 : 0700) == -1 && errno != EEXIST)
		goto fail;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		goto fail;
	for (size_t i = 0; i < sizeof qdirs / sizeof qdirs[0]; i++) {
		*what = qdirs[i].name;
		if (mkdir_at(dfd, &qdirs[i], ids) == -1)
			goto faild;
	}
	*what = "lock/trigger";
	if (mkfifo_at(dfd, ids) == -1)
		goto faild;
	if (fsync(dfd) == -1)
		goto faild;
	close(dfd);
	umask(old);
	return 0;
faild:
	e = errno;
	close(dfd);
	errno = e;
fail:
	e = errno;
	umask(old);
	errno = e;
	return -1;
}
