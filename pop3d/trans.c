/* trans: the TRANSACTION and UPDATE states (RFC 1939 5, 6), run by the
 * mailbox process as the mailbox owner, sandboxed to the maildir.  Its
 * input comes from the login process, which relays the client's bytes:
 * it is read as the client's own. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "pop3d.h"

#define IN(v)	(1u << (v))
/* the verbs of the TRANSACTION state */
#define TRANS_VERBS	(IN(V_STAT) | IN(V_LIST) | IN(V_RETR) | IN(V_DELE) | \
	IN(V_NOOP) | IN(V_RSET) | IN(V_TOP) | IN(V_UIDL) | IN(V_QUIT) | \
	IN(V_CAPA))

static int
say(struct wr *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
say(struct wr *w, const char *fmt, ...)
{
	char b[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof b - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof b - 2)
		return errno = E2BIG, -1;
	b[n++] = '\r';
	b[n++] = '\n';
	return wr_put(w, b, (size_t)n);
}

/* msg_arg: the message a number names, or NULL (none, or deleted) */
static struct msg *
msg_arg(struct mbox *mb, unsigned long n)
{
	if (n == 0 || n > mb->n || mb->m[n - 1].deleted)
		return NULL;
	return &mb->m[n - 1];
}

static int
no_such(struct wr *w)
{
	return say(w, "-ERR no such message");
}

/* listing: LIST or UIDL, one message or all */
static int
listing(struct mbox *mb, const struct pop3_cmd *c, struct wr *w, int uidl)
{
	struct msg *m;
	size_t i;

	if (c->nnum == 1) {
		if ((m = msg_arg(mb, c->num[0])) == NULL)
			return no_such(w);
		return uidl ? say(w, "+OK %lu %s", c->num[0], m->uid) :
		    say(w, "+OK %lu %llu", c->num[0],
		    (unsigned long long)m->octets);
	}
	if (say(w, uidl ? "+OK unique-id listing follows" :
	    "+OK %zu messages (%llu octets)", mb->live,
	    (unsigned long long)mb->total) == -1)
		return -1;
	for (i = 0; i < mb->n; i++) {
		m = &mb->m[i];
		if (m->deleted)
			continue;
		if ((uidl ? say(w, "%zu %s", i + 1, m->uid) :
		    say(w, "%zu %llu", i + 1, (unsigned long long)m->octets))
		    == -1)
			return -1;
	}
	return wr_put(w, ".\r\n", 3);
}

/* retr: RETR (lines -1) and TOP */
static int
retr(struct mbox *mb, const struct pop3_cmd *c, struct wr *w, long lines)
{
	struct msg *m;
	int fd, r;

	if ((m = msg_arg(mb, c->num[0])) == NULL)
		return no_such(w);
	if ((fd = mbox_msg_open(mb, c->num[0] - 1)) == -1) {
		log_kv("error", "op", "open", "msg", m->name, "err",
		    strerror(errno), NULL);
		return say(w, "-ERR [SYS/TEMP] cannot read that message now");
	}
	if (say(w, "+OK %llu octets", (unsigned long long)m->octets) == -1) {
		close(fd);
		return -1;
	}
	r = mbox_send_fd(fd, lines, w);
	close(fd);
	if (r == 0 && lines < 0)
		m->retrieved = 1;
	return r;
}

static int
dele(struct mbox *mb, const struct pop3_cmd *c, struct wr *w)
{
	struct msg *m;

	if ((m = msg_arg(mb, c->num[0])) == NULL)
		return no_such(w);
	m->deleted = 1;
	mb->live--;
	mb->total -= m->octets;
	return say(w, "+OK message %lu deleted", c->num[0]);
}

static int
rset(struct mbox *mb, struct wr *w)
{
	size_t i;

	mb->live = mb->n;
	mb->total = 0;
	for (i = 0; i < mb->n; i++) {
		mb->m[i].deleted = 0;
		mb->total += mb->m[i].octets;
	}
	return say(w, "+OK %zu messages (%llu octets)", mb->live,
	    (unsigned long long)mb->total);
}

static int
capa(struct wr *w)
{
	return wr_puts(w, "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
	    "AUTH-RESP-CODE\r\nIMPLEMENTATION sandmail\r\n.\r\n");
}

static int
quit(struct mbox *mb, struct wr *w, int *quit_ok)
{
	int fails = mbox_update(mb);

	*quit_ok = fails == 0;
	if (fails != 0)
		return say(w, "-ERR [SYS/TEMP] some deleted messages were not "
		    "removed");
	return say(w, "+OK sandmail POP3 server signing off (%zu messages "
	    "left)", mb->live);
}

/* trans_line - one command in the TRANSACTION state (see pop3d.h) */
int
trans_line(struct mbox *mb, const char *line, size_t n, struct wr *w,
    int *quit_ok)
{
	struct pop3_cmd c;
	enum pop3_perr e = pop3_parse(line, n, &c);
	int r;

	if (e == PE_UNKNOWN || e == PE_NUL)
		return say(w, "-ERR unknown command") == -1 ? -1 : 1;
	if (!(TRANS_VERBS & IN(c.verb)))
		return say(w, "-ERR not in the TRANSACTION state") == -1 ?
		    -1 : 1;
	if (e == PE_SYNTAX)
		return say(w, "-ERR syntax error") == -1 ? -1 : 1;
	switch (c.verb) {
	case V_STAT:
		r = say(w, "+OK %zu %llu", mb->live,
		    (unsigned long long)mb->total);
		break;
	case V_LIST:
		r = listing(mb, &c, w, 0);
		break;
	case V_UIDL:
		r = listing(mb, &c, w, 1);
		break;
	case V_RETR:
		r = retr(mb, &c, w, -1);
		break;
	case V_TOP:
		r = retr(mb, &c, w, c.num[1] > 0x7fffffffUL ? 0x7fffffffL :
		    (long)c.num[1]);
		break;
	case V_DELE:
		r = dele(mb, &c, w);
		break;
	case V_RSET:
		r = rset(mb, w);
		break;
	case V_CAPA:
		r = capa(w);
		break;
	case V_QUIT:
		return quit(mb, w, quit_ok) == -1 ? -1 : 0;
	default:
		r = say(w, "+OK");
		break;
	}
	return r == -1 ? -1 : 1;
}

static void
log_end(const char *event, const struct mbox *mb, const char *user,
    const char *ip, int ok)
{
	struct logln l;
	size_t i, del = 0, ret = 0;

	for (i = 0; i < mb->n; i++) {
		del += mb->m[i].deleted != 0;
		ret += mb->m[i].retrieved != 0;
	}
	log_start(&l, event);
	log_s(&l, "user", user);
	log_s(&l, "ip", ip);
	log_u(&l, "retrieved", ret);
	log_u(&l, "deleted", ok ? del : 0);
	log_u(&l, "left", ok ? mb->live : mb->n);
	if (!ok && del > 0)
		log_s(&l, "note", "no deletion done");
	log_done(&l);
}

/* trans_run - serve until QUIT or EOF; an exit code */
int
trans_run(struct mbox *mb, struct rd *r, struct io_dl *dl, int timeout_ms,
    struct wr *w, const char *user, const char *ip)
{
	struct buf line = BUF_INIT(POP3_LINE_MAX);
	int k, quit_ok = 0;

	for (;;) {
		if (rd_pending(r) == 0 && wr_flush(w) == -1)
			break;
		/* RFC 1939 3: a command must come whole within the
		 * autologout time, however its bytes are spread */
		dl->deadline = io_now_ms() + timeout_ms;
		k = rd_line(r, &line, POP3_LINE_MAX);
		if (k == -1 && errno == ETIMEDOUT) {
			/* RFC 1939 3: close without a reply, nothing deleted */
			log_kv("timeout", "user", user, "ip", ip, NULL);
			break;
		}
		if (k == -1 && errno == E2BIG) {
			if (say(w, "-ERR line too long") == -1)
				break;
			continue;
		}
		if (k != 1)
			break;
		if ((k = trans_line(mb, line.p, line.len, w, &quit_ok)) <= 0) {
			if (k == 0) {
				/* logged before the client can see the +OK */
				log_end("quit", mb, user, ip, quit_ok);
				(void)wr_flush(w);
				buf_free(&line);
				return quit_ok ? EXIT_OK : EXIT_TEMP;
			}
			break;
		}
	}
	/* no QUIT: no UPDATE state, nothing deleted (RFC 1939 6) */
	log_end("disconnect", mb, user, ip, 0);
	buf_free(&line);
	return EXIT_OK;
}
