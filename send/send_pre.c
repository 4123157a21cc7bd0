/* send_pre: preprocessing of todo/ID.  The envelope's recipients are
 * expanded (aliases, recursively; address extensions; virtual users;
 * system users) into one record each, local and remote, in info/ID with
 * the envelope; recipients that cannot exist go straight to bounce/ID.
 * A batch syncs nothing of its own unless it made a bounce/ID (then one
 * fdatasync of each file it wrote before the renames, and an fsync of
 * bounce/; or one syncfs with queue_sync syncfs); info/ID is renamed
 * last.  todo/ID is removed only after the next full barrier, which
 * fdatasyncs info/ID and mess/ID and fsyncs info/ and mess/ (the queue
 * renames todo/ID before its own barrier): while todo/ID is there, info/ID
 * means nothing after a crash (the message is split again), and once it
 * is gone info/ID is durable and complete. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "qwrite.h"
#include "rcpt.h"
#include "send_srv.h"
#include "srs.h"

#define ALIAS_DEPTH	10
#define XOUT_MAX	10000	/* final recipients from one envelope */

struct xout {
	struct buf	 rcs, bnc;	/* encoded records */
	size_t		 nloc, nrem, nbnc, total;
	struct buf	 seen;		/* "K\tADDR\tDEST\n" already added */
	const char	*qid;
	const char	*owner;		/* owner-LIST of the list expanded */
	const char	*sender;	/* the envelope's */
	int		 fwd;		/* under an alias: remote ones are
					 * forwards, their sender SRS'd */
	struct buf	 srs;		/* the SRS sender of forwards, or "" */
	int		 srs_done;	/* srs is computed (maybe "") */
};

static const char *const tbl_names[T_COUNT] = {
	[T_DOMAINS] = "domains", [T_ALIASES] = "aliases",
	[T_VIRTUAL] = "virtual", [T_LOCALUSERS] = "localusers",
	[T_MOVED] = "moved", [T_ROUTES] = "routes",
	[T_TLSPOL] = "tls_policy", [T_RELAY] = "relayclients",
	[T_RELAYAUTH] = "relay_auth",
};

/* tables_open - every table send reads; a missing one is empty */
int
tables_open(struct tables *t, const char *dir)
{
	return tblset_open(&t->set, t->t, dir, tbl_names, T_COUNT);
}

/* tables_close - close them all */
void
tables_close(struct tables *t)
{
	tblset_close(&t->set);
}

/* tables_refresh - the loop's, before each split and delivery: tables
 * sandmail-cdb replaced are mapped again (looked for at most once a
 * second), all of them on SIGHUP (force); one that cannot be opened
 * keeps its old mapping and is logged (lib/tbl.c) */
void
tables_refresh(struct send *s, int force)
{
	if (tblset_refresh(&s->t.set, force ? TBLSET_ALL : TBLSET_TICK) > 0)
		log_kv("reload", "why", force ? "hup" : "changed", NULL);
}

static void
x_fail(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const char *text)
{
	struct brec b = { BR_FAILED, (uint64_t)time(NULL), (char *)addr,
	    er->orcpt, "", (char *)text, er->notify, (char *)o->owner };

	log_kv("rcpt_fail", "id", o->qid, "rcpt", addr, "why", text, NULL);
	(void)s;
	/* NOTIFY=NEVER, or NOTIFY without FAILURE: no report (RFC 3461) */
	if ((er->notify & NOTIFY_NEVER) ||
	    (er->notify != 0 && !(er->notify & NOTIFY_FAILURE)))
		return;
	if (br_encode(&o->bnc, &b) == 0)
		o->nbnc++;
}

/* x_dup - 1 if this destination was added already (else remember it) */
static int
x_dup(struct xout *o, int kind, const char *addr, const char *dest)
{
	struct buf k = BUF_INIT(16384);
	int dup = 0;

	if (o->seen.len == 0)
		(void)buf_putc(&o->seen, '\n');
	if (buf_fmt(&k, "\n%c\t%s\t%s\n", kind, addr, dest) == -1)
		goto out;
	if (memmem(o->seen.p, o->seen.len, k.p, k.len) != NULL)
		dup = 1;
	else
		(void)buf_put(&o->seen, k.p + 1, k.len - 1);
out:
	buf_free(&k);
	return dup;
}

static void rcpt_tabs_of(struct send *, struct rcpt_tabs *);

/* srs_sender - the sender of forwards (o->srs, "" when kept): the
 * envelope's rewritten by SRS unless it is null, ours (a local domain or
 * srs_domain itself), excluded, or one SRS cannot carry (logged) */
static const char *
srs_sender(struct send *s, struct xout *o)
{
	struct rcpt_tabs rt;
	struct addr a;

	if (o->srs_done)
		return o->srs.p;
	o->srs_done = 1;
	o->srs.len = 0;
	if (buf_cstr(&o->srs) == -1)
		return "";
	if (s->c.srs_domain == NULL || o->sender == NULL ||
	    o->sender[0] == '\0' || addr_parse_mailbox(o->sender,
	    strlen(o->sender), ADDR_UTF8, &a) != ADDR_OK || a.dlen == 0 ||
	    a.literal)
		return o->srs.p;
	rcpt_tabs_of(s, &rt);
	if (strcasecmp(a.domain, s->c.srs_domain) == 0 ||
	    rcpt_domain(&rt, a.domain, a.dlen) != 0 ||
	    conf_list_has(s->c.srs_exclude, a.domain, a.dlen))
		return o->srs.p;
	if (srs_forward(&s->srs, a.local, a.llen, a.domain, a.dlen,
	    s->c.srs_domain, time(NULL), &o->srs) == -1 ||
	    buf_cstr(&o->srs) == -1) {
		log_kv("srs", "id", o->qid, "from", o->sender, "kept",
		    errno == E2BIG ? "local part too long" : "not rewritable",
		    NULL);
		o->srs.len = 0;
		(void)buf_cstr(&o->srs);
	}
	return o->srs.p;
}

