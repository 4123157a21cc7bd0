/* dlog: the delivery log's parts that send writes and sandmail-logsum
 * reads back.  Pure functions over bytes from outside (remote replies,
 * log files): no allocation, every index bounded by n. */
#include <string.h>

#include "dlog.h"

static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* digits - 1..3 digits at p[i..n); their count, or 0 */
static size_t
digits(const char *p, size_t i, size_t n)
{
	size_t k = 0;

	while (i + k < n && digit(p[i + k]) && k < 4)
		k++;
	return k >= 1 && k <= 3 ? k : 0;
}

int
dlog_dsn(const char *p, size_t n, char out[DLOG_DSN_MAX])
{
	for (size_t i = 0; i + 5 <= n; i++) {
		size_t a, b, e;

		if ((p[i] != '2' && p[i] != '4' && p[i] != '5') ||
		    p[i + 1] != '.' || (i > 0 && (digit(p[i - 1]) ||
		    p[i - 1] == '.')))
			continue;
		if ((a = digits(p, i + 2, n)) == 0 || i + 2 + a >= n ||
		    p[i + 2 + a] != '.')
			continue;
		if ((b = digits(p, i + 3 + a, n)) == 0)
			continue;
		e = i + 3 + a + b;
		if (e < n && (p[e] == '.' || digit(p[e])))
			continue;
		memcpy(out, p + i, e - i);
		out[e - i] = '\0';
		return 1;
	}
	return 0;
}

static int
hexval(char c)
{
	if (digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* value - the value starting at p[i]; copied (unescaped) to out when out
 * is not NULL; returns the index just past it */
static size_t
value(const char *p, size_t i, size_t n, char *out, size_t sz)
{
	size_t o = 0;
	int h, l;
	char c;

	if (i < n && p[i] == '"') {
		for (i++; i < n && p[i] != '"'; i++) {
			c = p[i];
			if (c == '\\' && i + 1 < n) {
				if (p[i + 1] == 'x' && i + 3 < n &&
				    (h = hexval(p[i + 2])) >= 0 &&
				    (l = hexval(p[i + 3])) >= 0) {
					c = (char)(h << 4 | l);
					i += 3;
				} else
					c = p[++i];
			}
			if (out != NULL && o + 1 < sz)
				out[o++] = c;
		}
		if (i < n)
			i++;		/* the closing quote */
	} else
		for (; i < n && p[i] != ' ' && p[i] != '\n'; i++)
			if (out != NULL && o + 1 < sz)
				out[o++] = p[i];
	if (out != NULL && sz > 0)
		out[o] = '\0';
	return i;
}

int
dlog_get(const char *p, size_t n, const char *key, char *out, size_t sz)
{
	size_t kl = strlen(key), i = 0, k;

	while (i < n) {
		while (i < n && (p[i] == ' ' || p[i] == '\n'))
			i++;
		for (k = i; k < n && p[k] != '=' && p[k] != ' ' &&
		    p[k] != '"' && p[k] != '\n'; k++)
			continue;
		if (k >= n || p[k] != '=') {
			/* not a key=value token (a timestamp): skip it */
			i = k < n && p[k] == '"' ? value(p, k, n, NULL, 0) :
			    k + 1;
			continue;
		}
		if (k - i == kl && memcmp(p + i, key, kl) == 0) {
			(void)value(p, k + 1, n, out, sz);
			return 1;
		}
		i = value(p, k + 1, n, NULL, 0);
	}
	if (sz > 0)
		out[0] = '\0';
	return 0;
}
