/* conf: the reader of sandmail.conf. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "confkeys.h"
#include "exitcode.h"
#include "log.h"

#ifndef SANDMAIL_CONF_DEFAULT
#define SANDMAIL_CONF_DEFAULT "/etc/sandmail/sandmail.conf"
#endif
#define CONF_FILE_MAX	(1024 * 1024)

static int
fail(char *err, size_t errsz, const char *name, int line, const char *why)
{
	if (line > 0)
		snprintf(err, errsz, "%s:%d: %s", name, line, why);
	else
		snprintf(err, errsz, "%s: %s", name, why);
	return errno = EINVAL, -1;
}

static char *
dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int
is_keych(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '.';
}

static int
add_line(struct conf *c, const char *name, const char *s, size_t n,
    int line, char *err, size_t errsz)
{
	size_t i = 0, k, v, e;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	for (k = i; k < n && is_keych((unsigned char)s[k]); k++)
		;
	if (k == i)
		return fail(err, errsz, name, line, "expected a key");
	if (k < n && s[k] != ' ' && s[k] != '\t')
		return fail(err, errsz, name, line, "bad character in key");
	for (v = k; v < n && (s[v] == ' ' || s[v] == '\t'); v++)
		;
	for (e = n; e > v && (s[e - 1] == ' ' || s[e - 1] == '\t'); e--)
		;
	if (v == e)
		return fail(err, errsz, name, line, "key without a value");
	for (size_t j = v; j < e; j++)
		if ((unsigned char)s[j] < 0x20 && s[j] != '\t')
			return fail(err, errsz, name, line,
			    "control character in value");
	if (c->n == CONF_MAX_ENTRIES)
		return fail(err, errsz, name, line, "too many lines");
	c->e[c->n].key = dupn(s + i, k - i);
	c->e[c->n].val = dupn(s + v, e - v);
	c->e[c->n].line = line;
	if (c->e[c->n].key == NULL || c->e[c->n].val == NULL)
		return fail(err, errsz, name, line, "out of memory");
	c->n++;
	return 0;
}

/* conf_parse_mem - parse text named name (for messages) */
int
conf_parse_mem(struct conf *c, const char *name, const char *text,
    size_t len, char *err, size_t errsz)
{
	const char *p = text, *end = text + len, *nl;
	size_t n;
	int line = 0;
	char *slash;

	memset(c, 0, sizeof *c);
	c->path = dupn(name, strlen(name));
	c->e = calloc(CONF_MAX_ENTRIES, sizeof *c->e);
	if (c->path == NULL || c->e == NULL)
		return fail(err, errsz, name, 0, "out of memory");
	slash = strrchr(c->path, '/');
	c->dir = slash ? dupn(c->path, (size_t)(slash - c->path)) :
	    dupn(".", 1);
	if (c->dir != NULL && c->dir[0] == '\0') {
		free(c->dir);
		c->dir = dupn("/", 1);
	}
	while (p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > CONF_LINE_MAX)
			return fail(err, errsz, name, line, "line too long");
		if (memchr(p, '\0', n) != NULL)
			return fail(err, errsz, name, line, "NUL byte");
		if (add_line(c, name, p, n, line, err, errsz) == -1)
			return -1;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* conf_parse - read and parse a file */
int
conf_parse(struct conf *c, const char *path, char *err, size_t errsz)
{
	struct buf b = BUF_INIT(CONF_FILE_MAX);
	char tmp[8192];
	ssize_t r;
	int fd, ret;

	memset(c, 0, sizeof *c);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return fail(err, errsz, path, 0, strerror(errno));
	while ((r = read(fd, tmp, sizeof tmp)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || buf_put(&b, tmp, (size_t)r) == -1) {
			ret = errno;
			close(fd);
			buf_free(&b);
			return fail(err, errsz, path, 0, ret == E2BIG ?
			    "file too large" : strerror(ret));
		}
	}
	close(fd);
	ret = conf_parse_mem(c, path, b.p ? b.p : "", b.len, err, errsz);
	buf_free(&b);
	return ret;
}

/* conf_free - release everything */
void
conf_free(struct conf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].key);
		free(c->e[i].val);
	}
	free(c->e);
	free(c->path);
	free(c->dir);
	memset(c, 0, sizeof *c);
}

/* conf_default_path - $SANDMAIL_CONF or the compiled-in default */
const char *
conf_default_path(void)
{
	const char *p = getenv("SANDMAIL_CONF");

	return p && *p ? p : SANDMAIL_CONF_DEFAULT;
}

/* report_load - conf_load's reporter: a bad value is fatal, an unknown
 * key a warning (a typo must not stop mail, but must be seen) */
static void
report_load(void *arg, int error, const char *msg)
{
	(void)arg;
	if (error)
		die_msg(EXIT_TEMP, "config", msg);
	log_kv("warning", "op", "config", "err", msg, NULL);
}

