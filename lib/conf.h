/* conf: sandmail.conf, "key value" lines.  '#' starts a comment line;
 * blank lines are skipped; the value is the rest of the line with outer
 * white space trimmed.  A key may repeat (listen, nameserver): conf_next
 * walks them.  Errors name file:line.  Read before the sandbox. */
#ifndef SANDMAIL_CONF_H
#define SANDMAIL_CONF_H

#include <stddef.h>

#define CONF_LINE_MAX	4096
#define CONF_MAX_ENTRIES 1024

struct conf_ent {
	char	*key, *val;
	int	 line;
};

struct conf {
	char		*path;		/* file it came from, for messages */
	char		*dir;		/* its directory: tables live there */
	struct conf_ent	*e;
	size_t		 n;
};

/* conf_parse: 0, or -1 with a "file:line: reason" message in err */
int	conf_parse(struct conf *, const char *path, char *err, size_t errsz);
int	conf_parse_mem(struct conf *, const char *name, const char *text,
	    size_t len, char *err, size_t errsz);
void	conf_free(struct conf *);

/* conf_check: every line against the registry (confkeys.h).  Each
 * problem goes to report as "file:line: reason": error 1 for a bad value
 * of a known key (or keys that contradict each other), 0 for an unknown
 * key.  Returns the number of errors. */
typedef void conf_report(void *arg, int error, const char *msg);
int	conf_check(const struct conf *, conf_report *, void *arg);

/* conf_load: parse $SANDMAIL_CONF, or -c FILE's path, or the default, and
 * check it: a syntax error or a bad value is logged and exits 111, an
 * unknown key is logged as a warning. */
void	conf_load(struct conf *, const char *path);
const char *conf_default_path(void);

/* Getters: the last occurrence wins.  A bad value logs file:line and exits
 * 111, since a server must not run on a half-understood configuration.
 * Every key a getter reads must be in the registry (confkeys.h), of the
 * getter's kind, with the getter's default and a range the getter takes;
 * otherwise the getter dies naming the bug.  conf_str reads any key. */
const char *conf_str(const struct conf *, const char *key, const char *def);
unsigned long long conf_num(const struct conf *, const char *key,
	    unsigned long long def, unsigned long long min,
	    unsigned long long max);
/* a duration: a number with an optional unit s, m, h, d (default s) */
unsigned long long conf_secs(const struct conf *, const char *key,
	    unsigned long long def);
/* a size: a number with an optional unit k, m, g (powers of 1024) */
unsigned long long conf_size(const struct conf *, const char *key,
	    unsigned long long def);
int	conf_bool(const struct conf *, const char *key, int def);
/* conf_next: iterate over every occurrence; *i starts at 0 */
const char *conf_next(const struct conf *, const char *key, size_t *i);
/* conf_path: a path value made absolute against the conf's directory */
char	*conf_path(const struct conf *, const char *key, const char *def);

/* number parsers, exposed for tests: 0 or -1 */
int	parse_ull(const char *, unsigned long long *);
int	parse_secs(const char *, unsigned long long *);
int	parse_size(const char *, unsigned long long *);
/* parse_msecs: "250ms", or a duration ("2s", "1m") in milliseconds */
int	parse_msecs(const char *, unsigned long long *);
/* conf_yesno: 1 for yes/true/on/1, 0 for no/false/off/0, else -1 */
int	conf_yesno(const char *);
/* conf_list_has: the word w[0..n) is in list (a value of blank- or
 * comma-separated words; exact, case ignored; list may be NULL) */
int	conf_list_has(const char *list, const char *w, size_t n);

#endif
