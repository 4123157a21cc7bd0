/* send_srv: the state of the running queue manager, shared by
 * send_main.c, send_pre.c and send_loop.c. */
#ifndef SANDMAIL_SEND_SRV_H
#define SANDMAIL_SEND_SRV_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "env.h"
#include "job.h"
#include "qwrite.h"
#include "seal.h"
#include "sign.h"
#include "srs.h"
#include "send_int.h"
#include "tbl.h"

#define LOADED_MAX	5000	/* messages held in memory at once */
#define RCACHE_MAX	512	/* resolve answers remembered */
#define FLUSH_MAX	16	/* recent flush requests */
#define PRE_BATCH	64	/* todo/ entries per round */
/* marks (and the todo/ removals of a split, and the removals of the
 * messages finished) of one window share one barrier (group commit): an
 * fdatasync of each file marked and an fsync of each directory changed,
 * or one syncfs with queue_sync syncfs.  A mark not yet durable can only
 * cause a duplicate delivery after a crash */
#define SEND_SYNC_WINDOW_MS	20
/* the directories whose names changed (splits, removals) are fsynced
 * once per this window: at one message at a time, three directory fsyncs
 * per message would be more disk flushes than everything else */
#define SEND_DIR_WINDOW_MS	200
/* a full barrier that would make nothing durable but the removals of
 * finished messages (queue_reuse no: nothing waits for them; a lost one
 * only delivers that message again) is put off this long from the first
 * such removal, or rides on the next barrier made anyway (a mark's, a
 * split's): one directory fsync per second instead of five */
#define SEND_RM_WINDOW_MS	1000
/* files written again instead of new ones (doc/design.md) */
#define POOL_NAME	48	/* "fs.ID", "t.ID" */
#define SEND_POOL_MAX	128	/* info files kept for reuse */

struct sconf {
	const char	*hostname;
	const char	*delim;		/* recipient_delimiter */
	char		*queue, *tables;
	uint64_t	 retry_first, retry_max, lifetime, delay_warning;
	uint64_t	 term_wait, resolve_ttl, sweep_delay;
	uint64_t	 stats_interval;	/* metrics_interval; 0: none */
	unsigned	 conc_local, conc_remote, conc_dest;
	int		 reuse;		/* queue_reuse: retire, not unlink */
	int		 syncfs;	/* queue_sync syncfs: one syncfs per
					 * barrier, not each file and directory */
	uint32_t	 vuid, vgid;	/* user_vmail */
	uint32_t	 auid, agid;	/* user_alias: |command and /path */
	const char	*srs_domain;	/* SRS for forwards, or NULL */
	const char	*srs_exclude;	/* senders' domains never rewritten */
	unsigned	 srs_maxdays;	/* srs_max_age */
	const char	*arc_domain;	/* ARC-seal verified mail relayed, with
					 * this domain's rsa key, or NULL */
	const char	*authserv_id;	/* smtpd_authserv_id: whose
					 * Authentication-Results the ARC
					 * set's AAR carries */
};

/* the tables send maps, kept current by lib/tbl.h's tblset */
enum {
	T_DOMAINS, T_ALIASES, T_VIRTUAL, T_LOCALUSERS, T_MOVED, T_ROUTES,
	T_TLSPOL, T_RELAY, T_RELAYAUTH, T_COUNT	/* T_RELAY: relayclients,
					 * whose mail send DKIM-signs */
};
struct tables {
	struct tbl	t[T_COUNT];
	struct tblset	set;
};

/* a message loaded from info/, local/, remote/ */
struct live {
	struct msg	*m;
	struct live	*next, *prev;
	struct env	 info;
	struct rcpt	*rc;
	size_t		 nrc;
	unsigned	 busy;		/* recipients in jobs */
	unsigned	 waiting;	/* recipients waiting for resolve */
	int		 bounce;	/* bounce/ID holds records to report */
	int		 inner;		/* SMINFO2: the records are in info/ID */
	unsigned	 ndirty;	/* marks not yet written (write_marks) */
	int		 reread;	/* sandmail-rm changed its files */
	int		 held;		/* hold/ID: never tried until released */
	char		*dkim;		/* DKIM-Signature fields, or NULL:
					 * not computed yet */
};

struct job {
	uint32_t	 id;		/* 0: a free slot */
	uint8_t		 kind;
	struct live	*l;
	size_t		*rc;		/* indexes into l->rc */
	size_t		 n;
	char		*dkey;
	uint64_t	 start;
	uint64_t	 start_ms;	/* send_mono_ms(): the log's delay_out */
};

struct dcount {
	char		*key;
	unsigned	 n;
};

struct rcache {
	char		*name;
	uint64_t	 exp;		/* 0: a query is in flight */
	uint32_t	 qid;		/* of the query in flight */
	uint64_t	 asked;
	uint8_t		 status;
	char		*text;
	struct route_host *host;
	uint32_t	 nhost;
};

/* a message just split: its info/ID image, loaded without a read */
struct hand {
	struct msg	*m;
	struct buf	 img;
	int		 bounce;
};

struct flushreq {
	uint32_t	 seq;
	char		 domain[256];	/* "" for all */
};

#define SEND_COMMITTED	512	/* C records remembered (send.committed) */