/* conf_load - parse and check, or die 111 with the reason logged */
void
conf_load(struct conf *c, const char *path)
{
	char err[512];

	if (path == NULL)
		path = conf_default_path();
	if (conf_parse(c, path, err, sizeof err) == -1)
		die_msg(EXIT_TEMP, "config", err);
	conf_check(c, report_load, NULL);
}

static const struct conf_ent *
find(const struct conf *c, const char *key)
{
	for (size_t i = c->n; i > 0; i--)
		if (strcmp(c->e[i - 1].key, key) == 0)
			return &c->e[i - 1];
	return NULL;
}

static int
say(conf_report *report, void *arg, int error, const struct conf *c,
    const struct conf_ent *e, const char *what)
{
	char msg[512];

	snprintf(msg, sizeof msg, "%s:%d: %s", c->path, e->line, what);
	report(arg, error, msg);
	return error;
}

/* a number of k: the last line's, else the default */
static unsigned long long
last_num(const struct conf *c, const char *key, const struct conf_ent **at)
{
	const struct conf_key *k = conf_key_find(key);
	const char *why;
	unsigned long long v = 0;

	*at = find(c, key);
	if (conf_key_value(k, *at ? (*at)->val : k->def, &v, &why) == -1)
		v = 0;
	return v;
}

/* cross - the rules between keys */
static int
cross(const struct conf *c, conf_report *report, void *arg)
{
	const struct conf_ent *emin, *emax;
	unsigned long long lo = last_num(c, "local_uid_min", &emin);
	unsigned long long hi = last_num(c, "local_uid_max", &emax);

	if (lo <= hi || (emin == NULL && emax == NULL))
		return 0;
	return say(report, arg, 1, c, emin == NULL || (emax != NULL &&
	    emax->line > emin->line) ? emax : emin,
	    "local_uid_max is below local_uid_min");
}

/* conf_check - every line against the registry */
int
conf_check(const struct conf *c, conf_report *report, void *arg)
{
	const struct conf_key *k;
	const struct conf_ent *e;
	const char *why, *near;
	char what[256];
	int errors = 0;

	for (size_t i = 0; i < c->n; i++) {
		e = &c->e[i];
		if ((k = conf_key_find(e->key)) == NULL) {
			near = conf_key_near(e->key);
			if (near != NULL)
				snprintf(what, sizeof what, "unknown key \"%s\" "
				    "(did you mean \"%s\"?)", e->key, near);
			else
				snprintf(what, sizeof what,
				    "unknown key \"%s\"", e->key);
			say(report, arg, 0, c, e, what);
		} else if (conf_key_value(k, e->val, NULL, &why) == -1) {
			snprintf(what, sizeof what, "%s: %s", e->key, why);
			errors += say(report, arg, 1, c, e, what);
		}
	}
	if (errors == 0)
		errors += cross(c, report, arg);
	return errors;
}

/* reg - the registry's entry of a key a getter reads.  A key missing
 * there, read as another kind, or with a range or default that is not
 * the registry's is a bug of the program: die before using it. */
static const struct conf_key *
reg(const char *key, int type)
{
	const struct conf_key *k = conf_key_find(key);
	char msg[256];

	if (k != NULL && (type == -1 || k->type == (enum conf_type)type))
		return k;
	snprintf(msg, sizeof msg, "BUG: key %s is %s lib/confkeys.c", key,
	    k ? "read as another kind than in" : "not listed in");
	die_msg(EXIT_TEMP, "config", msg);
}

static void __attribute__((noreturn))
bug(const char *key, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof msg, "BUG: key %s: the %s differs from "
	    "lib/confkeys.c", key, what);
	die_msg(EXIT_TEMP, "config", msg);
}

/* reg_num - a numeric key: the caller's default must be the registry's,
 * unless the registry says it is computed */
static const struct conf_key *
reg_num(const char *key, enum conf_type type, unsigned long long def)
{
	const struct conf_key *k = reg(key, (int)type);
	unsigned long long v;
	const char *why;

	if (!(k->flags & CONF_DYNDEF) && (k->def == NULL ||
	    conf_key_value(k, k->def, &v, &why) == -1 || v != def))
		bug(key, "default");
	return k;
}

static void __attribute__((noreturn))
bad(const struct conf *c, const struct conf_ent *e, const char *why)
{
	char err[512];

	snprintf(err, sizeof err, "%s:%d: %s: %s", c->path, e->line, e->key,
	    why);
	die_msg(EXIT_TEMP, "config", err);
}

/* value - the last value of a numeric key k, or def */
static unsigned long long
value(const struct conf *c, const struct conf_key *k,
    unsigned long long def)
{
	const struct conf_ent *e = find(c, k->name);
	unsigned long long v;
	const char *why;

	if (e == NULL)
		return def;
	if (conf_key_value(k, e->val, &v, &why) == -1)
		bad(c, e, why);
	return v;
}

