/* fsprobe: see fsprobe.h.
 *
 * statfs(2) does not say whether a file system has a journal; its sysfs
 * directory does.  XFS always logs (/sys/fs/xfs/DEV/log exists); ext4
 * names its journal's thread in /sys/fs/ext4/DEV/journal_task, and
 * "<none>" when there is no journal.  DEV is the block device's kernel
 * name (vda, vda1, loop0, dm-0), found from st_dev.  A file system with
 * no block device (tmpfs, overlay, btrfs's anonymous st_dev) has no
 * /sys/dev/block entry: FS_UNKNOWN. */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "fsprobe.h"
#include "log.h"

/* sysread - the first bytes of a small sysfs file, NUL-ended; -1 */
static ssize_t
sysread(const char *path, char *b, size_t n)
{
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	r = read(fd, b, n - 1);
	close(fd);
	if (r >= 0)
		b[r] = '\0';
	return r;
}

/* has_word - s holds w as a whole word of its space- or comma-separated
 * list */
static int
has_word(const char *s, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = s; (p = strstr(p, w)) != NULL; p += n)
		if ((p == s || p[-1] == ' ' || p[-1] == ',' ||
		    p[-1] == '\n') && (p[n] == '\0' || p[n] == ' ' ||
		    p[n] == ',' || p[n] == '\n'))
			return 1;
	return 0;
}

/* ext4_ordered - does this journaled ext4 flush the cache before each
 * commit record?  Not with journal_async_commit (the commit record is
 * written without one) or nobarrier (no flush at all): then a journal
 * commit does not make earlier data durable first, which is what
 * "journaled" promises its callers.  Unreadable options count as no. */
static int
ext4_ordered(const char *dev)
{
	char p[128], b[2048];
	int n;

	n = snprintf(p, sizeof p, "/proc/fs/ext4/%s/options", dev);
	if (n < 0 || (size_t)n >= sizeof p || sysread(p, b, sizeof b) <= 0)
		return 0;
	return !has_word(b, "journal_async_commit") &&
	    !has_word(b, "nobarrier");
}

enum fs_journal
fs_journal(int fd)
{
	char p[128], b[256], *dev, *end;
	struct stat st;
	int n;

	if (fstat(fd, &st) == -1)
		return FS_UNKNOWN;
	n = snprintf(p, sizeof p, "/sys/dev/block/%u:%u/uevent",
	    major(st.st_dev), minor(st.st_dev));
	if (n < 0 || (size_t)n >= sizeof p || sysread(p, b, sizeof b) <= 0 ||
	    (dev = strstr(b, "DEVNAME=")) == NULL)
		return FS_UNKNOWN;
	dev += sizeof "DEVNAME=" - 1;
	if ((end = strchr(dev, '\n')) != NULL)
		*end = '\0';
	if (*dev == '\0' || strchr(dev, '/') != NULL ||
	    strcmp(dev, "..") == 0)
		return FS_UNKNOWN;
	n = snprintf(p, sizeof p, "/sys/fs/xfs/%s/log", dev);
	if (n > 0 && (size_t)n < sizeof p && access(p, F_OK) == 0)
		return FS_JOURNALED;
	n = snprintf(p, sizeof p, "/sys/fs/ext4/%s/journal_task", dev);
	if (n < 0 || (size_t)n >= sizeof p || sysread(p, b, sizeof b) <= 0)
		return FS_UNKNOWN;
	if (strncmp(b, "<none>", 6) == 0)
		return FS_NOJOURNAL;
	if (b[0] < '1' || b[0] > '9')		/* not a pid */
		return FS_UNKNOWN;
	return ext4_ordered(dev) ? FS_JOURNALED : FS_UNKNOWN;
}

int
fs_unjournaled_ext4(int fd)
{
	return fs_journal(fd) == FS_NOJOURNAL;
}

int
fs_reuse_wanted(const char *v, int fd)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	if (strcmp(v, "auto") == 0)
		return fs_unjournaled_ext4(fd);
	for (i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (strcmp(v, yes[i]) == 0)
			return 1;
	for (i = 0; i < sizeof no / sizeof no[0]; i++)
		if (strcmp(v, no[i]) == 0)
			return 0;
	return -1;
}

int
fs_queue_reuse(const struct conf *c, int fd)
{
	int r = fs_reuse_wanted(conf_str(c, "queue_reuse", "auto"), fd);

	if (r == -1)
		die_msg(EXIT_TEMP, "config",
		    "queue_reuse: expected auto, yes or no");
	return r;
}
