/* authclient: the client side of sandmail-auth's protocol (lib/authc.h),
 * the records both sides exchange, and SASL PLAIN/LOGIN decoding.
 * Linked by smtpd, pop3d and sandmail-auth.  Trusts nothing it decodes:
 * every field is bounded, every record consumed exactly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "authc.h"
#include "exitcode.h"
#include "rec.h"
#include "usock.h"

#define AUTH_TIMEOUT_MS	30000

enum { REQ_CHECK = 'A', REQ_VERSION = 'V' };

/* auth_attach - talk to sandmail-auth on fd (its child pid, or -1) */
void
auth_attach(struct authc *a, int fd, pid_t pid)
{
	a->fd = fd;
	a->pid = pid;
	a->greeted = 0;
	a->timeout_ms = AUTH_TIMEOUT_MS;
	rd_init(&a->rd, fd, NULL, NULL);
	wr_init(&a->wr, fd, NULL, NULL);
	a->rd.timeout_ms = a->timeout_ms;
	a->wr.timeout_ms = a->timeout_ms;
}

/* auth_sock_path - auth_socket, or QUEUE/lock/auth.sock (malloc'd) */
char *
auth_sock_path(const struct conf *c)
{
	return usock_path(c, "auth_socket", "auth.sock");
}

/* auth_connect - the service's socket; the banner is read at the first
 * check */
int
auth_connect(struct authc *a, const char *path)
{
	int fd;

	a->fd = -1;
	if ((fd = usock_connect(path, 0)) == -1)
		return -1;
	auth_attach(a, fd, -1);
	return 0;
}

/* greet: read and check the banner, once */
static int
greet(struct authc *a, struct buf *rec)
{
	struct cur c;
	const char *v;
	size_t n;
	uint8_t t;

	if (a->greeted)
		return 0;
	if (rec_read(&a->rd, rec, AUTH_REC_MAX) != 1)
		return -1;
	cur_init(&c, rec->p, rec->len);
	if (cur_u8(&c, &t) == -1 || t != REQ_VERSION ||
	    cur_str(&c, &v, &n) == -1 || cur_end(&c) != 0 ||
	    n != strlen(AUTH_VERSION) || memcmp(v, AUTH_VERSION, n) != 0)
		return errno = EPROTO, -1;
	a->greeted = 1;
	return 0;
}

static enum auth_status
answer(struct authc *a, struct buf *rec, char *canon, size_t canonsz)
{
	enum auth_status st;
	const char *t;
	size_t n;

	if (rec_read(&a->rd, rec, AUTH_REC_MAX) != 1 ||
	    auth_ans_decode(&st, &t, &n, rec->p, rec->len) == -1)
		return AUTH_TEMP;
	if (st == AUTH_OK) {
		if (n == 0 || n >= canonsz || memchr(t, '\0', n) != NULL)
			return AUTH_TEMP;
		memcpy(canon, t, n);
		canon[n] = '\0';
	}
	return st;
}

/* auth_check - one password check (see authc.h) */
enum auth_status
auth_check(struct authc *a, const char *service, const char *login,
    size_t llen, const char *pass, size_t plen, const char *client,
    char *canon, size_t canonsz)
{
	struct buf rec = BUF_INIT(AUTH_REC_MAX);
	enum auth_status st = AUTH_TEMP;

	if (canonsz > 0)
		canon[0] = '\0';
	if (a->fd == -1)
		return AUTH_TEMP;
	a->rd.timeout_ms = a->wr.timeout_ms = a->timeout_ms;
	if (greet(a, &rec) == -1)
		goto done;
	rec.len = 0;
	if (auth_req_encode(&rec, service, login, llen, pass, plen,
	    client) == -1)
		goto done;
	if (rec_write(&a->wr, rec.p, rec.len) == -1 || wr_flush(&a->wr) == -1)
		goto done;
	st = answer(a, &rec, canon, canonsz);
done:
	/* the request held the password; the write buffer too */
	if (rec.p != NULL)
		sodium_memzero(rec.p, rec.cap);
	sodium_memzero(a->wr.b, sizeof a->wr.b);
	buf_free(&rec);
	return st;
}

/* auth_close - close our end; the service forgets the connection (not
 * its failures) */
void
auth_close(struct authc *a)
{
	if (a->fd != -1)
		close(a->fd);
	a->fd = -1;
	a->pid = -1;
}

static int
field_ok(size_t n)
{
	return n <= AUTH_FIELD_MAX;
}

