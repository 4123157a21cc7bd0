/* report: SMTP TLS reporting (RFC 8460) for the MTA-STS policy domains.
 * send tells, per outbound session under a policy, whether TLS went as
 * the policy wants (and if not, the RFC 8460 result-type and the MX);
 * the counts are kept per domain for the current period (a day,
 * tlsrpt_period); when it ends, each domain with counts whose
 * _smtp._tls TXT record names mailto: addresses gets the JSON report
 * (RFC 8460 4.4), gzipped, in a multipart/report message (5.3), handed
 * to send to queue; its https: URIs get the gzipped JSON by POST
 * (fetch.c).  The counts are written to CACHE/.tlsrpt at most a
 * minute apart and when send closes the socket, and read back at start,
 * so a restart keeps them (a crash may lose a minute's: counts, never
 * mail). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zlib.h>

#include "buf.h"
#include "dnstxt.h"
#include "log.h"
#include "rec.h"
#include "report.h"
#include "stsmsg.h"
#include "sts.h"

#define RPT_DOMAINS	1000
#define RPT_FAILS	16
#define RPT_JSON_MAX	(192 * 1024)

struct fail {
	char		type[64];
	char		mx[STS_NAME_BUF];
	unsigned long	n;
};

struct rdom {
	char		domain[STS_NAME_BUF];
	unsigned long	ok, bad;
	struct fail	f[RPT_FAILS];
	size_t		nf;
};

static struct rdom *doms;
static size_t ndoms;
static time_t start;		/* of the current period */
static int dirty;		/* counts not yet in .tlsrpt */
static time_t saved;		/* when they last were */

#define RPT_FILE	".tlsrpt"	/* no domain begins with a dot */
#define RPT_FILE_MAX	(1024 * 1024)

static const char *const types[] = {
	"starttls-not-supported", "certificate-host-mismatch",
	"certificate-expired", "certificate-not-trusted",
	"validation-failure", "sts-policy-fetch-error", "sts-policy-invalid",
	"sts-webpki-invalid", NULL
};

static time_t
period_of(const struct sts_cfg *c, time_t now)
{
	return now - now % (time_t)c->rpt_period;
}

/* report_count - one session's outcome (an 'R' record from send) */
void
report_count(const struct sts_cfg *c, struct sts_res *r, time_t now)
{
	struct rdom *d = NULL;
	size_t i;

	if (start == 0)
		start = period_of(c, now);
	dirty = 1;
	for (i = 0; i < ndoms && d == NULL; i++)
		if (strcmp(doms[i].domain, r->domain) == 0)
			d = &doms[i];
	if (d == NULL) {
		if (ndoms == RPT_DOMAINS || (doms == NULL &&
		    (doms = calloc(RPT_DOMAINS, sizeof *doms)) == NULL))
			return;
		d = &doms[ndoms++];
		memset(d, 0, sizeof *d);
		snprintf(d->domain, sizeof d->domain, "%s", r->domain);
	}
	if (r->ok) {
		d->ok++;
		return;
	}
	d->bad++;
	for (i = 0; types[i] != NULL && strcmp(types[i], r->type) != 0; i++)
		;
	if (types[i] == NULL)
		snprintf(r->type, sizeof r->type, "validation-failure");
	for (i = 0; i < d->nf; i++)
		if (strcmp(d->f[i].type, r->type) == 0 &&
		    strcmp(d->f[i].mx, r->mx) == 0) {
			d->f[i].n++;
			return;
		}
	if (d->nf == RPT_FAILS)
		return;			/* counted in the summary only */
	snprintf(d->f[d->nf].type, sizeof d->f[d->nf].type, "%s", r->type);
	snprintf(d->f[d->nf].mx, sizeof d->f[d->nf].mx, "%s", r->mx);
	d->f[d->nf++].n = 1;
}

/* jstr - a JSON string (RFC 8259): quotes, backslashes and controls
 * escaped */
static int
jstr(struct buf *b, const char *s)
{
	if (buf_put(b, "\"", 1) == -1)
		return -1;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			if (buf_fmt(b, "\\%c", ch) == -1)
				return -1;
		} else if (ch < 0x20) {
			if (buf_fmt(b, "\\u%04x", ch) == -1)
				return -1;
		} else if (buf_put(b, s, 1) == -1)
			return -1;
	}
	return buf_put(b, "\"", 1);
}

