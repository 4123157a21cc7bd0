/* tools_common: what sandmail-mailq, sandmail-flush and sandmail-rm share:
 * the queue directory from sandmail.conf, and reading one message's
 * recipient files.  Run by an administrator; no sandbox (short-lived,
 * reads only the queue directory, trusts it as its owner). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "tools_common.h"

/* tools_open - parse -c, load the conf, open the queue directory;
 * returns the index of the first operand */
int
tools_open(int argc, char *argv[], struct tools *t)
{
	const char *cpath = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			return -1;
		cpath = optarg;
	}
	tools_conf(t, cpath);
	return optind;
}

/* tools_conf - load the conf at cpath (NULL: the default), open the queue
 * directory */
void
tools_conf(struct tools *t, const char *cpath)
{
	static struct conf cf;		/* lives as long as the program */
	static char *q;

	memset(&cf, 0, sizeof cf);
	conf_load(&cf, cpath);
	q = conf_path(&cf, "queue", "/var/spool/sandmail");
	if ((t->qfd = open(q, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die_temp("open", q);
	t->hostname = conf_str(&cf, "hostname", "");
}

/* tools_rcpts - the recipients of a message: in info/ID, or (split by
 * the first version) in local/ID and remote/ID; 0 or -1 */
int
tools_rcpts(int qfd, const char *id, struct rcpt **v, size_t *n)
{
	static const char *dirs[2] = { "local", "remote" };
	static const uint8_t kinds[2] = { RC_LOCAL, RC_REMOTE };
	struct buf b = BUF_INIT(INFO_FILE_MAX);
	struct env e;
	int r, inner;

	*v = NULL, *n = 0;
	if (fs_read(qfd, "info", id, &b) == -1) {
		buf_free(&b);
		return -1;
	}
	r = info_decode(b.p, b.len, &e, v, n, &inner);
	if (r == 0)
		env_free(&e);
	for (int i = 0; i < 2 && r == 0 && !inner; i++) {
		if (fs_read(qfd, dirs[i], id, &b) == -1) {
			if (errno != ENOENT)
				r = -1;
			continue;
		}
		r = rc_decode(b.p, b.len, kinds[i], v, n);
	}
	buf_free(&b);
	return r;
}
