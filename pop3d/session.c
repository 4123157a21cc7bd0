/* session: one POP3 connection, from the set-up to the end.
 *
 * The monitor (this process: root under tcpserver, the invoking uid, or
 * user_pop3d with CAP_SETUID and CAP_SETGID when forked by the listener)
 * opens the tables, makes the TLS context (or takes the listener's:
 * session_tls_given), connects to sandmail-auth, and forks the login
 * process, which drops to user_pop3d, sandboxes itself and talks to the
 * client.  The monitor never reads the client: it reads only the login
 * process's bounded LOGIN records (doc/protocols.md, "pop3d"), asks
 * sandmail-auth, and maps the login to a maildir.  After a good login it
 * becomes the mailbox process: drops to the mailbox owner, opens and
 * locks the maildir, takes the snapshot, installs a filter that allows
 * only the maildir's descriptors, and serves the TRANSACTION state over
 * the socket pair (the login process relays).
 *
 * The monitor is filtered too (monitor_sandbox) but, as root in a root
 * installation, keeps what becoming the owner needs: XXX a compromised
 * monitor could still open or unlink files as root.  What it reads is
 * bounded records from a sandboxed process of ours, never the client's
 * bytes. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "authc.h"
#include "exitcode.h"
#include "log.h"
#include "pop3d.h"
#include "llock.h"
#include "rec.h"
#include "sbx.h"
#include "tls.h"

enum { T_LOCALUSERS, T_VIRTUAL, T_DOMAINS, T_COUNT };
static const char *const tbl_names[T_COUNT] = {
	"localusers", "virtual", "domains",
};

/* monitor_root: the monitor was started as root, or by a listener that
 * kept CAP_SETUID and CAP_SETGID for it (lsbx.c): it keeps only those
 * (as user_pop3d) to become a mailbox owner */
static int monitor_root;

/* user_vmail, looked up before the monitor's filter (no NSS after it),
 * by the listener before its own confinement */
static int	vmail_ok, vmail_looked;
static uid_t	vmail_uid = (uid_t)-1;
static gid_t	vmail_gid = (gid_t)-1;

/* the listener's TLS context (listen.c), inherited: set, it is used
 * instead of reading the key again (the listener is no more root) */
static SSL_CTX	*given_ctx;
static int	 ctx_given;

/* pop3_vmail_lookup - user_vmail's ids, as root, once */
void
pop3_vmail_lookup(const struct pop3_cfg *cfg)
{
	if (vmail_looked || geteuid() != 0)
		return;
	vmail_looked = 1;
	vmail_ok = priv_lookup(cfg->vmail_user, &vmail_uid, &vmail_gid) == 0;
}

/* session_tls_given - the context session_run uses (NULL: no TLS) */
void
session_tls_given(SSL_CTX *ctx)
{
	given_ctx = ctx;
	ctx_given = 1;
}

static void
tables_open(struct tbl *t, const struct pop3_cfg *cfg)
{
	char path[4096];
	int i, n;

	for (i = 0; i < T_COUNT; i++) {
		n = snprintf(path, sizeof path, "%s/%s.cdb", cfg->tables_dir,
		    tbl_names[i]);
		if (n < 0 || (size_t)n >= sizeof path ||
		    tbl_open(&t[i], path) == -1)
			die_temp("open", path);
	}
}

static void
tables_close(struct tbl *t)
{
	for (int i = 0; i < T_COUNT; i++)
		tbl_close(&t[i]);
}

/* local_box: localusers "uid:gid:home" -> home/Maildir/ */
static int
local_box(struct tbl *t, const char *name, size_t n, struct box *b)
{
	struct buf v = BUF_INIT(4096);
	unsigned long long uid, gid;
	char *p, *q, *home;
	int r;

	if ((r = tbl_get(&t[T_LOCALUSERS], name, n, &v)) != 1 ||
	    buf_cstr(&v) == -1) {
		buf_free(&v);
		return r == 1 ? -1 : r;
	}
	r = -1;
	if ((p = strchr(v.p, ':')) == NULL ||
	    (q = strchr(p + 1, ':')) == NULL)
		goto out;
	*p++ = '\0';
	*q++ = '\0';
	home = q;
	if (parse_ull(v.p, &uid) == -1 || parse_ull(p, &gid) == -1 ||
	    uid > 0xfffffffeULL || gid > 0xfffffffeULL || home[0] != '/')
		goto out;
	b->uid = (uid_t)uid;
	b->gid = (gid_t)gid;
	if ((b->path = malloc(strlen(home) + sizeof "/Maildir/")) == NULL)
		goto out;
	memcpy(b->path, home, strlen(home) + 1);
	memcpy(b->path + strlen(home), "/Maildir/", sizeof "/Maildir/");
	r = 1;
out:
	buf_free(&v);
	return r;
}

