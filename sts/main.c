/* sandmail-sts: the MTA-STS policy fetcher (RFC 8461), uid user_sts.
 * Started by sandmail-start when mta_sts is on; answers send's requests
 * on fd 0 (a stream socket) one at a time: for a domain, the mode and
 * the mx patterns that apply now.  It looks up _mta-sts.DOMAIN's TXT
 * record through the configured name servers, fetches the policy over
 * HTTPS with libcurl when the record's id is new or the cached policy
 * is past half its max_age, and keeps policies on disk for their
 * max_age.  Sandboxed: the CA bundle and the cache are read before;
 * then no file but the cache directory's (chrooted there when root),
 * network sockets only.  See doc/sandmail-sts.8. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "conf.h"
#include "dnstxt.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "rec.h"
#include "stsmsg.h"
#include "sts.h"

static struct sts_cfg cfg;

/* answer_entry - a cached policy as the answer */
static void
answer_entry(struct sts_ans *a, const struct sts_entry *e, const char *why)
{
	int k;

	a->pol = e->pol;
	k = snprintf(a->why, sizeof a->why, "%s (id %s)", why, e->id);
	if (k < 0 || (size_t)k >= sizeof a->why)
		a->why[sizeof a->why - 1] = '\0';	/* a log line, cut */
}

/* fallback - no new policy: the cached one while valid (RFC 8461 5.1),
 * else none */
static void
fallback(struct sts_ans *a, struct sts_entry *e, time_t now,
    const char *why)
{
	char w[STS_WHY_BUF];

	if (cache_valid(e, now)) {
		snprintf(w, sizeof w, "cached; %s", why);
		answer_entry(a, e, w);
	} else {
		a->pol.mode = STS_NONE;
		a->pol.nmx = 0;
		snprintf(a->why, sizeof a->why, "%s", why);
	}
}

/* txt_id - the id of the one STSv1 record; 0 found, 1 none, -1 failed */
static int
txt_id(const char *domain, char *id, uint32_t *ttl)
{
	static struct dns_txt t;
	char name[STS_NAME_BUF + 16];
	int found = 0, r;

	snprintf(name, sizeof name, "_mta-sts.%s", domain);
	if (dnsq_txt(&cfg, name, &t) == -1)
		return -1;
	*ttl = t.ttl;
	for (size_t i = 0; i < t.n && i < DNS_TXT_RECS; i++) {
		if (t.len[i] == (size_t)-1)
			continue;
		if ((r = sts_txt_parse(t.txt[i], t.len[i], id)) == 0)
			found++;
		else if (r == -1)
			return 1;	/* a broken STSv1 record: none */
	}
	/* more than one STSv1 record is none (RFC 8461 3.1) */
	return found == 1 ? 0 : 1;
}

/* fetch_failed - a policy that could not be had is a failure for the
 * TLS report too (RFC 8460 4.3.2.2) */
static void
fetch_failed(const char *domain, const char *type)
{
	struct sts_res r;

	memset(&r, 0, sizeof r);
	snprintf(r.domain, sizeof r.domain, "%s", domain);
	snprintf(r.type, sizeof r.type, "%s", type);
	report_count(&cfg, &r, time(NULL));
}

static void
fetch(struct sts_ans *a, const char *domain, const char *id,
    struct sts_entry *e, time_t now)
{
	struct buf body = BUF_INIT(STS_POLICY_MAX + 1);
	char host[STS_NAME_BUF + 16], addr[64], err[256];
	struct sts_entry *n;
	const char *why;
	struct sts_policy pol;

