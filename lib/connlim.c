/* connlim: the connection and rate counts that every listener of one
 * server on this host shares (smtpd's port 25, submission and smtps run
 * as separate processes under the supervisor, so do pop3d's pop3 and
 * pop3s), so that a client's limits hold across all of them.  Kept in
 * one small file per server (smtpd_limits_file, by default
 * QUEUE/lock/smtpd.limits; pop3_limits_file, QUEUE/lock/pop3d.limits;
 * 0600) that each listener maps MAP_SHARED and locks with flock(2)
 * around each change; no session maps it (lim_child unmaps it before
 * the sandbox), so a compromised session cannot forge counts.  If the
 * file cannot be made, a listener counts alone (logged).
 *
 * The file is a table of LIM_SLOTS entries, open addressing on a SipHash
 * of the key (the hash key is the file's own, drawn when it is made):
 *  - connections at once: one entry per (network, listener pid), so
 *    what a listener that died held can be told apart and forgotten
 *    (lim_sweep, when a listener starts and every minute);
 *  - per-minute counts (connections, messages per address, messages per
 *    login): one entry per key, pid 0, for the current minute.
 * A slot is free (key 0), or dead (a count of 0, or an old minute) and
 * then reusable; probing stops at a free slot or after LIM_PROBE slots.
 * When nothing fits, the client is let through: the table may fill, the
 * limits then fail open rather than refuse everybody. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "connlim.h"
#include "log.h"
#include "netkey.h"

#define LIM_MAGIC	0x736d6c31u	/* "sml1" */
#define LIM_SLOTS	16384
#define LIM_PROBE	64

struct lim_ent {
	uint64_t	key;
	uint32_t	pid;		/* connections: the listener; else 0 */
	uint32_t	minute;		/* rates: the minute counted */
	uint32_t	count;
	uint32_t	pad;
};

struct lim_file {
	uint32_t	magic, slots;
	unsigned char	hkey[16];
	struct lim_ent	e[LIM_SLOTS];
};

static struct lim_file *lf;
static int lfd = -1;
static uint32_t mypid;

enum { K_CONN_HOST = 'h', K_CONN_NET = 'n', K_RATE_CONN = 'c',
    K_RATE_MSG = 'm', K_RATE_USER = 'u', K_UNAUTH_NET = 'a' };

static uint32_t
minute(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint32_t)(ts.tv_sec / 60);
}

static void
lock(int how)
{
	if (lfd >= 0)
		while (flock(lfd, how) == -1 && errno == EINTR)
			;
}

/* lim_sweep - forget what listeners that are gone (or had our pid)
 * counted */
void
lim_sweep(void)
{
	uint32_t now = minute();

	if (lf == NULL)
		return;
	lock(LOCK_EX);
	for (size_t i = 0; i < LIM_SLOTS; i++) {
		struct lim_ent *e = &lf->e[i];

		if (e->key == 0)
			continue;
		if (e->pid != 0 && (e->pid == mypid ||
		    (kill((pid_t)e->pid, 0) == -1 && errno == ESRCH)))
			e->count = 0;
		else if (e->pid == 0 && e->minute + 1 < now)
			e->count = 0;
	}
	lock(LOCK_UN);
}

/* lim_open - map the shared file (made if absent); a private table if
 * it cannot be had */
