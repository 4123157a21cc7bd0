/* args: the sendmail command line.  The option letters and which of them
 * take an argument follow Postfix's sendmail(1) (itself following
 * Sendmail 8): an argument may be attached ("-fuser") or the next word
 * ("-f user"); flags may be grouped ("-ti"); "--" ends the options, and
 * so does the first word that is not an option. */
#include <string.h>
#include <strings.h>

#include "args.h"
#include "env.h"

#define ENVID_MAX	100	/* RFC 3461 4.4 */

static const char *
base(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* -N never | a list of success, delay, failure */
static int
parse_notify(struct args *a, const char *v)
{
	static const struct { const char *w; uint8_t bit; } words[] = {
		{ "never", NOTIFY_NEVER }, { "success", NOTIFY_SUCCESS },
		{ "delay", NOTIFY_DELAY }, { "failure", NOTIFY_FAILURE },
	};

	a->notify = 0;
	while (*v) {
		size_t n = strcspn(v, ","), i;

		for (i = 0; i < sizeof words / sizeof words[0]; i++)
			if (strlen(words[i].w) == n &&
			    strncasecmp(v, words[i].w, n) == 0)
				break;
		if (i == sizeof words / sizeof words[0])
			return a->err = "-N: never, or success,delay,failure", -1;
		a->notify |= words[i].bit;
		v += n + (v[n] == ',');
	}
	if (a->notify == 0 || ((a->notify & NOTIFY_NEVER) &&
	    a->notify != NOTIFY_NEVER))
		return a->err = "-N: never, or success,delay,failure", -1;
	return 0;
}

/* -V: an ENVID is xtext (RFC 3461 4): printable, no '=' */
static int
parse_envid(struct args *a, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > ENVID_MAX)
		return a->err = "-V: an envelope ID of 1 to 100 characters", -1;
	for (; *v; v++)
		if ((unsigned char)*v < 33 || (unsigned char)*v > 126 ||
		    *v == '=')
			return a->err = "-V: printable ASCII, no '='", -1;
	return 0;
}

static int
opt_b(struct args *a, const char *v)
{
	if (strcmp(v, "m") == 0)
		a->mode = MODE_MAIL;
	else if (strcmp(v, "s") == 0)
		a->mode = MODE_SMTP;
	else if (strcmp(v, "p") == 0)
		a->mode = MODE_LIST;
	else if (strcmp(v, "i") == 0)
		a->mode = MODE_NEWALIASES;
	else
		return a->err = "-b: only -bm, -bs, -bp and -bi", -1;
	return 0;
}

/* -q, -qRdomain, -qSsender (all), -q30m (a daemon's interval: nothing) */
static void
opt_q(struct args *a, const char *v)
{
	a->mode = MODE_FLUSH;
	if (*v == 'R' && v[1] != '\0')
		a->flush_domain = v + 1;
	else if (*v >= '0' && *v <= '9')
		a->mode = MODE_IGNORE;
}

/* an option with its argument v */
static int
opt_arg(struct args *a, char c, const char *v)
{
	switch (c) {
	case 'b':
		return opt_b(a, v);
	case 'C':
		a->conf = v;
		break;
	case 'F':
		a->fullname = v;
		break;
	case 'f':
	case 'r':
		a->sender = v;
		break;
	case 'N':
		return parse_notify(a, v);
	case 'R':
		if (strcasecmp(v, "full") == 0)
			a->ret = RET_FULL;
		else if (strcasecmp(v, "hdrs") == 0)
			a->ret = RET_HDRS;
		else
			return a->err = "-R: full or hdrs", -1;
		break;
	case 'V':
		a->envid = v;
		return parse_envid(a, v);
	case 'o':
		if (v[0] == 'i')	/* -oi; -oem, -odi, -om ... ignored */
			a->dot = 0;
		break;
	default:			/* -A -B -L -O -X -e -h -p: ignored */
		break;
	}
	return 0;
}

/* a flag, no argument */
static int
opt_flag(struct args *a, char c)
{
	switch (c) {
	case 't':
		a->tflag = 1;
		break;
	case 'i':
		a->dot = 0;
		break;
	case 'v':
		a->verbose = 1;
		break;
	case 'I':
		a->mode = MODE_NEWALIASES;
		break;
	case 'G': case 'U': case 'c': case 'm': case 'n': case 'x':
		break;			/* harmless; ignored */
	default:
		return a->err = "unknown option", -1;
	}
	return 0;
}

static int
takes_arg(char c)
{
	return strchr("ABCFLNORVXbefhopr", c) != NULL;
}

/* args_parse - the options; the index of the first recipient, or -1 */
int
args_parse(struct args *a, int argc, char **argv)
{
	int i;

	memset(a, 0, sizeof *a);
	a->dot = 1;
	if (argc > 0 && strcmp(base(argv[0]), "mailq") == 0)
		a->mode = MODE_LIST;
	if (argc > 0 && strcmp(base(argv[0]), "newaliases") == 0)
		a->mode = MODE_NEWALIASES;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		const char *p = argv[i] + 1;

		if (strcmp(argv[i], "--") == 0)
			return i + 1;
		for (; *p; p++) {
			if (*p == 'q' || *p == 'd') {	/* optional, attached */
				if (*p == 'q')
					opt_q(a, p + 1);
				break;
			}
			if (!takes_arg(*p)) {
				if (opt_flag(a, *p) == -1)
					return -1;
				continue;
			}
			if (p[1] == '\0' && i + 1 >= argc)
				return a->err = "an option lacks its argument", -1;
			if (opt_arg(a, *p, p[1] ? p + 1 : argv[++i]) == -1)
				return -1;
			break;
		}
	}
	return i;
}
