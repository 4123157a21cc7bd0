/* parse: POP3 command lines (RFC 1939, 2449, 2595, 5034) taken apart,
 * without any I/O, so the unit tests and the fuzzer call exactly what
 * the server runs.  Keywords are case-insensitive; arguments are
 * separated by single spaces (RFC 1939 3); numbers are decimal without
 * sign and fit in 32 bits. */
#include <string.h>
#include <strings.h>

#include "pop3d.h"

enum argspec {
	A_NONE,		/* no argument */
	A_REST,		/* the rest of the line, required (USER, PASS) */
	A_AUTH,		/* mechanism [initial response], or nothing */
	A_NUM,		/* one number */
	A_NUMOPT,	/* zero or one number */
	A_NUM2,		/* two numbers */
};

static const struct {
	const char	*name;
	enum pop3_verb	 verb;
	enum argspec	 args;
} verbs[] = {
	{ "USER", V_USER, A_REST },
	{ "PASS", V_PASS, A_REST },
	{ "APOP", V_APOP, A_REST },
	{ "AUTH", V_AUTH, A_AUTH },
	{ "STLS", V_STLS, A_NONE },
	{ "CAPA", V_CAPA, A_NONE },
	{ "QUIT", V_QUIT, A_NONE },
	{ "STAT", V_STAT, A_NONE },
	{ "LIST", V_LIST, A_NUMOPT },
	{ "RETR", V_RETR, A_NUM },
	{ "DELE", V_DELE, A_NUM },
	{ "NOOP", V_NOOP, A_NONE },
	{ "RSET", V_RSET, A_NONE },
	{ "TOP", V_TOP, A_NUM2 },
	{ "UIDL", V_UIDL, A_NUMOPT },
};

/* pop3_chomp - the length of line without its LF or CRLF */
size_t
pop3_chomp(const char *line, size_t n)
{
	if (n > 0 && line[n - 1] == '\n')
		n--;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	return n;
}

/* pop3_verb_name - the keyword, for logs */
const char *
pop3_verb_name(enum pop3_verb v)
{
	size_t i;

	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "?";
}

/* number: decimal digits at p[0..n), 0..4294967295 (a message number of
 * 0 is refused by the caller as "no such message"; TOP may ask 0 lines) */
static int
number(const char *p, size_t n, unsigned long *v)
{
	unsigned long long x = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		x = x * 10 + (unsigned long long)(p[i] - '0');
	}
	if (x > 0xffffffffull)
		return -1;
	*v = (unsigned long)x;
	return 0;
}

/* numbers: "N" or "N M" (exactly want..max of them) in a[0..n) */
static enum pop3_perr
numbers(const char *a, size_t n, int min, int max, struct pop3_cmd *c)
{
	const char *sp;
	size_t k;

	c->nnum = 0;
	while (n > 0) {
		if (c->nnum == max)
			return PE_SYNTAX;
		sp = memchr(a, ' ', n);
		k = sp ? (size_t)(sp - a) : n;
		if (number(a, k, &c->num[c->nnum]) == -1)
			return PE_SYNTAX;
		c->nnum++;
		if (sp == NULL)
			break;
		a = sp + 1;
		n -= k + 1;
		if (n == 0)
			return PE_SYNTAX;	/* a trailing space */
	}
	return c->nnum < min ? PE_SYNTAX : PE_OK;
}

/* pop3_parse - one command line */
enum pop3_perr
pop3_parse(const char *line, size_t n, struct pop3_cmd *c)
{
	const char *arg;
	size_t i, k, alen;

	memset(c, 0, sizeof *c);
	n = pop3_chomp(line, n);
	if (memchr(line, '\0', n) != NULL)
		return PE_NUL;
	for (k = 0; k < n && line[k] != ' '; k++)
		;
	arg = k < n ? line + k + 1 : line + n;
	alen = k < n ? n - k - 1 : 0;
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strlen(verbs[i].name) == k &&
		    strncasecmp(line, verbs[i].name, k) == 0)
			break;
	if (i == sizeof verbs / sizeof verbs[0])
		return PE_UNKNOWN;
	c->verb = verbs[i].verb;
	switch (verbs[i].args) {
	case A_NONE:
		return k == n ? PE_OK : PE_SYNTAX;
	case A_REST:
		if (k == n || alen == 0)
			return PE_SYNTAX;
		c->arg = arg, c->alen = alen;
		return PE_OK;
	case A_AUTH:
		if (k < n && alen == 0)
			return PE_SYNTAX;
		c->arg = arg, c->alen = alen;
		return PE_OK;
	case A_NUM:
		return k == n ? PE_SYNTAX : numbers(arg, alen, 1, 1, c);
	case A_NUMOPT:
		if (k == n)
			return PE_OK;
		return numbers(arg, alen, 1, 1, c);
	case A_NUM2:
		return k == n ? PE_SYNTAX : numbers(arg, alen, 2, 2, c);
	}
	return PE_SYNTAX;
}
