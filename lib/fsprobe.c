/* fsprobe: see fsprobe.h.
 *
 * ext4 keeps no list of "unjournaled" in statfs(2); its sysfs directory
 * (/sys/fs/ext4/DEV/) names the journal's thread in journal_task, and
 * "<none>" when there is no journal.  DEV is the block device's kernel
 * name, found from st_dev through /sys/dev/block/MAJ:MIN, a link whose
 * last component is that name (vda, vda1, loop0, dm-0). */
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "fsprobe.h"
#include "log.h"

#define EXT4_MAGIC	0xEF53	/* ext2, ext3 and ext4 share it */

int
fs_unjournaled_ext4(int fd)
{
	struct statfs sf;
	struct stat st;
	char path[PATH_MAX], link[PATH_MAX], task[32];
	const char *dev;
	ssize_t n;
	int tfd;

	if (fstatfs(fd, &sf) == -1 || sf.f_type != EXT4_MAGIC ||
	    fstat(fd, &st) == -1)
		return 0;
	snprintf(path, sizeof path, "/sys/dev/block/%u:%u",
	    major(st.st_dev), minor(st.st_dev));
	n = readlink(path, link, sizeof link - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	dev = strrchr(link, '/');
	dev = dev != NULL ? dev + 1 : link;
	if (*dev == '\0' || strcmp(dev, "..") == 0 || strcmp(dev, ".") == 0)
		return 0;
	if ((size_t)snprintf(path, sizeof path, "/sys/fs/ext4/%s/journal_task",
	    dev) >= sizeof path)
		return 0;
	if ((tfd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(tfd, task, sizeof task - 1);
	close(tfd);
	if (n <= 0)
		return 0;
	task[n] = '\0';
	return strncmp(task, "<none>", 6) == 0;
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
