/* sandmail-lspawn: local deliveries.  Reads LJOB datagrams from send on
 * fd 0 (a SOCK_SEQPACKET socket), has a child per job (or a reused
 * worker) become the recipient's uid and gid and deliver (in place into
 * a maildir, or by exec'ing sandmail-local), and answers one LRES per job.
 *
 *   sandmail-lspawn [-c sandmail.conf]
 *
 * Started as root, it opens sandmail-local once (O_PATH), then forks its
 * forker (lfork.c), which clones every delivery child for it, and
 * becomes user_lspawn with CAP_KILL and CAP_DAC_READ_SEARCH only;
 * sandboxed, it can neither fork, exec, change uid nor create, link,
 * rename or remove a file.  Run as a plain user it delivers only as that
 * user.  EOF on fd 0 or SIGTERM: finish the deliveries under way, exit
 * 0. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "lfork.h"
#include "lspawn.h"
#include "sbx.h"

/* fds_std - 1 and 2 must be open, so no pipe lands on them */
static void
fds_std(void)
{
	for (int fd = 1; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 &&
		    open("/dev/null", O_RDWR) != fd)
			die_temp("open", "/dev/null");
}

/* ids - a user's uid and gid (before the sandbox); not root: our own */
static void
ids(const struct conf *conf, const char *key, const char *def, uint32_t *u,
    uint32_t *g)
{
	uid_t uu;
	gid_t gg;

	if (geteuid() != 0) {
		*u = getuid(), *g = getgid();
		return;
	}
	if (priv_lookup(conf_str(conf, key, def), &uu, &gg) == -1)
		die_msg(EXIT_TEMP, "user", conf_str(conf, key, def));
	*u = uu, *g = gg;
}

/* tabs_load - local_lookup: our own tables for the recipient decision
 * (send's uid, gid and path are not trusted), mapped before the sandbox;
 * routes is left out (it holds smart host passwords) */
static void
tabs_load(struct lspawn_cfg *c, const struct conf *conf)
{
	static const char *const names[LT_ROUTES] = {
		[LT_DOMAINS] = "domains", [LT_ALIASES] = "aliases",
		[LT_VIRTUAL] = "virtual", [LT_LOCALUSERS] = "localusers",
		[LT_MOVED] = "moved",
	};
	static struct lspawn_tabs lt;
	char *dir;

	if (!conf_bool(conf, "local_lookup", 1))
		return;
	dir = conf_path(conf, "tables", ".");
	if (tblset_open(&lt.set, lt.t, dir, names, LT_ROUTES) == -1)
		die_temp("open", "tables");
	free(dir);
	memset(&lt.t[LT_ROUTES], 0, sizeof lt.t[LT_ROUTES]);
	lt.t[LT_ROUTES].fd = -1;
	lt.rt = (struct rcpt_tabs){ &lt.t[LT_DOMAINS], &lt.t[LT_ALIASES],
	    &lt.t[LT_VIRTUAL], &lt.t[LT_LOCALUSERS], &lt.t[LT_MOVED],
	    &lt.t[LT_ROUTES], c->host,
	    conf_str(conf, "recipient_delimiter", "-+") };
	ids(conf, "user_vmail", "vmail", &lt.vuid, &lt.vgid);
	ids(conf, "user_alias", "nobody", &lt.auid, &lt.agid);
	c->tabs = &lt;
}

static void
sock_check(int fd)
{
	int type = 0;
	socklen_t n = sizeof type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n) == -1 ||
	    type != SOCK_SEQPACKET)
		die_msg(EXIT_TEMP, "fd 0", "not a SOCK_SEQPACKET socket");
}

int
main(int argc, char *argv[])
{
	struct lspawn_cfg cfg;
	struct conf conf;
	const char *cpath = NULL;
	int c;

	log_init("lspawn");
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			die_msg(EXIT_TEMP, "usage", "sandmail-lspawn [-c conf]");
		cpath = optarg;
	}
	fds_std();
	sock_check(0);
	conf_load(&conf, cpath);
	lspawn_cfg_load(&cfg, &conf);
	tabs_load(&cfg, &conf);
	/* SIGTERM: no more jobs, finish those running, then exit 0; children
	 * restore the default mask and actions */
	lspawn_signals();
	tzset();
	/* the forker first: it must not inherit lspawn's filter */
	cfg.forker = lfork_start(&cfg);
	if (lspawn_sandbox(&cfg) == -1)
		die_temp("sandbox", NULL);
	/* _exit: nothing to flush, and no exit-time sanitizer work under the
	 * filter */
	_exit(lspawn_run(&cfg, 0));
}