/* auth_req_encode - the check request A (not framed) */
int
auth_req_encode(struct buf *b, const char *service, const char *login,
    size_t llen, const char *pass, size_t plen, const char *client)
{
	if (!field_ok(llen) || !field_ok(plen) || !field_ok(strlen(service)) ||
	    (client != NULL && !field_ok(strlen(client))))
		return errno = E2BIG, -1;
	if (pk_u8(b, REQ_CHECK) == -1 || pk_cstr(b, service) == -1 ||
	    pk_str(b, login, llen) == -1 || pk_str(b, pass, plen) == -1 ||
	    pk_cstr(b, client) == -1)
		return -1;
	return 0;
}

static int
cur_field(struct cur *c, const char **p, size_t *n)
{
	if (cur_str(c, p, n) == -1 || !field_ok(*n))
		return errno = EPROTO, -1;
	return 0;
}

/* auth_req_decode - take a request A apart (pointers into p) */
int
auth_req_decode(struct auth_req *r, const void *p, size_t n)
{
	struct cur c;
	uint8_t t;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || t != REQ_CHECK ||
	    cur_field(&c, &r->service, &r->slen) == -1 ||
	    cur_field(&c, &r->login, &r->llen) == -1 ||
	    cur_field(&c, &r->pass, &r->plen) == -1 ||
	    cur_field(&c, &r->client, &r->clen) == -1 || cur_end(&c) != 0)
		return errno = EPROTO, -1;
	return 0;
}

/* auth_ans_encode - an answer: status byte and text */
int
auth_ans_encode(struct buf *b, enum auth_status st, const char *text)
{
	if (pk_u8(b, (uint8_t)st) == -1 || pk_cstr(b, text) == -1)
		return -1;
	return 0;
}

/* auth_ans_decode - take an answer apart; unknown status is EPROTO */
int
auth_ans_decode(enum auth_status *st, const char **text, size_t *tlen,
    const void *p, size_t n)
{
	struct cur c;
	uint8_t t;

	cur_init(&c, p, n);
	if (cur_u8(&c, &t) == -1 || cur_field(&c, text, tlen) == -1 ||
	    cur_end(&c) != 0)
		return errno = EPROTO, -1;
	switch (t) {
	case AUTH_OK:
	case AUTH_BAD:
	case AUTH_TEMP:
	case AUTH_DISCONNECT:
		*st = (enum auth_status)t;
		return 0;
	default:
		return errno = EPROTO, -1;
	}
}

/* auth_b64_decode - strict, padded base64 into out (see authc.h) */
int
auth_b64_decode(const char *s, size_t n, struct buf *out, size_t max)
{
	size_t need, got;
	const char *end;

	out->len = 0;
	if (n == 1 && s[0] == '=')
		return 0;
	if (n == 0 || n % 4 != 0)
		return errno = EINVAL, -1;
	need = n / 4 * 3 - (s[n - 1] == '=') - (s[n - 2] == '=');
	if (need > max)
		return errno = E2BIG, -1;
	if (buf_reserve(out, need + 1) == -1)
		return -1;
	if (sodium_base642bin((unsigned char *)out->p, need + 1, s, n, NULL,
	    &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != s + n || got != need)
		return errno = EINVAL, -1;
	out->len = got;
	return 0;
}

/* auth_b64_encode - append base64 of p[0..n) */
int
auth_b64_encode(struct buf *b, const void *p, size_t n)
{
	size_t k = sodium_base64_ENCODED_LEN(n,
	    sodium_base64_VARIANT_ORIGINAL);

	if (buf_reserve(b, k) == -1)
		return -1;
	sodium_bin2base64(b->p + b->len, k, p, n,
	    sodium_base64_VARIANT_ORIGINAL);
	b->len += k - 1;	/* without its NUL */
	return 0;
}

/* auth_plain - split an RFC 4616 PLAIN message (see authc.h) */
int
auth_plain(struct auth_plain *a, const char *m, size_t n)
{
	const char *z1, *z2;

	if ((z1 = memchr(m, '\0', n)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - m))) == NULL ||
	    memchr(z2 + 1, '\0', n - (size_t)(z2 + 1 - m)) != NULL)
		return errno = EINVAL, -1;
	a->authzid = m;
	a->zlen = (size_t)(z1 - m);
	a->authcid = z1 + 1;
	a->clen = (size_t)(z2 - a->authcid);
	a->passwd = z2 + 1;
	a->plen = n - (size_t)(a->passwd - m);
	if (a->clen == 0 || a->plen == 0)
		return errno = EINVAL, -1;
	if (a->zlen > AUTH_LOGIN_MAX || a->clen > AUTH_LOGIN_MAX ||
	    a->plen > AUTH_LOGIN_MAX)
		return errno = E2BIG, -1;
	if (a->zlen != 0 && (a->zlen != a->clen ||
	    memcmp(a->authzid, a->authcid, a->clen) != 0))
		return errno = EPERM, -1;
	return 0;
}
