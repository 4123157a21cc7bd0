/* sandmail-probe: a test program (never installed) that plays the
 * attacker.  It sets itself up exactly as one of sandmail's processes
 * does, by calling that program's own sandbox entry (the uid drop,
 * chroot, Landlock and seccomp of the real code, linked from its
 * folder), and then tries what an attacker with code execution in that
 * process would.  tests/integration/test_contain.py asserts that each
 * attempt fails.
 *
 *   sandmail-probe [options] ROLE ATTACK...
 *
 * Each ATTACK runs in a fresh child that enters ROLE first, so a call
 * the filter kills (SIGSYS) ends only that attempt.  One line per
 * attack on stdout:
 *
 *   ATTACK blocked ERRNO-NAME     the call failed
 *   ATTACK blocked SIGSYS         the filter killed the process
 *   ATTACK SUCCEEDED              the call worked: the sandbox leaks
 *   ATTACK error WHY              the set-up (or the test) went wrong
 *
 * Roles (-c conf is read as the program reads it):
 *   queue     sandmail-queue: queue_sandbox() (queue/qsbx.c)
 *   send      sandmail-send: send_sandbox() (send/send_sbx.c)
 *   lspawn    sandmail-lspawn: lfork_start(), lspawn_sandbox()
 *   lfork     lspawn's forker: lfork_enter() (local/lfork.c)
 *   worker    a maildir worker: the forker's filter, lfork_become() to
 *             -u/-g (as root), lwork_enter() on the maildir -d
 *   resolve   sandmail-resolve: resolve_sandbox() (resolve/rsbx.c)
 *   smtpd     an smtpd session: gen_child() on the listener's page
 *             (smtpd/gen.c), session_sandbox() (smtpd/sandbox.c)
 *   rspawn    sandmail-rspawn: rspawn_sandbox() (remote/rspawn_sbx.c)
 *   remote-worker  one of its workers: rspawn_sandbox(), worker_sandbox()
 *   sts       sandmail-sts: sts_sandbox() (sts/sbx.c) on mta_sts_cache
 *   pop3-monitor  a pop3d connection's monitor: pop3_monitor_enter()
 *   pop3-mailbox  the same after a login: pop3_mailbox_become() to
 *             -u/-g, the maildir -d opened, pop3_mailbox_enter()
 *   smtpd-listener  the smtpd listener once set up: listener_sandbox()
 *             (smtpd/lsbx.c), as root when installed
 *   pop3-listener  the pop3d listener once set up:
 *             pop3_listener_sandbox() (pop3d/lsbx.c)
 *   auth      sandmail-auth -s: the users table mapped, its socket,
 *             authd_sandbox() (auth/auth_sbx.c)
 *   auth-worker   one of its argon2 workers: authd_worker_enter()
 *   auth-opener   its table opener: authd_opener_enter() on the users
 *             table (the one process that may open it again)
 *   srs       sandmail-srs: its socket, srs_sandbox() (srs/srs_sbx.c)
 *
 * Options: -s FILE (a root-only secret), -o DIR (a directory outside,
 * writable by anyone, with a file "victim"), -r DIR (a root-owned 0755
 * directory with a file "keep"), -m DIR (another user's maildir), -a IP:PORT (a TCP and
 * UDP address to reach), -x UID (another uid to become), -u UID -g GID
 * -d DIR (the worker's recipient and maildir), -D DIR (the ptrace
 * victim's maildir, when the role locks its own), -U PATH (a UNIX
 * socket nobody of the role's uid may reach), -k PID (another user's
 * process, to signal).
 *
 * Attacks: read-secret read-out create-abs create-dirfd-abs create-dotdot
 * create-root unlink-root mkdir-out rename-out link-out unlink-out connect udp
 * setuid-root setuid-other ptrace maildir genpage clone-ns exec
 * read-users (open the users table: only the opener's job)
 * connect-unix (-U) signal-root (signal 0 to pid 1, root's init)
 * signal-other (signal 0 to -k)
 * setgid-system (setresgid to group 42, Debian's shadow: below
 * local_gid_min) setgroups-system (supplementary group 42). */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "sbx.h"
