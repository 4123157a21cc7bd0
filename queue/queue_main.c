/* sandmail-queue: the only writer into the queue.
 *
 *   sandmail-queue [-c conf]      one client on fd 0/1 (a socket pair), as
 *                                 qmail-queue; may be installed setuid to
 *                                 the queue user
 *   sandmail-queue -s [-c conf]   the service on QUEUE/lock/queue.sock
 *   sandmail-queue -i [-c conf]   create the queue layout (idempotent)
 *   sandmail-queue -d ID|FILE     print an envelope (todo/ID) for admins
 *
 * Set-uid (and set-gid) to the queue user, it trusts nothing of its
 * caller: not the environment, not -c (the compiled-in configuration is
 * read), only the plain mode runs.  Except for root: a caller whose real
 * uid is 0 could run anything anyway, so the set-uid binary takes back
 * root's ids and runs every mode as if it were not set-uid (the
 * supervisor starts `sandmail-queue -s` as root; setup runs -i again).
 * Order: open the queue directory (and the socket) -> tzset/sodium_init ->
 * queue_sandbox (qsbx.c: user_queue, Landlock, seccomp) -> the first
 * client byte. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "env.h"
#include "exitcode.h"
#include "fsprobe.h"
#include "log.h"
#include "qinit.h"
#include "qsbx.h"
#include "qserver.h"
#include "qwrite.h"
#include "sbx.h"
#include "seal.h"

/* LeakSanitizer reads /proc at exit, which Landlock keeps out of reach */
SBX_NO_LEAK_CHECK

#ifndef SANDMAIL_CONF_DEFAULT
#define SANDMAIL_CONF_DEFAULT "/etc/sandmail/sandmail.conf"
#endif
#define QUEUE_DEFAULT	"/var/spool/sandmail"
#define SOCK_NAME	"lock/queue.sock"
#define DUMP_MAX	(64u * 1024 * 1024)

struct opts {
	int		 service, init, setuid_mode;
	const char	*conf, *dump;
};

static void
usage(void)
{
	die_msg(EXIT_PERM, "usage",
	    "sandmail-queue [-s | -i | -d ID] [-c conf]");
}

static void
parse_opts(struct opts *o, int argc, char *argv[])
{
	int c;

	memset(o, 0, sizeof *o);
	while ((c = getopt(argc, argv, "c:sid:")) != -1) {
		switch (c) {
		case 'c': o->conf = optarg; break;
		case 's': o->service = 1; break;
		case 'i': o->init = 1; break;
		case 'd': o->dump = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || o->service + o->init + (o->dump != NULL) > 1)
		usage();
}

/* fds_sane - 0, 1 and 2 open, so no file we open becomes "stderr" */
static void
fds_sane(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) == -1 &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(EXIT_TEMP);
}

/* unsetuid - run by root: take back root's ids (allowed: the real uid
 * is 0), so the set-uid bit changes nothing for root; 0 or -1 */
static int
unsetuid(void)
{
	if (getuid() != 0)
		return -1;
	if (setresuid(0, 0, 0) == -1 || setresgid(0, 0, 0) == -1)
		die_temp("setresuid", "root");
	if (geteuid() != 0 || getegid() != 0)
		die_msg(EXIT_TEMP, "setresuid", "root: ids not taken back");
	return 0;
}

/* untrust - set-uid: forget the caller's environment and options */
static void
untrust(struct opts *o)
{
	if (o->service || o->init || o->dump != NULL)
		die_msg(EXIT_PERM, "setuid", "only the plain mode runs "
		    "set-uid");
	if (o->conf != NULL)
		log_kv("warning", "op", "setuid", "reason",
		    "-c ignored when set-uid", NULL);
	o->conf = SANDMAIL_CONF_DEFAULT;
	if (clearenv() != 0)
		die_temp("clearenv", NULL);
}

static void
lookup(const struct conf *c, const char *key, const char *def, uid_t *u,
    gid_t *g)
{
	const char *name = conf_str(c, key, def);

	if (priv_lookup(name, u, g) == -1)
		die_temp("user", name);
}

