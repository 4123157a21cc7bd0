/* sandmail-cdb: compile sandmail's text tables into CDB files, build the
 * localusers table from the system's accounts, and look keys up the way
 * the programs do.  Run by an administrator (or make run); it reads only
 * the table directory and writes only TABLE.cdb files there, each by an
 * atomic rename.  See doc/sandmail-cdb.8. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "compile.h"
#include "conf.h"
#include "exitcode.h"
#include "rcpt.h"
#include "tbl.h"

static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: sandmail-cdb [-c conf] [-d dir] table... | all\n"
	    "       sandmail-cdb [-c conf] [-d dir] -p [-P passwd-file]\n"
	    "       sandmail-cdb [-c conf] [-d dir] [-s seps] -q table key\n"
	    "       sandmail-cdb [-c conf] [-d dir] [-s seps] -r address\n",
	    stderr);
	exit(EXIT_PERM);
}

static void
put_err(const struct buf *err)
{
	if (err->len > 0)
		fwrite(err->p, 1, err->len, stderr);
}

/* report - conf_check's problems: a bad value stops, a typo is told */
static void
report(void *arg, int error, const char *msg)
{
	(void)arg;
	fprintf(stderr, "sandmail-cdb: %s%s\n", error ? "" : "warning: ", msg);
	if (error)
		exit(EXIT_TEMP);
}

/* table_dir - -d, else the conf's "tables" (default: the conf's dir) */
static char *
table_dir(const char *dir, const char *confpath)
{
	struct conf c;
	char err[512], *d, *slash;

	if (dir != NULL)
		return strdup(dir);
	if (confpath == NULL)
		confpath = conf_default_path();
	if (conf_parse(&c, confpath, err, sizeof err) == 0) {
		conf_check(&c, report, NULL);
		d = conf_path(&c, "tables", ".");
		conf_free(&c);
		return d;
	}
	if (errno != ENOENT && access(confpath, F_OK) == 0) {
		fprintf(stderr, "sandmail-cdb: %s\n", err);
		exit(EXIT_TEMP);
	}
	/* no conf file: the tables sit where it would be */
	d = strdup(confpath);
	if (d != NULL && (slash = strrchr(d, '/')) != NULL)
		*(slash == d ? slash + 1 : slash) = '\0';
	else if (d != NULL) {
		free(d);
		d = strdup(".");
	}
	return d;
}

/* compile_all - every known table whose text file exists */
static int
compile_all(const char *dir, struct buf *err)
{
	struct buf p = BUF_INIT(4096);
	int code = EXIT_OK, r;
	size_t i;

	for (i = 0; cdbc_names[i] != NULL; i++) {
		p.len = 0;
		if (buf_fmt(&p, "%s/%s", dir, cdbc_names[i]) == -1 ||
		    buf_cstr(&p) == -1)
			return EXIT_TEMP;
		if (access(p.p, F_OK) == -1)
			continue;
		r = cdbc_compile(dir, cdbc_names[i], err);
		if (r != EXIT_OK && code != EXIT_TEMP)
			code = r;
	}
	buf_free(&p);
	return code;
}

