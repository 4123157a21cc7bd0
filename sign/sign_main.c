/* sandmail-sign: the DKIM signing service (uid sandmailk).  Reads the key
 * table TABLES/dkim and the private keys it names, then, sandboxed with
 * no files and no network, writes a greeting that lists its keys and
 * answers each request on fd 0 (a stream socket to send, made by
 * sandmail-start) with one signature.  A request holds a domain, a
 * selector, an algorithm and a 32-byte hash: never message text.  EOF on
 * fd 0 ends it.  See doc/sandmail-sign.8 and doc/protocols.md. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "buf.h"
#include "conf.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "rec.h"
#include "sbx.h"
#include "sign.h"

SBX_NO_LEAK_CHECK

/* beyond the base (read, write, memory, time, getrandom): OpenSSL's
 * locks, which glibc's rwlocks may make wait or wake */
static const struct sbx_rule sign_rules[] = {
	SBX_ALLOW(futex),
	SBX_LAST
};

/* load_key - a PEM private key file; a key others may read is refused */
static EVP_PKEY *
load_key(const char *path, const char **why)
{
	struct stat st;
	EVP_PKEY *k;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return *why = strerror(errno), NULL;
	if (fstat(fileno(f), &st) == -1 || (st.st_mode & 0007) != 0) {
		fclose(f);
		return *why = "key file readable by others (want 0640)", NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL)
		*why = "not a PEM private key";
	return k;
}

/* table - TABLES/dkim; no table is no keys (nothing is signed) */
static void
table(struct sign_keys *ks, const char *dir)
{
	struct buf path = BUF_INIT(4096), t = BUF_INIT(1 << 20);
	const char *why = NULL;
	size_t line;
	ssize_t r;
	int fd;

	if (buf_fmt(&path, "%s/dkim", dir) == -1 || buf_cstr(&path) == -1)
		die_msg(EXIT_TEMP, "tables", "path too long");
	if ((fd = open(path.p, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			die_temp("open", path.p);
		ks->v = NULL, ks->n = 0;
		buf_free(&path);
		return;
	}
	for (;;) {
		if (buf_reserve(&t, 4096) == -1)
			die_msg(EXIT_TEMP, "read dkim", "table over 1 MB");
		if ((r = read(fd, t.p + t.len, 4096)) <= 0)
			break;
		t.len += (size_t)r;
	}
	if (r < 0)
		die_temp("read", path.p);
	close(fd);
	if (sign_table_parse(ks, t.p ? t.p : "", t.len, dir, load_key, &line,
	    &why) == -1) {
		struct logln l;

		log_start(&l, "fatal");
		log_s(&l, "op", "dkim table");
		log_s(&l, "path", path.p);
		log_u(&l, "line", line);
		log_s(&l, "err", why);
		log_u(&l, "exit", EXIT_TEMP);
		log_done(&l);
		exit(EXIT_TEMP);
	}
	buf_free(&path);
	buf_free(&t);
}

/* warm_up - one signature with every key before the sandbox: OpenSSL
 * seeds its generator and loads what it needs now, and a bad key fails
 * the start rather than a message */
static void
warm_up(const struct sign_keys *ks)
{
	unsigned char h[DKIM_HASHLEN] = { 0 }, s[DKIM_SIG_MAX];
	size_t i, sl;

	for (i = 0; i < ks->n; i++) {
		sl = sizeof s;
		if (dkim_pk_sign(ks->v[i].k, ks->v[i].alg, h, s, &sl) == -1)
			die_msg(EXIT_TEMP, "test signature", ks->v[i].domain);
	}
}

static int
serve(const struct sign_keys *ks)
{
	struct buf in = BUF_INIT(SIGN_REQ_MAX), out = BUF_INIT(4096);
	struct rd rd;
	int r;

	rd_init(&rd, 0, io_read_fd, NULL);
	for (;;) {
		if ((r = rec_read(&rd, &in, SIGN_REQ_MAX)) == 0)
			return EXIT_OK;
		if (r == -1)
			die_temp("read", "request");
		out.len = 0;
		if (pk_begin(&out) == -1)
			die_temp("encode", "result");
		if (sign_answer(ks, in.p, in.len, &out) == -1)
			die_msg(EXIT_TEMP, "request", "malformed");
		if (pk_finish(&out, 0) == -1 || rec_send(0, &out) == -1)
			die_temp("write", "result");
	}
}

int
main(int argc, char *argv[])
{
	static struct conf cf;
	struct sign_keys ks;
	struct buf hello = BUF_INIT(SIGN_HELLO_MAX);
	const char *path = NULL, *user;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	int opt;

	log_init("sign");
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			die_msg(EXIT_TEMP, "usage", "sandmail-sign [-c conf]");
		path = optarg;
	}
	conf_load(&cf, path);
	user = conf_str(&cf, "user_sign", "sandmailk");
	if (geteuid() == 0 && priv_lookup(user, &uid, &gid) == -1)
		die_temp("user", user);
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	table(&ks, conf_path(&cf, "tables", "."));
	warm_up(&ks);
	tzset();
	sbx_chroot_empty(conf_str(&cf, "empty_dir", "/var/empty"));
	priv_drop_or_die(uid, gid);
	sbx_enter_or_die(sign_rules);
	if (pk_begin(&hello) == -1 || sign_hello_encode(&hello, &ks) == -1 ||
	    pk_finish(&hello, 0) == -1 || rec_send(0, &hello) == -1)
		die_temp("write", "greeting");
	log_kv("ready", "keys", ks.n ? "yes" : "none", NULL);
	return serve(&ks);
}