static int
open_queue(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die_temp("open", dir);
	if (fchdir(fd) == -1)
		die_temp("chdir", dir);
	return fd;
}

/* stale - whether a socket left by a dead service is in the way */
static void
clear_stale(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		die_temp("socket", NULL);
	if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0)
		die_msg(EXIT_TEMP, "listen", "another sandmail-queue -s "
		    "serves " SOCK_NAME);
	close(fd);
	if (unlink(SOCK_NAME) == -1 && errno != ENOENT)
		die_temp("unlink", SOCK_NAME);
}

/* listen_sock - lock/queue.sock, 0660, group of user_smtpd as root */
static int
listen_sock(const struct conf *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uid_t u, du;
	gid_t g, dg;
	mode_t old;
	int fd;

	memcpy(sa.sun_path, SOCK_NAME, sizeof SOCK_NAME);
	clear_stale(&sa);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		die_temp("socket", NULL);
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		die_temp("bind", SOCK_NAME);
	umask(old);
	if (geteuid() == 0) {
		lookup(c, "user_queue", "sandmailq", &u, &g);
		if (priv_lookup(conf_str(c, "user_smtpd", "sandmaild"), &du,
		    &dg) == -1)
			dg = g;
		if (chown(SOCK_NAME, u, dg) == -1)
			die_temp("chown", SOCK_NAME);
	}
	if (chmod(SOCK_NAME, 0660) == -1 || listen(fd, 256) == -1)
		die_temp("listen", SOCK_NAME);
	return fd;
}

static enum qw_sync
sync_mode(const struct conf *c)
{
	const char *s = conf_str(c, "queue_sync", "fsync");

	if (strcmp(s, "fsync") == 0)
		return QW_SYNC_FILE;
	if (strcmp(s, "syncfs") == 0)
		return QW_SYNC_FS;
	die_msg(EXIT_TEMP, "config", "queue_sync: expected fsync or syncfs");
}

static void
settings(struct qsrv *q, const struct conf *c)
{
	unsigned long long t;

	q->max_size = conf_size(c, "max_message_size", 35ull * 1024 * 1024);
	q->max_rcpt = conf_num(c, "max_recipients", 100, 1, ENV_RCPT_MAX);
	q->max_clients = conf_num(c, "queue_max_clients", 1000, 1, 100000);
	t = conf_secs(c, "queue_timeout", 600);
	if (t < 1 || t > 86400)
		die_msg(EXIT_TEMP, "config", "queue_timeout: 1s to 1d");
	q->idle_ms = (int)t * 1000;
	q->sync = sync_mode(c);
}

static int
do_init(const struct conf *c, const char *dir)
{
	struct qinit_ids ids = { 0 };
	const char *what;

	if (geteuid() == 0) {
		ids.chown = 1;
		lookup(c, "user_queue", "sandmailq", &ids.quid, &ids.qgid);
		lookup(c, "user_send", "sandmails", &ids.suid, &ids.sgid);
	}
	if (qinit(dir, &ids, &what) == -1)
		die_temp("init", what);
	log_kv("init", "queue", dir, NULL);
	return EXIT_OK;
}

static void
put_field(const char *k, const char *v)
{
	printf("%s: %s\n", k, v);
}

