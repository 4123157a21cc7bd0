/* sandmail-dmarcrep: DMARC aggregate reports (RFC 7489 7.2, appendix C)
 * from the event=verify lines smtpd logs, one report per policy domain
 * for the period [-b, -e] (a line whose logger's time stamp is outside
 * it is not counted, whatever file it is in), gzipped XML in a mail
 * handed to sandmail-inject for the record's rua= addresses whose size
 * limit ("!10m") the mail fits: those of the policy
 * domain's organization, and others whose domain publishes the external
 * destination record D._report._dmarc.RUADOMAIN (7.1), asked of the
 * first configured name server over UDP.  -n prints the XML instead of
 * sending.  An administrator's tool: it reads only the log files it is
 * given. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpsl.h>
#include <sodium.h>
#include <zlib.h>

#include <arpa/inet.h>

#include "buf.h"
#include "conf.h"
#include "dlog.h"
#include "dmarc.h"
#include "dns.h"
#include "dnstxt.h"
#include "exitcode.h"
#include "log.h"
#include "report.h"
#include "saddr.h"

#define ROWS_MAX	100000
#define LINE_MAX_	65536
#define FIELD_MAX	4096	/* one value of a log line */

enum { F_IP, F_FROM, F_APPLIED, F_ALIGNED, F_DKIMD, F_SPF, F_SPFD,
	F_DOMAIN, F_PUB, F_RUA, F_DMARC, F_OVR, F_OVRWHY, F_N };
static const char *const keys[F_N] = { "ip", "from_domain", "applied",
	"aligned", "dkim_d", "spf", "spf_domain", "dmarc_domain", "published",
	"rua", "dmarc", "override", "override_why" };

struct row {
	char	*f[F_N];
	unsigned long count;
};

static struct row *rows;
static size_t nrows;
static long long period_beg, period_end;	/* -b, -e */
static unsigned long unstamped, outside;	/* lines not by time */

static int
same(const struct row *a, char f[F_N][FIELD_MAX])
{
	for (int i = 0; i < F_N; i++)
		if (strcmp(a->f[i], f[i]) != 0)
			return 0;
	return 1;
}

/* take - one log line: a row counted, or nothing */
static void
take(const char *l, size_t n)
{
	static char f[F_N][FIELD_MAX];
	long long t;
	size_t i;

	if (dlog_get(l, n, "prog", f[0], sizeof f[0]) != 1 ||
	    strcmp(f[0], "smtpd") != 0 || dlog_get(l, n, "event", f[0],
	    sizeof f[0]) != 1 || strcmp(f[0], "verify") != 0)
		return;
	/* the period is the lines' own time (the logger's stamp), not the
	 * files': a file rotated at any hour holds lines of two days */
	if (dlog_time(l, n, &t) == 0)
		unstamped++;
	else if (t < period_beg || t > period_end) {
		outside++;
		return;
	}
	for (i = 0; i < F_N; i++)
		if (dlog_get(l, n, keys[i], f[i], sizeof f[i]) != 1)
			f[i][0] = '\0';
	/* no record, or a 451 (no disposition): nothing to report */
	if (f[F_PUB][0] == '\0' || f[F_DOMAIN][0] == '\0' ||
	    strcmp(f[F_APPLIED], "tempfail") == 0 ||
	    strcmp(f[F_DMARC], "none") == 0)
		return;
	for (i = 0; i < nrows; i++)
		if (same(&rows[i], f)) {
			rows[i].count++;
			return;
		}
	if (nrows == ROWS_MAX)
		die_msg(EXIT_TEMP, "rows", "too many distinct rows");
	for (int k = 0; k < F_N; k++)
		if ((rows[nrows].f[k] = strdup(f[k])) == NULL)
			die_temp("malloc", NULL);
	rows[nrows++].count = 1;
}

static void
read_log(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t k;

	if (fp == NULL)
		die_temp("open", path);
	while ((k = getline(&line, &cap, fp)) > 0)
		if (k < LINE_MAX_)
			take(line, (size_t)k);
	free(line);
	fclose(fp);
}

/* esc - text as XML character data */
static int
esc(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" :
		    *s == '>' ? "&gt;" : *s == '"' ? "&quot;" : *s == '\'' ?
		    "&apos;" : NULL;

		if ((e != NULL ? buf_puts(b, e) : buf_putc(b, *s)) == -1)
			return -1;
	}
	return 0;
}