	snprintf(host, sizeof host, "mta-sts.%s", domain);
	if (dnsq_addr(&cfg, host, addr, sizeof addr) != 0) {
		fetch_failed(domain, "sts-policy-fetch-error");
		fallback(a, e, now, "policy host has no address");
		return;
	}
	if (fetch_policy(&cfg, domain, addr, &body, err, sizeof err) == -1) {
		char w[300];

		snprintf(w, sizeof w, "fetch failed: %s", err);
		log_kv("sts", "domain", domain, "op", "fetch", "err", err, NULL);
		fetch_failed(domain, strstr(err, "SSL") != NULL ||
		    strstr(err, "certificate") != NULL ? "sts-webpki-invalid" :
		    "sts-policy-fetch-error");
		fallback(a, e, now, w);
	} else if (sts_policy_parse(body.p ? body.p : "", body.len, &pol,
	    &why) == -1) {
		char w[300];

		snprintf(w, sizeof w, "bad policy: %s", why);
		log_kv("sts", "domain", domain, "op", "parse", "err", why, NULL);
		fetch_failed(domain, "sts-policy-invalid");
		fallback(a, e, now, w);
	} else if ((n = cache_put(&cfg, domain, id, body.p, body.len,
	    now)) == NULL)
		fallback(a, e, now, "out of memory");
	else {
		log_kv("sts", "domain", domain, "op", "fetched", "id", id,
		    "mode", sts_mode_name(n->pol.mode), NULL);
		answer_entry(a, n, "fetched");
	}
	buf_free(&body);
}

/* policy - what applies to domain now (RFC 8461 5) */
static void
policy(struct sts_ans *a)
{
	char id[STS_ID_MAX + 1];
	struct sts_entry *e = cache_find(a->domain);
	time_t now = time(NULL);
	uint32_t ttl = 0;
	int r;

	if (cache_valid(e, now) && now < e->recheck) {
		answer_entry(a, e, "cached");
		return;
	}
	if ((r = txt_id(a->domain, id, &ttl)) == -1) {
		fallback(a, e, now, "TXT lookup failed");
		return;
	}
	if (r == 1) {
		fallback(a, e, now, "no _mta-sts record");
		return;
	}
	/* the same id and young enough: no fetch (refreshed from half
	 * its max_age on, so it never expires while the domain is used) */
	if (cache_valid(e, now) && strcmp(e->id, id) == 0 &&
	    now < e->fetched + (time_t)e->pol.max_age / 2) {
		e->recheck = now + (ttl < 3600 ? ttl : 3600);
		answer_entry(a, e, "cached");
		return;
	}
	fetch(a, a->domain, id, e, now);
	if ((e = cache_find(a->domain)) != NULL && strcmp(e->id, id) == 0)
		e->recheck = now + (ttl < 3600 ? ttl : 3600);
}

/* domain_ok - lower case LDH, as the cache's file names need */
static int
domain_ok(char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		d[i] = (char)tolower((unsigned char)d[i]);
		if (!isalnum((unsigned char)d[i]) && d[i] != '-' && d[i] != '.')
			return 0;
		if (d[i] == '.' && d[i + 1] == '.')
			return 0;
	}
	return d[n - 1] != '.';
}

/* wait_input - until a record can be read or a report is due (0) */
static int
wait_input(const struct rd *rd)
{
	struct pollfd pf = { 0, POLLIN, 0 };
	int ms, r;

	if (rd->pos < rd->len)
		return 1;		/* a record already buffered */
	for (;;) {
		time_t now = time(NULL);
		int sv = report_save_due(now);

		if ((ms = report_due(&cfg, now)) == 0)
			return 0;
		if (sv == 0)
			report_save(&cfg, now);
		else if (sv > 0 && (ms < 0 || sv < ms))
			ms = sv;
		if ((r = poll(&pf, 1, ms)) == 1)
			return 1;
		if (r == -1 && errno != EINTR)
			die_temp("poll", NULL);
	}
}

static int
serve(void)
{
	struct buf in = BUF_INIT(STS_REQ_MAX), out = BUF_INIT(STS_ANS_MAX);
	struct sts_req q;
	struct sts_res res;
	static struct sts_ans a;
	struct rd rd;
	int r;

	rd_init(&rd, 0, io_read_fd, NULL);
	for (;;) {
		if (wait_input(&rd) == 0) {
			report_tick(&cfg, time(NULL));
			continue;
		}
		if ((r = rec_read(&rd, &in, STS_REQ_MAX)) == 0) {
			report_save(&cfg, time(NULL));	/* send stopped */
			return EXIT_OK;
		}
		if (r == 1 && in.len > 0 && in.p[0] == 'R' &&
		    sts_res_decode(in.p, in.len, &res) == 0) {
			report_count(&cfg, &res, time(NULL));
			continue;
		}
		if (r == -1 || sts_req_decode(in.p, in.len, &q) == -1)
			die_msg(EXIT_TEMP, "request", "malformed");
		memset(&a, 0, sizeof a);
		a.qid = q.qid;
		snprintf(a.domain, sizeof a.domain, "%s", q.domain);
		if (domain_ok(a.domain))	/* lower case from here on */
			policy(&a);
		else
			snprintf(a.why, sizeof a.why, "not a domain name");
		out.len = 0;
		if (sts_ans_encode(&out, &a) == -1 || rec_send(0, &out) == -1)
			die_temp("write", "answer");
	}
}

