/* syncv: the fsync or fdatasync of many descriptors at once.
 *
 * Called one after another, n fdatasyncs on a journaled file system cost
 * one journal commit and then one disk cache flush each, every one
 * waited for in turn.  Submitted together (Linux native AIO, whose
 * IOCB_CMD_FSYNC and IOCB_CMD_FDSYNC run in the kernel's workers side by
 * side), they wait for the same commit and most of them share its
 * flush.  Each call is exactly an fsync(2) or fdatasync(2) of its
 * descriptor: what is durable when syncv returns is what would be after
 * the same calls made in turn.  Before the submission each file's data
 * is written out and waited for (sync_file_range, no cache flush): an
 * fdatasync still writing data reaches the journal after the commit it
 * needs has flushed, or committed, and then flushes again on its own.  Where AIO cannot run them (no AIO, a
 * file system without it, a sandbox without the calls) they are made in
 * turn. */
#ifndef SANDMAIL_SYNCV_H
#define SANDMAIL_SYNCV_H

#include <stddef.h>

struct syncv {
	int	fd;
	int	data;		/* 1: fdatasync, 0: fsync */
	int	err;		/* out: 0 or the errno of its failure */
};

/* syncv: every v[i] synced; 0 if all succeeded, else -1 (each v[i].err
 * says which) */
int	syncv(struct syncv *v, size_t n);

#endif
