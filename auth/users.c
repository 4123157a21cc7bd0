/* users: editing the text users table (login -> argon2id hash) for
 * sandmail-passwd: one line replaced or added, every other byte kept. */
#include <errno.h>
#include <string.h>

#include "authc.h"
#include "authd.h"

/* users_login_ok - a login the table can hold and a client can send */
int
users_login_ok(const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	if (n == 0 || n > AUTH_LOGIN_MAX || s[0] == '#')
		return 0;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || c == ':')
			return 0;
	}
	return 1;
}

/* line_key: the key of one line (a comment or blank line has none) */
static size_t
line_key(const char *p, size_t n, const char **key)
{
	size_t i = 0, k;

	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == n || p[i] == '#' || p[i] == '\n' || p[i] == '\r')
		return 0;
	for (k = i; k < n && strchr(" \t:\r\n", p[k]) == NULL; k++)
		;
	*key = p + i;
	return k - i;
}

static int
put_entry(struct buf *out, const char *login, const char *hash)
{
	if (buf_puts(out, login) == -1 || buf_putc(out, ' ') == -1 ||
	    buf_puts(out, hash) == -1 || buf_putc(out, '\n') == -1)
		return -1;
	return 0;
}

/* users_update - replace, add or (hash NULL) remove login's line */
int
users_update(const char *in, size_t n, const char *login, const char *hash,
    struct buf *out, int *found)
{
	const char *p = in, *end = in + n, *nl, *key;
	size_t len, k, ll = strlen(login);

	*found = 0;
	out->len = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		k = line_key(p, len, &key);
		if (k == ll && memcmp(key, login, ll) == 0) {
			/* the first one is replaced, duplicates dropped */
			if (!*found && hash != NULL &&
			    put_entry(out, login, hash) == -1)
				return -1;
			*found = 1;
		} else {
			if (buf_put(out, p, len) == -1)
				return -1;
			if (nl == NULL && buf_putc(out, '\n') == -1)
				return -1;
		}
		p += len;
	}
	if (!*found && hash != NULL && put_entry(out, login, hash) == -1)
		return -1;
	return 0;
}
