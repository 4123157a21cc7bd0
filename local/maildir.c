/* maildir: names and directories of one maildir, for sandmail-local.
 * Runs as the recipient, before the sandbox is on: everything opened
 * here is all the delivery may touch afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsprobe.h"
#include "maildir.h"

/* maildir_host - the host part of a name, '/' and ':' escaped */
int
maildir_host(struct buf *b, const char *host)
{
	const unsigned char *h = (const unsigned char *)host;

	for (; *h != '\0'; h++) {
		int r;

		if (*h == '/' || *h == ':' || *h == '\\' || *h <= ' ' ||
		    *h >= 0x7f)
			r = buf_fmt(b, "\\%03o", *h);
		else
			r = buf_putc(b, (char)*h);
		if (r == -1)
			return -1;
	}
	return 0;
}

/* maildir_name - a unique file name for tmp/ and new/ */
int
maildir_name(struct buf *b, unsigned long long sec, unsigned long usec,
    pid_t pid, unsigned long n, const unsigned char *rnd, size_t nrnd,
    const char *host)
{
	if (buf_fmt(b, "%llu.M%luP%ldQ%luR", sec, usec, (long)pid, n) == -1)
		return -1;
	for (size_t i = 0; i < nrnd; i++)
		if (buf_fmt(b, "%02x", rnd[i]) == -1)
			return -1;
	if (buf_putc(b, '.') == -1 || maildir_host(b, host) == -1)
		return -1;
	return b->len > MAILDIR_NAME_MAX ? (errno = E2BIG, -1) : 0;
}

/* mkdir_parents - create the missing tail of path, at most depth levels */
static int
mkdir_parents(char *path, int depth)
{
	char *slash;
	int r;

	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT || depth <= 1)
		return -1;
	if ((slash = strrchr(path, '/')) == NULL || slash == path)
		return errno = ENOENT, -1;
	*slash = '\0';
	r = mkdir_parents(path, depth - 1);
	*slash = '/';
	if (r == -1)
		return -1;
	return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* subdir - open dir/name, creating it first only when it is missing (the
 * common case, a maildir that exists, costs one call, not two) */
static int
subdir(int dir, const char *name, int *made)
{
	int fd;

	fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (mkdirat(dir, name, 0700) == 0)
		*made = 1;
	else if (errno != EEXIST)
		return -1;
	return openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
}

/* folder - Maildir++ (https://www.courier-mta.org/imap/README.maildirquota
 * .html): a maildir named ".NAME" inside another is a folder of it; mark
 * it with the empty file "maildirfolder" and give the parent its own
 * tmp/ new/ cur/ so that it is a maildir too.  Best effort: a reader that
 * does not know Maildir++ still sees a plain maildir. */
static void
folder(int dir, const char *path)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	const char *base = strrchr(path, '/');
	int parent, fd, made = 0;

	if (base == NULL || base[1] != '.' || base[2] == '\0' ||
	    strcmp(base, "/..") == 0)
		return;
	if ((fd = openat(dir, "maildirfolder", MAILDIR_FOLDER_OFLAGS,
	    0600)) >= 0)
		close(fd);
	if ((parent = openat(dir, "..", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return;
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++)
		if ((fd = subdir(parent, sub[i], &made)) >= 0)
			close(fd);
	if (made)
		(void)fsync(parent);
	close(parent);
}

/* The one-barrier delivery (deliver.c) relies on a journal never
 * committing a name before the data that was written before it: jbd2
 * writes its commit record, and XFS each log write, with a cache flush
 * first, which makes every write completed earlier durable.  ext4
 * without a journal writes the directory block in any order with the
 * file's, so it keeps two; so does any file system fs_journal cannot
 * tell (fsprobe.h). */

/* maildir_open - open (creating as needed) a maildir and its tmp/, new/ */
int
maildir_open(struct maildir *m, const char *path)
{
	char p[4096];
	size_t n = strlen(path);
	int cur, e, made = 0;

	m->dir = m->tmp = m->new = -1;
	m->journaled = 0;
	if (n == 0 || path[0] != '/' || n >= sizeof p)
		return errno = EINVAL, -1;
	memcpy(p, path, n + 1);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	if ((m->dir = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT ||
		    mkdir_parents(p, MAILDIR_MKDIR_DEPTH) == -1 ||
		    (m->dir = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			return -1;
	}
	if ((m->tmp = subdir(m->dir, "tmp", &made)) == -1 ||
	    (m->new = subdir(m->dir, "new", &made)) == -1 ||
	    (cur = subdir(m->dir, "cur", &made)) == -1) {
		e = errno;
		maildir_close(m);
		return errno = e, -1;
	}
	/* XXX: a maildir made just now has its own entry fsynced only by
	 * the file system's journal; new/ and the file in it are fsynced */
	close(cur);
	m->journaled = fs_journal(m->new) == FS_JOURNALED;	/* above */
	if (made)
		folder(m->dir, p);
	if (made && fsync(m->dir) == -1) {
		e = errno;
		maildir_close(m);
		return errno = e, -1;
	}
	return 0;
}

/* maildir_close - close what maildir_open opened */
void
maildir_close(struct maildir *m)
{
	if (m->dir >= 0)
		close(m->dir);
	if (m->tmp >= 0)
		close(m->tmp);
	if (m->new >= 0)
		close(m->new);
	m->dir = m->tmp = m->new = -1;
}
