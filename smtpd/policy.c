/* policy: may this recipient be accepted?  The decision of where it goes
 * is lib/rcpt.c's, the one sandmail-send makes too, so that what is
 * accepted here is delivered to the same place.  Here: users of our
 * domains that exist (and postmaster, always: RFC 5321 4.5.1); domains
 * routes names, for forwarding; any other domain only from a client
 * that may relay.  Lookups touch only mapped tables. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "rcpt.h"
#include "smtpd.h"
#include "srs.h"
#include "srsc.h"

#define SRS_WAIT_MS	10000	/* sandmail-srs answers at once */

/* rcpt_tabs_of - the session's tables as lib/rcpt.h takes them */
static void
rcpt_tabs_of(struct session *s, struct rcpt_tabs *rt)
{
	struct tbl *t = s->tabs->t;

	rt->domains = &t[T_DOMAINS];
	rt->aliases = &t[T_ALIASES];
	rt->virt = &t[T_VIRTUAL];
	rt->localusers = &t[T_LOCALUSERS];
	rt->moved = &t[T_MOVED];
	rt->routes = &t[T_ROUTES];
	rt->hostname = s->cfg->hostname;
	rt->delim = s->cfg->delim;
}

static enum rcpt_verdict
verdict(struct session *s, const struct rcpt_tabs *rt,
    const struct rcpt_res *r, struct buf *info)
{
	switch (r->kind) {
	case RK_REMOTE:
		return may_relay(s) ? RV_OK : RV_RELAY;
	case RK_ROUTED:
	case RK_USER:
	case RK_VIRTUAL:
		return RV_OK;
	case RK_ALIAS:
		switch (rcpt_offsite(rt, r->val.p, r->val.len, info)) {
		case 1:
			return RV_FORWARD;
		case 0:
			return RV_OK;
		default:
			return RV_TEMP;
		}
	case RK_MOVED:
		info->len = 0;
		return buf_put(info, r->val.p, r->val.len) == 0 ? RV_MOVED :
		    RV_TEMP;
	case RK_UNKNOWN:
		return r->postmaster ? RV_OK : RV_UNKNOWN;
	default:
		return RV_TEMP;
	}
}

/* srs_verdict - a recipient that is one of our SRS addresses: any
 * client may send to it (a bounce goes back to the sender we rewrote).
 * The form and the age need no secret and are checked here; the hash
 * only sandmail-srs can check, which holds the secret (as send does) and
 * answers yes or no: the secret never enters this process.  No answer
 * (the service down) is a temporary failure, never a 250 for a forgery
 * that send would drop. */
static enum rcpt_verdict
srs_verdict(struct session *s, const struct addr *a)
{
	enum srs_res r;

	if (srs_check(a->local, a->llen, time(NULL), s->cfg->srs_maxdays) !=
	    SRS_OK)
		return RV_UNKNOWN;
	if (s->srs == NULL) {
		if ((s->srs = malloc(sizeof *s->srs)) == NULL)
			return RV_TEMP;
		srsc_attach(s->srs, -1, SRS_WAIT_MS);
	}
	if (s->srs->fd < 0 && s->srs_need != NULL)
		srsc_attach(s->srs, s->srs_need(s), SRS_WAIT_MS);
	r = srsc_check(s->srs, a->local, a->llen);
	if (r == SRS_ERROR)
		log_kv("error", "op", "srs check", "ip", s->ip, "err",
		    s->srs->fd < 0 ? "sandmail-srs not reached" : "failed",
		    NULL);
	return r == SRS_OK ? RV_OK : r == SRS_ERROR ? RV_TEMP : RV_UNKNOWN;
}

/* srs_end - the session's connection to sandmail-srs goes */
void
srs_end(struct session *s)
{
	if (s->srs == NULL)
		return;
	srsc_close(s->srs);
	free(s->srs);
	s->srs = NULL;
}

/* rcpt_check - the verdict for one recipient; info gets a moved-to or
 * forward address */
enum rcpt_verdict
rcpt_check(struct session *s, const struct addr *a, struct buf *info)
{
	struct rcpt_tabs rt;
	struct rcpt_res r;
	enum rcpt_verdict v;

	info->len = 0;
	if (a->null)
		return RV_UNKNOWN;
	if (s->cfg->srs_domain != NULL && srs_is(a->local, a->llen) &&
	    strcasecmp(a->domain, s->cfg->srs_domain) == 0)
		return srs_verdict(s, a);
	rcpt_tabs_of(s, &rt);
	buf_init(&r.val, TBL_KEY_MAX * 16);
	rcpt_resolve(&rt, a, 0, &r);
	v = verdict(s, &rt, &r, info);
	buf_free(&r.val);
	return v;
}

/* rcpt_alias - EXPN: the alias's targets, if a is one */
int
rcpt_alias(struct session *s, const struct addr *a, struct buf *val)
{
	struct rcpt_tabs rt;
	struct rcpt_res r;
	int k;

	rcpt_tabs_of(s, &rt);
	buf_init(&r.val, TBL_KEY_MAX * 16);
	k = rcpt_resolve(&rt, a, 0, &r) == RK_TEMP ? -1 :
	    r.kind != RK_ALIAS ? 0 : (val->len = 0,
	    buf_put(val, r.val.p, r.val.len) == 0 ? 1 : -1);
	buf_free(&r.val);
	return k;
}
