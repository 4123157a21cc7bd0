/* sandmail-auth: the one authentication service.  With -s, a long-lived
 * service on the socket auth_socket (default QUEUE/lock/auth.sock, 0660,
 * group of user_smtpd as root: only the smtpd and pop3d listeners and
 * their connection processes, which run as that user, root, or the
 * single user of a development run may connect), started by the supervisor like the queue
 * service; without, one client on fd 0 (requests) and fd 1 (answers).
 * Alone opens the users table; runs as user_auth (sandmaila) when started
 * as root; the argon2id checks run in auth_workers processes forked
 * before the sandbox (serve.c).  Sandboxed before reading a byte; not
 * dumpable.  Trusts nothing its clients send. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "authc.h"
#include "authd.h"
#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "sbx.h"
#include "usock.h"

static void
usage(void)
{
	die_msg(EXIT_TEMP, "usage", "sandmail-auth [-c conf] [-s]");
}

static void
open_users(struct authd *d, const struct conf *c)
{
	char *dir = conf_path(c, "tables", ".");
	char path[4096];
	int n;

	n = snprintf(path, sizeof path, "%s/users.cdb", dir);
	if (n < 0 || (size_t)n >= sizeof path)
		die_msg(EXIT_TEMP, "config", "tables: path too long");
	if (tbl_open(&d->users, path) == -1)
		die_temp("open", path);
	free(dir);
}

static void
user(const struct conf *c, uid_t *uid, gid_t *gid)
{
	const char *u = conf_str(c, "user_auth", "sandmaila");

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() == 0 && priv_lookup(u, uid, gid) == -1)
		die_temp("getpwnam", u);
}

/* who connects: the listeners, user_smtpd's group, or user_pop3d's
 * where there is no user_smtpd (a pop3d only site) */
static const char *const listeners[] = { "user_smtpd", "user_pop3d", NULL };

/* listen_sock - the service's socket, 0660 and of the listeners' group
 * as root (they connect as that user, no more root); one already served
 * is an error, a stale one is replaced */
static int
listen_sock(const char *path, const struct conf *c)
{
	const char *op;
	int fd;

	if ((fd = usock_connect(path, 0)) >= 0)
		die_msg(EXIT_TEMP, "listen", "another sandmail-auth -s "
		    "serves the socket");
	if (errno == ENAMETOOLONG)
		die_msg(EXIT_TEMP, "auth_socket", "path too long");
	if ((fd = usock_listen(path, geteuid() == 0 ?
	    usock_clients_gid(c, listeners) :
	    (gid_t)-1, &op)) == -1)
		die_temp(op, path);
	return fd;
}

/* fd_room - as many descriptors as the hard limit allows: a client is
 * one (auth_max_clients is cut to fit) */
static void
fd_room(struct authd *d)
{
	d->max_clients = usock_fd_room(d->max_clients, AUTHD_WORKERS_MAX + 16);
}

int
main(int argc, char *argv[])
{
	struct authd d;
	struct pwparams pp;
	struct conf c;
	const char *cpath = NULL;
	char *path = NULL;
	unsigned nw;
	int ch, service = 0, lfd = -1;
	uid_t uid;
	gid_t gid;

	log_init("auth");
	while ((ch = getopt(argc, argv, "c:s")) != -1) {
		if (ch == 'c')
			cpath = optarg;
		else if (ch == 's')
			service = 1;
		else
			usage();
	}
	if (optind != argc)
		usage();
	memset(&d, 0, sizeof d);
	d.ofd = -1;
	conf_load(&c, cpath);
	open_users(&d, &c);
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	authd_settings(&d, &c);
	pw_params(&c, &pp);
	if (pw_dummy(&pp, d.dummy, sizeof d.dummy) == -1)
		die_msg(EXIT_TEMP, "dummy hash", "too long");
	/* default: half the CPUs (at least one), so that a flood of checks
	 * leaves the other half to the sessions */
	nw = (unsigned)sysconf(_SC_NPROCESSORS_ONLN) / 2;
	nw = (unsigned)conf_num(&c, "auth_workers", nw > 0 ? nw : 1, 1,
	    AUTHD_WORKERS_MAX);
	user(&c, &uid, &gid);
	signal(SIGPIPE, SIG_IGN);
	/* the supervisor's reload signal: users.cdb is opened again when it
	 * is replaced (serve.c), the rest is read at start; by default
	 * SIGHUP would kill the service */
	if (service)
		signal(SIGHUP, SIG_IGN);
	tzset();
	if (service) {
		if ((path = auth_sock_path(&c)) == NULL)
			die_temp("malloc", NULL);
		lfd = listen_sock(path, &c);
		fd_room(&d);
		if (authd_pool(&d, nw, uid, gid) == -1)
			die_temp("fork", "argon2 workers");
		if (authd_opener(&d, d.users.path, uid, gid) == -1)
			die_temp("fork", "table opener");
	}
	conf_free(&c);
	authd_sandbox(uid, gid, lfd, service);
	if (service) {
		struct logln l;

		log_start(&l, "start");
		log_s(&l, "socket", path);
		log_u(&l, "workers", d.nworkers);
		log_done(&l);
		free(path);
	}
	/* _exit: nothing to flush, and the sanitizers' leak check at exit
	 * cannot run inside the sandbox (it hangs there) */
	_exit(service ? authd_serve(&d, lfd) : authd_run(&d, 0, 1));
}
