/* tbl: lookups in the CDB tables compiled by sandmail-cdb.  Opened before
 * the sandbox (the file is mapped), read by every program.  A missing
 * table file is an empty table, so a site need not create every one. */
#ifndef SANDMAIL_TBL_H
#define SANDMAIL_TBL_H

#include <cdb.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"

struct tbl {
	int		fd;		/* -1: no file, the table is empty */
	struct cdb	cdb;
	char		*path;
	struct timespec	mtime;		/* for tbl_changed */
	dev_t		dev;		/* the file open: a rename */
	ino_t		ino;		/* gives a new inode */
	/* the file a reload could not open (bad set): tbl_changed does not
	 * report it again until it changes (new inode, mtime or ctime:
	 * chmod) or a SIGHUP asks */
	int		bad;
	dev_t		bad_dev;
	ino_t		bad_ino;
	struct timespec	bad_mtime, bad_ctime;
};

#define TBL_KEY_MAX	1024	/* the longest key a lookup builds */

int	tbl_open(struct tbl *, const char *path);	/* 0 or -1 */
void	tbl_close(struct tbl *);
/* tbl_open_fd: the same with the file already open on fd (-1: absent);
 * fd belongs to the table from now on (closed on failure) */
int	tbl_open_fd(struct tbl *, int fd, const char *path);
/* tbl_changed: 1 if the file on disk is not the one open (reload it);
 * 0 when it is, when it cannot be looked at (stat fails but for ENOENT)
 * and when it is the file a reload last failed to open */
int	tbl_changed(const struct tbl *);
/* tbl_reload: map the file at the same path again.  If it cannot be
 * opened, the old mapping stays (a table is never lost) and the file is
 * remembered as bad; 0 or -1 with errno */
int	tbl_reload(struct tbl *);

/* tblset: the tables of one long-lived program (smtpd's listener,
 * sandmail-send), kept current by one mechanism (doc/design.md 8): the
 * program's loop calls tblset_refresh often; at most once a second it
 * looks (stat) for tables sandmail-cdb has replaced and maps them again;
 * on SIGHUP (force) it maps every table again at once.  A table that
 * cannot be opened keeps its old mapping and is logged as an error
 * (event=error op=reload) at every SIGHUP and every time its file changes,
 * until it opens. */
#define TBLSET_EVERY_MS	1000
struct tblset {
	struct tbl	*t;		/* n tables, the caller's array */
	size_t		 n;
	uint64_t	 last_ms;	/* CLOCK_MONOTONIC of the last look */
};

/* tblset_open: map dir/names[i].cdb into t[i] for each i < n; every
 * failure is logged; 0, or -1 (then every table is closed) */
int	tblset_open(struct tblset *, struct tbl *t, const char *dir,
	    const char *const *names, size_t n);
void	tblset_close(struct tblset *);
/* tblset_refresh: the number of tables mapped again (0: none).  how:
 * TBLSET_TICK from the loop (at most once a second), TBLSET_ALL on
 * SIGHUP, TBLSET_NOW to look for replaced tables at once (a lookup that
 * found nothing, before it gives up) */
enum { TBLSET_TICK, TBLSET_ALL, TBLSET_NOW };
size_t	tblset_refresh(struct tblset *, int how);

/* All lookups: 1 found (value in val, replacing its contents), 0 not
 * found, -1 error (val too small: E2BIG). */
int	tbl_get(struct tbl *, const void *key, size_t klen, struct buf *val);
/* tbl_domain: domains, routes, tls policy: the domain (case-insensitive),
 * then ".parent" entries for each parent, then "*" */
int	tbl_domain(struct tbl *, const char *domain, struct buf *val);
/* tbl_addr: aliases, virtual, moved: local@domain exactly, then with an
 * extension cut off at each separator (any byte of seps, e.g. "-+"),
 * from the last to the first ("a-b-c": "a-b", then "a"), then "@domain";
 * the domain case-insensitively, the local part as given and then
 * lowercased (sandmail-cdb lowercases keys).  A domain "" looks up the
 * bare local part and no "@domain".  *how says which key matched. */
enum tbl_match { TBL_EXACT, TBL_EXT, TBL_DOMAIN };
int	tbl_addr(struct tbl *, const char *local, const char *domain,
	    const char *seps, struct buf *val, enum tbl_match *how);
/* tbl_ip: relayclients: an IPv4 or IPv6 address (text) matched against
 * the table's addresses and CIDR blocks, longest prefix first */
int	tbl_ip(struct tbl *, const char *ip, struct buf *val);

/* tbl_ip_key: the normal form of a relayclients key, "ADDR/LEN" with the
 * host bits zero ("10.0.0.0/8", "::1/128"; a bare address is /32 or /128;
 * ::ffff:a.b.c.d is IPv4).  Appends to key; 0, or -1 with EINVAL on a bad
 * address or length, or on host bits set past LEN.  Used by sandmail-cdb. */
int	tbl_ip_key(const char *text, struct buf *key);
/* tbl_lower: append s[0..n) lowercased (ASCII only) */
int	tbl_lower(struct buf *, const char *s, size_t n);

#endif