/* conf_str - a string value, or def */
const char *
conf_str(const struct conf *c, const char *key, const char *def)
{
	const struct conf_ent *e = find(c, reg(key, -1)->name);

	return e ? e->val : def;
}

/* conf_next - each occurrence of key in file order */
const char *
conf_next(const struct conf *c, const char *key, size_t *i)
{
	if (!(reg(key, -1)->flags & CONF_MULTI))
		bug(key, "repeatability");
	for (; *i < c->n; (*i)++)
		if (strcmp(c->e[*i].key, key) == 0)
			return c->e[(*i)++].val;
	return NULL;
}

/* parse_ull - a whole decimal number, nothing else */
int
parse_ull(const char *s, unsigned long long *v)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return errno = EINVAL, -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return errno = EINVAL, -1;
	return 0;
}

static int
parse_unit(const char *s, unsigned long long *v, const char *units,
    const unsigned long long *mult)
{
	char num[32];
	size_t n = strlen(s);
	const char *u;
	unsigned long long m = 1;

	if (n == 0 || n >= sizeof num)
		return errno = EINVAL, -1;
	memcpy(num, s, n + 1);
	if ((u = strchr(units, tolower((unsigned char)num[n - 1]))) != NULL &&
	    *u != '\0') {
		m = mult[u - units];
		num[n - 1] = '\0';
	}
	if (parse_ull(num, v) == -1 || __builtin_mul_overflow(*v, m, v))
		return errno = EINVAL, -1;
	return 0;
}

/* parse_secs - "30", "30s", "5m", "2h", "5d" */
int
parse_secs(const char *s, unsigned long long *v)
{
	static const unsigned long long m[] = { 1, 60, 3600, 86400 };

	return parse_unit(s, v, "smhd", m);
}

/* parse_size - "1000", "64k", "35m", "1g" */
int
parse_size(const char *s, unsigned long long *v)
{
	static const unsigned long long m[] = { 1024, 1024 * 1024,
	    1024 * 1024 * 1024 };

	return parse_unit(s, v, "kmg", m);
}

/* parse_msecs - a delay in milliseconds: "250ms", or a duration */
int
parse_msecs(const char *s, unsigned long long *v)
{
	char num[32];
	size_t n = strlen(s);

	if (n > 2 && n < sizeof num && strcmp(s + n - 2, "ms") == 0) {
		memcpy(num, s, n - 2);
		num[n - 2] = '\0';
		return parse_ull(num, v);
	}
	if (parse_secs(s, v) == -1 || __builtin_mul_overflow(*v, 1000, v))
		return errno = EINVAL, -1;
	return 0;
}

/* conf_num - a number in [min, max], or def */
unsigned long long
conf_num(const struct conf *c, const char *key, unsigned long long def,
    unsigned long long min, unsigned long long max)
{
	const struct conf_key *k = reg_num(key, CONF_NUM, def);

	/* what the registry lets through, this getter must take */
	if (min > k->min || max < k->max)
		bug(key, "range");
	return value(c, k, def);
}

/* conf_secs - a duration in seconds, or def */
unsigned long long
conf_secs(const struct conf *c, const char *key, unsigned long long def)
{
	return value(c, reg_num(key, CONF_SECS, def), def);
}

/* conf_size - a size in bytes, or def */
unsigned long long
conf_size(const struct conf *c, const char *key, unsigned long long def)
{
	return value(c, reg_num(key, CONF_SIZE, def), def);
}

/* conf_yesno - 1 for yes/true/on/1, 0 for no/false/off/0, else -1 */
int
conf_yesno(const char *s)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* conf_bool - yes/no, true/false, on/off, 1/0 */
int
conf_bool(const struct conf *c, const char *key, int def)
{
	const struct conf_key *k = reg_num(key, CONF_BOOL,
	    (unsigned long long)def);

	return (int)value(c, k, (unsigned long long)def);
}

/* conf_path - a path, relative ones taken from the conf's directory */
char *
conf_path(const struct conf *c, const char *key, const char *def)
{
	const char *v = conf_str(c, reg(key, CONF_PATH)->name, def);
	struct buf b = BUF_INIT(PATH_MAX);

	if (v == NULL)
		return NULL;
	if (v[0] != '/' && (buf_puts(&b, c->dir ? c->dir : ".") == -1 ||
	    buf_putc(&b, '/') == -1))
		die_temp("config", key);
	if (buf_puts(&b, v) == -1 || buf_cstr(&b) == -1)
		die_temp("config", key);
	return b.p;
}

int
conf_list_has(const char *list, const char *w, size_t n)
{
	size_t i = 0, b;

	while (list != NULL && list[i] != '\0') {
		while (list[i] == ' ' || list[i] == '\t' || list[i] == ',')
			i++;
		for (b = i; list[i] != '\0' && list[i] != ' ' &&
		    list[i] != '\t' && list[i] != ','; i++)
			;
		if (i > b && i - b == n && strncasecmp(list + b, w, n) == 0)
			return 1;
	}
	return 0;
}