static int
el(struct buf *b, const char *name, const char *v)
{
	return buf_fmt(b, "<%s>", name) == -1 || esc(b, v) == -1 ||
	    buf_fmt(b, "</%s>", name) == -1 ? -1 : 0;
}

/* pub - one value of "p=none,sp=none,pct=100,adkim=r,aspf=r" */
static void
pub(const char *p, const char *key, char *out, size_t sz)
{
	size_t kl = strlen(key);

	out[0] = '\0';
	for (const char *s = p; s != NULL && *s != '\0'; ) {
		const char *e = strchr(s, ',');
		size_t n = e != NULL ? (size_t)(e - s) : strlen(s);

		if (n > kl && strncmp(s, key, kl) == 0 && s[kl] == '=') {
			snprintf(out, sz, "%.*s", (int)(n - kl - 1),
			    s + kl + 1);
			return;
		}
		s = e != NULL ? e + 1 : NULL;
	}
}

/* unescape - smtpd's %XX in a d= (verify.c d_escaped), in place */
static void
unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		unsigned v;

		if (s[0] == '%' && sscanf(s + 1, "%2x", &v) == 1 &&
		    strspn(s + 1, "0123456789ABCDEFabcdef") >= 2 && v != 0) {
			*w++ = (char)v;
			s += 2;
		} else
			*w++ = *s;
	}
	*w = '\0';
}

static int
auth_results(struct buf *b, const struct row *r)
{
	char d[FIELD_MAX], *p, *save = NULL, *c;

	snprintf(d, sizeof d, "%s", r->f[F_DKIMD]);
	if (buf_puts(b, "<auth_results>") == -1)
		return -1;
	/* "d:result,...": a ',' or ':' of a d= itself is escaped */
	for (p = strtok_r(d, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save)) {
		if ((c = strrchr(p, ':')) == NULL)
			continue;
		*c++ = '\0';
		unescape(p);
		if (buf_puts(b, "<dkim>") == -1 || el(b, "domain", p) == -1 ||
		    el(b, "result", c) == -1 || buf_puts(b, "</dkim>") == -1)
			return -1;
	}
	return buf_puts(b, "<spf>") == -1 || el(b, "domain",
	    r->f[F_SPFD]) == -1 || el(b, "scope", "mfrom") == -1 ||
	    el(b, "result", r->f[F_SPF]) == -1 ||
	    buf_puts(b, "</spf></auth_results>") == -1 ? -1 : 0;
}

/* reason - the PolicyOverrideReason of a row whose disposition smtpd set
 * aside (its override= and override_why=), or nothing */
static int
reason(struct buf *b, const struct row *r)
{
	if (r->f[F_OVR][0] == '\0')
		return 0;
	return buf_puts(b, "<reason>") == -1 || el(b, "type",
	    r->f[F_OVR]) == -1 || (r->f[F_OVRWHY][0] != '\0' && el(b,
	    "comment", r->f[F_OVRWHY]) == -1) ||
	    buf_puts(b, "</reason>") == -1 ? -1 : 0;
}

/* schema_ip - ip as RFC 7489 appendix C's schema accepts it: an IPv6
 * address in its eight groups (the schema's pattern knows no "::"),
 * anything else as it is */
static const char *
schema_ip(const char *ip, char *out, size_t sz)
{
	unsigned char a[16];

	if (strchr(ip, ':') == NULL || inet_pton(AF_INET6, ip, a) != 1)
		return ip;
	snprintf(out, sz, "%x:%x:%x:%x:%x:%x:%x:%x", a[0] << 8 | a[1],
	    a[2] << 8 | a[3], a[4] << 8 | a[5], a[6] << 8 | a[7],
	    a[8] << 8 | a[9], a[10] << 8 | a[11], a[12] << 8 | a[13],
	    a[14] << 8 | a[15]);
	return out;
}

static int
record(struct buf *b, const struct row *r)
{
	const char *a = r->f[F_ALIGNED];
	char ip[8 * 5];