static void
x_add(struct send *s, struct xout *o, const struct env_rcpt *er,
    struct rcpt *r)
{
	if (x_dup(o, r->kind, r->addr, r->kind == RC_LOCAL ? r->dest :
	    r->domain))
		return;
	if (o->total >= XOUT_MAX) {
		x_fail(s, o, er, r->addr, "5.3.0 too many recipients after "
		    "alias expansion");
		return;
	}
	r->state = RC_PENDING;
	r->inner = 1;
	r->sender = (char *)o->owner;
	/* a forward to another domain: SRS, so it passes SPF there (an
	 * owner-LIST sender is ours already) */
	if (r->kind == RC_REMOTE && o->fwd && o->owner == NULL &&
	    r->dest[0] == '\0')
		r->sender = (char *)srs_sender(s, o);
	r->orcpt = er->orcpt;
	r->orig = er->addr;	/* written only if it differs from addr */
	r->notify = er->notify;
	if (rc_encode(&o->rcs, r) == -1) {
		x_fail(s, o, er, r->addr, "4.3.0 recipient record too long");
		return;
	}
	o->total++;
	if (r->kind == RC_LOCAL)
		o->nloc++;
	else
		o->nrem++;
}

static void
add_local(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const char *dest, uint32_t uid, uint32_t gid)
{
	struct rcpt r;

	memset(&r, 0, sizeof r);
	r.kind = RC_LOCAL;
	r.addr = (char *)addr;
	r.dest = (char *)dest;
	r.domain = "";
	r.uid = uid, r.gid = gid;
	x_add(s, o, er, &r);
}

static void
rcpt_tabs_of(struct send *s, struct rcpt_tabs *rt)
{
	struct tbl *t = s->t.t;

	rt->domains = &t[T_DOMAINS];
	rt->aliases = &t[T_ALIASES];
	rt->virt = &t[T_VIRTUAL];
	rt->localusers = &t[T_LOCALUSERS];
	rt->moved = &t[T_MOVED];
	rt->routes = &t[T_ROUTES];
	rt->hostname = s->c.hostname;
	rt->delim = s->c.delim;
}

static void resolved(struct send *, struct xout *, const struct env_rcpt *,
    const char *, const struct addr *, struct rcpt_res *, int,
    const char **);

/* mailbox - "user: user, other": the user's own mailbox, no alias */
static void
mailbox(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const struct addr *a, int depth, const char **chain)
{
	struct rcpt_tabs rt;
	struct rcpt_res r;

	rcpt_tabs_of(s, &rt);
	buf_init(&r.val, 16384);
	rcpt_resolve(&rt, a, RCPT_NOALIAS, &r);
	resolved(s, o, er, addr, a, &r, depth, chain);
	buf_free(&r.val);
}

static void expand(struct send *, struct xout *, const struct env_rcpt *,
    const char *, int, const char **);
static void srs_back(struct send *, struct xout *, const struct env_rcpt *,
    const char *, const struct addr *, int, const char **);
static void aliases_items(struct send *, struct xout *,
    const struct env_rcpt *, const char *, const struct addr *,
    struct buf *, int, const char **);

static int
in_chain(const char **chain, int depth, const char *addr)
{
	for (int i = 0; i < depth; i++)
		if (strcasecmp(chain[i], addr) == 0)
			return 1;
	return 0;
}

/* alias_item - one comma-separated item of an alias value */
static void
alias_item(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const struct addr *a, char *it, int depth,
    const char **chain)
{
	struct buf full = BUF_INIT(ENV_ADDR_MAX);

	if (it[0] == '|' || it[0] == '/') {
		add_local(s, o, er, addr, it, s->c.auid, s->c.agid);
		return;
	}
	if (buf_puts(&full, it) == -1 || (strchr(it, '@') == NULL &&
	    buf_fmt(&full, "@%s", a->domain) == -1) || buf_cstr(&full) == -1) {
		x_fail(s, o, er, addr, "5.1.3 alias target too long");
	} else if (strcasecmp(full.p, addr) == 0) {
		mailbox(s, o, er, addr, a, depth, chain);	/* "user: user" */
	} else if (in_chain(chain, depth + 1, full.p)) {
		x_fail(s, o, er, addr, "5.4.6 alias loop");
	} else
		expand(s, o, er, full.p, depth + 1, chain);
	buf_free(&full);
}

/* owner - "owner-LIST@domain" when the aliases table has it (or, for a
 * local domain, "owner-LIST"): the list's deliveries and failures then
 * go out with that sender (sendmail's convention) */
static int
owner(struct send *s, const struct addr *a, int virt, struct buf *own)
{
	struct buf k = BUF_INIT(TBL_KEY_MAX), v = BUF_INIT(4096);
	int r;

	own->len = 0;
	r = buf_puts(&k, "owner-") == 0 && tbl_lower(&k, a->local, a->llen) ==
	    0 && buf_putc(&k, '@') == 0 && tbl_lower(&k, a->domain, a->dlen) ==
	    0 ? tbl_get(&s->t.t[T_ALIASES], k.p, k.len, &v) : -1;
	if (r == 0 && !virt)
		r = tbl_get(&s->t.t[T_ALIASES], k.p, 6 + a->llen, &v);
	if (r == 1 && (buf_put(own, k.p, 6 + a->llen) == -1 ||
	    buf_putc(own, '@') == -1 || buf_put(own, a->domain, a->dlen) ==
	    -1 || buf_cstr(own) == -1))
		r = -1;
	buf_free(&k);
	buf_free(&v);
	return r;
}

static void
aliases(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const struct addr *a, int virt, struct buf *val,
    int depth, const char **chain)
{
	struct buf own = BUF_INIT(ENV_ADDR_MAX);
	const char *saved = o->owner;
	int fwd = o->fwd;

	if (owner(s, a, virt, &own) == 1)
		o->owner = own.p;
	o->fwd = 1;
	aliases_items(s, o, er, addr, a, val, depth, chain);
	o->owner = saved;
	o->fwd = fwd;
	buf_free(&own);
}

static void
aliases_items(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const struct addr *a, struct buf *val, int depth,
    const char **chain)
{
	size_t pos = 0, n, b, e;

	if (depth >= ALIAS_DEPTH) {
		x_fail(s, o, er, addr, "5.4.6 alias expansion too deep");
		return;
	}
	chain[depth] = addr;
	if (buf_cstr(val) == -1) {
		x_fail(s, o, er, addr, "4.3.0 out of memory");
		return;
	}
	/* split as lib/rcpt.c does: a |command takes the rest, commas in a
	 * quoted local part do not split; each item cut in place */
	n = val->len;
	while (rcpt_item(val->p, n, &pos, &b, &e)) {
		val->p[e] = '\0';
		alias_item(s, o, er, addr, a, val->p + b, depth, chain);
	}
}

/* add_remote - a recipient for rspawn: by routes or MX, or to the LMTP
 * destination dest ("lmtp:...", a virtual table entry) when not "" */