/* virtual_box: the virtual table's exact entry for local@domain */
static int
virtual_box(struct tbl *t, const struct pop3_cfg *cfg, const char *local,
    const char *domain, struct box *b)
{
	struct buf v = BUF_INIT(4096);
	enum tbl_match how;
	int r;

	r = tbl_addr(&t[T_VIRTUAL], local, domain, "", &v, &how);
	if (r == 1 && (how != TBL_EXACT || buf_cstr(&v) == -1 ||
	    v.p[0] != '/'))
		r = 0;	/* a catch-all is not a mailbox one can log in to */
	if (r == 1) {
		b->path = v.p;
		v.p = NULL;
		if (monitor_root && !vmail_ok) {
			log_kv("error", "op", "getpwnam", "user",
			    cfg->vmail_user, NULL);
			r = -1;
		}
		b->uid = vmail_uid;
		b->gid = vmail_gid;
	}
	buf_free(&v);
	return r;
}

/* box_of: the maildir of a login: localusers by name; for user@domain,
 * localusers by the local part when domains says local, else the
 * virtual table.  1 found, 0 none, -1 error. */
static int
box_of(struct tbl *t, const struct pop3_cfg *cfg, const char *login,
    struct box *b)
{
	struct buf v = BUF_INIT(64);
	char local[256];
	const char *at;
	int r;

	memset(b, 0, sizeof *b);
	b->uid = (uid_t)-1;
	b->gid = (gid_t)-1;
	if ((r = local_box(t, login, strlen(login), b)) != 0)
		return r;
	if ((at = strrchr(login, '@')) == NULL || at == login ||
	    (size_t)(at - login) >= sizeof local || at[1] == '\0')
		return 0;
	memcpy(local, login, (size_t)(at - login));
	local[at - login] = '\0';
	r = tbl_domain(&t[T_DOMAINS], at + 1, &v);
	if (r == 1 && buf_eq(&v, "local"))
		r = local_box(t, local, strlen(local), b);
	else
		r = virtual_box(t, cfg, local, at + 1, b);
	buf_free(&v);
	return r;
}

static int
reply(int fd, uint8_t st, const char *text)
{
	struct buf b = BUF_INIT(ML_REC_MAX);
	int r;

	r = pk_begin(&b) == -1 || pk_u8(&b, st) == -1 ||
	    pk_cstr(&b, text) == -1 || pk_finish(&b, 0) == -1 ||
	    rec_send(fd, &b) == -1 ? -1 : 0;
	buf_free(&b);
	return r;
}

static void
say_raw(int fd, const char *s)
{
	size_t n = strlen(s);
	ssize_t w;

	while (n > 0 && ((w = write(fd, s, n)) > 0 || errno == EINTR))
		if (w > 0)
			s += w, n -= (size_t)w;
}

/* mailbox_confine: Landlock: by any path, only what lies beneath the
 * maildir, and only reading, removing and renaming (new/ -> cur/) */
static void
mailbox_confine(const struct mbox *mb)
{
	const struct ll_rule r = { mb->dir, LL_READ | LL_CREATE | LL_RENAME };
	int k;

	if ((k = ll_confine(&r, 1, NULL, 0)) == -1)
		die_temp("landlock", NULL);
	if (k == 1)
		ll_missing();
}

/* mailbox_sandbox: what the mailbox process may do under its filter:
 * only the descriptors of new/ and cur/ name files */
static void
mailbox_sandbox(const struct mbox *mb)
{
	const int ro = O_ACCMODE | O_CREAT | O_TRUNC;
	const unsigned nw = (unsigned)mb->new, cu = (unsigned)mb->cur;
	const struct sbx_rule rules[] = {
		/* read messages in new/ and cur/ */
		SBX_ALLOW2(openat, SCMP_A0_32(SCMP_CMP_EQ, nw),
		    SCMP_A2_32(SCMP_CMP_MASKED_EQ, ro, O_RDONLY)),
		SBX_ALLOW2(openat, SCMP_A0_32(SCMP_CMP_EQ, cu),
		    SCMP_A2_32(SCMP_CMP_MASKED_EQ, ro, O_RDONLY)),
		/* UPDATE: delete, and new/ -> cur/ */
		SBX_ALLOW1(unlinkat, SCMP_A0_32(SCMP_CMP_EQ, nw)),
		SBX_ALLOW1(unlinkat, SCMP_A0_32(SCMP_CMP_EQ, cu)),
		SBX_ALLOW2(renameat, SCMP_A0_32(SCMP_CMP_EQ, nw),
		    SCMP_A2_32(SCMP_CMP_EQ, cu)),
		SBX_ALLOW2(renameat2, SCMP_A0_32(SCMP_CMP_EQ, nw),
		    SCMP_A2_32(SCMP_CMP_EQ, cu)),
		/* finding a message another reader renamed in cur/ */
		SBX_ALLOW(getdents64),
		SBX_ALLOW(fsync),
		SBX_LAST
	};

	sbx_enter_or_die(rules);
}

