/* milter: a client of the Sendmail milter protocol, version 6, as
 * Postfix speaks it (doc/protocols.md, "milter").  The codec (packets,
 * the negotiation, the replies) is pure and fuzzed; milter_open and
 * milter_stage talk over a connected socket with a deadline per stage.
 * smtpd's session uses it (smtpd/milters.c, doc/filters.md). */
#ifndef SANDMAIL_MILTER_H
#define SANDMAIL_MILTER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define MILTER_VERSION	6
#define MILTER_PKT_MAX	(256 * 1024)	/* a reply's data, at most */
#define MILTER_CHUNK	65535		/* a body packet's data */
#define MILTER_MODS_MAX	64		/* changes kept from one EOM */
#define MILTER_TEXT_MAX	512

/* commands (MTA -> milter) */
enum {
	MC_ABORT = 'A', MC_BODY = 'B', MC_CONNECT = 'C', MC_MACRO = 'D',
	MC_EOB = 'E', MC_HELO = 'H', MC_QUIT_NC = 'K', MC_HEADER = 'L',
	MC_MAIL = 'M', MC_EOH = 'N', MC_OPTNEG = 'O', MC_QUIT = 'Q',
	MC_RCPT = 'R', MC_DATA = 'T', MC_UNKNOWN = 'U',
};

/* actions a milter may ask for (SMFIF_*) */
enum {
	MA_ADDHDRS = 0x01, MA_CHGBODY = 0x02, MA_ADDRCPT = 0x04,
	MA_DELRCPT = 0x08, MA_CHGHDRS = 0x10, MA_QUARANTINE = 0x20,
	MA_CHGFROM = 0x40, MA_ADDRCPT_PAR = 0x80, MA_SETSYMLIST = 0x100,
};
/* what we offer: every action above */
#define MA_ALL		0x1ff

/* protocol steps (SMFIP_*): "no" skips a stage, "nr" expects no reply */
enum {
	MP_NOCONNECT = 0x01, MP_NOHELO = 0x02, MP_NOMAIL = 0x04,
	MP_NORCPT = 0x08, MP_NOBODY = 0x10, MP_NOHDRS = 0x20,
	MP_NOEOH = 0x40, MP_NR_HDR = 0x80, MP_NOUNKNOWN = 0x100,
	MP_NODATA = 0x200, MP_SKIP = 0x400, MP_RCPT_REJ = 0x800,
	MP_NR_CONN = 0x1000, MP_NR_HELO = 0x2000, MP_NR_MAIL = 0x4000,
	MP_NR_RCPT = 0x8000, MP_NR_DATA = 0x10000, MP_NR_UNKN = 0x20000,
	MP_NR_EOH = 0x40000, MP_NR_BODY = 0x80000, MP_HDR_LEADSPC = 0x100000,
};
/* what we offer: every step flag */
#define MP_ALL		0x1fffff

enum milter_verdict {
	MV_CONTINUE,		/* 'c', or a stage that needs no reply */
	MV_ACCEPT,		/* 'a': accept, ask no more */
	MV_REJECT,		/* 'r' */
	MV_TEMPFAIL,		/* 't' */
	MV_DISCARD,		/* 'd': accept and drop */
	MV_REPLY,		/* 'y': the code and text in reply */
	MV_SKIP,		/* 's': no more body */
	MV_FAIL,		/* time-out, EOF, a malformed packet */
};

/* one change asked at end of message */
struct milter_mod {
	char		 type;	/* 'h' add, 'i' insert, 'm' change header,
				 * '+' '2' add rcpt, '-' del rcpt, 'e' from,
				 * 'q' quarantine, 'b' body chunk */
	uint32_t	 idx;	/* 'i', 'm' */
	char		*name;	/* header name, address, reason; malloc */
	char		*value;	/* header value, ESMTP args; malloc */
	size_t		 vlen;	/* 'b': value's length (may hold NULs) */
};

struct milter_res {
	enum milter_verdict v;
	char		 reply[MILTER_TEXT_MAX];	/* MV_REPLY */
	struct milter_mod mods[MILTER_MODS_MAX];
	unsigned	 nmods;
	int		 overflow;	/* more changes than MILTER_MODS_MAX */
};

struct milter {
	int		 fd;
	int		 timeout_ms;	/* per stage */
	uint32_t	 actions;	/* negotiated */
	uint32_t	 proto;
	unsigned char	*in;		/* MILTER_PKT_MAX + 5 */
	size_t		 inlen;
	int		 dead;		/* failed once: no more I/O */
};

/* milter_pkt: append one packet to b; 0 or -1 */
int	milter_pkt(struct buf *b, char cmd, const void *data, size_t n);
/* milter_next: one packet at the start of p[0..n): the bytes it takes
 * (with *cmd, *data, *dlen), 0 more bytes needed, -1 malformed (length
 * 0 or over MILTER_PKT_MAX + 1) */
long	milter_next(const unsigned char *p, size_t n, char *cmd,
	    const unsigned char **data, size_t *dlen);
/* milter_optneg: a milter's answer to OPTNEG, checked against what we
 * offered; 0 (the version, actions and steps in *) or -1 */
int	milter_optneg(const unsigned char *d, size_t n, uint32_t *ver,
	    uint32_t *actions, uint32_t *proto);
/* milter_reply: one reply packet into res (a verdict, or a change
 * appended to res->mods if actions allows it); 1 final (a verdict), 0
 * a change or progress (read on), -1 malformed or not allowed */
int	milter_reply(char cmd, const unsigned char *d, size_t n,
	    uint32_t actions, struct milter_res *res);
void	milter_res_free(struct milter_res *);

/* milter_open: negotiate on fd (connected; made non-blocking); 0 or -1.
 * After any failure (time-out, EOF, a malformed or unasked-for packet)
 * the connection is dead: later stages answer MV_FAIL without I/O.  The
 * caller ignores SIGPIPE (a milter that closed). */
int	milter_open(struct milter *, int fd, int timeout_ms);
/* milter_stage: send one command (skipped when the milter asked for no
 * such stage; no reply awaited when it asked for none), then read
 * replies until a verdict; res->v.  Macros (name, value pairs in
 * macros, a NULL name ending them) go first, for the stage's code. */
int	milter_stage(struct milter *, char cmd, const void *data, size_t n,
	    const char *const *macros, struct milter_res *res);
void	milter_close(struct milter *);

#endif