static void
add_remote(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const struct addr *a, const char *dest)
{
	struct buf dom = BUF_INIT(ADDR_DOMAIN_MAX + 1);
	struct rcpt r;

	if (tbl_lower(&dom, a->domain, a->dlen) == -1 || buf_cstr(&dom) == -1) {
		x_fail(s, o, er, addr, "4.3.0 out of memory");
		buf_free(&dom);
		return;
	}
	memset(&r, 0, sizeof r);
	r.kind = RC_REMOTE;
	r.addr = (char *)addr;
	r.dest = (char *)dest;
	r.domain = dom.p;
	x_add(s, o, er, &r);
	buf_free(&dom);
}

static void
moved(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const struct buf *to)
{
	struct buf t = BUF_INIT(ENV_ADDR_MAX + 64);

	if (buf_fmt(&t, "5.1.6 user has moved; please try <%.*s>",
	    (int)(to->len > ENV_ADDR_MAX ? ENV_ADDR_MAX : to->len), to->p) ==
	    -1 || buf_cstr(&t) == -1)
		x_fail(s, o, er, addr, "5.1.6 user has moved");
	else
		x_fail(s, o, er, addr, t.p);
	buf_free(&t);
}

/* resolved - one recipient as lib/rcpt.c decided (smtpd decides RCPT
 * with the same function): a mailbox, a forward, aliases, or a failure */
static void
resolved(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const struct addr *a, struct rcpt_res *r, int depth,
    const char **chain)
{
	switch (r->kind) {
	case RK_REMOTE:
	case RK_ROUTED:
		add_remote(s, o, er, addr, a, "");
		break;
	case RK_ALIAS:
		aliases(s, o, er, addr, a, r->virt, &r->val, depth, chain);
		break;
	case RK_USER:
		add_local(s, o, er, addr, r->val.p, r->uid, r->gid);
		break;
	case RK_VIRTUAL:
		if (strncmp(r->val.p, "lmtp:", 5) == 0)
			add_remote(s, o, er, addr, a, r->val.p);
		else
			add_local(s, o, er, addr, r->val.p, s->c.vuid,
			    s->c.vgid);
		break;
	case RK_MOVED:
		moved(s, o, er, addr, &r->val);
		break;
	case RK_UNKNOWN:
		x_fail(s, o, er, addr, r->postmaster ? "5.1.1 postmaster has "
		    "no alias or mailbox" : "5.1.1 unknown user");
		break;
	case RK_BADENTRY:
		x_fail(s, o, er, addr, r->virt ? "4.3.5 bad virtual table "
		    "entry" : "4.3.5 bad localusers entry");
		break;
	default:
		x_fail(s, o, er, addr, "4.3.0 table error");
		break;
	}
}

/* expand - one address at depth; chain holds its ancestors */
static void
expand(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, int depth, const char **chain)
{
	struct rcpt_tabs rt;
	struct rcpt_res r;
	struct addr a;

	if (addr_parse_mailbox(addr, strlen(addr), ADDR_UTF8, &a) != ADDR_OK ||
	    a.dlen == 0) {
		x_fail(s, o, er, addr, "5.1.3 bad recipient address syntax");
		return;
	}
	if (s->c.srs_domain != NULL && srs_is(a.local, a.llen) &&
	    strcasecmp(a.domain, s->c.srs_domain) == 0) {
		srs_back(s, o, er, addr, &a, depth, chain);
		return;
	}
	rcpt_tabs_of(s, &rt);
	buf_init(&r.val, 16384);
	rcpt_resolve(&rt, &a, 0, &r);
	resolved(s, o, er, addr, &a, &r, depth, chain);
	buf_free(&r.val);
}

/* srs_back - a bounce to one of our SRS addresses goes to the address it
 * stands for; a forged or stale one fails (smtpd refused what it could
 * tell without the secret: the hash is checked only here) */
static void
srs_back(struct send *s, struct xout *o, const struct env_rcpt *er,
    const char *addr, const struct addr *a, int depth, const char **chain)
{
	struct buf to = BUF_INIT(ENV_ADDR_MAX);
	enum srs_res k;

	k = srs_reverse(&s->srs, a->local, a->llen, time(NULL),
	    s->c.srs_maxdays, &to);
	log_kv("srs", "id", o->qid, "rcpt", addr, "result", srs_res_name(k),
	    k == SRS_OK ? "to" : NULL, to.p, NULL);
	if (k == SRS_ERROR)
		x_fail(s, o, er, addr, "4.3.0 SRS address not checked");
	else if (k != SRS_OK)
		x_fail(s, o, er, addr, k == SRS_STALE ? "5.1.1 SRS address "
		    "expired" : "5.1.1 bad SRS address");
	else if (depth + 1 >= ALIAS_DEPTH)
		x_fail(s, o, er, addr, "5.4.6 SRS expansion too deep");
	else {
		chain[depth] = addr;
		expand(s, o, er, to.p, depth + 1, chain);
	}
	buf_free(&to);
}

enum { W_BNC = 4 };

/* write_one - the split into tmp/ (synced and published per batch): the
 * image of info/ID in img, written into a retired info file (src names
 * it) or tmp/info.ID, and tmp/bounce.ID only if a recipient failed
 * already; returns the W_* files written besides info, or -1 */
static int
write_one(struct send *s, const char *id, const struct env *e,
    struct xout *o, struct buf *img, char src[POOL_NAME])
{
	int w = 0;

	if (o->nbnc > 0 && (w |= W_BNC, fs_write_tmp(s->qfd, "bounce", id,
	    &o->bnc, &s->pool) == -1))
		return -1;
	if (info_encode(img, e, o->rcs.p, o->rcs.len) == -1)
		return -1;
	/* full: every retired file goes (the one that failed too, and
	 * nipool is 0), then a new file in their space */
	while (s->nipool > 0) {
		memcpy(src, s->ipool[--s->nipool], POOL_NAME);
		if (fs_write_pooled(s->qfd, src, s->uid, img, &s->pool) == 0)
			return w;
	}
	snprintf(src, POOL_NAME, "info.%s", id);
	if (fs_write_tmp(s->qfd, "info", id, img, &s->pool) == -1)
		return -1;
	return w;
}

static void
xout_init(struct xout *o, const char *id)
{
	memset(o, 0, sizeof *o);
	buf_init(&o->rcs, RC_FILE_MAX);
	buf_init(&o->bnc, RC_FILE_MAX);
	buf_init(&o->seen, RC_FILE_MAX);
	buf_init(&o->srs, ENV_ADDR_MAX);
	o->qid = id;
}

