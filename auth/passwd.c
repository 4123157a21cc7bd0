/* sandmail-passwd: set (or with -x remove) one login's password in the
 * users table.  The password comes from the terminal (no echo, asked
 * twice) or from one line of standard input, never from the command line.
 * It is hashed with crypto_pwhash_str (argon2id; passwd_opslimit,
 * passwd_memlimit), the text table DIR/users is rewritten atomically
 * (temporary file, fsync, rename, fsync of the directory) and compiled to
 * DIR/users.cdb.  Run by an administrator; not sandboxed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "authc.h"
#include "authd.h"
#include "../cdb/compile.h"
#include "conf.h"
#include "exitcode.h"
#include "log.h"

#define PW_MAX		AUTH_FIELD_MAX
#define USERS_MAX	(64u * 1024 * 1024)

static void
usage(void)
{
	fprintf(stderr, "usage: sandmail-passwd [-c conf] [-d dir] [-x] "
	    "login\n");
	exit(EXIT_PERM);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* read_line: one line from fd into b (without CR LF); 0, or -1 */
static int
read_line(int fd, struct buf *b)
{
	char c;
	ssize_t r;

	b->len = 0;
	for (;;) {
		do
			r = read(fd, &c, 1);
		while (r == -1 && errno == EINTR);
		if (r == -1)
			return -1;
		if (r == 0 || c == '\n')
			break;
		if (buf_putc(b, c) == -1)
			return -1;
	}
	if (b->len > 0 && b->p[b->len - 1] == '\r')
		b->len--;
	return 0;
}

/* ask: prompt on the terminal with echo off */
static int
ask(int fd, const char *prompt, struct buf *b)
{
	struct termios t, quiet;
	int r;

	if (tcgetattr(fd, &t) == -1)
		return -1;
	quiet = t;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	/* echo off before the prompt: whatever is typed after it is hidden */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) == -1)
		return -1;
	if (write_all(2, prompt, strlen(prompt)) == -1) {
		(void)tcsetattr(fd, TCSAFLUSH, &t);
		return -1;
	}
	r = read_line(fd, b);
	(void)tcsetattr(fd, TCSANOW, &t);
	if (write_all(2, "\n", 1) == -1)
		return -1;
	return r;
}

/* get_password: from the terminal (twice) or one line of stdin */
static void
get_password(struct buf *pw)
{
	struct buf again = BUF_INIT(PW_MAX);

	if (isatty(0)) {
		if (ask(0, "New password: ", pw) == -1 ||
		    ask(0, "Again: ", &again) == -1)
			die_temp("read", "terminal");
		if (pw->len != again.len ||
		    sodium_memcmp(pw->p, again.p, pw->len) != 0) {
			fprintf(stderr, "sandmail-passwd: the passwords "
			    "differ\n");
			exit(EXIT_PERM);
		}
		if (again.p != NULL)
			sodium_memzero(again.p, again.cap);
		buf_free(&again);
	} else if (read_line(0, pw) == -1)
		die_temp("read", "stdin");
	if (pw->len == 0 || memchr(pw->p, '\0', pw->len) != NULL) {
		fprintf(stderr, "sandmail-passwd: an empty password or one "
		    "with a NUL is refused\n");
		exit(EXIT_PERM);
	}
}

/* slurp: the whole file (missing: empty); its mode and owner in st */
static int
slurp(const char *path, struct buf *b, struct stat *st)
{
	char tmp[8192];
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			return -1;
		st->st_mode = 0600;
		st->st_uid = (uid_t)-1;
		return 0;
	}
	if (fstat(fd, st) == -1)
		goto fail;
	while ((r = read(fd, tmp, sizeof tmp)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 || buf_put(b, tmp, (size_t)r) == -1)
			goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

/* replace: path's contents become b, atomically and durably */
static int
replace(const char *dir, const char *path, const struct buf *b,
    const struct stat *st)
{
	char tmp[PATH_MAX];
	int fd, dfd, n;

	n = snprintf(tmp, sizeof tmp, "%s/.users.tmp.%ld", dir,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp)
		return errno = ENAMETOOLONG, -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    st->st_mode & 07777);
	if (fd == -1)
		return -1;
	if ((st->st_uid != (uid_t)-1 && geteuid() == 0 &&
	    fchown(fd, st->st_uid, st->st_gid) == -1) ||
	    fchmod(fd, st->st_mode & 07777) == -1 ||
	    write_all(fd, b->p, b->len) == -1 || fsync(fd) == -1) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	n = fsync(dfd);
	close(dfd);
	return n;
}

