/* fsprobe: what kind of file system a descriptor is on, where a choice
 * depends on it (queue_reuse auto).  Read before the sandbox: it opens
 * /sys. */
#ifndef SANDMAIL_FSPROBE_H
#define SANDMAIL_FSPROBE_H

/* fs_journal: what journal the file system of fd has, as its sysfs
 * directory says (the device's kernel name from
 * /sys/dev/block/MAJ:MIN/uevent, then /sys/fs/xfs/DEV/log or
 * /sys/fs/ext4/DEV/journal_task: a pid, or "<none>").  Only fstat, open
 * and read: it runs inside lspawn's sandbox too. */
enum fs_journal {
	FS_UNKNOWN,		/* not ext4 or XFS, or cannot be told */
	FS_NOJOURNAL,		/* ext4 (or ext2/3 through it), no journal */
	FS_JOURNALED,		/* XFS, or ext4 with a journal whose
				 * commits flush first (not mounted
				 * journal_async_commit or nobarrier) */
};
enum fs_journal fs_journal(int fd);

/* fs_unjournaled_ext4: fs_journal(fd) == FS_NOJOURNAL; each caller picks
 * the safe side for FS_UNKNOWN itself */
int	fs_unjournaled_ext4(int fd);

struct conf;

/* fs_reuse_wanted: a queue_reuse value ("auto", or a conf_bool word) for
 * the queue directory fd: 1 to reuse retired files, 0 not; -1 for a
 * value it does not know */
int	fs_reuse_wanted(const char *value, int fd);
/* fs_queue_reuse: the same for the conf's queue_reuse (default auto),
 * as sandmail-queue and sandmail-send both read it; a bad value exits
 * 111 */
int	fs_queue_reuse(const struct conf *, int fd);

#endif