/* mailbox: the rest of the session as the owner of b; never returns */
static void
mailbox(int fd, const struct pop3_cfg *cfg, const char *user,
    const struct box *b, const char *ip)
{
	struct mbox mb;
	struct rd *r;
	struct io_dl *dl;
	struct wr *w;
	char line[256];

	if (b->uid == 0 || b->gid == 0 || b->gid < cfg->gid_min) {
		log_kv("refuse", "user", user, "reason", b->uid == 0 ?
		    "uid 0" : b->gid == 0 ? "gid 0" : "gid below local_gid_min",
		    NULL);
		say_raw(fd, "-ERR [SYS/PERM] this mailbox is not served\r\n");
		_exit(EXIT_OK);
	}
	pop3_mailbox_become(b);
	if (mbox_open(&mb, b->path) == -1) {
		if (errno == EWOULDBLOCK) {
			log_kv("in_use", "user", user, "ip", ip, NULL);
			say_raw(fd, "-ERR [IN-USE] the mailbox is in use by "
			    "another POP3 session\r\n");
			_exit(EXIT_OK);
		}
		log_kv("error", "op", "open", "user", user, "maildir",
		    b->path, "err", strerror(errno), NULL);
		say_raw(fd, "-ERR [SYS/TEMP] cannot open the mailbox\r\n");
		_exit(EXIT_TEMP);
	}
	if (mbox_scan(&mb, cfg->max_msgs) == -1) {
		log_kv("error", "op", "scan", "user", user, "maildir",
		    b->path, "err", strerror(errno), NULL);
		say_raw(fd, "-ERR [SYS/TEMP] cannot read the mailbox\r\n");
		_exit(EXIT_TEMP);
	}
	pop3_mailbox_enter(&mb);
	if ((r = malloc(sizeof *r)) == NULL || (w = malloc(sizeof *w)) == NULL)
		die_temp("malloc", NULL);
	if ((dl = malloc(sizeof *dl)) == NULL)
		die_temp("malloc", NULL);
	rd_init(r, fd, io_read_dl, dl);
	*dl = (struct io_dl){ io_read_fd, &r->timeout_ms, &r->timeout_ms, -1 };
	wr_init(w, fd, NULL, NULL);
	r->timeout_ms = w->timeout_ms = cfg->timeout_ms;
	snprintf(line, sizeof line, "%zu", mb.n);
	log_kv("login", "user", user, "ip", ip, "maildir", b->path,
	    "messages", line, NULL);
	snprintf(line, sizeof line, "+OK Logged in, %zu messages (%llu "
	    "octets)\r\n", mb.n, (unsigned long long)mb.total);
	if (wr_puts(w, line) == -1)
		_exit(EXIT_OK);
	_exit(trans_run(&mb, r, dl, cfg->timeout_ms, w, user, ip));
}

/* check: one LOGIN record; returns when the login failed */
static void
check(int fd, struct authc *a, struct tbl *t, const struct pop3_cfg *cfg,
    struct buf *rec, const struct peerinfo *peer)
{
	char canon[AUTH_LOGIN_MAX + 1];
	const char *login, *pass, *mech;
	size_t ln, pn, mn;
	enum auth_status st;
	struct box b;
	struct cur c;
	uint8_t type;
	int r;