static void
load_conf(struct conf *c, const char *cpath, const char *dir)
{
	char err[512];

	/* with -d the configuration is optional */
	if (cpath == NULL && dir != NULL &&
	    access(conf_default_path(), F_OK) == -1) {
		if (conf_parse_mem(c, "defaults", "", 0, err, sizeof err) == -1)
			die_msg(EXIT_TEMP, "config", err);
		return;
	}
	conf_load(c, cpath);
}

/* compile: DIR/users -> DIR/users.cdb, with sandmail-cdb's own code */
static int
compile(const char *dir)
{
	struct buf err = BUF_INIT(CDBC_ERR_MAX);
	int r;

	r = cdbc_compile(dir, "users", &err);
	if (r != 0 && err.len > 0)
		fprintf(stderr, "%.*s", (int)err.len, err.p);
	buf_free(&err);
	return r;
}

static void
hash_password(const struct conf *c, struct buf *pw, char *hash)
{
	struct pwparams pp;

	pw_params(c, &pp);
	if (crypto_pwhash_str(hash, pw->p, pw->len, pp.ops, pp.mem) != 0)
		die_msg(EXIT_TEMP, "crypto_pwhash_str", "out of memory");
	sodium_memzero(pw->p, pw->cap);
}

int
main(int argc, char *argv[])
{
	struct buf pw = BUF_INIT(PW_MAX), in = BUF_INIT(USERS_MAX),
	    out = BUF_INIT(USERS_MAX);
	char hash[crypto_pwhash_STRBYTES], path[PATH_MAX];
	const char *cpath = NULL, *dir = NULL, *login;
	char *tdir;
	struct conf c;
	struct stat st;
	int ch, del = 0, found, n;

	log_init("passwd");
	while ((ch = getopt(argc, argv, "c:d:x")) != -1) {
		switch (ch) {
		case 'c': cpath = optarg; break;
		case 'd': dir = optarg; break;
		case 'x': del = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	login = argv[optind];
	if (!users_login_ok(login, strlen(login))) {
		fprintf(stderr, "sandmail-passwd: %s: not a valid login\n",
		    login);
		exit(EXIT_PERM);	/* main's buffers stay reachable */
	}
	load_conf(&c, cpath, dir);
	tdir = dir ? strdup(dir) : conf_path(&c, "tables", ".");
	if (tdir == NULL)
		die_temp("strdup", NULL);
	n = snprintf(path, sizeof path, "%s/users", tdir);
	if (n < 0 || (size_t)n >= sizeof path)
		die_msg(EXIT_PERM, "path", "too long");
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	if (!del) {
		get_password(&pw);
		hash_password(&c, &pw, hash);
	}
	if (slurp(path, &in, &st) == -1)
		die_temp("read", path);
	if (users_update(in.p ? in.p : "", in.len, login, del ? NULL : hash,
	    &out, &found) == -1)
		die_temp("update", path);
	if (del && !found) {
		fprintf(stderr, "sandmail-passwd: %s: no such login\n", login);
		exit(EXIT_PERM);
	}
	if (replace(tdir, path, &out, &st) == -1)
		die_temp("write", path);
	log_kv(del ? "user_removed" : found ? "password_changed" :
	    "user_added", "login", login, "table", path, NULL);
	n = compile(tdir);
	buf_free(&in);
	buf_free(&out);
	buf_free(&pw);
	free(tdir);
	conf_free(&c);
	return n;
}