void
lim_open(const char *path)
{
	struct stat st;
	int fd;

	mypid = (uint32_t)getpid();
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1 || flock(fd, LOCK_EX) == -1 ||
	    fstat(fd, &st) == -1 || ((size_t)st.st_size != sizeof *lf &&
	    ftruncate(fd, 0) == -1) || ftruncate(fd, sizeof *lf) == -1 ||
	    (lf = mmap(NULL, sizeof *lf, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED) {
		log_kv("warning", "op", "limits file", "path", path, "err",
		    strerror(errno), "counting", "this listener alone", NULL);
		if (fd >= 0)
			close(fd);
		fd = -1;
		lf = mmap(NULL, sizeof *lf, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (lf == MAP_FAILED)
			die_temp("mmap", NULL);
	}
	if (lf->magic != LIM_MAGIC || lf->slots != LIM_SLOTS) {
		memset(lf, 0, sizeof *lf);
		randombytes_buf(lf->hkey, sizeof lf->hkey);
		lf->slots = LIM_SLOTS;
		lf->magic = LIM_MAGIC;
	}
	lfd = fd;
	if (fd >= 0)
		(void)flock(fd, LOCK_UN);
	lim_sweep();
}

/* lim_child - in a forked session: the table is the listeners' only */
void
lim_child(void)
{
	if (lf != NULL)
		(void)munmap(lf, sizeof *lf);
	if (lfd >= 0)
		close(lfd);
	lf = NULL;
	lfd = -1;
}

static uint64_t
hash(uint8_t kind, const void *p, size_t n)
{
	unsigned char in[1 + 256], out[8];
	uint64_t v = 0;

	if (n > sizeof in - 1)
		n = sizeof in - 1;
	in[0] = kind;
	memcpy(in + 1, p, n);
	crypto_shorthash(out, in, n + 1, lf->hkey);
	for (int i = 0; i < 8; i++)
		v = v << 8 | out[i];
	return v | 1;
}

static uint64_t
ipkey(uint8_t kind, const char *ip, enum netkey_kind nk)
{
	struct netkey k;

	(void)netkey_of(ip, nk, &k);
	return hash(kind, k.b, sizeof k.b);
}

static int
dead(const struct lim_ent *e, uint32_t now)
{
	return e->count == 0 || (e->pid == 0 && e->minute != now);
}

/* slot - the entry of (key, pid), made if need be; NULL when full */
static struct lim_ent *
slot(uint64_t key, uint32_t pid, uint32_t now)
{
	struct lim_ent *e, *reuse = NULL;
	size_t i, k;

	for (k = 0, i = key % LIM_SLOTS; k < LIM_PROBE;
	    k++, i = (i + 1) % LIM_SLOTS) {
		e = &lf->e[i];
		if (e->key == key && e->pid == pid) {
			if (pid == 0 && e->minute != now)
				e->minute = now, e->count = 0;
			return e;
		}
		if (e->key == 0) {
			if (reuse == NULL)
				reuse = e;
			break;
		}
		if (reuse == NULL && dead(e, now))
			reuse = e;
	}
	if (reuse != NULL) {
		reuse->key = key;
		reuse->pid = pid;
		reuse->minute = now;
		reuse->count = 0;
	}
	return reuse;
}

/* sum - connections at once of key over every listener */
static unsigned
sum(uint64_t key)
{
	unsigned n = 0;
	size_t i, k;

	for (k = 0, i = key % LIM_SLOTS; k < LIM_PROBE && lf->e[i].key != 0;
	    k++, i = (i + 1) % LIM_SLOTS)
		if (lf->e[i].key == key && lf->e[i].pid != 0)
			n += lf->e[i].count;
	return n;
}

/* lim_conn - a new connection from ip: NULL and counted, or the words
 * of the limit it would pass */
const char *
lim_conn(const struct lim_cfg *cfg, const char *ip)
{
	uint64_t h = ipkey(K_CONN_HOST, ip, NK_HOST);
	uint64_t n = ipkey(K_CONN_NET, ip, NK_NET);
	uint32_t now = minute();
	const char *why = NULL;
	struct lim_ent *e;

	lock(LOCK_EX);
	if (sum(h) >= cfg->max_per_ip)
		why = " from your address";
	else if (sum(n) >= cfg->max_per_net)
		why = " from your network";
	else if (cfg->conn_rate > 0 && (e = slot(ipkey(K_RATE_CONN, ip,
	    NK_HOST), 0, now)) != NULL && e->count++ >= cfg->conn_rate)
		why = " a minute from your address";
	else {
		if ((e = slot(h, mypid, now)) != NULL)
			e->count++;
		if ((e = slot(n, mypid, now)) != NULL)
			e->count++;
	}
	lock(LOCK_UN);
	return why;
}

/* dec - one less of key in our entry (under the lock) */
static void
dec(uint64_t key)
{
	struct lim_ent *e;
	size_t i, k;

	for (k = 0, i = key % LIM_SLOTS; k < LIM_PROBE && lf->e[i].key != 0;
	    k++, i = (i + 1) % LIM_SLOTS) {
		e = &lf->e[i];
		if (e->key == key && e->pid == mypid) {
			if (e->count > 0)
				e->count--;
			return;
		}
	}
}

/* lim_conn_end - a connection from ip counted by lim_conn has ended */
void
lim_conn_end(const char *ip)
{
	if (lf == NULL || ip[0] == '\0')
		return;
	lock(LOCK_EX);
	dec(ipkey(K_CONN_HOST, ip, NK_HOST));
	dec(ipkey(K_CONN_NET, ip, NK_NET));
	lock(LOCK_UN);
}

/* lim_unauth - a session that must authenticate, counted per network
 * until lim_unauth_end: the guessers of one network get so many
 * processes at once, whatever max_per_net allows the authenticated */
const char *
lim_unauth(const struct lim_cfg *cfg, const char *ip)
{
	uint64_t n;
	const char *why = NULL;
	struct lim_ent *e;

	if (cfg->max_unauth_per_net == 0)
		return NULL;
	n = ipkey(K_UNAUTH_NET, ip, NK_NET);
	lock(LOCK_EX);
	if (sum(n) >= cfg->max_unauth_per_net)
		why = " unauthenticated from your network";
	else if ((e = slot(n, mypid, minute())) != NULL)
		e->count++;
	lock(LOCK_UN);
	return why;
}

void
lim_unauth_end(const char *ip)
{
	if (lf == NULL || ip[0] == '\0')
		return;
	lock(LOCK_EX);
	dec(ipkey(K_UNAUTH_NET, ip, NK_NET));
	lock(LOCK_UN);
}

/* lim_msg - a MAIL from ip (and login, "" if none): 0 and counted, or
 * -1 over a per-minute limit */
int
lim_msg(const struct lim_cfg *cfg, const char *ip, const char *login,
    size_t llen)
{
	uint32_t now = minute();
	struct lim_ent *e, *u = NULL;
	int r = 0;

	if (cfg->msg_rate == 0 && (cfg->msg_rate_user == 0 || llen == 0))
		return 0;
	lock(LOCK_EX);
	e = cfg->msg_rate == 0 ? NULL :
	    slot(ipkey(K_RATE_MSG, ip, NK_HOST), 0, now);
	if (cfg->msg_rate_user > 0 && llen > 0)
		u = slot(hash(K_RATE_USER, login, llen), 0, now);
	if ((e != NULL && e->count >= cfg->msg_rate) ||
	    (u != NULL && u->count >= cfg->msg_rate_user))
		r = -1;
	else {
		if (e != NULL)
			e->count++;
		if (u != NULL)
			u->count++;
	}
	lock(LOCK_UN);
	return r;
}