	cur_init(&c, rec->p, rec->len);
	if (cur_u8(&c, &type) == -1 || type != ML_LOGIN ||
	    cur_str(&c, &mech, &mn) == -1 || cur_str(&c, &login, &ln) == -1 ||
	    cur_str(&c, &pass, &pn) == -1 || cur_end(&c) != 0)
		die_msg(EXIT_TEMP, "protocol", "bad record from login process");
	st = auth_check(a, "pop3", login, ln, pass, pn, peer->ip, canon,
	    sizeof canon);
	sodium_memzero((char *)pass, pn);
	if (st == AUTH_BAD || st == AUTH_DISCONNECT) {
		/* as smtpd logs a refused AUTH (no login: it may be a
		 * password typed in the wrong field) */
		log_kv("refuse", "ip", peer->ip, "stage", "AUTH", "reason",
		    st == AUTH_BAD ? "auth failed" : "auth failures", NULL);
		if (reply(fd, st == AUTH_BAD ? ML_BAD : ML_DISCONNECT, "") == -1
		    || st == AUTH_DISCONNECT)
			_exit(EXIT_OK);
		return;
	}
	if (st != AUTH_OK) {
		if (reply(fd, ML_TEMP, "") == -1)
			_exit(EXIT_OK);
		return;
	}
	if ((r = box_of(t, cfg, canon, &b)) != 1) {
		log_kv(r == 0 ? "no_mailbox" : "error", "user", canon,
		    "ip", peer->ip, NULL);
		if (reply(fd, ML_TEMP, "") == -1)
			_exit(EXIT_OK);
		return;
	}
	if (reply(fd, ML_OK, "") == -1)
		_exit(EXIT_OK);
	auth_close(a);
	tables_close(t);
	mailbox(fd, cfg, canon, &b, peer->ip);
}

/* monitor: wait for the login process's LOGIN records */
static void
monitor(int fd, struct authc *a, struct tbl *t, const struct pop3_cfg *cfg,
    const struct peerinfo *peer)
{
	struct buf rec = BUF_INIT(ML_REC_MAX);
	struct rd *r;
	int k;

	if ((r = malloc(sizeof *r)) == NULL)
		die_temp("malloc", NULL);
	rd_init(r, fd, NULL, NULL);
	for (;;) {
		if ((k = rec_read(r, &rec, ML_REC_MAX)) != 1)
			_exit(k == 0 ? EXIT_OK : EXIT_TEMP);
		check(fd, a, t, cfg, &rec, peer);
		sodium_memzero(rec.p, rec.cap);
	}
}

static SSL_CTX *
tls_ctx(const struct pop3_cfg *cfg)
{
	char err[512];
	SSL_CTX *ctx;

	if (cfg->cert == NULL) {
		if (cfg->implicit_tls)
			die_msg(EXIT_TEMP, "tls", "implicit TLS without "
			    "tls_cert");
		return NULL;
	}
	if ((ctx = tls_server_ctx(cfg->cert, cfg->key, err, sizeof err)) ==
	    NULL) {
		/* without TLS, STLS is not offered and logins stay off */
		log_kv("error", "op", "tls", "err", err, NULL);
		if (cfg->implicit_tls)
			die_msg(EXIT_TEMP, "tls", err);
	}
	return ctx;
}

/* pop3_mailbox_become - the mailbox owner, for good */
void
pop3_mailbox_become(const struct box *b)
{
	if (monitor_root) {
		if (priv_become(b->uid, b->gid) == -1)
			die_temp("priv_become", NULL);
	} else
		priv_drop_or_die((uid_t)-1, b->gid);
}

/* pop3_mailbox_enter - Landlock on the maildir, then its filter */
void
pop3_mailbox_enter(const struct mbox *mb)
{
	mailbox_confine(mb);
	mailbox_sandbox(mb);
}

/*
 * pop3_monitor_enter: as root, become user_pop3d keeping only CAP_SETUID
 * and CAP_SETGID (so the monitor opens and removes files with no more
 * rights than that user), then the monitor's filter, installed once the
 * login process is forked.  Filters stack, so it must allow what the
 * mailbox process does under its own, narrower filter later
 * (mailbox_sandbox); what it takes away is everything else: exec,
 * sockets, signals to others, ptrace, chmod/chown, links, mounts, any
 * uid or gid 0 (setresuid and setresgid above 0 only, no setuid).
 */