/* read_ca - the CA bundle, whole, before the sandbox */
static void
read_ca(const char *path)
{
	struct buf b = BUF_INIT(16 << 20);
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		die_temp("open", path);
	for (;;) {
		if (buf_reserve(&b, 65536) == -1)
			die_msg(EXIT_TEMP, path, "CA file over 16 MB");
		if ((r = read(fd, b.p + b.len, 65536)) <= 0)
			break;
		b.len += (size_t)r;
	}
	if (r < 0)
		die_temp("read", path);
	close(fd);
	cfg.ca = b.p, cfg.calen = b.len;
}

static void
nameservers(const struct conf *cf)
{
	const char *v;
	char line[512], *p, *e;
	size_t i = 0;
	FILE *f;

	while ((v = conf_next(cf, "nameserver", &i)) != NULL)
		if (dnsq_ns_add(&cfg, v) == -1)
			log_kv("warning", "op", "nameserver", "bad", v, NULL);
	if (cfg.nns == 0 && (f = fopen(conf_str(cf, "resolv_conf",
	    "/etc/resolv.conf"), "re")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, "nameserver", 10) != 0)
				continue;
			for (p = line + 10; *p == ' ' || *p == '\t'; p++)
				;
			for (e = p; *e && !isspace((unsigned char)*e) &&
			    *e != '%'; e++)
				;
			*e = '\0';
			(void)dnsq_ns_add(&cfg, p);
		}
		fclose(f);
	}
	if (cfg.nns == 0)
		(void)dnsq_ns_add(&cfg, "127.0.0.1");
}

int
main(int argc, char *argv[])
{
	static struct conf cf;
	static char host[256];
	const char *path = NULL;
	char *dir;
	int opt;

	log_init("sts");
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			die_msg(EXIT_TEMP, "usage", "sandmail-sts [-c conf]");
		path = optarg;
	}
	conf_load(&cf, path);
	if (sodium_init() < 0)
		die_msg(EXIT_TEMP, "sodium_init", "failed");
	nameservers(&cf);
	cfg.dns_timeout_ms = (int)(conf_secs(&cf, "dns_timeout", 5) * 1000);
	if (cfg.dns_timeout_ms <= 0)
		cfg.dns_timeout_ms = 1000;
	cfg.fetch_timeout_ms = (long)conf_secs(&cf, "mta_sts_fetch_timeout",
	    10) * 1000;
	if (cfg.fetch_timeout_ms <= 0)
		cfg.fetch_timeout_ms = 1000;
	cfg.port = (unsigned)conf_num(&cf, "mta_sts_port", 443, 1, 65535);
	cfg.rpt_period = conf_secs(&cf, "tlsrpt_period", 86400);
	if (cfg.rpt_period == 0)
		cfg.rpt_period = 86400;
	if (gethostname(host, sizeof host - 1) == -1)
		snprintf(host, sizeof host, "localhost");
	cfg.hostname = conf_str(&cf, "hostname", host);
	read_ca(conf_str(&cf, "mta_sts_ca_file",
	    "/etc/ssl/certs/ca-certificates.crt"));
	dir = conf_path(&cf, "mta_sts_cache", "/var/lib/sandmail/sts");
	if ((cfg.cachefd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		die_temp("open", dir);
	cache_load(&cfg);
	report_load(&cfg);
	if (fetch_init() == -1)
		die_msg(EXIT_TEMP, "curl_global_init", "failed");
	tzset();
	sts_sandbox(&cf, &cfg);
	log_kv("ready", "nameservers", cfg.nns ? "yes" : "none", NULL);
	return serve();
}
