/* fsprobe: what kind of file system a descriptor is on, where a choice
 * depends on it (queue_reuse auto).  Read before the sandbox: it opens
 * /sys. */
#ifndef SANDMAIL_FSPROBE_H
#define SANDMAIL_FSPROBE_H

/* fs_unjournaled_ext4: 1 if fd is on ext4 (or ext2/ext3 through the
 * ext4 driver) mounted without a journal, 0 if not or if it cannot be
 * told (the answer when in doubt is the journaled one) */
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