void
pop3_monitor_enter(const struct pop3_cfg *cfg)
{
	static const struct sbx_rule rules[] = {
		/* becoming the mailbox owner (priv_become, verified) */
		SBX_ALLOW1(setgroups, SCMP_A0(SCMP_CMP_EQ, 0)),
		SBX_ALLOW(capset),
		SBX_ALLOW(capget),
		SBX_ALLOW(getresuid),
		SBX_ALLOW(getresgid),
		SBX_ALLOW(getuid),
		SBX_ALLOW(geteuid),
		SBX_ALLOW(getgid),
		SBX_ALLOW(getegid),
		/* opening, locking and listing the maildir */
		SBX_ALLOW(openat),
		SBX_ALLOW(flock),
		SBX_ALLOW(getdents64),
		SBX_ALLOW1(fcntl, SCMP_A1(SCMP_CMP_EQ, F_DUPFD_CLOEXEC)),
		/* the mailbox process's own filter on top of this one */
		SBX_ALLOW1(prctl, SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS)),
		SBX_ALLOW(seccomp),
		/* the UPDATE state, narrowed to new/ and cur/ by that filter */
		SBX_ALLOW(unlinkat),
		SBX_ALLOW(renameat),
		SBX_ALLOW(renameat2),
		SBX_ALLOW(fsync),
		/* Landlock for the mailbox process */
		SBX_ALLOW(landlock_create_ruleset),
		SBX_ALLOW(landlock_add_rule),
		SBX_ALLOW(landlock_restrict_self),
		/* ids above 0 only: not even with CAP_SETUID can root
		 * come back */
		{ SCMP_SYS(setresuid), 3, { SCMP_A0(SCMP_CMP_GE, 1),
		    SCMP_A1(SCMP_CMP_GE, 1), SCMP_A2(SCMP_CMP_GE, 1) } },
		/* groups from the floor up (local_gid_min): set below */
		{ SCMP_SYS(setresgid), 3, { SCMP_A0(SCMP_CMP_GE, 1),
		    SCMP_A1(SCMP_CMP_GE, 1), SCMP_A2(SCMP_CMP_GE, 1) } },
		SBX_LAST
	};
	struct sbx_rule r[sizeof rules / sizeof rules[0]];
	scmp_datum_t floor = pop3_gid_floor(cfg);

	monitor_root = geteuid() == 0 || priv_cap_held(CAP_SETUID);
	if (geteuid() == 0 && priv_setid_only(cfg->uid, cfg->gid) == -1)
		die_temp("priv_setid_only", NULL);
	if (geteuid() != 0 && monitor_root && priv_caps_keep(1ull <<
	    CAP_SETUID | 1ull << CAP_SETGID) == -1)
		die_temp("priv_caps_keep", NULL);
	memcpy(r, rules, sizeof rules);
	for (size_t i = 0; r[i].nr != SBX_END; i++)
		if (r[i].nr == SCMP_SYS(setresgid))
			for (unsigned a = 0; a < 3; a++)
				r[i].args[a].datum_a = floor;
	sbx_enter_or_die(r);
}

/* login_child: the login process's set-up; never returns */
static void
login_child(const struct pop3_cfg *cfg, int in, int out, int mon,
    SSL_CTX *ctx, const struct peerinfo *peer)
{
	struct login_env e = { cfg, peer, ctx, in, out, mon };

	priv_drop_or_die(cfg->uid, cfg->gid);
	/* forked by a listener that kept CAP_SETUID: none of it here */
	if (!priv_caps_none() && priv_caps_keep(0) == -1)
		die_temp("priv_caps_keep", NULL);
	priv_nodump();		/* the TLS key, the client's password */
	{
		static const struct sbx_rule rules[] = {
			TLS_SBX_RULES
			SBX_LAST
		};
		sbx_enter_or_die(rules);
	}
	_exit(login_run(&e));
}

/* session_run - the connection on infd/outfd (see pop3d.h) */
void
session_run(const struct pop3_cfg *cfg, int infd, int outfd,
    const struct peerinfo *peer)
{
	struct tbl t[T_COUNT];
	struct authc a;
	SSL_CTX *ctx;
	int sv[2];
	pid_t pid;

	signal(SIGPIPE, SIG_IGN);
	/* the monitor holds passwords in flight and the TLS key: no core,
	 * and the mailbox process's uid change keeps it undumpable */
	priv_nodump();
	log_kv("connect", "ip", peer->ip, "port", peer->port, NULL);
	tables_open(t, cfg);
	ctx = ctx_given ? given_ctx : tls_ctx(cfg);
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	tzset();
	if (auth_connect(&a, cfg->auth_sock) == -1) {
		log_kv("error", "op", "auth_connect", "path", cfg->auth_sock,
		    "err", strerror(errno), NULL);
		a.fd = -1;
	}
	a.timeout_ms = cfg->timeout_ms;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		die_temp("socketpair", NULL);
	if ((pid = fork()) == -1)
		die_temp("fork", NULL);
	if (pid == 0) {
		close(sv[0]);
		if (a.fd != -1)
			close(a.fd);
		tables_close(t);
		login_child(cfg, infd, outfd, sv[1], ctx, peer);
	}
	close(sv[1]);
	close(infd);
	if (outfd != infd)
		close(outfd);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	pop3_vmail_lookup(cfg);
	pop3_monitor_enter(cfg);
	monitor(sv[0], &a, t, cfg, peer);
	_exit(EXIT_OK);
}
