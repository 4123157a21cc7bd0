/* lspawn: the job loop of sandmail-lspawn, split from main() so that the
 * checks and the status mapping can be unit-tested. */
#ifndef SANDMAIL_LSPAWN_H
#define SANDMAIL_LSPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "job.h"
#include "rcpt.h"
#include "tbl.h"

/* a pipe or socket each, and a busy worker's message: under 1024 fds */
#define LSPAWN_CHILDREN_MAX	500
#define LSPAWN_TEXT_MAX		JOB_TEXT_MAX

/* lspawn's own tables for the recipient decision (lib/rcpt.h), without
 * routes: uid, gid and destination come from its own lookup of the job's
 * recipient, not from send (local_lookup, on by default) */
enum { LT_DOMAINS, LT_ALIASES, LT_VIRTUAL, LT_LOCALUSERS, LT_MOVED,
	LT_ROUTES, LT_COUNT };
struct lspawn_tabs {
	struct tbl	 t[LT_COUNT];	/* LT_ROUTES: never opened (empty) */
	struct tblset	 set;
	struct rcpt_tabs rt;
	uint32_t	 vuid, vgid;	/* user_vmail: virtual mailboxes */
	uint32_t	 auid, agid;	/* user_alias: /path and |command */
};

struct lspawn_cfg {
	int		 progfd;	/* sandmail-local, opened O_PATH */
	int		 exec;		/* lspawn_exec: exec for maildirs too */
	const char	*host;		/* for maildir names */
	uint32_t	 uid_min, uid_max;
	uint32_t	 svc_uid[2];	/* user_vmail, user_alias: allowed */
	size_t		 nsvc;		/* outside uid_min..uid_max too */
	uint32_t	 uid_floor;	/* the lowest of uid_min and svc_uid:
					 * the forker's filter's floor */
	uint32_t	 gid_min;	/* root: no group below it */
	int		 root;		/* we are root: become the recipient */
	uid_t		 self_uid;	/* not root: the only uid we serve */
	gid_t		 self_gid;
	int		 programs;	/* local_allow_programs */
	unsigned long long timeout;	/* local_timeout, seconds */
	size_t		 children;	/* most deliveries at once */
	unsigned long long idle;	/* lspawn_idle: retire a worker, s */
	unsigned long	 max_use;	/* lspawn_max_use: jobs per worker */
	struct lspawn_tabs *tabs;	/* NULL: local_lookup off */
	int		 forker;	/* lspawn's socket to its forker */
	int		 tables_fd;	/* the tables directory (O_PATH), -1 */
	uid_t		 fuid;		/* root: the forker's user_lspawn */
	gid_t		 fgid;
};

struct conf;
/* lspawn_cfg_load: the settings from conf; opens sandmail-local (O_PATH)
 * and, as root, looks user_lspawn up.  Exits 111 on errors. */
void	lspawn_cfg_load(struct lspawn_cfg *, const struct conf *);
/* lspawn_check: whether a job may run.  NULL, or the reason with
 * *status set (ST_TEMP or ST_PERM).  msgfd is the descriptor that came
 * with it (-1 for none). */
const char *lspawn_check(const struct lspawn_cfg *, const struct ljob *,
	    int msgfd, uint8_t *status);
/* lspawn_own: the job's uid, gid and destination from lspawn's own
 * lookup of its recipient: a system user's or a virtual mailbox replaces
 * what send said (a difference is logged); a /path or |command must be a
 * target of the recipient's alias and runs as user_alias.  NULL, or the
 * reason with *status set (ST_TEMP: send's tables may be newer). */
const char *lspawn_own(const struct lspawn_cfg *, struct ljob *,
	    uint8_t *status);
/* lspawn_result: a child's wait status and its report text (last line,
 * cleaned up in place) into a status and the final text */
uint8_t	lspawn_result(int wstatus, struct buf *text);
/* lspawn_run: serve jobs on sock (maildir jobs through reusable workers,
 * lwork.h) until EOF and every child is done.  Returns the exit code (0,
 * or 111 after a protocol error). */
int	lspawn_run(const struct lspawn_cfg *, int sock);
/* lspawn_signals: SIGTERM stops the intake of jobs (lspawn_run then
 * finishes what runs and returns); SIGPIPE ignored.  Before the sandbox. */
void	lspawn_signals(void);
/* lspawn_sandbox: lspawn's own filter (lspawn_sbx.c): jobs, results,
 * its children's pipes, waits and kills; no file, no uid, no fork */
int	lspawn_sandbox(const struct lspawn_cfg *);
/* lfork_sandbox: the forker's filter, inherited by every delivery
 * child until it adds its own: fork, the recipient's ids, what the
 * maildir set-up (and with lspawn_exec, sandmail-local) needs */
int	lfork_sandbox(const struct lspawn_cfg *);
/* lspawn_child: in a child the forker cloned: the message on fd 0, wfd
 * (report pipe or worker socket) on fd 1, the recipient's ids, then the
 * delivery.  Never returns. */
void	lspawn_child(const struct lspawn_cfg *, const struct ljob *,
	    int msgfd, int wfd, int worker) __attribute__((noreturn));

#endif