static void
xout_free(struct xout *o)
{
	buf_free(&o->rcs);
	buf_free(&o->bnc);
	buf_free(&o->seen);
	buf_free(&o->srs);
}

/* mess_matches - whether mess/ID has the size and CRC32C its seal says:
 * 1 yes, 0 no (or no mess/ID), -1 it could not be read (undecided) */
static int
mess_matches(struct send *s, const char *id, const struct seal *sl)
{
	static unsigned char b[65536];
	struct stat st;
	uint64_t got = 0;
	uint32_t crc = 0;
	char p[QID_MAX + 8];
	ssize_t k = 0;
	int fd, r;

	snprintf(p, sizeof p, "mess/%s", id);
	if ((fd = openat(s->qfd, p, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) == -1)
		r = -1;
	else if ((uint64_t)st.st_size != sl->size)
		r = 0;
	else {
		while ((k = read(fd, b, sizeof b)) > 0) {
			crc = crc32c(crc, b, (size_t)k);
			got += (uint64_t)k;
		}
		r = k == -1 ? -1 : got == sl->size && crc == sl->crc;
	}
	close(fd);
	return r;
}

static const uint8_t zero_boot[SEAL_BOOT];

/* torn - whether todo/ID is a commit that a power loss cut short (seal.h,
 * k from seal_env): sealed in an earlier boot and not matching mess/ID or
 * its own name, or unreadable and last written before this boot.  Such a
 * message was never answered with a 250: it goes, and is logged.  A bad
 * todo/ID written in this boot stays (a bug, not a power loss).  1 torn,
 * 0 not, -1 undecided (mess/ID could not be read: left for later). */
static int
torn(struct send *s, const char *id, int k, const struct seal *sl)
{
	struct stat st;
	char p[QID_MAX + 8];
	int m;

	if (k == 1) {
		/* a boot id of zeros is one that could not be read: it
		 * matches nothing, not even another unknown one */
		if (memcmp(sl->boot, s->boot, SEAL_BOOT) == 0 &&
		    memcmp(s->boot, zero_boot, SEAL_BOOT) != 0)
			return 0;
		if (strcmp(sl->id, id) != 0)
			return 1;
		return (m = mess_matches(s, id, sl)) == -1 ? -1 : !m;
	}
	snprintf(p, sizeof p, "todo/%s", id);
	return k == -1 && fstatat(s->qfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_mtime < s->boot_at;
}

/* hold_new - a message quarantined at arrival (ENV_HOLD, from a milter
 * through smtpd): hold/ID, durable before the message is ever loaded, so
 * it is never tried until sandmail-queuectl releases it; 0 or -1 */
static int
hold_new(struct send *s, const char *id)
{
	struct buf b = BUF_INIT(128);
	int r;

	r = buf_fmt(&b, "quarantined at arrival (smtpd's log: id=%s)\n",
	    id) == -1 || fs_write_tmp(s->qfd, "hold", id, &b, NULL) == -1 ||
	    fs_publish(s->qfd, "hold", id) == -1 ||
	    fs_sync_dir(s->qfd, "hold") == -1 ? -1 : 0;
	buf_free(&b);
	if (r == 0)
		log_kv("hold", "id", id, "reason", "quarantined at arrival",
		    NULL);
	return r;
}

/* pre_one - split todo/ID into tmp/ (the image of info/ID in img); 0
 * nothing to do but remove todo/ID, -1 leave it for later, else 16 | the
 * W_* files written.  (info/ID cannot exist here: every info/ was in the
 * index since the start, and a message leaves the index with its files.) */
static int
pre_one(struct send *s, const char *id, struct buf *img, char src[POOL_NAME])
{
	struct buf b = BUF_INIT(64u * 1024 * 1024);
	const char *chain[ALIAS_DEPTH + 1];
	struct seal sl;
	struct env e;
	struct xout o;
	int r = -1, k, t;

	if (fs_read(s->qfd, "todo", id, &b) == -1) {
		log_kv("warn", "id", id, "op", "read todo", "err",
		    strerror(errno), NULL);
		buf_free(&b);
		return -1;
	}
	k = seal_env(&e, b.p, b.len, &sl);
	buf_free(&b);
	if ((t = torn(s, id, k, &sl)) == -1) {
		env_free(&e);
		log_kv("warn", "id", id, "op", "read mess", "err",
		    strerror(errno), NULL);
		return -1;
	}
	if (t == 1) {
		env_free(&e);
		log_kv("warn", "id", id, "op", "torn", "reason",
		    "cut short by a power loss: never acknowledged", NULL);
		(void)fs_unlink(s->qfd, "mess", id);
		return 0;	/* todo/ID goes after the batch */
	}
	if (k == -1 || (k == 1 && strcmp(sl.id, id) != 0)) {
		env_free(&e);
		log_kv("warn", "id", id, "op", "read todo", "err",
		    k == -1 ? "malformed envelope" : "sealed for another ID",
		    NULL);
		return -1;
	}
	if (fs_exists(s->qfd, "mess", id) != 1) {
		log_kv("warn", "id", id, "op", "todo without mess", NULL);
		env_free(&e);
		return 0;
	}
	if ((e.flags & ENV_HOLD) && hold_new(s, id) == -1) {
		log_kv("warn", "id", id, "op", "hold", "err",
		    strerror(errno), NULL);
		env_free(&e);
		return -1;
	}
	e.flags &= ~(uint32_t)ENV_HOLD;
	xout_init(&o, id);
	o.sender = e.sender;
	for (size_t i = 0; i < e.nrcpt; i++)
		expand(s, &o, &e.rcpt[i], e.rcpt[i].addr, 0, chain);
	if ((r = write_one(s, id, &e, &o, img, src)) >= 0) {
		struct logln l;

		log_start(&l, "new");
		log_s(&l, "id", id);
		log_s(&l, "from", e.sender);
		log_u(&l, "size", e.size);
		log_u(&l, "local", o.nloc);
		log_u(&l, "remote", o.nrem);
		log_u(&l, "failed", o.nbnc);
		log_done(&l);
		r |= 16;
	} else
		log_kv("warn", "id", id, "op", "write info", "err",
		    strerror(errno), NULL);
	xout_free(&o);
	env_free(&e);
	return r;
}

/* push - a name onto a growing list */
static int
push(char (**v)[POOL_NAME], size_t *n, size_t *cap, const char *name)
{
	char (*nv)[POOL_NAME];
	size_t ncap;

	if (*n == *cap) {
		ncap = *cap ? *cap * 2 : 64;
		if ((nv = reallocarray(*v, ncap, sizeof *nv)) == NULL)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	snprintf((*v)[(*n)++], POOL_NAME, "%s", name);
	return 0;
}

static void
window(struct send *s)
{
	if (!s->needsync)
		s->sync_at = send_mono_ms() + SEND_SYNC_WINDOW_MS;
	s->needsync = 1;
}

/* dirwindow - names changed (a split's info/ID, files retired): their
 * directories are synced by the next full barrier, at most
 * SEND_DIR_WINDOW_MS after the first change; only what waits for it
 * (todo/ID's removal, the files to write again) and a repeated delivery
 * after a power loss depend on it, and one fsync of each directory then
 * serves every message of that time (with queue_sync syncfs, the marks'
 * window) */
static void
dirwindow(struct send *s)
{
	if (!s->dirsync) {
		s->dirsync = 1;
		s->dir_at = send_mono_ms() + (s->c.syncfs ?
		    SEND_SYNC_WINDOW_MS : SEND_DIR_WINDOW_MS);
	}
	if (!s->needsync || s->dir_at < s->sync_at)
		s->sync_at = s->dir_at;
	s->needsync = 1;
}

/* send_sync_file - DIR/ID was written in place (a mark): its fdatasync
 * is due at the window's barrier */
void
send_sync_file(struct send *s, const char *dir, const char *id)
{
	char (*v)[POOL_NAME];
	size_t ncap;

	if (s->nfpend == s->fpcap) {
		ncap = s->fpcap ? s->fpcap * 2 : 64;
		if ((v = reallocarray(s->fpend, ncap, sizeof *v)) == NULL) {
			/* no room to name it: the window's barrier is a
			 * syncfs this once (a mark must not stay volatile) */
			s->dpend |= SD_SYNCFS;
			window(s);
			return;
		}
		s->fpend = v;
		s->fpcap = ncap;
	}
	snprintf(s->fpend[s->nfpend++], POOL_NAME, "%s/%s", dir, id);
	window(s);
}

/* dirbit - the SD_* bit of a directory send removes names from */
static unsigned
dirbit(const char *dir)
{
	return dir[0] == 't' ? SD_TODO : dir[0] == 'm' ? SD_MESS : SD_INFO;
}

/* send_retire - todo/ID or mess/ID (the queue's files) renamed to
 * tmp/rm.t.ID or tmp/rm.m.ID instead of unlinked; after the next barrier
 * made that durable (the fsync of todo/ or mess/) they become tmp/re.*,
 * for the queue to write again: a file is never written again while a
 * crash could bring back its old name (doc/design.md, "Files written
 * again").  Unlinked or retired, the removal is durable at that barrier. */
void
send_retire(struct send *s, const char *dir, const char *id)
{
	char name[POOL_NAME];
	int t = dir[0] == 't';

	s->dpend |= dirbit(dir);
	dirwindow(s);
	if (!s->c.reuse) {
		(void)fs_unlink(s->qfd, dir, id);
		return;
	}
	if (fs_retire(s->qfd, dir, id, t ? "rm.t" : "rm.m") != 1)
		return;
	snprintf(name, sizeof name, "%c.%s", t ? 't' : 'm', id);
	if (push(&s->retired, &s->nretired, &s->retcap, name) == -1) {
		snprintf(name, sizeof name, "tmp/rm.%c.%s", t ? 't' : 'm', id);
		(void)unlinkat(s->qfd, name, 0);
		return;
	}
}

/* send_retire_info - info/ID renamed to tmp/fs.ID, send's own, to be
 * written again by a split after the next barrier (the fsync of info/) */
void
send_retire_info(struct send *s, const char *id)
{
	char name[POOL_NAME];

	s->dpend |= SD_INFO;
	dirwindow(s);
	if (!s->c.reuse) {
		(void)fs_unlink(s->qfd, "info", id);
		return;
	}
	if (fs_retire(s->qfd, "info", id, "fs") != 1)
		return;
	snprintf(name, sizeof name, "fs.%s", id);
	if (s->nipool + s->nipend >= SEND_POOL_MAX ||
	    push(&s->ipend, &s->nipend, &s->ipcap, name) == -1) {
		snprintf(name, sizeof name, "tmp/fs.%s", id);
		(void)unlinkat(s->qfd, name, 0);
		return;
	}
}

/* list_re - tmp/re.* listed, the first keep kept and the rest
 * unlinked; s->nre is then how many are left (only send makes them), or
 * QW_POOL_KEEP when tmp/ cannot be listed (then nothing more is handed
 * over).  How many were unlinked. */
static size_t
list_re(struct send *s, size_t keep)
{
	struct qw_re r;

	if (qw_re_walk(s->qfd, keep, NULL, NULL, &r) == -1) {
		s->nre = QW_POOL_KEEP;
		return 0;
	}
	s->nre = r.left;
	return r.gone;
}

/* hand_over - the queue's retired files (tmp/rm.NAME), their removal
 * durable now, renamed to tmp/re.NAME for the queue to write again, but
 * never more than QW_POOL_KEEP re.* in tmp/: the rest are unlinked.
 * send alone makes re.* and the queue only takes them, so a count of
 * tmp/ plus what was renamed since is never below what is there; tmp/
 * is listed again only when that bound would pass the cap.  (The queue
 * trims past the cap only when it lists tmp/, which it does only when
 * mail comes in: after a burst nothing else would.) */
void
hand_over(struct send *s)
{
	char a[128], b[128];

	if (s->nretired == 0)
		return;
	if (s->nre + s->nretired > QW_POOL_KEEP)
		(void)list_re(s, SIZE_MAX);
	for (size_t i = 0; i < s->nretired; i++) {
		snprintf(a, sizeof a, "tmp/rm.%s", s->retired[i]);
		snprintf(b, sizeof b, "tmp/re.%s", s->retired[i]);
		if (s->nre < QW_POOL_KEEP &&
		    renameat(s->qfd, a, s->qfd, b) == 0)
			s->nre++;
		else
			(void)unlinkat(s->qfd, a, 0);
	}
	s->nretired = 0;
}

/* unlink_names - tmp/PREFIXNAME of each of the n names unlinked; how
 * many were */
static size_t
unlink_names(struct send *s, const char *prefix, char (*v)[POOL_NAME],
    size_t n)
{
	size_t k = 0;
	char p[128];

	for (size_t i = 0; i < n; i++)
		if (snprintf(p, sizeof p, "tmp/%s%s", prefix, v[i]) <
		    (int)sizeof p && unlinkat(s->qfd, p, 0) == 0)
			k++;
	return k;
}

/* pool_drop - s->pool's drop, for qw_pool_drop (errno ENOSPC or
 * EDQUOT: the file system full): every retired file unlinked, its
 * blocks free again: send's own fs.* by the names it holds or waits to
 * hold (not by a listing: a split of this batch may have written one it
 * took, not yet published), the queue's still waiting for a barrier
 * (rm.*) and those handed over (every tmp/re.*, which the queue gives
 * back itself only when a write of its own finds the disk full).  An
 * unlink of one is what queue_reuse no does at once: the removal it
 * stands for is made durable by the same barrier.  How many were
 * unlinked; errno as it was. */
static size_t
pool_drop(void *ctx)
{
	struct send *s = ctx;
	struct logln l;
	size_t n;
	int e = errno;

	if (!s->c.reuse)
		return 0;
	n = unlink_names(s, "", s->ipool, s->nipool) +
	    unlink_names(s, "", s->ipend, s->nipend) +
	    unlink_names(s, "rm.", s->retired, s->nretired) +
	    list_re(s, 0);
	s->nipool = s->nipend = s->nretired = 0;
	if (n > 0) {
		log_start(&l, "warn");
		log_s(&l, "op", "full");
		log_u(&l, "dropped", n);
		log_done(&l);
	}
	errno = e;
	return n;
}

/* send_pool_init - s->pool, for the writers (send_fs.c, and qw's for
 * the reports): no files of its own, only pool_drop */
void
send_pool_init(struct send *s)
{
	memset(&s->pool, 0, sizeof s->pool);
	s->pool.drop = pool_drop;
	s->pool.ctx = s;
}

/* send_pool_start - a file found in tmp/ at start (after the start's barrier):
 * rm.NAME is handed to the queue once the listing is over (hand_over:
 * by then every re.* was counted), fs.ID kept for the splits; with
 * queue_reuse off, every retired file goes.  info.ID and bounce.ID are
 * splits an earlier send wrote and never published (it was stopped
 * between the two): todo/ID is still there and is split again, so they
 * go now rather than after the day that tmp/ leftovers of others wait */
void
send_pool_start(struct send *s, const char *name)
{
	char a[128];

	if (strncmp(name, "info.", 5) == 0 || strncmp(name, "bounce.", 7) ==
	    0) {
		snprintf(a, sizeof a, "tmp/%s", name);
		if (unlinkat(s->qfd, a, 0) == 0)
			log_kv("recover", "removed", a, NULL);
		return;
	}
	if (!s->c.reuse) {
		if (strncmp(name, "rm.", 3) == 0 || strncmp(name, "re.", 3) ==
		    0 || strncmp(name, "fs.", 3) == 0) {
			snprintf(a, sizeof a, "tmp/%s", name);
			(void)unlinkat(s->qfd, a, 0);
		}
		return;
	}
	if (strncmp(name, "re.", 3) == 0)
		s->nre++;
	else if (strncmp(name, "rm.", 3) == 0) {
		if (strlen(name + 3) >= POOL_NAME || push(&s->retired,
		    &s->nretired, &s->retcap, name + 3) == -1) {
			snprintf(a, sizeof a, "tmp/%s", name);
			(void)unlinkat(s->qfd, a, 0);
		}
	} else if (strncmp(name, "fs.", 3) == 0 && strlen(name) < POOL_NAME &&
	    (s->nipool >= SEND_POOL_MAX || push(&s->ipool, &s->nipool,
	    &s->ipoolcap, name) == -1)) {
		snprintf(a, sizeof a, "tmp/%s", name);
		(void)unlinkat(s->qfd, a, 0);
	}
}

/* committed_slot - where the C record of id is kept (FNV-1a) */
static char *
committed_slot(struct send *s, const char *id, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)id[i]) * 16777619u;
	return s->committed[h % SEND_COMMITTED];
}

/* send_committed - a C record from the trigger: the queue's barrier for
 * message id has returned, so mess/ID and its name are durable.  A record
 * that is not an ID is ignored; a clash forgets the older one (its
 * mess/ID is then synced again, as without the record). */
void
send_committed(struct send *s, const char *id, size_t n)
{
	char *slot;

	if (n == 0 || n > QID_MAX)
		return;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' &&
		    id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z')))
			return;
	slot = committed_slot(s, id, n);
	memcpy(slot, id, n);
	slot[n] = '\0';
}

/* is_committed - did the queue say (C) that id's barrier has returned? */
static int
is_committed(struct send *s, const char *id)
{
	return strcmp(committed_slot(s, id, strlen(id)), id) == 0;
}

/* todo_later - todo/ID goes after the next barrier (send_sync), which
 * makes info/ID and mess/ID durable, data and names (barrier); mess/ID
 * and mess/ are left out when the queue said (C) its own barrier, which
 * synced both, had returned before the split */
static int
todo_later(struct send *s, struct msg *m)
{
	char (*v)[QID_MAX + 1];
	size_t ncap;

	if (s->ntpend == s->tpcap) {
		ncap = s->tpcap ? s->tpcap * 2 : 64;
		if ((v = reallocarray(s->tpend, ncap, sizeof *v)) == NULL)
			return -1;
		s->tpend = v;
		s->tpcap = ncap;
	}
	memcpy(s->tpend[s->ntpend++], m->id, sizeof m->id);
	m->todo = 1;
	m->qdur = is_committed(s, m->id);
	s->dpend |= SD_INFO | (m->qdur ? 0 : SD_MESS);
	dirwindow(s);
	return 0;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* barrier - what the window changed made durable, and only that: one
 * fdatasync of each file marked (each once), then, if full, one fsync of
 * each directory whose names changed.  With queue_sync syncfs (or when a
 * name could not be kept) one syncfs instead.  On failure nothing is
 * forgotten: the next window tries again. */
static int
barrier(struct send *s, int full)
{
	static const struct {
		unsigned	 bit;
		const char	*dir;
	} dirs[] = { { SD_INFO, "info" }, { SD_TODO, "todo" },
	    { SD_MESS, "mess" } };
	size_t n = 0;

	if (s->c.syncfs || (s->dpend & SD_SYNCFS)) {
		if (syncfs(s->qfd) == -1) {
			log_kv("warn", "op", "syncfs", "err", strerror(errno),
			    NULL);
			return -1;
		}
		s->nfpend = 0;
		s->dpend = 0;
		return 0;
	}
	if (s->nfpend > 1)
		qsort(s->fpend, s->nfpend, sizeof s->fpend[0], cmp_name);
	for (size_t i = 0; i < s->nfpend; i++)
		if (n == 0 || strcmp(s->fpend[n - 1], s->fpend[i]) != 0)
			memmove(s->fpend[n++], s->fpend[i], POOL_NAME);
	s->nfpend = n;
	if (full && n + 2 * s->ntpend + 3 > s->fpcap) {
		char (*v)[POOL_NAME];
		size_t ncap = n + 2 * s->ntpend + 3;

		if ((v = reallocarray(s->fpend, ncap, sizeof *v)) == NULL)
			return -1;
		s->fpend = v;
		s->fpcap = ncap;
	}
	/* the splits whose todo/ID goes after this barrier: their info/ID
	 * made durable in it, data and name together (pre_finish renamed
	 * them unsynced; one that ended meanwhile is gone, and skipped).
	 * Their mess/ID too, with mess/ (todo_later): the queue renames
	 * todo/ID before its own barrier, so a split may come before
	 * mess/ID is durable, and once todo/ID and its seal are gone
	 * nothing would tell a torn mess/ID after a power loss; unless the
	 * queue said (C, before the split) that its barrier had returned */
	for (size_t i = 0; full && i < s->ntpend; i++) {
		struct msg *m = idx_get(&s->idx, s->tpend[i]);

		/* one no longer indexed has ended (finish: its todo/ID,
		 * mess/ID and info/ID retired, their names gone) or was
		 * dropped with its info/ID: nothing of it to sync, and
		 * send_sync removes no todo/ID for it; looking for its files
		 * only cost two failed opens a message */
		if (m == NULL)
			continue;
		snprintf(s->fpend[n++], POOL_NAME, "info/%s", s->tpend[i]);
		if (!m->qdur)
			snprintf(s->fpend[n++], POOL_NAME, "mess/%s",
			    s->tpend[i]);
	}
	/* the directories go with the files, all synced at once: a name
	 * without '/' is a directory to fsync (fs_sync_files) */
	for (size_t i = 0; full && i < sizeof dirs / sizeof dirs[0]; i++)
		if (s->dpend & dirs[i].bit)
			snprintf(s->fpend[n++], POOL_NAME, "%s", dirs[i].dir);
	if (fs_sync_files(s->qfd, s->fpend, n, 1) == -1) {
		log_kv("warn", "op", "fsync", "err", strerror(errno), NULL);
		return -1;		/* the files are named again next time */
	}
	s->nfpend = 0;
	if (full)
		s->dpend = 0;
	return 0;
}

/* removals_only - would the full barrier due now make nothing durable
 * that anything waits for?  With queue_reuse no and fsync, when no mark
 * is pending and every split named for it has ended (its info/ID,
 * todo/ID and mess/ID removed, not retired for reuse): the directories'
 * fsyncs would only keep a power loss from delivering those messages
 * again (doc/design.md, "The barrier") */
static int
removals_only(struct send *s)
{
	if (s->c.reuse || s->c.syncfs || s->stopping || s->nfpend != 0 ||
	    s->nipend != 0 || (s->dpend & SD_SYNCFS))
		return 0;
	for (size_t i = 0; i < s->ntpend; i++) {
		struct msg *m = idx_get(&s->idx, s->tpend[i]);

		if (m != NULL && m->todo)
			return 0;
	}
	return 1;
}

/* put_off - the removals' fsyncs left for later: for the next barrier
 * made anyway (a mark's, a split's) or rm_at, SEND_RM_WINDOW_MS after
 * the first change of the window put off; the names' window starts
 * again with the next change */
static void
put_off(struct send *s)
{
	if (!s->rmlazy) {
		s->rmlazy = 1;
		s->rm_at = s->dir_at - SEND_DIR_WINDOW_MS + SEND_RM_WINDOW_MS;
	}
	s->dirsync = 0;
	s->ntpend = 0;		/* every one has ended */
	s->needsync = 1;
	s->sync_at = s->rm_at;
}

/* send_sync - the window's barrier for the marks made so far and, once
 * the names' window is over, for the renames; after that full barrier
 * the files retired before it may be written again, and the todo/ files
 * of the messages split before it may go.  Removals alone wait longer
 * (removals_only, put_off) and go with the next barrier made. */
int
send_sync(struct send *s)
{
	size_t n, ni = s->nipend;
	uint64_t now = send_mono_ms();
	char a[128];
	int full = s->dirsync && (s->stopping || now >= s->dir_at);

	if (s->rmlazy && (s->stopping || now >= s->rm_at || s->nfpend != 0 ||
	    full)) {
		/* due, or a barrier is made anyway: they ride on it */
		if (full && now < s->rm_at && removals_only(s)) {
			put_off(s);
			return 0;
		}
		full = 1;
	} else if (full && removals_only(s) &&
	    s->dir_at - SEND_DIR_WINDOW_MS + SEND_RM_WINDOW_MS > now) {
		put_off(s);
		return 0;
	}
	if (!full && s->nfpend == 0 && (s->rmlazy || s->dirsync)) {
		/* nothing due yet (the marks' barrier found none) */
		s->needsync = 1;
		s->sync_at = !s->dirsync ? s->rm_at : !s->rmlazy ? s->dir_at :
		    s->dir_at < s->rm_at ? s->dir_at : s->rm_at;
		return 0;
	}
	n = s->ntpend;
	s->needsync = 0;
	if (barrier(s, full) == -1)
		return -1;
	if (!full) {
		/* the marks only: the names wait for their own window */
		if (s->dirsync) {
			s->needsync = 1;
			s->sync_at = s->dir_at;
		}
		return 0;
	}
	s->rmlazy = 0;
	s->dirsync = 0;
	hand_over(s);
	for (size_t i = 0; i < ni; i++)
		if (push(&s->ipool, &s->nipool, &s->ipoolcap, s->ipend[i]) ==
		    -1) {
			snprintf(a, sizeof a, "tmp/%s", s->ipend[i]);
			(void)unlinkat(s->qfd, a, 0);
		}
	s->nipend = 0;
	for (size_t i = 0; i < n; i++) {
		struct msg *m = idx_get(&s->idx, s->tpend[i]);

		if (m != NULL && m->todo) {
			send_retire(s, "todo", m->id);
			m->todo = 0;
		}
	}
	s->ntpend = 0;
	return 0;
}

static void
hand_clear(struct send *s)
{
	for (size_t i = 0; i < s->nhand; i++)
		buf_free(&s->hand[i].img);
	s->nhand = 0;
}

/* pre_sync - the data a batch wrote into tmp/ made durable: with
 * queue_sync syncfs one syncfs, else one fdatasync of each file (their
 * writeback begun together) */
static int
pre_sync(struct send *s, char (*ids)[QID_MAX + 1], const int *res,
    char (*src)[POOL_NAME], size_t n)
{
	char (*v)[POOL_NAME];
	size_t k = 0;
	int r;

	if (s->c.syncfs)
		return syncfs(s->qfd);
	if ((v = calloc(2 * n + 1, sizeof *v)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (res[i] <= 0)
			continue;
		if ((res[i] & W_BNC) && snprintf(v[k++], POOL_NAME,
		    "tmp/bounce.%s", ids[i]) >= POOL_NAME)
			break;
		if (snprintf(v[k++], POOL_NAME, "tmp/%s", src[i]) >=
		    POOL_NAME)
			break;
	}
	/* a name cut short (never: IDs are 22 characters) fails the open */
	r = fs_sync_files(s->qfd, v, k, 0);
	free(v);
	return r;
}

/* pre_finish - publish a batch.  A batch with a bounce/ID: its data in
 * tmp/ made durable first (pre_sync), then every bounce/ID renamed and
 * bounce/ fsynced, so info/ID is never durable without the bounce/ID
 * renamed before it (with queue_sync syncfs, the file system's journal
 * commits the renames in order: ext4, xfs).  Without one (the common
 * case), nothing is synced here.  Then every info/ID is renamed.
 * todo/ID goes only after the next full barrier (send_sync), which
 * fdatasyncs each such info/ID and fsyncs info/, so it is never removed
 * before info/ID is durable; until then a crash finds todo/ID beside
 * info/ID and splits the message again (rec_info), whatever info/ID
 * holds. */
static void
pre_finish(struct send *s, char (*ids)[QID_MAX + 1], int *res,
    struct buf *img, char (*src)[POOL_NAME], size_t n)
{
	int bnc = 0;

	for (size_t i = 0; i < n; i++)
		if (res[i] > 0 && (res[i] & W_BNC))
			bnc = 1;
	/* without a bounce/ID, nothing is synced now: each info/ID is
	 * renamed unsynced and made durable (data and name) by the full
	 * barrier after which its todo/ID goes (send_sync); until then a
	 * crash finds todo/ID and splits again (rec_info).  A message that
	 * ends before that barrier never syncs its split at all. */
	if ((bnc || s->c.syncfs) && pre_sync(s, ids, res, src, n) == -1) {
		log_kv("warn", "op", s->c.syncfs ? "syncfs" : "fdatasync",
		    "err", strerror(errno), NULL);
		return;
	}
	bnc = 0;
	for (size_t i = 0; i < n; i++)
		if (res[i] > 0 && (res[i] & W_BNC)) {
			if (fs_publish(s->qfd, "bounce", ids[i]) == -1) {
				log_kv("warn", "id", ids[i], "op", "rename",
				    "err", strerror(errno), NULL);
				res[i] = -1;
			} else
				bnc = 1;
		}
	if (bnc && !s->c.syncfs && fs_sync_dir(s->qfd, "bounce") == -1) {
		/* no info/ID without its bounce/ID: split again later */
		log_kv("warn", "op", "fsync", "dir", "bounce", "err",
		    strerror(errno), NULL);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (res[i] > 0 && fs_publish_from(s->qfd, src[i], "info",
		    ids[i]) == -1) {
			log_kv("warn", "id", ids[i], "op", "rename", "err",
			    strerror(errno), NULL);
			res[i] = -1;
		}
	for (size_t i = 0; i < n; i++) {
		struct msg *m;

		if (res[i] < 0)
			continue;
		if (res[i] == 0) {	/* todo/ID without mess/ID */
			(void)fs_unlink(s->qfd, "todo", ids[i]);
			continue;
		}
		/* due at 0: new mail goes before the queue's backlog */
		if ((m = idx_add(&s->idx, ids[i], 0)) == NULL ||
		    todo_later(s, m) == -1) {
			/* at the next start: info/ID is there */
			log_kv("warn", "id", ids[i], "op", "index", NULL);
			continue;
		}
		m->flushseq = s->flushseq;
		/* the image just written: loaded without reading it again */
		s->hand[s->nhand].m = m;
		s->hand[s->nhand].bounce = (res[i] & W_BNC) != 0;
		s->hand[s->nhand++].img = img[i];
		buf_init(&img[i], INFO_FILE_MAX);
	}
}

/* pre_run - one batch of todo/; 1 if more may be waiting, 0, -1 */
int
pre_run(struct send *s)
{
	char ids[PRE_BATCH][QID_MAX + 1], src[PRE_BATCH][POOL_NAME];
	struct buf img[PRE_BATCH];
	int res[PRE_BATCH], fd;
	size_t n = 0;
	struct dirent *d;
	struct msg *m;
	DIR *dir;

	hand_clear(s);
	/* smtpd accepted these recipients by the tables it mapped then,
	 * perhaps a moment after a recompile that our once-a-second look
	 * has not seen yet: look now, so the split decides with tables at
	 * least as new as the RCPT verdicts (a stat per table per batch) */
	if (tblset_refresh(&s->t.set, TBLSET_NOW) > 0)
		log_kv("reload", "why", "changed", NULL);
	if ((fd = openat(s->qfd, "todo", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while (n < PRE_BATCH && (d = readdir(dir)) != NULL) {
		if (!send_idok(d->d_name))
			continue;
		if ((m = idx_get(&s->idx, d->d_name)) != NULL) {
			/* split already: todo/ID goes after the next syncfs,
			 * or, when info/ID was made before a crash or by the
			 * previous version, now */
			if (!m->todo && fs_exists(s->qfd, "info",
			    d->d_name) == 1)
				(void)fs_unlink(s->qfd, "todo", d->d_name);
			continue;
		}
		memcpy(ids[n], d->d_name, strlen(d->d_name) + 1);
		buf_init(&img[n], INFO_FILE_MAX);
		res[n] = pre_one(s, ids[n], &img[n], src[n]);
		n++;
	}
	closedir(dir);
	if (n > 0)
		pre_finish(s, ids, res, img, src, n);
	for (size_t i = 0; i < n; i++)
		buf_free(&img[i]);
	for (size_t i = 0; i < n; i++)
		if (res[i] >= 0)
			return n == PRE_BATCH;
	return 0;
}
