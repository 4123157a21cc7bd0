/* lspawn_cfg: sandmail-lspawn's settings, read before its sandbox (and
 * by the attacker probe, which sets lspawn up exactly so). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "lspawn.h"
#include "sbx.h"

/* bindir - the configured directory, or the one lspawn itself is in */
static char *
bindir(const struct conf *conf)
{
	char self[PATH_MAX], *p, *slash;
	ssize_t n;

	if ((p = conf_path(conf, "bindir", NULL)) != NULL)
		return p;
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		die_temp("readlink", "/proc/self/exe");
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	if ((p = strdup(self)) == NULL)
		die_temp("malloc", NULL);
	return p;
}

static int
prog_open(const char *dir)
{
	struct buf p = BUF_INIT(PATH_MAX);
	struct stat st;
	int fd;

	if (buf_fmt(&p, "%s/sandmail-local", dir) == -1 || buf_cstr(&p) == -1)
		die_temp("path", dir);
	if ((fd = open(p.p, O_PATH | O_CLOEXEC)) == -1)
		die_temp("open", p.p);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 0111) == 0)
		die_msg(EXIT_TEMP, "open", "sandmail-local is not an "
		    "executable file");
	buf_free(&p);
	return fd;
}

static const char *
hostname(const struct conf *conf)
{
	static struct utsname u;
	const char *h = conf_str(conf, "hostname", NULL);

	if (h != NULL)
		return h;
	if (uname(&u) == -1)
		die_temp("uname", NULL);
	return u.nodename;
}

/* tables_dir - the tables directory, for lspawn's Landlock rule (its
 * tables may be mapped again, read-only); -1 if it cannot be opened */
static int
tables_dir(const struct conf *conf)
{
	char *dir = conf_path(conf, "tables", ".");
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	free(dir);
	return fd;
}

/* svc_add - allow the uid of a service user send delivers as (virtual
 * mailboxes, /path aliases) though it lies outside local_uid_min..max;
 * one that does not exist is allowed nothing, root never */
static void
svc_add(struct lspawn_cfg *c, const struct conf *conf, const char *key,
    const char *def)
{
	const char *name = conf_str(conf, key, def);
	uid_t u;
	gid_t g;

	if (priv_lookup(name, &u, &g) == -1) {
		log_kv("warning", "op", "user", "key", key, "user", name,
		    "reason", "no such user: no delivery as it", NULL);
		return;
	}
	if (u != 0 && c->nsvc < sizeof c->svc_uid / sizeof c->svc_uid[0])
		c->svc_uid[c->nsvc++] = (uint32_t)u;
}

/* lspawn_cfg_load - the settings, sandmail-local opened, user_lspawn */
void
lspawn_cfg_load(struct lspawn_cfg *c, const struct conf *conf)
{
	char *dir = bindir(conf);

	memset(c, 0, sizeof *c);
	c->progfd = prog_open(dir);
	free(dir);
	c->host = hostname(conf);
	c->uid_min = (uint32_t)conf_num(conf, "local_uid_min", 1000, 1,
	    UINT32_MAX - 1);
	c->uid_max = (uint32_t)conf_num(conf, "local_uid_max", 60000, 1,
	    UINT32_MAX - 1);
	if (c->uid_max < c->uid_min)	/* conf_load has said where */
		die_msg(EXIT_TEMP, "config",
		    "local_uid_max below local_uid_min");
	c->programs = conf_bool(conf, "local_allow_programs", 0);
	c->exec = conf_bool(conf, "lspawn_exec", 0);
	c->timeout = conf_secs(conf, "local_timeout", 3600);
	if (c->timeout == 0 || c->timeout > 7 * 86400)
		die_msg(EXIT_TEMP, "config", "local_timeout: out of range");
	c->children = conf_num(conf, "lspawn_children", 100, 1,
	    LSPAWN_CHILDREN_MAX);
	c->idle = conf_secs(conf, "lspawn_idle", 30);
	if (c->idle == 0 || c->idle > 86400)
		die_msg(EXIT_TEMP, "config", "lspawn_idle: out of range");
	c->max_use = (unsigned long)conf_num(conf, "lspawn_max_use", 200, 1,
	    1000000);
	c->gid_min = (uint32_t)conf_num(conf, "local_gid_min", 100, 1,
	    UINT32_MAX - 1);
	c->root = geteuid() == 0;
	c->uid_floor = c->uid_min;
	if (c->root) {
		svc_add(c, conf, "user_vmail", "vmail");
		svc_add(c, conf, "user_alias", "nobody");
		for (size_t i = 0; i < c->nsvc; i++)
			if (c->svc_uid[i] < c->uid_floor)
				c->uid_floor = c->svc_uid[i];
	}
	c->self_uid = getuid();
	c->self_gid = getgid();
	c->forker = -1;
	c->tables_fd = tables_dir(conf);
	if (c->root && priv_lookup(conf_str(conf, "user_lspawn", "nobody"),
	    &c->fuid, &c->fgid) == -1)
		die_msg(EXIT_TEMP, "user", conf_str(conf, "user_lspawn",
		    "nobody"));
}