static void
rfc3339(char *out, size_t sz, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* policy_json - the policy object: the policy as we hold it now */
static int
policy_json(struct buf *b, const struct rdom *d)
{
	const struct sts_entry *e = cache_find(d->domain);
	const struct sts_policy *p = e != NULL ? &e->pol : NULL;
	int r;

	r = buf_fmt(b, "{\"policy\":{\"policy-type\":\"%s\",\"policy-string\":[",
	    p != NULL ? "sts" : "no-policy-found");
	if (r == 0 && p != NULL) {
		r = buf_fmt(b, "\"version: STSv1\",\"mode: %s\"",
		    sts_mode_name(p->mode));
		for (size_t i = 0; r == 0 && i < p->nmx; i++)
			r = buf_fmt(b, ",\"mx: %s\"", p->mx[i]);
		if (r == 0)
			r = buf_fmt(b, ",\"max_age: %u\"", p->max_age);
	}
	if (r == 0)
		r = buf_fmt(b, "],\"policy-domain\":\"%s\"", d->domain);
	if (r == 0 && p != NULL) {
		r = buf_fmt(b, ",\"mx-host\":[");
		for (size_t i = 0; r == 0 && i < p->nmx; i++)
			r = buf_fmt(b, "%s\"%s\"", i ? "," : "", p->mx[i]);
		if (r == 0)
			r = buf_fmt(b, "]");
	}
	return r == 0 ? buf_fmt(b, "},") : -1;
}

/* report_json - the whole report for one domain (RFC 8460 4.4) */
static int
report_json(struct buf *b, const struct rdom *d, const char *host,
    const char *id, time_t from, time_t to)
{
	char t0[32], t1[32];
	int r;

	rfc3339(t0, sizeof t0, from);
	rfc3339(t1, sizeof t1, to);
	r = buf_fmt(b, "{\"organization-name\":");
	if (r == 0)
		r = jstr(b, host);
	if (r == 0)
		r = buf_fmt(b, ",\"date-range\":{\"start-datetime\":\"%s\","
		    "\"end-datetime\":\"%s\"},\"contact-info\":", t0, t1);
	if (r == 0) {
		struct buf ci = BUF_INIT(600);

		r = buf_fmt(&ci, "postmaster@%s", host) == -1 ||
		    buf_cstr(&ci) == -1 || jstr(b, ci.p) == -1 ? -1 : 0;
		buf_free(&ci);
	}
	if (r == 0)
		r = buf_fmt(b, ",\"report-id\":");
	if (r == 0)
		r = jstr(b, id);
	if (r == 0)
		r = buf_fmt(b, ",\"policies\":[");
	if (r == 0)
		r = policy_json(b, d);
	if (r == 0)
		r = buf_fmt(b, "\"summary\":{\"total-successful-session-count\":"
		    "%lu,\"total-failure-session-count\":%lu}", d->ok, d->bad);
	if (r == 0 && d->nf > 0) {
		r = buf_fmt(b, ",\"failure-details\":[");
		for (size_t i = 0; r == 0 && i < d->nf; i++) {
			r = buf_fmt(b, "%s{\"result-type\":\"%s\"", i ? "," : "",
			    d->f[i].type);
			if (r == 0 && d->f[i].mx[0] != '\0')
				r = buf_fmt(b, ",\"receiving-mx-hostname\":\"%s\"",
				    d->f[i].mx);
			if (r == 0)
				r = buf_fmt(b, ",\"failed-session-count\":%lu}",
				    d->f[i].n);
		}
		if (r == 0)
			r = buf_fmt(b, "]");
	}
	return r == 0 ? buf_fmt(b, "}]}\n") : -1;
}

/* message - the report mail (RFC 8460 5.3), the gzip in base64; LF
 * line ends, as every message in the queue has them */
static int
message(struct buf *m, const char *domain, const char *host, const char *id,
    time_t from, time_t to, const struct buf *gz)
{
	char date[64];
	struct tm tm;
	time_t now = time(NULL);
	int r;

	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	r = buf_fmt(m, "From: TLS reporting <postmaster@%s>\n"
	    "Date: %s\nMessage-ID: <%s>\n"
	    "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\n"
	    "TLS-Report-Domain: %s\nTLS-Report-Submitter: %s\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/report; "
	    "report-type=\"tlsrpt\"; boundary=\"tlsrpt-%lld\"\n\n"
	    "--tlsrpt-%lld\nContent-Type: text/plain; charset=us-ascii\n"
	    "\nThe TLS report of %s for %s, attached.\n\n"
	    "--tlsrpt-%lld\nContent-Type: application/tlsrpt+gzip\n"
	    "Content-Transfer-Encoding: base64\n"
	    "Content-Disposition: attachment; filename=\"%s!%s!%lld!%lld"
	    ".json.gz\"\n\n", host, date, id, domain, host, id, domain,
	    host, (long long)from, (long long)from, host, domain,
	    (long long)from, host, domain, (long long)from, (long long)to);
	if (r == 0)
		r = report_b64(m, gz);
	if (r == 0)
		r = buf_fmt(m, "\n--tlsrpt-%lld--\n", (long long)from);
	return r;
}

/* rua - the mailto: addresses of domain's one TLSRPTv1 record */
static size_t
rua(const struct sts_cfg *c, const char *domain,
    char out[TLSRPT_RUA_MAX][TLSRPT_URI_BUF])
{
	static struct dns_txt t;
	char name[STS_NAME_BUF + 16];
	size_t n = 0;

	snprintf(name, sizeof name, "_smtp._tls.%s", domain);
	if (dnsq_txt(c, name, &t) == -1)
		return 0;
	for (size_t i = 0; i < t.n && i < DNS_TXT_RECS; i++)
		if (t.len[i] != (size_t)-1 &&
		    tlsrpt_txt_parse(t.txt[i], t.len[i], out, &n) == 0)
			return n;
	return 0;
}

/* post - the report to an https: rua (RFC 8460 3); a failure is logged,
 * not retried (the report is one of many, and a day late is too late) */
static void
post(const struct sts_cfg *c, const char *domain, const char *uri,
    const char *id, const struct buf *gz)
{
	char err[256];

	if (post_report(c, uri, gz->p, gz->len, err, sizeof err) == 0)
		log_kv("tlsrpt", "domain", domain, "to", uri, "id", id, NULL);
	else
		log_kv("warning", "op", "tlsrpt", "domain", domain, "to", uri,
		    "err", err, NULL);
}

static void
one(const struct sts_cfg *c, const struct rdom *d, time_t from, time_t to)
{
	char to_[TLSRPT_RUA_MAX][TLSRPT_URI_BUF], id[600];
	struct buf js = BUF_INIT(RPT_JSON_MAX), gz = BUF_INIT(RPT_JSON_MAX),
	    m = BUF_INIT(STS_MAIL_MAX - 1024), out = BUF_INIT(STS_MAIL_MAX);
	size_t n = rua(c, d->domain, to_);

	snprintf(id, sizeof id, "%lld.%s@%s", (long long)from, d->domain,
	    c->hostname);
	if (n == 0)
		log_kv("tlsrpt", "domain", d->domain, "op", "no rua", NULL);
	else if (report_json(&js, d, c->hostname, id, from, to) == -1 ||
	    report_gzip(&js, &gz) == -1 || message(&m, d->domain, c->hostname,
	    id, from, to, &gz) == -1)
		log_kv("warning", "op", "tlsrpt", "domain", d->domain, "err",
		    "report too big", NULL);
	else
		for (size_t i = 0; i < n; i++) {
			if (strncmp(to_[i], "https://", 8) == 0) {
				post(c, d->domain, to_[i], id, &gz);
				continue;
			}
			out.len = 0;
			if (sts_mail_encode(&out, to_[i], m.p, m.len) == -1 ||
			    rec_send(0, &out) == -1)
				die_temp("write", "report");
			log_kv("tlsrpt", "domain", d->domain, "to", to_[i],
			    "id", id, NULL);
		}
	buf_free(&js);
	buf_free(&gz);
	buf_free(&m);
	buf_free(&out);
}

/* report_due - ms until the current period ends (-1: nothing counted) */
int
report_due(const struct sts_cfg *c, time_t now)
{
	time_t end = start + (time_t)c->rpt_period;

	if (ndoms == 0)
		return -1;
	return end <= now ? 0 : end - now > 86400 ? 86400000 :
	    (int)(end - now) * 1000;
}

/* report_tick - the reports of a period that has ended */
void
report_tick(const struct sts_cfg *c, time_t now)
{
	time_t end = start + (time_t)c->rpt_period;

	if (ndoms == 0 || now < end)
		return;
	for (size_t i = 0; i < ndoms; i++)
		one(c, &doms[i], start, end);
	ndoms = 0;
	start = period_of(c, now);
	dirty = 1;
	report_save(c, now);
}

/* report_save - the counts to CACHE/.tlsrpt (written to a temporary
 * name and renamed; no fsync: a power loss costs counts, not mail) */
void
report_save(const struct sts_cfg *c, time_t now)
{
	struct buf b = BUF_INIT(RPT_FILE_MAX);
	int fd, r = 0, ok;

	if (!dirty)
		return;
	dirty = 0, saved = now;
	if (ndoms == 0) {
		(void)unlinkat(c->cachefd, RPT_FILE, 0);
		return;
	}
	r = buf_fmt(&b, "rpt1 %lld\n", (long long)start);
	for (size_t i = 0; r == 0 && i < ndoms; i++) {
		r = buf_fmt(&b, "D %s %lu %lu\n", doms[i].domain, doms[i].ok,
		    doms[i].bad);
		for (size_t k = 0; r == 0 && k < doms[i].nf; k++)
			r = buf_fmt(&b, "F %s %s %lu\n", doms[i].f[k].type,
			    doms[i].f[k].mx[0] ? doms[i].f[k].mx : "-",
			    doms[i].f[k].n);
	}
	if (r == -1 || (fd = openat(c->cachefd, RPT_FILE ".tmp", O_WRONLY |
	    O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		log_kv("warning", "op", "tlsrpt save", "err", strerror(errno),
		    NULL);
		buf_free(&b);
		return;
	}
	ok = write(fd, b.p, b.len) == (ssize_t)b.len;
	if (close(fd) == -1 || !ok || renameat(c->cachefd, RPT_FILE ".tmp",
	    c->cachefd, RPT_FILE) == -1)
		log_kv("warning", "op", "tlsrpt save", "err", strerror(errno),
		    NULL);
	buf_free(&b);
}

/* report_save_due - ms until counts not yet saved should be (-1) */
int
report_save_due(time_t now)
{
	if (!dirty)
		return -1;
	return saved + 60 <= now ? 0 : (int)(saved + 60 - now) * 1000;
}

/* report_load - the counts a former run saved (before the sandbox); a
 * malformed file is dropped, whole */
void
report_load(const struct sts_cfg *c)
{
	char *p, *line, *nl, dom[STS_NAME_BUF], type[64], mx[STS_NAME_BUF];
	struct rdom *d = NULL;
	unsigned long a, b;
	long long at;
	ssize_t n;
	int fd, bad = 0;

	if ((fd = openat(c->cachefd, RPT_FILE, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return;
	if ((p = malloc(RPT_FILE_MAX + 1)) == NULL) {
		close(fd);
		return;
	}
	n = read(fd, p, RPT_FILE_MAX);
	close(fd);
	p[n > 0 ? n : 0] = '\0';
	if (n <= 0 || sscanf(p, "rpt1 %lld", &at) != 1 ||
	    (doms == NULL && (doms = calloc(RPT_DOMAINS, sizeof *doms)) ==
	    NULL))
		bad = 1;
	for (line = p; !bad && (nl = strchr(line, '\n')) != NULL;
	    line = nl + 1) {
		*nl = '\0';
		if (sscanf(line, "D %255s %lu %lu", dom, &a, &b) == 3 &&
		    ndoms < RPT_DOMAINS) {
			d = &doms[ndoms++];
			memset(d, 0, sizeof *d);
			snprintf(d->domain, sizeof d->domain, "%s", dom);
			d->ok = a, d->bad = b;
		} else if (sscanf(line, "F %63s %255s %lu", type, mx, &a) == 3 &&
		    d != NULL && d->nf < RPT_FAILS) {
			snprintf(d->f[d->nf].type, sizeof d->f[d->nf].type, "%s",
			    type);
			snprintf(d->f[d->nf].mx, sizeof d->f[d->nf].mx, "%s",
			    strcmp(mx, "-") == 0 ? "" : mx);
			d->f[d->nf++].n = a;
		} else if (strncmp(line, "rpt1 ", 5) != 0)
			bad = 1;
	}
	if (bad) {
		ndoms = 0;
		log_kv("warning", "op", "tlsrpt load", "err", "malformed: "
		    "dropped", NULL);
		(void)unlinkat(c->cachefd, RPT_FILE, 0);
	} else
		start = (time_t)at;
	free(p);
	log_kv("tlsrpt", "op", "counts loaded", "domains", ndoms ? "some" :
	    "none", NULL);
}