	return buf_fmt(b, "<record><row>") == -1 ||
	    el(b, "source_ip", schema_ip(r->f[F_IP], ip, sizeof ip)) == -1 ||
	    buf_fmt(b, "<count>%lu</count><policy_evaluated>", r->count) ==
	    -1 || el(b, "disposition", r->f[F_APPLIED]) == -1 ||
	    el(b, "dkim", strstr(a, "dkim") ? "pass" : "fail") == -1 ||
	    el(b, "spf", strstr(a, "spf") ? "pass" : "fail") == -1 ||
	    reason(b, r) == -1 ||
	    buf_puts(b, "</policy_evaluated></row><identifiers>") == -1 ||
	    el(b, "envelope_from", r->f[F_SPFD]) == -1 ||
	    el(b, "header_from", r->f[F_FROM]) == -1 ||
	    buf_puts(b, "</identifiers>") == -1 || auth_results(b, r) == -1 ||
	    buf_puts(b, "</record>\n") == -1 ? -1 : 0;
}

/* xml - the report of domain (rows[first] names its policy) */
static int
xml(struct buf *b, const char *host, const char *id, size_t first,
    long long beg, long long end)
{
	const struct row *r0 = &rows[first];
	static const char *const pk[] = { "adkim", "aspf", "p", "sp", "pct",
	    "fo" };
	char v[64];

	if (buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<feedback>\n<version>1.0</version>\n<report_metadata>") == -1 ||
	    el(b, "org_name", host) == -1 ||
	    buf_puts(b, "<email>postmaster@") == -1 || esc(b, host) == -1 ||
	    buf_puts(b, "</email>") == -1 || el(b, "report_id", id) == -1 ||
	    buf_fmt(b, "<date_range><begin>%lld</begin><end>%lld</end>"
	    "</date_range></report_metadata>\n<policy_published>", beg,
	    end) == -1 || el(b, "domain", r0->f[F_DOMAIN]) == -1)
		return -1;
	for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++) {
		pub(r0->f[F_PUB], pk[i], v, sizeof v);
		/* a line from before fo= was logged: its default (6.3) */
		if (v[0] == '\0' && strcmp(pk[i], "fo") == 0)
			snprintf(v, sizeof v, "0");
		if (el(b, pk[i], v) == -1)
			return -1;
	}
	if (buf_puts(b, "</policy_published>\n") == -1)
		return -1;
	for (size_t i = first; i < nrows; i++)
		if (strcmp(rows[i].f[F_DOMAIN], r0->f[F_DOMAIN]) == 0 &&
		    record(b, &rows[i]) == -1)
			return -1;
	return buf_puts(b, "</feedback>\n");
}

/* message - the report mail (7.2.1.1): the gzip in base64, LF ends */
static int
message(struct buf *m, const char *dom, const char *host, const char *id,
    long long beg, long long end, const struct buf *gz)
{
	int r;

	r = buf_fmt(m, "From: DMARC reporting <postmaster@%s>\n"
	    "Message-ID: <%s@%s>\n"
	    "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/mixed; "
	    "boundary=\"dmarc-%s\"\n\n--dmarc-%s\n"
	    "Content-Type: text/plain; charset=us-ascii\n\n"
	    "The DMARC aggregate report of %s for %s, attached.\n\n"
	    "--dmarc-%s\nContent-Type: application/gzip\n"
	    "Content-Transfer-Encoding: base64\n"
	    "Content-Disposition: attachment; filename=\"%s!%s!%lld!%lld"
	    ".xml.gz\"\n\n", host, id, host, dom, host, id, id, id, host, dom,
	    id, host, dom, beg, end);
	if (r == 0)
		r = report_b64(m, gz);
	if (r == 0)
		r = buf_fmt(m, "\n--dmarc-%s--\n", id);
	return r;
}

/* inject - hand the message to sandmail-inject for the addresses */
static const char *confpath;	/* handed to sandmail-inject */

static int
inject(const char *bindir, const char *host, char *const *to, size_t nto,
    const struct buf *m)
{
	char prog[4096], from[512], *argv[8 + DMARC_RUA_MAX];
	int p[2], st;
	size_t k = 0;
	pid_t pid;

	snprintf(prog, sizeof prog, "%s/sandmail-inject", bindir);
	snprintf(from, sizeof from, "postmaster@%s", host);
	argv[k++] = prog, argv[k++] = "-f", argv[k++] = from;
	argv[k++] = "--";
	for (size_t i = 0; i < nto; i++)
		argv[k++] = to[i];
	argv[k] = NULL;
	if (pipe(p) == -1 || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		dup2(p[0], 0);
		close(p[0]), close(p[1]);
		if (confpath != NULL)
			setenv("SANDMAIL_CONF", confpath, 1);
		execv(prog, argv);
		_exit(111);
	}
	close(p[0]);
	if (write(p[1], m->p, m->len) != (ssize_t)m->len) {
		close(p[1]);
		waitpid(pid, &st, 0);
		return -1;
	}
	close(p[1]);
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0 ? 0 : -1;
}

