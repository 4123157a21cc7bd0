/* milter: the Sendmail milter protocol (version 6) from the MTA's side.
 * A packet is a 32-bit length in network order (the command byte
 * included), the command byte, then its data; strings end with NUL.
 * Everything a milter sends is checked against its packet: lengths,
 * NUL-terminated strings, the actions it negotiated.  No allocation for
 * replies but the changes kept at end of message. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "milter.h"

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* milter_pkt - length, command, data */
int
milter_pkt(struct buf *b, char cmd, const void *data, size_t n)
{
	unsigned char h[5];

	if (n > MILTER_PKT_MAX)
		return errno = EMSGSIZE, -1;
	put32(h, (uint32_t)n + 1);
	h[4] = (unsigned char)cmd;
	return buf_put(b, h, 5) == -1 || (n > 0 &&
	    buf_put(b, data, n) == -1) ? -1 : 0;
}

/* milter_next - one whole packet at the start of p */
long
milter_next(const unsigned char *p, size_t n, char *cmd,
    const unsigned char **data, size_t *dlen)
{
	uint32_t len;

	if (n < 4)
		return 0;
	len = get32(p);
	if (len == 0 || len > MILTER_PKT_MAX + 1)
		return -1;
	if (n - 4 < len)
		return 0;
	*cmd = (char)p[4];
	*data = p + 5;
	*dlen = len - 1;
	return (long)len + 4;
}

/* milter_optneg - the milter's OPTNEG: version 2 to 6, and no action or
 * step we did not offer */
int
milter_optneg(const unsigned char *d, size_t n, uint32_t *ver,
    uint32_t *actions, uint32_t *proto)
{
	if (n < 12)
		return -1;
	*ver = get32(d);
	*actions = get32(d + 4);
	*proto = get32(d + 8);
	if (*ver < 2 || *ver > MILTER_VERSION || (*actions & ~MA_ALL) ||
	    (*proto & ~MP_ALL))
		return -1;
	return 0;
}

/* str_at - a NUL-terminated string at *off within d[0..n); its start or
 * NULL; *off moves past its NUL */
static const char *
str_at(const unsigned char *d, size_t n, size_t *off)
{
	const unsigned char *z;
	const char *s;

	if (*off >= n || (z = memchr(d + *off, '\0', n - *off)) == NULL)
		return NULL;
	s = (const char *)d + *off;
	*off = (size_t)(z - d) + 1;
	return s;
}

