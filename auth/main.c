/* sandmail-auth: checks passwords for one smtpd or pop3d session, on fd 0
 * (requests) and fd 1 (answers), started by that session through
 * auth_spawn().  Alone opens the users table; runs as user_auth
 * (sandmaila) when started as root; sandboxed before reading a byte.
 * Trusts nothing its client sends. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "authd.h"
#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "sbx.h"

/* Beyond sbx_base (read, write, poll, memory, nanosleep, getrandom):
 * nothing.  argon2 takes its memory with mmap/munmap, in the base. */
static const struct sbx_rule auth_rules[] = {
	SBX_LAST
};

static void
usage(void)
{
	die_msg(EXIT_TEMP, "usage", "sandmail-auth [-c conf]");
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
drop(const struct conf *c)
{
	const char *user;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return;
	user = conf_str(c, "user_auth", "sandmaila");
	if (priv_lookup(user, &uid, &gid) == -1)
		die_temp("getpwnam", user);
	priv_drop_or_die(uid, gid);
}

int
main(int argc, char *argv[])
{
	struct authd d;
	struct pwparams pp;
	struct conf c;
	const char *cpath = NULL;
	int ch;

	log_init("auth");
	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch == 'c')
			cpath = optarg;
		else
			usage();
	}
	if (optind != argc)
		usage();
	memset(&d, 0, sizeof d);
	conf_load(&c, cpath);
	open_users(&d, &c);
	d.delay_ms = auth_delay_ms(&c);
	d.max_fail = (unsigned long)conf_num(&c, "auth_max_failures", 3, 1,
	    1000);
	d.timeout_ms = (int)conf_secs(&c, "auth_idle_timeout", 3600) * 1000;
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	pw_params(&c, &pp);
	if (pw_dummy(&pp, d.dummy, sizeof d.dummy) == -1)
		die_msg(EXIT_TEMP, "dummy hash", "too long");
	signal(SIGPIPE, SIG_IGN);
	tzset();
	drop(&c);
	conf_free(&c);
	sbx_enter_or_die(auth_rules);
	/* _exit: nothing to flush, and the sanitizers' leak check at exit
	 * cannot run inside the sandbox (it hangs there) */
	_exit(authd_run(&d, 0, 1));
}