/* do_dump - an envelope as "key: value" lines */
static int
do_dump(const char *arg)
{
	char path[PATH_MAX];
	static char b[DUMP_MAX];
	struct seal sl;
	struct env e;
	ssize_t n;
	int fd, k;

	k = strchr(arg, '/') ? snprintf(path, sizeof path, "%s", arg) :
	    snprintf(path, sizeof path, "todo/%s", arg);
	if (k < 0 || (size_t)k >= sizeof path)
		die_msg(EXIT_PERM, "dump", "path too long");
	if (strchr(arg, '/') == NULL && !qw_idok(arg))
		die_msg(EXIT_PERM, "dump", "not a queue ID");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		die_temp("open", path);
	n = read(fd, b, sizeof b);
	close(fd);
	if (n < 0)
		die_temp("read", path);
	if (seal_env(&e, b, (size_t)n, &sl) == -1)
		die_msg(EXIT_PERM, "dump", "malformed envelope");
	put_field("sender", e.sender);
	put_field("envid", e.envid);
	put_field("auth", e.auth);
	put_field("client", e.client);
	put_field("helo", e.helo);
	put_field("proto", e.proto);
	printf("arrival: %llu\nsize: %llu\nflags: %u\nret: %u\nnrcpt: %zu\n",
	    (unsigned long long)e.arrival, (unsigned long long)e.size,
	    (unsigned)e.flags, (unsigned)e.ret, e.nrcpt);
	for (size_t i = 0; i < e.nrcpt; i++)
		printf("rcpt: %s notify=%u orcpt=%s\n", e.rcpt[i].addr,
		    (unsigned)e.rcpt[i].notify, e.rcpt[i].orcpt);
	env_free(&e);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_TEMP;
}

static int
serve(const struct conf *c, const struct opts *o, const char *dir)
{
	struct qw_pool pool;
	struct qsrv q;
	uint8_t boot[SEAL_BOOT];
	char peer[32];
	uid_t uid;
	int dirfd, lfd = -1, reuse;

	dirfd = open_queue(dir);
	if (o->service) {
		lfd = listen_sock(c);
		/* runit's and s6's reload signal: nothing to reload (each
		 * commit reads what it needs); by default it would kill the
		 * service and close its socket until the supervisor starts
		 * it again */
		signal(SIGHUP, SIG_IGN);
	}
	signal(SIGPIPE, SIG_IGN);
	tzset();
	if (sodium_init() < 0)
		die_temp("sodium_init", NULL);
	snprintf(peer, sizeof peer, "uid:%u", (unsigned)getuid());
	if (boot_id(boot) == -1)	/* zeros: send checks every seal */
		log_kv("warning", "op", "boot_id", "err", strerror(errno), NULL);
	qw_set_boot(boot);
	qsrv_init(&q, dirfd, lfd);
	settings(&q, c);
	/* set-uid: the caller's real uid, before the drop makes it ours */
	q.local = o->setuid_mode;
	q.invoker = getuid();
	/* auto asks the file system (fsprobe.h): before the sandbox */
	reuse = o->service && fs_queue_reuse(c, dirfd);
	uid = queue_sandbox(c, dirfd, lfd, o->setuid_mode);
	/* the service writes retired files again (qwrite.h); the files it
	 * accepts are its own uid's, taken after the drop */
	if (reuse && qw_pool_init(&pool, (unsigned)uid) == 0)
		q.pool = &pool;
	if (o->service && q.sync == QW_SYNC_FILE && qw_keep_dirs(dirfd) == -1)
		log_kv("warning", "op", "open mess/ and todo/", "err",
		    strerror(errno), NULL);
	if (o->service)
		log_kv("start", "queue", dir, "socket", SOCK_NAME, "reuse",
		    q.pool != NULL ? "yes" : "no", NULL);
	else if (qsrv_add(&q, 0, 1, peer) == -1)
		die_temp("client", NULL);
	if (qsrv_run(&q) == -1)
		die_temp("poll", NULL);
	qsrv_free(&q);
	if (q.pool != NULL)
		qw_pool_free(q.pool);
	close(dirfd);
	return EXIT_OK;
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct conf c;
	char *dir;
	int r;

	fds_sane();
	log_init("queue");
	parse_opts(&o, argc, argv);
	o.setuid_mode = getuid() != geteuid() || getgid() != getegid();
	if (o.setuid_mode && unsetuid() == 0)
		o.setuid_mode = 0;
	if (o.setuid_mode)
		untrust(&o);
	conf_load(&c, o.conf);
	dir = conf_path(&c, "queue", QUEUE_DEFAULT);
	if (o.init)
		r = do_init(&c, dir);
	else if (o.dump != NULL) {
		close(open_queue(dir));
		r = do_dump(o.dump);
	} else
		r = serve(&c, &o, dir);
	free(dir);
	conf_free(&c);
	return r;
}
