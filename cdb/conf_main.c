/* sandmail-conf: check a whole configuration before it bites.  Every line
 * of sandmail.conf is checked against the registry of keys (an unknown
 * key is an error here, only a warning in the programs), and every text
 * table is parsed by sandmail-cdb's own code, nothing written.  -n prints
 * the settings that differ from the defaults (as postconf -n), -l the
 * registry.  Run by an administrator or sandmail-check; no network, no
 * sandbox, it writes nothing.  See doc/sandmail-conf.8. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "compile.h"
#include "conf.h"
#include "confkeys.h"
#include "exitcode.h"

static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: sandmail-conf [-c conf] [-d tables]\n"
	    "       sandmail-conf [-c conf] -n\n"
	    "       sandmail-conf -l\n", stderr);
	exit(EXIT_PERM);
}

/* report - every problem is an error here, unknown keys too */
static void
report(void *arg, int error, const char *msg)
{
	int *n = arg;

	(void)error;
	printf("%s\n", msg);
	(*n)++;
}

static int
load(struct conf *c, const char *path)
{
	char err[512];

	if (conf_parse(c, path, err, sizeof err) == 0)
		return 0;
	printf("%s\n", err);
	/* a file that cannot be read is the system's trouble */
	return access(path, R_OK) == 0 ? EXIT_PERM : EXIT_TEMP;
}

/* check_tables - each text table of dir, as sandmail-cdb would compile
 * it; its messages are already "file:line: reason" lines */
static int
check_tables(const char *dir)
{
	struct buf p = BUF_INIT(PATH_MAX), err = BUF_INIT(CDBC_ERR_MAX);
	struct stat st;
	int code = EXIT_OK, r;

	if (stat(dir, &st) == -1 || (!S_ISDIR(st.st_mode) &&
	    (errno = ENOTDIR) != 0)) {
		printf("%s: tables directory: %s\n", dir, strerror(errno));
		return EXIT_PERM;
	}
	for (size_t i = 0; cdbc_names[i] != NULL; i++) {
		p.len = 0;
		if (buf_fmt(&p, "%s/%s", dir, cdbc_names[i]) == -1 ||
		    buf_cstr(&p) == -1)
			return EXIT_TEMP;
		if (access(p.p, F_OK) == -1)
			continue;
		err.len = 0;
		r = cdbc_verify(dir, cdbc_names[i], &err);
		if (err.len > 0)
			fwrite(err.p, 1, err.len, stdout);
		if (r != EXIT_OK && code != EXIT_TEMP)
			code = r;
	}
	buf_free(&p);
	buf_free(&err);
	return code;
}

/* do_check - the configuration, then the tables; an exit code */
static int
do_check(const char *path, const char *dir)
{
	struct conf c;
	char *tables;
	int problems = 0, code, r;

	if ((code = load(&c, path)) != EXIT_OK)
		return code;
	conf_check(&c, report, &problems);
	tables = dir ? strdup(dir) : conf_path(&c, "tables", ".");
	if (tables == NULL)
		return EXIT_TEMP;
	r = check_tables(tables);
	free(tables);
	conf_free(&c);
	if (r == EXIT_TEMP)
		return r;
	return problems > 0 || r != EXIT_OK ? EXIT_PERM : EXIT_OK;
}

/* same_path - two path values of the conf, made absolute, alike */
static int
same_path(const struct conf *c, const char *a, const char *b)
{
	char pa[PATH_MAX], pb[PATH_MAX], ra[PATH_MAX], rb[PATH_MAX];

	snprintf(pa, sizeof pa, "%s%s%s", a[0] == '/' ? "" : c->dir,
	    a[0] == '/' ? "" : "/", a);
	snprintf(pb, sizeof pb, "%s%s%s", b[0] == '/' ? "" : c->dir,
	    b[0] == '/' ? "" : "/", b);
	if (realpath(pa, ra) != NULL && realpath(pb, rb) != NULL)
		return strcmp(ra, rb) == 0;
	return strcmp(pa, pb) == 0;
}

/* is_default - does val say what the key's default says */
static int
is_default(const struct conf *c, const struct conf_key *k, const char *val)
{
	unsigned long long v, d;
	const char *why;

	if (k->def == NULL || (k->flags & CONF_MULTI))
		return 0;
	switch (k->type) {
	case CONF_NUM: case CONF_SECS: case CONF_SIZE: case CONF_BOOL:
	case CONF_MSECS:
		if (k->flags & CONF_DYNDEF)
			return 0;
		return conf_key_value(k, val, &v, &why) == 0 &&
		    conf_key_value(k, k->def, &d, &why) == 0 && v == d;
	case CONF_PATH:
		return same_path(c, val, k->def);
	default:
		return !(k->flags & CONF_DYNDEF) && strcmp(val, k->def) == 0;
	}
}

/* do_changed - -n: "key value" for each setting that is not a default,
 * in the registry's order; unknown keys last, as written */
static int
do_changed(const char *path)
{
	const struct conf_key *k;
	const struct conf_ent *last;
	struct conf c;
	int code;
	size_t i;

	if ((code = load(&c, path)) != EXIT_OK)
		return code;
	for (k = conf_keys; k->name != NULL; k++) {
		last = NULL;
		for (i = 0; i < c.n; i++) {
			if (strcmp(c.e[i].key, k->name) != 0)
				continue;
			if (k->flags & CONF_MULTI)
				printf("%s %s\n", k->name, c.e[i].val);
			last = &c.e[i];
		}
		if (last != NULL && !(k->flags & CONF_MULTI) &&
		    !is_default(&c, k, last->val))
			printf("%s %s\n", k->name, last->val);
	}
	for (i = 0; i < c.n; i++)
		if (conf_key_find(c.e[i].key) == NULL)
			printf("%s %s\n", c.e[i].key, c.e[i].val);
	conf_free(&c);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_TEMP;
}

/* do_list - -l: the registry, one key a line, tab-separated:
 * name, kind, default ("-": none, "(computed)"), range, programs */
static void
do_list(void)
{
	const struct conf_key *k;
	char range[64];

	for (k = conf_keys; k->name != NULL; k++) {
		range[0] = '\0';
		if (k->type == CONF_CHOICE)
			snprintf(range, sizeof range, "%s", k->choices);
		else if (k->min != 0 || k->max != ULLONG_MAX)
			snprintf(range, sizeof range, "%llu..%llu", k->min,
			    k->max);
		printf("%s\t%s%s\t%s\t%s\t%s\n", k->name,
		    conf_type_name(k->type),
		    k->flags & CONF_MULTI ? ",list" : "",
		    k->def ? k->def : k->flags & CONF_DYNDEF ? "(computed)" :
		    "-", range[0] ? range : "-", k->progs);
	}
}

int
main(int argc, char *argv[])
{
	const char *conf = NULL, *dir = NULL;
	int ch, changed = 0, list = 0;

	while ((ch = getopt(argc, argv, "c:d:ln")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'd': dir = optarg; break;
		case 'l': list = 1; break;
		case 'n': changed = 1; break;
		default: usage();
		}
	}
	if (optind != argc || (list && changed) || (dir && (list || changed)))
		usage();
	if (conf == NULL)
		conf = conf_default_path();
	if (list) {
		do_list();
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_TEMP;
	}
	return changed ? do_changed(conf) : do_check(conf, dir);
}
