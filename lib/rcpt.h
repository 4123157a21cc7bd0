/* rcpt: the one decision of where a recipient goes, made from the tables
 * by smtpd (RCPT: accept or refuse) and by sandmail-send (the split:
 * deliver, forward or bounce), so that what one accepts the other
 * delivers to the same place (doc/design.md 8, doc/sandmail-tables.5).
 * Lookups touch only mapped tables; no allocation but the result. */
#ifndef SANDMAIL_RCPT_H
#define SANDMAIL_RCPT_H

#include <stdint.h>

#include "addr.h"
#include "buf.h"
#include "tbl.h"

struct rcpt_tabs {
	struct tbl	*domains, *aliases, *virt, *localusers, *moved;
	struct tbl	*routes;
	const char	*hostname;	/* a local domain, as localhost is */
	const char	*delim;		/* recipient_delimiter, e.g. "-+" */
};

enum rcpt_kind {
	RK_REMOTE,	/* not ours: by routes ("*") or MX, relay clients only */
	RK_ROUTED,	/* a domain routes names (not "*"): forwarded for all */
	RK_ALIAS,	/* val: the targets, "a@b,c,/path/,|cmd" */
	RK_USER,	/* a system user: uid, gid; val: home/Maildir/ */
	RK_VIRTUAL,	/* a virtual mailbox; val: its maildir, ends in '/',
			 * or an LMTP destination "lmtp:..." */
	RK_MOVED,	/* val: the new address (551 5.1.6) */
	RK_UNKNOWN,	/* no such user here (550 5.1.1) */
	RK_BADENTRY,	/* an entry that does not parse (4.3.5) */
	RK_TEMP		/* a lookup failed (4.3.0) */
};

struct rcpt_res {
	enum rcpt_kind	kind;
	int		virt;		/* the domain is a virtual one */
	int		postmaster;	/* the local part is postmaster */
	uint32_t	uid, gid;	/* RK_USER */
	struct buf	val;		/* see enum rcpt_kind; caller's */
};

#define RCPT_NOALIAS	1	/* skip aliases ("user: user, other") */

/* rcpt_resolve: a's verdict and destination, in r->kind (also returned).
 * a->domain is the domain ("" is not ours); a literal is never ours. */
enum rcpt_kind rcpt_resolve(const struct rcpt_tabs *, const struct addr *a,
	    unsigned flags, struct rcpt_res *r);
/* rcpt_domain: 'l' a local domain (the domains table, the hostname or
 * localhost), 'v' a virtual one, 0 neither, -1 a lookup failed */
int	rcpt_domain(const struct rcpt_tabs *, const char *domain, size_t n);
/* rcpt_item: the next target of an alias value v[0..n) from *pos (start
 * at 0): its bounds [*s, *e), blanks trimmed.  A |command runs to the end
 * of the value; a comma inside a quoted local part does not split (as
 * sandmail-tables(5) says).  1, or 0 when none is left. */
int	rcpt_item(const char *v, size_t n, size_t *pos, size_t *s, size_t *e);
/* rcpt_offsite: the first address target of an alias value whose domain
 * is not ours (a forward, for 251), copied into out; 1, 0 none, -1 */
int	rcpt_offsite(const struct rcpt_tabs *, const char *v, size_t n,
	    struct buf *out);
/* rcpt_user: parse a localusers value "uid:gid:home" into uid, gid and
 * the maildir home/Maildir/ (appended to path); 0 or -1 */
int	rcpt_user(const char *v, size_t n, uint32_t *uid, uint32_t *gid,
	    struct buf *path);

#endif