/* passwd_text - the system's accounts as passwd lines */
static int
passwd_text(struct buf *b)
{
	struct passwd *pw;
	int r = 0;

	setpwent();
	while (r == 0 && (errno = 0, pw = getpwent()) != NULL)
		r = buf_fmt(b, "%s:x:%lu:%lu::%s:\n", pw->pw_name,
		    (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid,
		    pw->pw_dir);
	endpwent();
	return r;
}

static int
read_all(const char *path, struct buf *b)
{
	char tmp[8192];
	ssize_t r;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return -1;
	while ((r = (ssize_t)fread(tmp, 1, sizeof tmp, f)) > 0)
		if (buf_put(b, tmp, (size_t)r) == -1) {
			fclose(f);
			return -1;
		}
	r = ferror(f) ? -1 : 0;
	fclose(f);
	return (int)r;
}

/* do_passwd - -p: localusers.cdb from getpwent or a passwd file */
static int
do_passwd(const char *dir, const char *file, struct buf *err)
{
	struct buf text = BUF_INIT(CDBC_FILE_MAX), dst = BUF_INIT(4096);
	struct cdbc_out out = { NULL, 0, 0 };
	int n, code = EXIT_TEMP;

	if ((file ? read_all(file, &text) : passwd_text(&text)) == -1) {
		buf_fmt(err, "%s: %s\n", file ? file : "getpwent",
		    strerror(errno));
		goto out;
	}
	n = cdbc_passwd(file ? file : "getpwent", text.p ? text.p : "",
	    text.len, &out, err);
	if (n != 0) {
		code = n < 0 ? EXIT_TEMP : EXIT_PERM;
		goto out;
	}
	if (buf_fmt(&dst, "%s/localusers.cdb", dir) == -1 ||
	    buf_cstr(&dst) == -1 ||
	    cdbc_write(dst.p, cdbc_find("localusers")->mode, &out) == -1) {
		buf_fmt(err, "%s/localusers.cdb: %s\n", dir, strerror(errno));
		goto out;
	}
	code = EXIT_OK;
out:
	cdbc_free(&out);
	buf_free(&text);
	buf_free(&dst);
	return code;
}

/* lookup - the table's own lookup for key */
static int
lookup(struct tbl *t, enum cdbc_lookup how, const char *key,
    const char *seps, struct buf *val)
{
	struct buf local = BUF_INIT(TBL_KEY_MAX);
	const char *at = strrchr(key, '@');
	int r;

	switch (how) {
	case LK_DOMAIN:
		return tbl_domain(t, key, val);
	case LK_IP:
		return tbl_ip(t, key, val);
	case LK_ADDR:
		if (at == NULL)
			return tbl_addr(t, key, "", seps, val, NULL);
		if (buf_put(&local, key, (size_t)(at - key)) == -1 ||
		    buf_cstr(&local) == -1)
			return -1;
		r = tbl_addr(t, local.p, at + 1, seps, val, NULL);
		buf_free(&local);
		return r;
	case LK_EXACT:
		break;
	}
	return tbl_get(t, key, strlen(key), val);
}

/* do_query - -q TABLE KEY: the value on stdout; 0, 100 none, 111 */
static int
do_query(const char *dir, const char *table, const char *key,
    const char *seps)
{
	const struct cdbc_table *ct = cdbc_find(table);
	struct buf path = BUF_INIT(4096), val = BUF_INIT(CDBC_VALUE_MAX);
	struct tbl t;
	int r;

	if (ct == NULL) {
		fprintf(stderr, "sandmail-cdb: %s: unknown table\n", table);
		return EXIT_PERM;
	}
	if (buf_fmt(&path, "%s/%s.cdb", dir, table) == -1 ||
	    buf_cstr(&path) == -1 || tbl_open(&t, path.p) == -1) {
		fprintf(stderr, "sandmail-cdb: %s/%s.cdb: %s\n", dir, table,
		    strerror(errno));
		return EXIT_TEMP;
	}
	r = lookup(&t, ct->lookup, key, seps, &val);
	if (r == 1) {
		fwrite(val.p ? val.p : "", 1, val.len, stdout);
		putchar('\n');
	} else if (r == -1)
		fprintf(stderr, "sandmail-cdb: lookup: %s\n", strerror(errno));
	tbl_close(&t);
	buf_free(&path);
	buf_free(&val);
	return r == 1 ? EXIT_OK : r == 0 ? EXIT_PERM : EXIT_TEMP;
}

/* conf_names - the conf's hostname (else the kernel's) and its
 * recipient_delimiter (unless -s gave one), for -r */
static void
conf_names(const char *confpath, char *host, size_t hn, char *seps,
    size_t sn)
{
	struct conf c;
	char err[512];

	if (gethostname(host, hn - 1) == -1)
		snprintf(host, hn, "localhost");
	host[hn - 1] = '\0';
	if (conf_parse(&c, confpath != NULL ? confpath : conf_default_path(),
	    err, sizeof err) != 0)
		return;
	snprintf(host, hn, "%s", conf_str(&c, "hostname", host));
	if (seps[0] == '\0')
		snprintf(seps, sn, "%s", conf_str(&c, "recipient_delimiter",
		    "-+"));
	conf_free(&c);
}

static int
print_res(const struct rcpt_res *r)
{
	static const char *const kind[] = {
		[RK_REMOTE] = "remote", [RK_ROUTED] = "routed",
		[RK_ALIAS] = "alias", [RK_USER] = "user",
		[RK_VIRTUAL] = "virtual", [RK_MOVED] = "moved",
		[RK_UNKNOWN] = "unknown", [RK_BADENTRY] = "bad-entry",
		[RK_TEMP] = "error",
	};

	printf("%s", kind[r->kind]);
	if (r->kind == RK_USER)
		printf(" %u:%u", (unsigned)r->uid, (unsigned)r->gid);
	if (r->val.len > 0)
		printf(" %.*s", (int)r->val.len, r->val.p);
	if (r->kind == RK_UNKNOWN && r->postmaster)
		printf(" (postmaster: smtpd accepts it, send bounces it)");
	putchar('\n');
	switch (r->kind) {
	case RK_MOVED:
	case RK_UNKNOWN:
		return EXIT_PERM;
	case RK_BADENTRY:
	case RK_TEMP:
		return EXIT_TEMP;
	default:
		return EXIT_OK;
	}
}

/* do_resolve - -r ADDRESS: where the recipient goes, decided as smtpd
 * and send decide it (lib/rcpt.c); 0, 100 moved or unknown, 111 */
static int
do_resolve(const char *dir, const char *confpath, const char *address,
    const char *seps_opt)
{
	static const char *const names[] = {
		"domains", "aliases", "virtual", "localusers", "moved",
		"routes",
	};
	char host[256], seps[64];
	struct tbl t[6];
	struct tblset set;
	struct rcpt_tabs rt;
	struct rcpt_res r;
	struct addr a;
	int code;

	snprintf(seps, sizeof seps, "%s", seps_opt ? seps_opt : "");
	conf_names(confpath, host, sizeof host, seps, sizeof seps);
	if (addr_parse_mailbox(address, strlen(address), ADDR_UTF8, &a) !=
	    ADDR_OK) {
		fprintf(stderr, "sandmail-cdb: %s: not an address\n",
		    address);
		return EXIT_PERM;
	}
	if (tblset_open(&set, t, dir, names, 6) == -1)
		return EXIT_TEMP;
	rt = (struct rcpt_tabs){ &t[0], &t[1], &t[2], &t[3], &t[4], &t[5],
	    host, seps };
	buf_init(&r.val, CDBC_VALUE_MAX);
	rcpt_resolve(&rt, &a, 0, &r);
	code = print_res(&r);
	buf_free(&r.val);
	tblset_close(&set);
	return code;
}

int
main(int argc, char *argv[])
{
	struct buf err = BUF_INIT(CDBC_ERR_MAX);
	const char *dir = NULL, *conf = NULL, *pwfile = NULL, *seps = NULL;
	int c, query = 0, resolve = 0, pw = 0, code = EXIT_OK, r;
	char *d;

	while ((c = getopt(argc, argv, "c:d:pP:qrs:")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': dir = optarg; break;
		case 'p': pw = 1; break;
		case 'P': pwfile = optarg; pw = 1; break;
		case 'q': query = 1; break;
		case 'r': resolve = 1; break;
		case 's': seps = optarg; break;
		default: usage();
		}
	}
	argc -= optind, argv += optind;
	if ((query && (pw || resolve || argc != 2)) || (pw && argc != 0) ||
	    (resolve && (pw || argc != 1)) ||
	    (!query && !pw && !resolve && argc == 0))
		usage();
	if ((d = table_dir(dir, conf)) == NULL) {
		perror("sandmail-cdb");
		return EXIT_TEMP;
	}
	if (query)
		code = do_query(d, argv[0], argv[1], seps ? seps : "-+");
	else if (resolve)
		code = do_resolve(d, conf, argv[0], seps);
	else if (pw)
		code = do_passwd(d, pwfile, &err);
	else if (argc == 1 && strcmp(argv[0], "all") == 0)
		code = compile_all(d, &err);
	else
		for (; argc > 0; argc--, argv++) {
			r = cdbc_compile(d, argv[0], &err);
			if (r != EXIT_OK && code != EXIT_TEMP)
				code = r;
		}
	put_err(&err);
	buf_free(&err);
	free(d);
	return code;
}
