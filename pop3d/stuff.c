/* stuff: a maildir file as POP3 sends it (RFC 1939 3): every line ends
 * in CRLF (a bare LF stored by a Unix delivery becomes CRLF), a line that
 * begins with '.' gets one more, and the end is ".CRLF".  For TOP the
 * header, its empty line, and then only so many body lines are sent. */
#include <string.h>

#include "pop3d.h"

/* stuff_init - lines: body lines for TOP, -1 for the whole message */
void
stuff_init(struct stuff *s, long lines)
{
	memset(s, 0, sizeof *s);
	s->bol = 1;
	s->hdrempty = 1;
	s->lines = lines;
}

static int
emit(struct stuff *s, struct wr *w, const char *p, size_t n)
{
	s->out += n;
	return w == NULL ? 0 : wr_put(w, p, n);
}

/* line_end: one line has ended (its LF emitted); TOP's accounting */
static void
line_end(struct stuff *s)
{
	if (!s->inbody) {
		if (s->hdrempty)
			s->inbody = 1;	/* the empty line: the body follows */
		s->hdrempty = 1;
		if (s->inbody && s->lines == 0)
			s->done = 1;
		return;
	}
	if (s->lines > 0 && --s->lines == 0)
		s->done = 1;
}

/* stuff_feed - encode p[0..n) */
int
stuff_feed(struct stuff *s, const char *p, size_t n, struct wr *w)
{
	size_t i = 0, run;

	while (i < n && !s->done) {
		/* the stuffed dot is not part of the message's size */
		if (s->bol && p[i] == '.' && w != NULL &&
		    wr_put(w, ".", 1) == -1)
			return -1;
		/* a run of ordinary bytes up to the next CR or LF */
		for (run = i; run < n && p[run] != '\n' && p[run] != '\r';
		    run++)
			;
		if (run > i) {
			if (emit(s, w, p + i, run - i) == -1)
				return -1;
			s->bol = 0, s->cr = 0, s->hdrempty = 0;
			i = run;
			continue;
		}
		if (p[i] == '\r') {
			/* a CR is sent as it is; if no LF follows it, it is
			 * just a byte of the line */
			if (emit(s, w, "\r", 1) == -1)
				return -1;
			s->cr = 1, s->bol = 0;
			i++;
			continue;
		}
		/* LF: with or without the CR before it, the line ends CRLF */
		if (emit(s, w, s->cr ? "\n" : "\r\n", s->cr ? 1 : 2) == -1)
			return -1;
		s->cr = 0, s->bol = 1;
		line_end(s);
		i++;
	}
	return 0;
}

/* stuff_count - what stuff_feed(s, p, n, NULL) counts, at memchr speed:
 * every byte, plus a CR for each LF without one (at login every message
 * is counted, so this is the cost of a login on a big mailbox) */
void
stuff_count(struct stuff *s, const char *p, size_t n)
{
	const char *e = p + n, *lf;

	s->out += n;
	if (n == 0)
		return;
	for (lf = memchr(p, '\n', n); lf != NULL;
	    lf = memchr(lf + 1, '\n', (size_t)(e - lf - 1))) {
		if (lf == p ? !s->cr : lf[-1] != '\r')
			s->out++;
		if (lf + 1 == e)
			break;
	}
	s->cr = e[-1] == '\r';
	s->bol = e[-1] == '\n';
}

/* stuff_end - close the last line if needed, then the terminator */
int
stuff_end(struct stuff *s, struct wr *w)
{
	if (!s->bol && !s->done) {
		if (emit(s, w, s->cr ? "\n" : "\r\n", s->cr ? 1 : 2) == -1)
			return -1;
		s->bol = 1;
	}
	return w == NULL ? 0 : wr_put(w, ".\r\n", 3);
}
