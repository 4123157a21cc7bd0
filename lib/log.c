/* log: key=value lines on fd 2, one write(2) per line so that lines from
 * concurrent processes sharing the supervisor's pipe do not interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "utf8.h"

static const char *progname = "sandmail";

/* log_init - name the program in every line */
void
log_init(const char *prog)
{
	progname = prog;
}

/* log_prog - the name given to log_init */
const char *
log_prog(void)
{
	return progname;
}

static void
put(struct logln *l, const char *p, size_t n)
{
	/* keep 4 bytes for "..." and the newline */
	if (l->cut || l->len + n > sizeof l->b - 4) {
		l->cut = 1;
		return;
	}
	memcpy(l->b + l->len, p, n);
	l->len += n;
}

static int
bare(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("._@:/+-,<>[]%!#*", c) != NULL);
}

static void
put_value(struct logln *l, const unsigned char *v, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char e[4];
	size_t i, k;
	int plain = n > 0;

	for (i = 0; i < n && plain; i++)
		plain = bare(v[i]);
	if (plain) {
		put(l, (const char *)v, n);
		return;
	}
	put(l, "\"", 1);
	for (i = 0; i < n; i++) {
		if (v[i] == '"' || v[i] == '\\') {
			e[0] = '\\', e[1] = (char)v[i];
			put(l, e, 2);
		} else if (v[i] >= 0x20 && v[i] < 0x7f) {
			put(l, (const char *)v + i, 1);
		} else if (v[i] >= 0x80 && (k = utf8_seq(v + i, n - i)) > 0) {
			put(l, (const char *)v + i, k);
			i += k - 1;
		} else {
			e[0] = '\\', e[1] = 'x';
			e[2] = hex[v[i] >> 4], e[3] = hex[v[i] & 15];
			put(l, e, 4);
		}
	}
	put(l, "\"", 1);
}

/* log_start - begin a line: prog=NAME event=EVENT */
void
log_start(struct logln *l, const char *event)
{
	l->len = 0;
	l->cut = 0;
	log_s(l, "prog", progname);
	log_s(l, "event", event);
}

/* log_m - add key=value with a value of n bytes, escaped as needed */
void
log_m(struct logln *l, const char *key, const void *val, size_t n)
{
	if (l->len > 0)
		put(l, " ", 1);
	put(l, key, strlen(key));
	put(l, "=", 1);
	put_value(l, val, n);
}

/* log_s - add key=value with a C string value (NULL logs as "") */
void
log_s(struct logln *l, const char *key, const char *val)
{
	if (val == NULL)
		val = "";
	log_m(l, key, val, strlen(val));
}

/* log_u - add key=unsigned number */
void
log_u(struct logln *l, const char *key, unsigned long long v)
{
	char t[24];
	int n = snprintf(t, sizeof t, "%llu", v);

	log_m(l, key, t, (size_t)n);
}

/* log_i - add key=signed number */
void
log_i(struct logln *l, const char *key, long long v)
{
	char t[24];
	int n = snprintf(t, sizeof t, "%lld", v);

	log_m(l, key, t, (size_t)n);
}

/* log_finish - end the line with "..." if cut, and a newline */
void
log_finish(struct logln *l)
{
	if (l->cut) {
		memcpy(l->b + l->len, "...", 3);
		l->len += 3;
	}
	l->b[l->len++] = '\n';
}

/* log_done - finish the line and write it to fd 2 in one call */
void
log_done(struct logln *l)
{
	size_t off = 0;
	ssize_t w;

	log_finish(l);
	while (off < l->len) {
		w = write(2, l->b + off, l->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

/* log_kv - a whole line of string pairs, ended by NULL */
void
log_kv(const char *event, ...)
{
	struct logln l;
	const char *k, *v;
	va_list ap;
	int saved = errno;

	log_start(&l, event);
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		log_s(&l, k, v);
	}
	va_end(ap);
	log_done(&l);
	errno = saved;
}

/* die_msg - log a fatal line with our own reason and exit with code */
void
die_msg(int code, const char *op, const char *reason)
{
	struct logln l;

	log_start(&l, "fatal");
	log_s(&l, "op", op);
	log_s(&l, "err", reason);
	log_i(&l, "exit", code);
	log_done(&l);
	_exit(code);
}

/* die_code - log a fatal line with errno's text and exit with code */
void
die_code(int code, const char *op, const char *arg)
{
	struct logln l;
	int e = errno;

	log_start(&l, "fatal");
	log_s(&l, "op", op);
	if (arg != NULL)
		log_s(&l, "arg", arg);
	if (e != 0)
		log_s(&l, "err", strerror(e));
	log_i(&l, "exit", code);
	log_done(&l);
	_exit(code);
}

/* die_temp - fatal, temporary (111) */
void
die_temp(const char *op, const char *arg)
{
	die_code(EXIT_TEMP, op, arg);
}

/* die_perm - fatal, permanent (100) */
void
die_perm(const char *op, const char *arg)
{
	die_code(EXIT_PERM, op, arg);
}