static char *
dup_n(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* reply_text - 'y': "4xx text" or "5xx x.y.z text", printable, cut at
 * the first line end; 0 or -1 */
static int
reply_text(const unsigned char *d, size_t n, char *out)
{
	size_t off = 0, i, l;
	const char *s = str_at(d, n, &off);

	if (s == NULL || (l = strlen(s)) < 3 || (s[0] != '4' &&
	    s[0] != '5') || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
	    s[2] > '9' || (l > 3 && s[3] != ' ' && s[3] != '-'))
		return -1;
	for (i = 0; i < l && i < MILTER_TEXT_MAX - 1; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			break;
		out[i] = (unsigned char)s[i] >= 0x20 &&
		    (unsigned char)s[i] < 0x7f ? s[i] : '?';
	}
	out[i] = '\0';
	if (i > 3)
		out[3] = ' ';	/* the first line of a multi-line reply */
	return 0;
}

/* the action each change needs */
static uint32_t
needs(char cmd)
{
	switch (cmd) {
	case 'h':
	case 'i':
		return MA_ADDHDRS;
	case 'm':
		return MA_CHGHDRS;
	case '+':
		return MA_ADDRCPT;
	case '2':
		return MA_ADDRCPT_PAR;
	case '-':
		return MA_DELRCPT;
	case 'e':
		return MA_CHGFROM;
	case 'q':
		return MA_QUARANTINE;
	case 'b':
		return MA_CHGBODY;
	default:
		return 0;
	}
}

/* change - a change packet into a mod; 0 or -1 (malformed) */
static int
change(char cmd, const unsigned char *d, size_t n, struct milter_mod *m)
{
	size_t off = 0;
	const char *a, *b = NULL;

	memset(m, 0, sizeof *m);
	m->type = cmd;
	if (cmd == 'b') {
		if ((m->value = dup_n(d, n)) == NULL)
			return -1;
		m->vlen = n;
		return 0;
	}
	if (cmd == 'i' || cmd == 'm') {
		if (n < 4)
			return -1;
		m->idx = get32(d);
		off = 4;
	}
	if ((a = str_at(d, n, &off)) == NULL)
		return -1;
	switch (cmd) {
	case 'h':
	case 'i':
	case 'm':
	case '2':
		if ((b = str_at(d, n, &off)) == NULL)
			return -1;
		break;
	case 'e':
		b = str_at(d, n, &off);		/* ESMTP args: optional */
		break;
	default:
		break;
	}
	if (*a == '\0' && cmd != 'm' && cmd != 'q')
		return -1;
	if ((m->name = dup_n(a, strlen(a))) == NULL || (b != NULL &&
	    (m->value = dup_n(b, strlen(b))) == NULL))
		return -1;
	m->vlen = b ? strlen(b) : 0;
	return 0;
}

/* milter_reply - one reply packet */
int
milter_reply(char cmd, const unsigned char *d, size_t n, uint32_t actions,
    struct milter_res *res)
{
	struct milter_mod m;
	uint32_t need;

	switch (cmd) {
	case 'c':
		res->v = MV_CONTINUE;
		return 1;
	case 'a':
		res->v = MV_ACCEPT;
		return 1;
	case 'r':
		res->v = MV_REJECT;
		return 1;
	case 't':
		res->v = MV_TEMPFAIL;
		return 1;
	case 'd':
		res->v = MV_DISCARD;
		return 1;
	case 's':
		res->v = MV_SKIP;
		return 1;
	case 'y':
		if (reply_text(d, n, res->reply) == -1)
			return -1;
		res->v = MV_REPLY;
		return 1;
	case 'p':
		return 0;
	default:
		break;
	}
	if ((need = needs(cmd)) == 0 || !(actions & need))
		return -1;
	if (change(cmd, d, n, &m) == -1) {
		free(m.name);
		free(m.value);
		return -1;
	}
	if (res->nmods == MILTER_MODS_MAX) {
		res->overflow = 1;
		free(m.name);
		free(m.value);
		return 0;
	}
	res->mods[res->nmods++] = m;
	return 0;
}

/* milter_res_free - the changes kept */
void
milter_res_free(struct milter_res *res)
{
	for (unsigned i = 0; i < res->nmods; i++) {
		free(res->mods[i].name);
		free(res->mods[i].value);
	}
	res->nmods = 0;
	res->overflow = 0;
}

/* send_all - the bytes of b, by the deadline */
static int
send_all(int fd, const struct buf *b, long long dl)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	size_t off = 0;
	ssize_t k;
	long long t;

	while (off < b->len) {
		k = write(fd, b->p + off, b->len - off);
		if (k > 0) {
			off += (size_t)k;
			continue;
		}
		if (k == -1 && errno == EINTR)
			continue;
		if (k == 0 || errno != EAGAIN)
			return -1;
		if ((t = dl - io_now_ms()) <= 0)
			return errno = ETIMEDOUT, -1;
		(void)poll(&p, 1, t > 60000 ? 60000 : (int)t);
	}
	return 0;
}

/* recv_pkt - the next packet, by the deadline; 0 or -1 */
static int
recv_pkt(struct milter *m, long long dl, char *cmd,
    const unsigned char **d, size_t *dn, long *used)
{
	struct pollfd p = { .fd = m->fd, .events = POLLIN };
	ssize_t k;
	long long t;

	for (;;) {
		*used = milter_next(m->in, m->inlen, cmd, d, dn);
		if (*used > 0)
			return 0;
		if (*used == -1)
			return errno = EPROTO, -1;
		k = read(m->fd, m->in + m->inlen, MILTER_PKT_MAX + 5 -
		    m->inlen);
		if (k > 0) {
			m->inlen += (size_t)k;
			continue;
		}
		if (k == 0)
			return errno = ECONNRESET, -1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -1;
		if ((t = dl - io_now_ms()) <= 0)
			return errno = ETIMEDOUT, -1;
		(void)poll(&p, 1, t > 60000 ? 60000 : (int)t);
	}
}

static void
consume(struct milter *m, long used)
{
	m->inlen -= (size_t)used;
	memmove(m->in, m->in + used, m->inlen);
}