struct send {
	struct sconf	 c;
	struct tables	 t;
	int		 qfd, trig, lsock, rsock, dsock;
	int		 ksock;		/* sandmail-sign, or -1 */
	struct sign_keys keys;		/* the keys it holds (no secrets) */
	struct srs_keys	 srs;		/* srs_secret's lines (srs_domain) */
	struct index	 idx;
	struct live	*loaded;
	size_t		 nloaded;
	struct job	*jobs;
	size_t		 njobs;
	unsigned	 nlocal, nremote;
	struct dcount	*dc;
	size_t		 ndc;
	struct rcache	 rc[RCACHE_MAX];
	size_t		 nrc;
	struct flushreq	 fl[FLUSH_MAX];
	uint32_t	 flushseq;
	uint32_t	 nextid;
	struct buf	 dbuf;		/* bytes from resolve */
	struct buf	 tbuf;		/* bytes from the trigger */
	int		 todo;		/* todo/ may hold work */
	int		 dirty;		/* step the loaded messages */
	int		 needsync;	/* marks written, not yet synced */
	uint64_t	 sync_at;	/* when to sync them (ms) */
	char		(*fpend)[POOL_NAME];	/* DIR/ID marked: fdatasync */
	size_t		 nfpend, fpcap;
	unsigned	 dpend;		/* SD_* directories changed: fsync */
	int		 dirsync;	/* names changed, not yet synced */
	uint64_t	 dir_at;	/* when to sync them (ms) */
	int		 rmlazy;	/* removals only, put off (dpend) */
	uint64_t	 rm_at;		/* when they are synced at the latest */
	char		(*tpend)[QID_MAX + 1];	/* todo/ to remove after it */
	size_t		 ntpend, tpcap;
	/* the IDs of the queue's C records (its barrier has returned:
	 * mess/ID durable), a hash that forgets on a clash */
	char		 committed[SEND_COMMITTED][QID_MAX + 1];
	struct hand	 hand[PRE_BATCH];
	size_t		 nhand;
	unsigned	 uid;		/* ours: a reused file must be ours */
	uint8_t		 boot[SEAL_BOOT];	/* this boot's id (seal.h) */
	time_t		 boot_at;	/* when this boot began (unix time) */
	char		(*retired)[POOL_NAME];	/* tmp/rm.NAME, for queue */
	size_t		 nretired, retcap;
	size_t		 nre;		/* tmp/re.* at most (hand_over):
					 * counted by the start's listing,
					 * then set only by list_re */
	char		(*ipend)[POOL_NAME];	/* tmp/fs.ID, not yet durable */
	size_t		 nipend, ipcap;
	char		(*ipool)[POOL_NAME];	/* tmp/fs.ID to write again */
	size_t		 nipool, ipoolcap;
	struct qw_pool	 pool;		/* for the writers: send's drop */
	uint64_t	 sweep_at;	/* when to look for orphans, or 0 */
	uint64_t	 stats_at;	/* when to write lock/send.stats */
	int		 stats_known;	/* the arrivals of the messages
					 * recovered are in the index */
	int		 stopping;
	uint64_t	 stop_at;
	unsigned long	 nstart, ndone;
};

/* the directories whose names a window changed (send.dpend) */
enum {
	SD_TODO = 1,
	SD_MESS = 2,
	SD_INFO = 4,
	SD_SYNCFS = 8,	/* a marked file could not be named: syncfs once */
};

extern volatile sig_atomic_t send_sighup, send_sigalrm, send_sigterm;

/* send_fs.c: crash-safe files relative to the queue directory; a
 * writer given a pool (send's, s->pool) that finds the file system full
 * gives its retired files' space back (qw_pool_drop), and fs_write_tmp
 * then writes once more */
int	fs_path(char *, size_t, const char *dir, const char *id);
int	fs_write_tmp(int qfd, const char *dir, const char *id,
	    const struct buf *, struct qw_pool *);
int	fs_publish(int qfd, const char *dir, const char *id);
int	fs_sync_dir(int qfd, const char *dir);
int	fs_sync_files(int qfd, char (*paths)[POOL_NAME], size_t n,
	    int missing_ok);
int	fs_read(int qfd, const char *dir, const char *id, struct buf *);
int	fs_mark(int qfd, const char *dir, const char *id, off_t off,
	    uint8_t state, int sync);
int	fs_advise(int qfd, const char *dir, const char *id,
	    const struct rcpt *);
int	fs_append(int qfd, const char *dir, const char *id,
	    const struct buf *, struct qw_pool *);
int	fs_exists(int qfd, const char *dir, const char *id);
int	fs_unlink(int qfd, const char *dir, const char *id);
int	fs_write_pooled(int qfd, const char *name, unsigned uid,
	    const struct buf *, struct qw_pool *);
int	fs_publish_from(int qfd, const char *name, const char *dir,
	    const char *id);
int	fs_retire(int qfd, const char *dir, const char *id,
	    const char *prefix);

/* send_pre.c */
int	pre_run(struct send *);
int	send_sync(struct send *);
void	send_sync_file(struct send *, const char *dir, const char *id);
void	send_retire(struct send *, const char *dir, const char *id);
void	send_committed(struct send *, const char *id, size_t n);
void	send_retire_info(struct send *, const char *id);
void	send_pool_start(struct send *, const char *name);
void	hand_over(struct send *);
void	send_pool_init(struct send *);
uint64_t send_mono_ms(void);
int	tables_open(struct tables *, const char *dir);
void	tables_close(struct tables *);
void	tables_refresh(struct send *, int force);

/* send_loop.c */
void	send_recover(struct send *);
int	send_loop(struct send *);
/* send_dkim.c: the signing service's greeting; a message's fields */
int	sdkim_hello(struct send *);
const char *sdkim_fields(struct send *, struct live *, int msgfd);
/* sdkim_has_rsa - sandmail-sign holds an rsa key for domain */
int	sdkim_has_rsa(struct send *, const char *domain);
void	send_trigger_bytes(struct send *, const char *, size_t);

/* send_stats: lock/send.stats, the queue's gauges for sandmail-metrics
 * (send_stats.c) */
void	send_stats(struct send *, uint64_t now);

#endif
