/* confkeys: the registry of every sandmail.conf key: its kind of value,
 * range, default and the programs that read it.  conf_load checks each
 * line of the file against it (a bad value is fatal, an unknown key a
 * warning), sandmail-conf checks a whole configuration with it, and each
 * getter of conf.h refuses a key that is not here: a key cannot be read
 * without being listed, and the tests check that every listed key is read
 * somewhere and documented in sandmail.conf(5). */
#ifndef SANDMAIL_CONFKEYS_H
#define SANDMAIL_CONFKEYS_H

enum conf_type {
	CONF_STR,	/* any text */
	CONF_WORD,	/* one word: no blanks (names, domains) */
	CONF_PATH,	/* a path: absolute, or relative to the conf's dir */
	CONF_NUM,	/* a decimal number in [min, max] */
	CONF_SECS,	/* a duration (conf_secs) in [min, max] seconds */
	CONF_SIZE,	/* a size (conf_size) in [min, max] bytes */
	CONF_BOOL,	/* yes/no, true/false, on/off, 1/0 */
	CONF_CHOICE,	/* one of the '|'-separated words of choices */
	CONF_MSECS,	/* NNNms or a duration, in [min, max] milliseconds */
	CONF_HOSTPORT,	/* an IP address, optionally [v6] or with :port */
};

#define CONF_MULTI	0x1	/* a list: every line counts (conf_next) */
#define CONF_DYNDEF	0x2	/* the default is computed at run time */

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	unsigned	 flags;
	unsigned long long min, max;	/* CONF_NUM, _SECS, _SIZE, _MSECS */
	const char	*def;		/* as it would be written; NULL: none */
	const char	*choices;	/* CONF_CHOICE: "a|b|c" */
	const char	*progs;		/* the programs that read it */
};

/* conf_keys: every key, ended by a row with a NULL name */
extern const struct conf_key conf_keys[];

/* conf_key_find: the key of that name, or NULL */
const struct conf_key *conf_key_find(const char *name);
/* conf_key_near: the listed name nearest to a misspelt one, or NULL */
const char *conf_key_near(const char *name);
/* conf_key_value: check a value; 0 (numeric kinds: the number in *v), or
 * -1 with *why the reason */
int	conf_key_value(const struct conf_key *, const char *val,
	    unsigned long long *v, const char **why);
/* conf_type_name: "number", "duration" ... for messages and listings */
const char *conf_type_name(enum conf_type);

#endif
