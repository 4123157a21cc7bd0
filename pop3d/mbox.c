/* mbox: one maildir as a POP3 maildrop.  Opened by the mailbox process as
 * the mailbox owner, before its sandbox; afterwards it touches only the
 * descriptors of the maildir's new/ and cur/.
 *
 * The message list is a snapshot taken at login: mail delivered during
 * the session is seen by the next one.  Nothing changes on disk before
 * UPDATE (QUIT), so a session killed at any point deletes nothing.
 * Another reader (Dovecot) may rename a message new/ -> cur/ or change
 * its flags (the part after ':') meanwhile; we then find it in cur/ by
 * its base name, which is also its UIDL. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "pop3d.h"

#define LOCK_NAME	".sandmail-pop3.lock"
#define CHUNK		65536

static size_t
base_len(const char *name)
{
	const char *c = strchr(name, ':');

	return c ? (size_t)(c - name) : strlen(name);
}

/* mbox_uid - the UIDL of a file name (see pop3d.h) */
void
mbox_uid(const char *name, char uid[POP3_UID_MAX + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	size_t n = base_len(name), i;
	int ok = n > 0 && n <= POP3_UID_MAX;

	for (i = 0; ok && i < n; i++)
		if (name[i] < 0x21 || name[i] > 0x7e)
			ok = 0;
	if (ok) {
		memcpy(uid, name, n);
		uid[n] = '\0';
		return;
	}
	crypto_hash_sha256(h, (const unsigned char *)name, n);
	uid[0] = 'S';
	sodium_bin2hex(uid + 1, POP3_UID_MAX, h, 16);
}

/* mbox_open - the maildir and its POP3 lock (see pop3d.h) */
int
mbox_open(struct mbox *mb, const char *path)
{
	int d;

	memset(mb, 0, sizeof *mb);
	mb->dir = mb->new = mb->cur = mb->lock = -1;
	if ((mb->dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (mb->new = openat(mb->dir, "new", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 ||
	    (mb->cur = openat(mb->dir, "cur", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		goto fail;
	mb->lock = openat(mb->dir, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (mb->lock == -1 || flock(mb->lock, LOCK_EX | LOCK_NB) == -1)
		goto fail;
	if ((d = fcntl(mb->cur, F_DUPFD_CLOEXEC, 0)) == -1)
		goto fail;
	if ((mb->curdir = fdopendir(d)) == NULL) {
		close(d);
		goto fail;
	}
	return 0;
fail:
	d = errno;
	mbox_close(mb);
	errno = d;
	return -1;
}

/* vsize_hint: Dovecot's ",W=<size>" in a name is the CRLF size */
static int
vsize_hint(const char *name, uint64_t *v)
{
	const char *w = strstr(name, ",W=");
	size_t n = base_len(name);
	uint64_t x = 0;
	const char *p;

	if (w == NULL || (size_t)(w - name) >= n)
		return -1;
	for (p = w + 3; p < name + n && *p >= '0' && *p <= '9'; p++) {
		if (x > UINT64_MAX / 10 - 10)
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (p == w + 3 || (p < name + n && *p != ','))
		return -1;
	*v = x;
	return 0;
}

/* octets: the size with CRLF line ends, as LIST and STAT report it */
static int
octets(int dfd, const char *name, uint64_t *v)
{
	struct stuff s;
	char *b;
	ssize_t r;
	int fd;

	if (vsize_hint(name, v) == 0)
		return 0;
	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if ((b = malloc(CHUNK)) == NULL) {
		close(fd);
		return -1;
	}
	stuff_init(&s, -1);
	while ((r = read(fd, b, CHUNK)) > 0)
		stuff_count(&s, b, (size_t)r);
	stuff_end(&s, NULL);	/* the CRLF added to an unended last line */
	free(b);
	close(fd);
	if (r == -1)
		return -1;
	*v = s.out;
	return 0;
}

static int
add_msg(struct mbox *mb, size_t *cap, int dfd, const char *name, int in_new,
    size_t max)
{
	struct stat st;
	struct msg *m, *nm;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;	/* moved meanwhile */
	if (!S_ISREG(st.st_mode))
		return 0;
	if (mb->n == max)
		return errno = EFBIG, -1;
	if (mb->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		if ((nm = realloc(mb->m, *cap * sizeof *nm)) == NULL)
			return -1;
		mb->m = nm;
	}
	m = &mb->m[mb->n];
	memset(m, 0, sizeof *m);
	if ((m->name = strdup(name)) == NULL)
		return -1;
	m->in_new = in_new;
	m->mtime = st.st_mtim;
	mbox_uid(name, m->uid);
	if (octets(dfd, name, &m->octets) == -1) {
		free(m->name);
		return errno == ENOENT ? 0 : -1;
	}
	mb->n++;
	return 0;
}

static int
scan_dir(struct mbox *mb, size_t *cap, int fd, int in_new, size_t max)
{
	struct dirent *de;
	DIR *d;
	int dfd;

	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (add_msg(mb, cap, fd, de->d_name, in_new, max) == -1) {
			closedir(d);
			return -1;
		}
		errno = 0;
	}
	dfd = errno;
	closedir(d);
	return dfd ? (errno = dfd, -1) : 0;
}

static int
by_uid(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;
	int c = strcmp(x->uid, y->uid);

	/* the cur/ copy first: a rename new -> cur during the scan */
	return c ? c : x->in_new - y->in_new;
}

static int
by_time(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* mbox_scan - the snapshot (see pop3d.h) */
int
mbox_scan(struct mbox *mb, size_t max)
{
	size_t cap = 0, i, k;

	/* new/ first: a message renamed to cur/ meanwhile is seen twice,
	 * never not at all; the duplicate is dropped below */
	if (scan_dir(mb, &cap, mb->new, 1, max) == -1 ||
	    scan_dir(mb, &cap, mb->cur, 0, max) == -1)
		return -1;
	if (mb->n > 1)
		qsort(mb->m, mb->n, sizeof *mb->m, by_uid);
	for (i = k = 0; i < mb->n; i++) {
		if (k > 0 && strcmp(mb->m[k - 1].uid, mb->m[i].uid) == 0) {
			free(mb->m[i].name);
			continue;
		}
		mb->m[k++] = mb->m[i];
	}
	mb->n = k;
	if (mb->n > 1)
		qsort(mb->m, mb->n, sizeof *mb->m, by_time);
	mb->total = 0;
	for (i = 0; i < mb->n; i++)
		mb->total += mb->m[i].octets;
	mb->live = mb->n;
	return 0;
}

/* find: message m moved by someone else: look for its base in cur/ */
static int
find(struct mbox *mb, struct msg *m)
{
	DIR *d = mb->curdir;
	struct dirent *de;
	size_t n = base_len(m->name);
	char *nn;

	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, m->name, n) != 0 ||
		    (de->d_name[n] != ':' && de->d_name[n] != '\0'))
			continue;
		if ((nn = strdup(de->d_name)) == NULL)
			return -1;
		free(m->name);
		m->name = nn;
		m->in_new = 0;
		return 0;
	}
	return errno = ENOENT, -1;
}

/* mbox_msg_open - a descriptor on message i, found again if it moved */
int
mbox_msg_open(struct mbox *mb, size_t i)
{
	struct msg *m = &mb->m[i];
	int fd;

	fd = openat(m->in_new ? mb->new : mb->cur, m->name,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && find(mb, m) == 0)
		fd = openat(mb->cur, m->name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC);
	return fd;
}

/* mbox_send_fd - the message on fd, encoded; lines -1 for all */
int
mbox_send_fd(int fd, long lines, struct wr *w)
{
	static char b[CHUNK];
	struct stuff s;
	ssize_t r;

	stuff_init(&s, lines);
	while (!s.done && (r = read(fd, b, sizeof b)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (stuff_feed(&s, b, (size_t)r, w) == -1)
			return -1;
	}
	return stuff_end(&s, w);
}

static int
del_one(struct mbox *mb, struct msg *m)
{
	if (unlinkat(m->in_new ? mb->new : mb->cur, m->name, 0) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	if (find(mb, m) == -1)
		return errno == ENOENT ? 0 : -1;	/* already gone */
	if (unlinkat(mb->cur, m->name, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

static int
seen_one(struct mbox *mb, struct msg *m)
{
	char nn[NAME_MAX + 1];
	int n;

	n = snprintf(nn, sizeof nn, "%.*s:2,%s", (int)base_len(m->name),
	    m->name, m->retrieved ? "S" : "");
	if (n < 0 || (size_t)n >= sizeof nn)
		return 0;	/* cannot carry info: leave it in new/ */
	if (renameat(mb->new, m->name, mb->cur, nn) == -1)
		return errno == ENOENT ? 0 : -1;	/* moved by another */
	return 0;
}

/* mbox_update - the UPDATE state (RFC 1939 6) */
int
mbox_update(struct mbox *mb)
{
	size_t i, changed = 0;
	int fails = 0;


	for (i = 0; i < mb->n; i++) {
		if (mb->m[i].deleted)
			fails += del_one(mb, &mb->m[i]) == -1;
		else if (mb->m[i].in_new)
			fails += seen_one(mb, &mb->m[i]) == -1;
		else
			continue;
		changed++;
	}
	/* the directory entries are durable before we say +OK */
	if (changed > 0 && (fsync(mb->new) == -1 || fsync(mb->cur) == -1))
		fails++;
	return fails;
}

/* mbox_close - release everything, the lock included */
void
mbox_close(struct mbox *mb)
{
	size_t i;

	for (i = 0; i < mb->n; i++)
		free(mb->m[i].name);
	free(mb->m);
	mb->m = NULL;
	mb->n = 0;
	if (mb->curdir != NULL)
		closedir(mb->curdir);
	mb->curdir = NULL;
	if (mb->lock != -1)
		close(mb->lock);
	if (mb->cur != -1)
		close(mb->cur);
	if (mb->new != -1)
		close(mb->new);
	if (mb->dir != -1)
		close(mb->dir);
	mb->dir = mb->new = mb->cur = mb->lock = -1;
}