/* the programs' own sandbox entries */
#include "../auth/authd.h"
#include "../local/lfork.h"
#include "../local/lspawn.h"
#include "../local/lwork.h"
#include "../local/maildir.h"
#include "../pop3d/pop3d.h"
#include "../queue/qsbx.h"
#include "../remote/rspawn.h"
#include "../resolve/rsbx.h"
#include "../send/send_sbx.h"
#include "../srs/srsd.h"
#include "../sts/sts.h"
#include "probe.h"

struct opts {
	const char	*conf, *secret, *out, *rootdir, *maildir, *addr;
	const char	*dest, *vdest;	/* -d, and -D for the victim */
	const char	*usock;		/* -U */
	pid_t		 kpid;		/* -k */
	uid_t		 other, uid;
	gid_t		 gid;
};

static struct opts O = { .other = 4242, .uid = (uid_t)-1,
    .gid = (gid_t)-1 };
static int dirfd_role = AT_FDCWD;	/* the role's own directory */
static pid_t victim = -1;
static const volatile unsigned *probe_gen;	/* smtpd's generation page */
static char users_path[4096];	/* TABLES/users.cdb */

static void
out(const char *a, const char *what, const char *detail)
{
	char b[512];
	int n = snprintf(b, sizeof b, "%s %s%s%s\n", a, what,
	    detail ? " " : "", detail ? detail : "");

	if (n > 0)
		(void)!write(1, b, (size_t)n < sizeof b ? (size_t)n :
		    sizeof b - 1);
}

/* ---- roles ---- */

