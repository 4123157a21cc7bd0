/* compile: the text tables of sandmail (doc/sandmail-tables.5) checked,
 * normalized and written as CDB files with an atomic rename.  Used by
 * sandmail-cdb and by the unit tests of lib/tbl.c. */
#ifndef SANDMAIL_CDB_COMPILE_H
#define SANDMAIL_CDB_COMPILE_H

#include <stddef.h>

#include "buf.h"

#define CDBC_FILE_MAX	(64u * 1024 * 1024)	/* one text table */
#define CDBC_LINE_MAX	16384			/* one physical line */
#define CDBC_VALUE_MAX	65536			/* one joined value */
#define CDBC_ERR_MAX	(1024 * 1024)		/* all messages */

/* how sandmail-cdb -q looks a key up (the way the programs do) */
enum cdbc_lookup { LK_EXACT, LK_DOMAIN, LK_ADDR, LK_IP };

/* a key or value checker: append the normal form to out; 0, or -1 with
 * *why set to the reason */
typedef int cdbc_check(const char *s, size_t n, struct buf *out,
	    const char **why);

struct cdbc_table {
	const char	*name;
	cdbc_check	*key;
	cdbc_check	*val;
	int		 merge;		/* duplicate keys join their lists */
	int		 cont;		/* continuation lines allowed */
	enum cdbc_lookup lookup;
	unsigned	 mode;		/* of a new .cdb file */
};

/* One normalized entry. */
struct cdbc_ent {
	char	*key, *val;
	size_t	 klen, vlen;
	int	 line;
};

struct cdbc_out {
	struct cdbc_ent	*e;
	size_t		 n, cap;
};

/* cdbc_find: the table of that name, or NULL */
const struct cdbc_table *cdbc_find(const char *name);
/* cdbc_names: the known tables, NULL-terminated */
extern const char *const cdbc_names[];

/* cdbc_parse: check and normalize text (named name in messages); every
 * error is appended to err as "name:line: reason\n".  Returns the number
 * of errors (0: out holds the sorted entries), or -1 (out of memory). */
int	cdbc_parse(const struct cdbc_table *, const char *name,
	    const char *text, size_t len, struct cdbc_out *out,
	    struct buf *err);
int	cdbc_add(struct cdbc_out *, const char *key, size_t klen,
	    const char *val, size_t vlen, int line);
void	cdbc_free(struct cdbc_out *);
/* cdbc_write: out into path, through a temporary file in the same
 * directory, fsync, rename, fsync of the directory.  0 or -1 (errno). */
int	cdbc_write(const char *path, unsigned mode, struct cdbc_out *);

/* cdbc_compile: DIR/TABLE -> DIR/TABLE.cdb.  Returns an exit code:
 * 0, 100 (a data error: messages in err, the old .cdb untouched) or
 * 111 (a system error, message in err). */
int	cdbc_compile(const char *dir, const char *table, struct buf *err);
/* cdbc_verify: as cdbc_compile, but nothing is written */
int	cdbc_verify(const char *dir, const char *table, struct buf *err);

/* cdbc_passwd: localusers from a passwd-format text (name:pw:uid:gid:
 * gecos:home:shell), uid 0 skipped; errors as cdbc_parse. */
int	cdbc_passwd(const char *name, const char *text, size_t len,
	    struct cdbc_out *out, struct buf *err);

#endif