static struct sockaddr_storage ns;
static socklen_t nslen;

/* ns_set - the first "nameserver" (IP or IP:port, [v6]:port); 0 or -1 */
static int
ns_set(const char *s)
{
	return saddr_parse(s, "53", &ns, &nslen);
}

/* external_ok - 7.1: D._report._dmarc.RUADOMAIN has a "v=DMARC1"
 * record; 1 yes, 0 no or no answer */
static int
external_ok(const char *dom, const char *ruadom)
{
	static struct dns_txt t;
	uint8_t q[512], a[DNS_UDP_MAX];
	char name[DNS_NAME_BUF];
	struct pollfd pf;
	uint16_t id;
	ssize_t k = -1;
	int fd, n, qn;

	n = snprintf(name, sizeof name, "%s._report._dmarc.%s", dom, ruadom);
	if (nslen == 0 || n < 0 || (size_t)n >= sizeof name || n > 253)
		return 0;
	randombytes_buf(&id, sizeof id);
	if ((qn = dns_query(q, sizeof q, id, name, DNS_T_TXT, 1)) == -1 ||
	    (fd = socket(ns.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	if (connect(fd, (struct sockaddr *)&ns, nslen) == 0 &&
	    send(fd, q, (size_t)qn, 0) == qn) {
		pf = (struct pollfd){ fd, POLLIN, 0 };
		if (poll(&pf, 1, 5000) == 1)
			k = recv(fd, a, sizeof a, 0);
	}
	close(fd);
	if (k <= 0 || dns_txt_parse(a, (size_t)k, id, name, &t) == -1 ||
	    t.rcode != DNS_R_OK)
		return 0;
	for (size_t i = 0; i < t.n && i < DNS_TXT_RECS; i++)
		if (t.len[i] >= 8 && strncmp(t.txt[i], "v=DMARC1", 8) == 0)
			return 1;
	return 0;
}

/* rua_take - whether rua entry p ("addr" or "addr!bytes", cut at the
 * '!') gets the report of dom, a mail of size bytes: the policy
 * domain's organization, or another that says so (7.1); and within the
 * URI's size limit (6.2: "!10m" asks for nothing larger; the report
 * payload is the mail we send) */
static int
rua_take(char *p, const char *dom, const psl_ctx_t *psl, size_t size)
{
	char *bang = strchr(p, '!'), *e, od[256];
	const char *at;
	unsigned long long max = 0;

	if (bang != NULL) {
		*bang = '\0';
		errno = 0;
		max = strtoull(bang + 1, &e, 10);
		if (errno != 0 || *e != '\0' || e == bang + 1)
			return 0;
	}
	at = strrchr(p, '@');
	snprintf(od, sizeof od, "%s", dmarc_orgdom(psl, dom));
	if (at == NULL || (strcasecmp(dmarc_orgdom(psl, at + 1), od) != 0 &&
	    !external_ok(dom, at + 1))) {
		log_kv("skip", "domain", dom, "rua", p, "why", "another "
		    "organization's, without a _report._dmarc record for this "
		    "domain", NULL);
		return 0;
	}
	if (max > 0 && size > max) {
		struct logln l;

		log_start(&l, "skip");
		log_s(&l, "domain", dom);
		log_s(&l, "rua", p);
		log_s(&l, "why", "report larger than the address's limit");
		log_u(&l, "size", size);
		log_u(&l, "limit", max);
		log_done(&l);
		return 0;
	}
	return 1;
}

/* report - one domain's report, to its rua= addresses that may have it */
static int
report(size_t first, const char *host, const char *bindir,
    const psl_ctx_t *psl, long long beg, long long end, int dry)
{
	const struct row *r0 = &rows[first];
	struct buf x = BUF_INIT(64u << 20), gz = BUF_INIT(64u << 20),
	    m = BUF_INIT(128u << 20);
	char id[512], ruas[FIELD_MAX], *to[DMARC_RUA_MAX], *p, *save = NULL;
	size_t nto = 0;
	int r = -1;

	snprintf(id, sizeof id, "%s.%lld.%lld", r0->f[F_DOMAIN], beg, end);
	snprintf(ruas, sizeof ruas, "%s", r0->f[F_RUA]);
	if (xml(&x, host, id, first, beg, end) == -1)
		goto out;
	if (dry) {
		r = fwrite(x.p, 1, x.len, stdout) == x.len ? 0 : -1;
		goto out;
	}
	if (report_gzip(&x, &gz) == -1 || message(&m, r0->f[F_DOMAIN], host,
	    id, beg, end, &gz) == -1)
		goto out;
	/* "addr!bytes,...": each address with the limit its URI set */
	for (p = strtok_r(ruas, ",", &save); p != NULL && nto < DMARC_RUA_MAX;
	    p = strtok_r(NULL, ",", &save))
		if (rua_take(p, r0->f[F_DOMAIN], psl, m.len))
			to[nto++] = p;
	if (nto == 0) {
		r = 0;
		goto out;
	}
	if (inject(bindir, host, to, nto, &m) == -1)
		goto out;
	log_kv("sent", "domain", r0->f[F_DOMAIN], "rua", r0->f[F_RUA],
	    "report_id", id, NULL);
	r = 0;
out:
	buf_free(&x);
	buf_free(&gz);
	buf_free(&m);
	return r;
}

static long long
num(const char *s)
{
	char *e;
	long long v;

	errno = 0;
	v = strtoll(s, &e, 10);
	if (errno != 0 || *e != '\0' || e == s || v < 0)
		die_msg(EXIT_PERM, "usage", "-b and -e take unix times");
	return v;
}

int
main(int argc, char *argv[])
{
	static struct conf cf;
	const char *cpath = NULL, *host;
	char *bindir;
	long long beg = -1, end = -1;
	psl_ctx_t *psl;
	int ch, dry = 0, bad = 0;

	log_init("dmarcrep");
	while ((ch = getopt(argc, argv, "c:b:e:n")) != -1) {
		switch (ch) {
		case 'c': cpath = optarg; break;
		case 'b': beg = num(optarg); break;
		case 'e': end = num(optarg); break;
		case 'n': dry = 1; break;
		default: bad = 1; break;
		}
	}
	if (bad || beg < 0 || end < beg || optind == argc)
		die_msg(EXIT_PERM, "usage", "sandmail-dmarcrep [-c conf] [-n] "
		    "-b BEGIN -e END LOGFILE...");
	conf_load(&cf, cpath);
	confpath = cf.path;
	host = conf_str(&cf, "hostname", "localhost");
	bindir = conf_path(&cf, "bindir", "/usr/sbin");
	{
		size_t it = 0;
		const char *nsv = conf_next(&cf, "nameserver", &it);

		if (nsv != NULL && ns_set(nsv) == -1)
			die_msg(EXIT_TEMP, "config", "nameserver");
	}
	if (sodium_init() < 0 || (rows = calloc(ROWS_MAX, sizeof *rows)) ==
	    NULL)
		die_temp("init", NULL);
	if ((psl = psl_latest(NULL)) == NULL &&
	    (psl = (psl_ctx_t *)psl_builtin()) == NULL)
		die_msg(EXIT_TEMP, "psl", "no Public Suffix List");
	period_beg = beg, period_end = end;
	for (int i = optind; i < argc; i++)
		read_log(argv[i]);
	if (outside > 0 || unstamped > 0) {
		struct logln l;

		log_start(&l, "period");
		log_u(&l, "outside", outside);
		log_u(&l, "unstamped", unstamped);
		log_s(&l, "note", unstamped ? "lines without a logger's time "
		    "stamp are counted as the files given say" : "lines of "
		    "other times not counted");
		log_done(&l);
	}
	for (size_t i = 0; i < nrows; i++) {
		size_t j;

		for (j = 0; j < i; j++)	/* the first row of its domain */
			if (strcmp(rows[j].f[F_DOMAIN], rows[i].f[F_DOMAIN]) ==
			    0)
				break;
		if (j == i && report(i, host, bindir, psl, beg, end, dry) ==
		    -1)
			die_temp("report", rows[i].f[F_DOMAIN]);
	}
	psl_free(psl);		/* (the built-in one it leaves alone) */
	free(bindir);
	return EXIT_OK;
}