static void
role_queue(const struct conf *c)
{
	char *dir = conf_path(c, "queue", "/var/spool/sandmail");

	if ((dirfd_role = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1
	    || fchdir(dirfd_role) == -1)
		die_temp("open", dir);
	(void)queue_sandbox(c, dirfd_role, -1, 0);
}

static void
role_send(const struct conf *c)
{
	char *dir = conf_path(c, "queue", "queue");
	char *tables = conf_path(c, "tables", ".");
	const char *user = conf_str(c, "user_send", "sandmails");
	uid_t u = (uid_t)-1;
	gid_t g = (gid_t)-1;

	if ((dirfd_role = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die_temp("open", dir);
	if (geteuid() == 0 && priv_lookup(user, &u, &g) == -1)
		die_temp("user", user);
	(void)send_sandbox(dirfd_role, tables, u, g, 0);
}

static void
role_lspawn(const struct conf *c)
{
	struct lspawn_cfg cfg;

	lspawn_cfg_load(&cfg, c);
	cfg.forker = lfork_start(&cfg);
	if (lspawn_sandbox(&cfg) == -1)
		die_temp("sandbox", NULL);
}

static void
role_lfork(const struct conf *c)
{
	struct lspawn_cfg cfg;

	lspawn_cfg_load(&cfg, c);
	if (lfork_enter(&cfg) == -1)
		die_temp("forker", "sandbox");
}

static void
role_worker(const struct conf *c)
{
	struct lspawn_cfg cfg;
	struct maildir m;
	struct stat st;
	const char *why;

	if (O.dest == NULL)
		die_msg(EXIT_TEMP, "usage", "worker: -d maildir");
	lspawn_cfg_load(&cfg, c);
	if (lfork_enter(&cfg) == -1)
		die_temp("forker", "sandbox");
	if (cfg.root && lfork_become(O.uid, O.gid) == -1)
		die_temp("become", NULL);
	umask(077);
	if ((why = lwork_enter(&m, O.dest, &st)) != NULL)
		die_temp(why, O.dest);
	dirfd_role = m.tmp;
}

static void
role_resolve(const struct conf *c)
{
	static struct rcfg rc;

	resolve_config(&rc, c);
	(void)resolve_sandbox(c, &rc);
}

static void
role_smtpd(const struct conf *c)
{
	probe_smtpd(c, &probe_gen);
}

/* the pop3 roles read their own settings as sandmail-pop3d does */
static void
role_pop3_monitor(const struct conf *c)
{
	static struct pop3_cfg pc;
	static struct conf pcf;

	(void)c;
	cfg_load(&pc, &pcf, O.conf);
	pop3_monitor_enter(&pc);
}

static void
role_pop3_mailbox(const struct conf *c)
{
	static struct pop3_cfg pc;
	static struct conf pcf;
	struct box b;
	static struct mbox mb;

	(void)c;
	if (O.dest == NULL)
		die_msg(EXIT_TEMP, "usage", "pop3-mailbox: -d maildir");
	cfg_load(&pc, &pcf, O.conf);
	pop3_monitor_enter(&pc);
	b.path = (char *)O.dest;
	b.uid = geteuid() == 0 || pc.uid != (uid_t)-1 ? O.uid : (uid_t)-1;
	b.gid = O.gid;
	pop3_mailbox_become(&b);
	if (mbox_open(&mb, b.path) == -1 || mbox_scan(&mb, 1000) == -1)
		die_temp("mbox", b.path);
	pop3_mailbox_enter(&mb);
	dirfd_role = mb.cur;
}

/* the pop3d listener once set up: pop3_listener_sandbox (pop3d/lsbx.c) */
static void
role_pop3_listener(const struct conf *c)
{
	static struct pop3_cfg pc;
	static struct conf pcf;

	(void)c;
	cfg_load(&pc, &pcf, O.conf);
	if (pop3_listener_sandbox(&pc) == -1)
		die_temp("listener sandbox", NULL);
}

/* the auth roles: the table as sandmail-auth names it, its user */
static char *
auth_users(const struct conf *c, uid_t *uid, gid_t *gid)
{
	const char *u = conf_str(c, "user_auth", "sandmaila");

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() == 0 && priv_lookup(u, uid, gid) == -1)
		die_temp("user", u);
	return users_path;
}

static void
role_auth(const struct conf *c)
{
	static struct tbl users;
	const char *path;
	uid_t u;
	gid_t g;
	int sv[2];

	path = auth_users(c, &u, &g);
	if (tbl_open(&users, path) == -1)
		die_temp("open", path);
	/* a socket stands in for the listening one: accept4 is allowed on
	 * its number only */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		die_temp("socketpair", NULL);
	authd_sandbox(u, g, sv[0], 1);
}

static void
role_auth_worker(const struct conf *c)
{
	uid_t u;
	gid_t g;

	(void)auth_users(c, &u, &g);
	authd_worker_enter(u, g);
}

static void
role_auth_opener(const struct conf *c)
{
	uid_t u;
	gid_t g;
	const char *path = auth_users(c, &u, &g);

	(void)authd_opener_enter(path, u, g);
}

static void
role_rspawn(const struct conf *c)
{
	rspawn_sandbox(c);
}

/* a worker: forked by rspawn under its filter, then its own */
static void
role_remote_worker(const struct conf *c)
{
	rspawn_sandbox(c);
	worker_sandbox();
}

/* sandmail-sts: its cache directory, its sandbox (sts/sbx.c) */
static void
role_sts(const struct conf *c)
{
	static struct sts_cfg sc;
	char *dir = conf_path(c, "mta_sts_cache", "/var/lib/sandmail/sts");

	if ((dirfd_role = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die_temp("open", dir);
	sc.cachefd = dirfd_role;
	sc.port = (unsigned)conf_num(c, "mta_sts_port", 443, 1, 65535);
	sts_sandbox(c, &sc);
}

/* sandmail-srs: a socket stands in for its listening one (accept4 is
 * allowed on that number only), its sandbox (srs/srs_sbx.c) */
static void
role_srs(const struct conf *c)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		die_temp("socketpair", NULL);
	srs_sandbox(c, sv[0], getppid());
}

static const struct role {
	const char	*name;
	void		(*enter)(const struct conf *);
} roles[] = {
	{ "queue", role_queue },
	{ "send", role_send },
	{ "lspawn", role_lspawn },
	{ "lfork", role_lfork },
	{ "worker", role_worker },
	{ "resolve", role_resolve },
	{ "smtpd", role_smtpd },
	{ "smtpd-listener", probe_smtpd_listener },
	{ "rspawn", role_rspawn },
	{ "remote-worker", role_remote_worker },
	{ "sts", role_sts },
	{ "pop3-monitor", role_pop3_monitor },
	{ "pop3-mailbox", role_pop3_mailbox },
	{ "pop3-listener", role_pop3_listener },
	{ "auth", role_auth },
	{ "auth-worker", role_auth_worker },
	{ "auth-opener", role_auth_opener },
	{ "srs", role_srs },
	{ NULL, NULL },
};

/* ---- attacks: each returns the call's result (>= 0: it worked) ---- */

static char pathbuf[4096];

static const char *
under(const char *dir, const char *name)
{
	if (dir == NULL)
		return NULL;
	snprintf(pathbuf, sizeof pathbuf, "%s/%s", dir, name);
	return pathbuf;
}

/* dotdot - the same path, reached from the role's directory by ".." */
static const char *
dotdot(const char *dir, const char *name)
{
	static char b[4096];
	size_t n = 0;

	if (dir == NULL)
		return NULL;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(b + n, sizeof b - n, "../");
	snprintf(b + n, sizeof b - n, "%s/%s", dir[0] == '/' ? dir + 1 : dir,
	    name);
	return b;
}

static int
sockaddr_of(struct sockaddr_in *sa)
{
	char host[64];
	const char *colon;

	if (O.addr == NULL || (colon = strrchr(O.addr, ':')) == NULL ||
	    (size_t)(colon - O.addr) >= sizeof host)
		return -1;
	memcpy(host, O.addr, (size_t)(colon - O.addr));
	host[colon - O.addr] = '\0';
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

#define NEED(x)	do { if ((x) == NULL) return errno = EINVAL, -2; } while (0)

static long
attack(const char *a)
{
	/* the flags a maildir delivery creates its file with: the ones
	 * the filters of lspawn's forker and workers let through */
	const int cr = MAILDIR_OFLAGS;
	struct sockaddr_in sa;
	char c;
	int fd;

	if (strcmp(a, "read-secret") == 0) {
		NEED(O.secret);
		if ((fd = open(O.secret, O_RDONLY | O_CLOEXEC)) == -1)
			return -1;
		return read(fd, &c, 1);
	}
	if (strcmp(a, "read-out") == 0) {
		/* a world-readable file outside, by ".." from our directory */
		NEED(O.out);
		if ((fd = openat(dirfd_role, dotdot(O.out, "victim"), O_RDONLY |
		    O_CLOEXEC)) == -1)
			return -1;
		return read(fd, &c, 1);
	}
	if (strcmp(a, "create-abs") == 0) {
		NEED(O.out);
		return openat(AT_FDCWD, under(O.out, "probe-abs"), cr, 0600);
	}
	if (strcmp(a, "create-dirfd-abs") == 0) {
		NEED(O.out);
		return openat(dirfd_role, under(O.out, "probe-dabs"), cr, 0600);
	}
	if (strcmp(a, "create-dotdot") == 0) {
		NEED(O.out);
		return openat(dirfd_role, dotdot(O.out, "probe-dd"), cr, 0600);
	}
	if (strcmp(a, "create-root") == 0) {
		NEED(O.rootdir);
		return openat(AT_FDCWD, under(O.rootdir, "probe-root"), cr,
		    0600);
	}
	if (strcmp(a, "unlink-root") == 0) {
		NEED(O.rootdir);
		return unlinkat(AT_FDCWD, under(O.rootdir, "keep"), 0);
	}
	if (strcmp(a, "mkdir-out") == 0) {
		NEED(O.out);
		return mkdirat(dirfd_role, dotdot(O.out, "probe-dir"), 0700);
	}
	if (strcmp(a, "rename-out") == 0) {
		static char from[4096];

		NEED(O.out);
		snprintf(from, sizeof from, "%s", dotdot(O.out, "victim"));
		return renameat(dirfd_role, from, dirfd_role,
		    dotdot(O.out, "victim.renamed"));
	}
	if (strcmp(a, "link-out") == 0) {
		static char from[4096];

		NEED(O.out);
		snprintf(from, sizeof from, "%s", dotdot(O.out, "victim"));
		return linkat(dirfd_role, from, dirfd_role,
		    dotdot(O.out, "victim.link"), 0);
	}
	if (strcmp(a, "unlink-out") == 0) {
		NEED(O.out);
		return unlinkat(dirfd_role, dotdot(O.out, "victim"), 0);
	}
	if (strcmp(a, "connect") == 0) {
		if (sockaddr_of(&sa) == -1)
			return errno = EINVAL, -2;
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		return connect(fd, (struct sockaddr *)&sa, sizeof sa);
	}
	/* a TCP socket's options: rspawn's workers may set TCP_NODELAY and
	 * nothing else (rspawn.h); "sockopt-nodelay" is the allowed one */
	if (strncmp(a, "sockopt-", 8) == 0) {
		int one = 1, level = IPPROTO_TCP, opt;

		if (strcmp(a + 8, "nodelay") == 0)
			opt = TCP_NODELAY;
		else if (strcmp(a + 8, "cork") == 0)
			opt = TCP_CORK;		/* same level, another option */
		else if (strcmp(a + 8, "mark") == 0)
			level = SOL_SOCKET, opt = SO_MARK;	/* routing */
		else
			return errno = EINVAL, -2;
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		return setsockopt(fd, level, opt, &one, sizeof one);
	}
	if (strcmp(a, "udp") == 0) {
		if (sockaddr_of(&sa) == -1)
			return errno = EINVAL, -2;
		if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		return sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof sa);
	}
	if (strcmp(a, "setuid-root") == 0) {
		/* from a non-root process this is the test of the drop; a
		 * root one (lspawn) must not reach the call at all */
		if (setresuid(0, 0, 0) == -1)
			return -1;
		return geteuid() == 0 && getuid() == 0 ? 0 : -1;
	}
	if (strcmp(a, "setuid-other") == 0)
		return setresuid(O.other, O.other, O.other);
	if (strcmp(a, "setgid-system") == 0)
		return setresgid(42, 42, 42);
	if (strcmp(a, "setgroups-system") == 0) {
		gid_t g = 42;

		return setgroups(1, &g);
	}
	if (strcmp(a, "ptrace") == 0) {
		if (victim <= 0)
			return errno = ESRCH, -2;
		return ptrace(PTRACE_ATTACH, victim, NULL, NULL);
	}
	if (strcmp(a, "maildir") == 0) {
		NEED(O.maildir);
		return openat(AT_FDCWD, under(O.maildir, "new/probe"), cr, 0600);
	}
	if (strcmp(a, "genpage") == 0) {
		void *pg;

		if (probe_gen == NULL)
			return errno = EINVAL, -2;
		pg = (void *)((uintptr_t)probe_gen & ~(uintptr_t)4095);
		if (mprotect(pg, 4096, PROT_READ | PROT_WRITE) == -1)
			return -1;
		*(volatile unsigned *)probe_gen = 0xdead;
		return 0;
	}
	if (strcmp(a, "clone-ns") == 0) {
		/* a new user and network namespace: root inside it */
		long pid = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNET |
		    SIGCHLD, 0, NULL, NULL, 0);

		if (pid == 0)
			_exit(0);
		return pid;
	}
	if (strcmp(a, "read-users") == 0) {
		if ((fd = open(users_path, O_RDONLY | O_CLOEXEC)) == -1)
			return -1;
		return read(fd, &c, 1);
	}
	if (strcmp(a, "connect-unix") == 0) {
		struct sockaddr_un su = { .sun_family = AF_UNIX };

		NEED(O.usock);
		if (strlen(O.usock) >= sizeof su.sun_path)
			return errno = EINVAL, -2;
		memcpy(su.sun_path, O.usock, strlen(O.usock) + 1);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		return connect(fd, (struct sockaddr *)&su, sizeof su);
	}
	if (strcmp(a, "signal-root") == 0)
		return kill(1, 0);
	if (strcmp(a, "signal-other") == 0) {
		if (O.kpid <= 0)
			return errno = EINVAL, -2;
		return kill(O.kpid, 0);
	}
	if (strcmp(a, "exec") == 0) {
		char *argv[] = { "true", NULL }, *envp[] = { NULL };

		return execve("/bin/true", argv, envp);
	}
	return errno = ENOSYS, -2;
}

/* ---- driver ---- */

static const struct role *
role_find(const char *name)
{
	for (const struct role *r = roles; r->name != NULL; r++)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

/* enter - the role, as the program sets itself up */
static void
enter(const struct role *r)
{
	struct conf c;
	char *dir;

	memset(&c, 0, sizeof c);
	conf_load(&c, O.conf);
	dir = conf_path(&c, "tables", ".");
	snprintf(users_path, sizeof users_path, "%s/users.cdb", dir);
	free(dir);
	r->enter(&c);
}

/* start_victim - a process in the same role (same uid and filter) for
 * the ptrace attack; it waits for its end */
static void
start_victim(const struct role *r)
{
	struct timespec t = { 3600, 0 };
	int p[2];
	char c;

	if (pipe(p) == -1 || (victim = fork()) == -1)
		die_temp("victim", NULL);
	if (victim == 0) {
		close(p[0]);
		/* a maildir of its own: a pop3 mailbox is locked */
		if (O.vdest != NULL)
			O.dest = O.vdest;
		enter(r);
		(void)!write(p[1], "r", 1);
		for (;;)
			nanosleep(&t, NULL);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		waitpid(victim, NULL, 0);
		victim = -1;
	}
	close(p[0]);
}

static void
run_one(const struct role *r, const char *a)
{
	int p[2], st;
	char b[256];
	ssize_t n;
	pid_t pid;

	if (pipe(p) == -1 || (pid = fork()) == -1)
		die_temp("fork", NULL);
	if (pid == 0) {
		long v;

		close(p[0]);
		if (dup2(p[1], 1) == -1)
			_exit(3);
		enter(r);
		errno = 0;
		v = attack(a);
		if (v >= 0)
			out(a, "SUCCEEDED", NULL);
		else if (v == -2)
			out(a, "error", strerror(errno));
		else
			out(a, "blocked", strerrorname_np(errno));
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], b, sizeof b - 1);
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (n > 0) {
		(void)!write(1, b, (size_t)n);
		return;
	}
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		out(a, "blocked", "SIGSYS");
	else if (WIFSIGNALED(st))
		out(a, "error", strsignal(WTERMSIG(st)));
	else
		out(a, "error", WEXITSTATUS(st) == EXIT_TEMP ?
		    "set-up failed (exit 111)" : "exited without a word");
}

static uid_t
num(const char *s)
{
	return (uid_t)strtoul(s, NULL, 10);
}

int
main(int argc, char *argv[])
{
	const struct role *r;
	int ch, ptr = 0;

	log_init("probe");
	/* -S: is this a sanitizer build?  Its base filter allows what the
	 * runtime needs (openat, ptrace, clone...): the tests then expect
	 * less of the roles that rely on seccomp alone */
	if (argc == 2 && strcmp(argv[1], "-S") == 0) {
#if defined(__SANITIZE_ADDRESS__)
		out("sanitize", "yes", NULL);
#else
		out("sanitize", "no", NULL);
#endif
		return 0;
	}
	while ((ch = getopt(argc, argv, "c:s:o:r:m:a:x:u:g:d:D:U:k:")) != -1) {
		switch (ch) {
		case 'c': O.conf = optarg; break;
		case 's': O.secret = optarg; break;
		case 'o': O.out = optarg; break;
		case 'r': O.rootdir = optarg; break;
		case 'm': O.maildir = optarg; break;
		case 'a': O.addr = optarg; break;
		case 'x': O.other = num(optarg); break;
		case 'u': O.uid = num(optarg); break;
		case 'g': O.gid = (gid_t)num(optarg); break;
		case 'd': O.dest = optarg; break;
		case 'D': O.vdest = optarg; break;
		case 'U': O.usock = optarg; break;
		case 'k': O.kpid = (pid_t)num(optarg); break;
		default:
			die_msg(EXIT_PERM, "usage", "sandmail-probe [options] "
			    "ROLE ATTACK...");
		}
	}
	if (optind >= argc || (r = role_find(argv[optind])) == NULL)
		die_msg(EXIT_PERM, "usage", "unknown role");
	for (int i = optind + 1; i < argc; i++)
		ptr |= strcmp(argv[i], "ptrace") == 0;
	signal(SIGPIPE, SIG_IGN);
	if (ptr)
		start_victim(r);
	for (int i = optind + 1; i < argc; i++)
		run_one(r, argv[i]);
	if (victim > 0) {
		kill(victim, SIGKILL);
		waitpid(victim, NULL, 0);
	}
	return 0;
}
