/* dlog: the delivery log's parts that send writes and sandmail-logsum
 * reads back.  Pure functions over bytes from outside (remote replies,
 * log files): no allocation, every index bounded by n. */
#include <stdint.h>
#include <string.h>
#include <time.h>

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

/* num - the d digits at p as a number, or -1 */
static long
num(const char *p, int d)
{
	long v = 0;

	for (int i = 0; i < d; i++) {
		if (!digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* dlog_time - see dlog.h */
int
dlog_time(const char *p, size_t n, long long *t)
{
	struct tm tm;
	long y, mo, d, h, mi, s;
	uint64_t v = 0;

	if (n >= 25 && p[0] == '@') {
		/* TAI64N: 16 hex digits of 2^62 + TAI seconds (UTC + 10 s +
		 * the leap seconds, 37 since 2017), then 8 of nanoseconds */
		for (int i = 1; i <= 16; i++) {
			int x = digit(p[i]) ? p[i] - '0' : p[i] >= 'a' &&
			    p[i] <= 'f' ? p[i] - 'a' + 10 : -1;

			if (x < 0)
				return 0;
			v = v << 4 | (uint64_t)x;
		}
		if (v < (UINT64_C(1) << 62) + 37 ||
		    v - (UINT64_C(1) << 62) > (uint64_t)1 << 40)
			return 0;
		*t = (long long)(v - (UINT64_C(1) << 62) - 37);
		return 1;
	}
	if (n < 19 || p[4] != '-' || p[7] != '-' || (p[10] != '_' &&
	    p[10] != 'T' && p[10] != ' ') || p[13] != ':' || p[16] != ':')
		return 0;
	y = num(p, 4), mo = num(p + 5, 2), d = num(p + 8, 2);
	h = num(p + 11, 2), mi = num(p + 14, 2), s = num(p + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
		return 0;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = (int)(y - 1900), tm.tm_mon = (int)(mo - 1);
	tm.tm_mday = (int)d, tm.tm_hour = (int)h, tm.tm_min = (int)mi;
	tm.tm_sec = (int)s;
	*t = (long long)timegm(&tm);
	return 1;
}