/* milter_open - OPTNEG: version 6, every action and step offered */
int
milter_open(struct milter *m, int fd, int timeout_ms)
{
	struct buf b = BUF_INIT(64);
	unsigned char o[12];
	const unsigned char *d;
	size_t dn;
	long used;
	uint32_t ver;
	char cmd;
	int r;

	memset(m, 0, sizeof *m);
	m->fd = fd;
	m->timeout_ms = timeout_ms;
	if ((m->in = malloc(MILTER_PKT_MAX + 5)) == NULL ||
	    (r = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, r | O_NONBLOCK) == -1) {
		m->dead = 1;
		return -1;
	}
	put32(o, MILTER_VERSION);
	put32(o + 4, MA_ALL);
	put32(o + 8, MP_ALL);
	r = milter_pkt(&b, MC_OPTNEG, o, sizeof o) == -1 ||
	    send_all(fd, &b, io_now_ms() + timeout_ms) == -1 ||
	    recv_pkt(m, io_now_ms() + timeout_ms, &cmd, &d, &dn,
	    &used) == -1 || cmd != MC_OPTNEG ||
	    milter_optneg(d, dn, &ver, &m->actions, &m->proto) == -1 ? -1 : 0;
	if (r == 0)
		consume(m, used);
	else
		m->dead = 1;
	buf_free(&b);
	return r;
}

/* the step flags of a stage: skipped, and no reply */
static void
stage_flags(char cmd, uint32_t *no, uint32_t *nr)
{
	static const struct { char c; uint32_t no, nr; } t[] = {
		{ MC_CONNECT, MP_NOCONNECT, MP_NR_CONN },
		{ MC_HELO, MP_NOHELO, MP_NR_HELO },
		{ MC_MAIL, MP_NOMAIL, MP_NR_MAIL },
		{ MC_RCPT, MP_NORCPT, MP_NR_RCPT },
		{ MC_DATA, MP_NODATA, MP_NR_DATA },
		{ MC_HEADER, MP_NOHDRS, MP_NR_HDR },
		{ MC_EOH, MP_NOEOH, MP_NR_EOH },
		{ MC_BODY, MP_NOBODY, MP_NR_BODY },
		{ MC_UNKNOWN, MP_NOUNKNOWN, MP_NR_UNKN },
	};

	*no = *nr = 0;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].c == cmd) {
			*no = t[i].no;
			*nr = t[i].nr;
		}
}

/* milter_stage - one stage and its verdict */
int
milter_stage(struct milter *m, char cmd, const void *data, size_t n,
    const char *const *macros, struct milter_res *res)
{
	struct buf b = BUF_INIT(MILTER_PKT_MAX + 16);
	struct buf mb = BUF_INIT(MILTER_PKT_MAX);
	const unsigned char *d;
	long long dl = io_now_ms() + m->timeout_ms;
	uint32_t no, nr;
	size_t dn;
	long used;
	char rc;
	int r, noreply = 0;

	res->v = MV_CONTINUE;
	res->reply[0] = '\0';
	if (m->dead) {
		res->v = MV_FAIL;
		return errno = EPIPE, -1;
	}
	stage_flags(cmd, &no, &nr);
	if (m->proto & no)
		return 0;
	if (cmd == MC_ABORT || cmd == MC_QUIT || cmd == MC_QUIT_NC)
		noreply = 1;	/* never answered */
	r = buf_putc(&mb, cmd);
	for (; macros != NULL && macros[0] != NULL; macros += 2)
		r |= buf_put(&mb, macros[0], strlen(macros[0]) + 1) |
		    buf_put(&mb, macros[1], strlen(macros[1]) + 1);
	if (r != 0 || (macros != NULL && mb.len > 1 &&
	    milter_pkt(&b, MC_MACRO, mb.p, mb.len) == -1) ||
	    milter_pkt(&b, cmd, data, n) == -1 ||
	    send_all(m->fd, &b, dl) == -1) {
		buf_free(&b);
		buf_free(&mb);
		m->dead = 1;
		res->v = MV_FAIL;
		return -1;
	}
	buf_free(&b);
	buf_free(&mb);
	if (noreply || (m->proto & nr))
		return 0;
	for (;;) {
		if (recv_pkt(m, dl, &rc, &d, &dn, &used) == -1) {
			m->dead = 1;
			res->v = MV_FAIL;
			return -1;
		}
		/* changes only at end of message */
		r = needs(rc) && cmd != MC_EOB ? -1 :
		    milter_reply(rc, d, dn, m->actions, res);
		consume(m, used);
		if (r == -1) {
			m->dead = 1;
			res->v = MV_FAIL;
			return errno = EPROTO, -1;
		}
		if (r == 1)
			return 0;
		if (rc == 'p')
			dl = io_now_ms() + m->timeout_ms;
	}
}

/* milter_close - QUIT, and the connection closed */
void
milter_close(struct milter *m)
{
	struct milter_res res = { 0 };

	if (m->fd >= 0) {
		if (!m->dead)
			(void)milter_stage(m, MC_QUIT, NULL, 0, NULL, &res);
		close(m->fd);
	}
	m->fd = -1;
	free(m->in);
	m->in = NULL;
}
