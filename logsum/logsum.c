/* sandmail-logsum: a summary of sandmail's log (as pflogsumm): messages
 * received, deliveries sent, deferred, bounced and expired, SMTP
 * rejections; the same by hour; top senders, recipients and domains;
 * deferral, bounce and rejection reasons.  Reads the files named, or
 * stdin; the lines as lib/log.h writes them, with or without the
 * timestamp a logger put in front (svlogd -tt, ISO 8601, or TAI64N).
 * Reads only; the lines are parsed by lib/dlog.c. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dlog.h"
#include "exitcode.h"
#include "log.h"

enum { C_IN, C_SENT, C_DEFER, C_BOUNCE, C_EXPIRE, C_REJECT, C_N };
static const char *const cnames[C_N] = { "received", "delivered",
    "deferred", "bounced", "expired", "rejected" };

/* a table of keys, each with C_N counters */
struct ent {
	char		*key;
	unsigned long	 c[C_N];
};

struct tab {
	struct ent	*v;
	size_t		 n, cap;	/* cap: a power of two */
	int		 packed;	/* sorted: no more lookups */
};

static unsigned long total[C_N];
static unsigned long long bytes_in;
static struct tab hours, senders, rcpts, domains, deferrals, bounces,
    rejects;

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct ent *
tab_get(struct tab *t, const char *key)
{
	size_t i;

	if (t->n * 2 >= t->cap) {
		struct tab nt = { NULL, 0, t->cap ? t->cap * 2 : 256, 0 };

		if ((nt.v = calloc(nt.cap, sizeof *nt.v)) == NULL)
			die_temp("malloc", "table");
		for (size_t k = 0; k < t->cap; k++) {
			if (t->v[k].key == NULL)
				continue;
			for (i = hash(t->v[k].key) & (nt.cap - 1);
			    nt.v[i].key != NULL; i = (i + 1) & (nt.cap - 1))
				continue;
			nt.v[i] = t->v[k];
		}
		nt.n = t->n;
		free(t->v);
		*t = nt;
	}
	for (i = hash(key) & (t->cap - 1); t->v[i].key != NULL;
	    i = (i + 1) & (t->cap - 1))
		if (strcmp(t->v[i].key, key) == 0)
			return &t->v[i];
	if ((t->v[i].key = strdup(key)) == NULL)
		die_temp("malloc", "table");
	t->n++;
	return &t->v[i];
}

static void
bump(struct tab *t, const char *key, int c)
{
	tab_get(t, key)->c[c]++;
}

static int sort_by;

static int
ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (sort_by < 0)
		return strcmp(x->key, y->key);
	if (x->c[sort_by] != y->c[sort_by])
		return x->c[sort_by] < y->c[sort_by] ? 1 : -1;
	return strcmp(x->key, y->key);
}

/* sorted - the table's entries, packed and sorted: by key (c < 0) or by
 * counter c, most first */
static struct ent *
sorted(struct tab *t, int c)
{
	size_t k = 0;

	if (!t->packed) {
		for (size_t i = 0; i < t->cap; i++)
			if (t->v[i].key != NULL)
				t->v[k++] = t->v[i];
		t->packed = 1;
	}
	sort_by = c;
	if (t->n > 0)
		qsort(t->v, t->n, sizeof *t->v, ent_cmp);
	return t->v;
}

/* hour_of - "YYYY-MM-DD HH" from the logger's timestamp, or "-" */
static void
hour_of(const char *p, size_t n, char out[16])
{
	if (n >= 13 && p[4] == '-' && p[7] == '-' &&
	    (p[10] == '_' || p[10] == 'T' || p[10] == ' ')) {
		memcpy(out, p, 10);
		out[10] = ' ';
		memcpy(out + 11, p + 11, 2);
		out[13] = '\0';
		for (int i = 0; i < 13; i++)
			if (i != 4 && i != 7 && i != 10 &&
			    (out[i] < '0' || out[i] > '9'))
				goto none;
		return;
	}
	if (n >= 17 && p[0] == '@' && memcmp(p + 1, "40000000", 8) == 0) {
		uint64_t s = 0;
		time_t t;
		struct tm tm;

		for (int i = 1; i < 17; i++) {
			int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' :
			    p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10 : -1;

			if (d < 0)
				goto none;
			s = s << 4 | (uint64_t)d;
		}
		/* TAI64 label: 2^62 + TAI seconds; TAI is UTC + 10 s + leap
		 * seconds (37 since 2017): near enough for an hour */
		t = (time_t)(s - (UINT64_C(1) << 62) - 37);
		if (gmtime_r(&t, &tm) != NULL &&
		    strftime(out, 16, "%Y-%m-%d %H", &tm) > 0)
			return;
	}
none:
	out[0] = '-', out[1] = '\0';
}

/* reason - a reply text grouped: the "host[addr] said: " prefix off,
 * cut at 100 bytes */
static const char *
reason(char *t)
{
	char *s = strstr(t, " said: ");

	if (s != NULL)
		t = s + 7;
	if (strlen(t) > 100)
		t[100] = '\0';
	return t;
}

static const char *
domain_of(const char *a)
{
	const char *at = strrchr(a, '@');

	return at != NULL ? at + 1 : "(none)";
}

static void
line(const char *p, size_t n)
{
	char prog[32], ev[32], hour[16], a[1024], t[1024], st[32];
	int c;

	if (!dlog_get(p, n, "prog", prog, sizeof prog) ||
	    !dlog_get(p, n, "event", ev, sizeof ev))
		return;
	hour_of(p, n, hour);
	if (strcmp(prog, "queue") == 0 && strcmp(ev, "queued") == 0) {
		c = C_IN;
		(void)dlog_get(p, n, "sender", a, sizeof a);
		bump(&senders, a[0] != '\0' ? a : "<>", C_IN);
		if (dlog_get(p, n, "size", t, sizeof t))
			bytes_in += strtoull(t, NULL, 10);
	} else if (strcmp(prog, "send") == 0 && (strcmp(ev, "delivered") ==
	    0 || strcmp(ev, "deferred") == 0 || strcmp(ev, "bounced") == 0)) {
		if (!dlog_get(p, n, "status", st, sizeof st))
			snprintf(st, sizeof st, "%s", ev[2] == 'l' ? "sent" :
			    ev);
		c = strcmp(st, "sent") == 0 ? C_SENT : strcmp(st, "deferred")
		    == 0 ? C_DEFER : strcmp(st, "expired") == 0 ? C_EXPIRE :
		    C_BOUNCE;
		if (!dlog_get(p, n, "to", a, sizeof a))
			(void)dlog_get(p, n, "rcpt", a, sizeof a);
		bump(&rcpts, a, c);
		bump(&domains, domain_of(a), c);
		(void)dlog_get(p, n, "text", t, sizeof t);
		if (c == C_DEFER)
			bump(&deferrals, reason(t), c);
		else if (c != C_SENT)
			bump(&bounces, reason(t), c);
	} else if (strcmp(prog, "send") == 0 && strcmp(ev, "rcpt_fail") == 0) {
		c = C_BOUNCE;
		(void)dlog_get(p, n, "rcpt", a, sizeof a);
		bump(&rcpts, a, c);
		bump(&domains, domain_of(a), c);
		(void)dlog_get(p, n, "why", t, sizeof t);
		bump(&bounces, reason(t), c);
	} else if (strcmp(prog, "smtpd") == 0 && strcmp(ev, "refuse") == 0) {
		char stage[32], why[256];

		c = C_REJECT;
		if (!dlog_get(p, n, "stage", stage, sizeof stage))
			snprintf(stage, sizeof stage, "connect");
		(void)dlog_get(p, n, "reason", why, sizeof why);
		snprintf(t, sizeof t, "%s: %s", stage, why);
		bump(&rejects, t, c);
	} else
		return;
	total[c]++;
	bump(&hours, hour, c);
}

static void
read_fp(FILE *f)
{
	char *b = NULL;
	size_t cap = 0;
	ssize_t k;

	while ((k = getline(&b, &cap, f)) > 0)
		line(b, (size_t)k);
	free(b);
}

static void
top(const char *title, struct tab *t, int c, unsigned lim)
{
	struct ent *v = sorted(t, c);
	unsigned k = 0;

	printf("\n%s\n", title);
	for (size_t i = 0; i < t->n && k < lim; i++)
		if (v[i].c[c] > 0) {
			printf("  %8lu  %s\n", v[i].c[c], v[i].key);
			k++;
		}
	if (k == 0)
		printf("  none\n");
}

int
main(int argc, char *argv[])
{
	unsigned lim = 10;
	int ch, rc = EXIT_OK;
	struct ent *v;
	FILE *f;

	log_init("logsum");
	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch != 'n' || (lim = (unsigned)strtoul(optarg, NULL, 10))
		    == 0) {
			fputs("usage: sandmail-logsum [-n top] [file...]\n",
			    stderr);
			return EXIT_PERM;
		}
	}
	if (optind == argc)
		read_fp(stdin);
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0) {
			read_fp(stdin);
			continue;
		}
		if ((f = fopen(argv[i], "r")) == NULL) {
			fprintf(stderr, "sandmail-logsum: %s: %s\n", argv[i],
			    strerror(errno));
			rc = EXIT_TEMP;
			continue;
		}
		read_fp(f);
		fclose(f);
	}
	printf("Grand totals\n");
	for (int c = 0; c < C_N; c++)
		printf("  %-10s %8lu\n", cnames[c], total[c]);
	printf("  %-10s %8llu\n", "bytes in", bytes_in);
	printf("\nPer hour (UTC)\n  %-13s", "hour");
	for (int c = 0; c < C_N; c++)
		printf(" %9s", cnames[c]);
	putchar('\n');
	v = sorted(&hours, -1);
	for (size_t i = 0; i < hours.n; i++) {
		printf("  %-13s", v[i].key);
		for (int c = 0; c < C_N; c++)
			printf(" %9lu", v[i].c[c]);
		putchar('\n');
	}
	top("Senders (messages received)", &senders, C_IN, lim);
	top("Recipients (delivered)", &rcpts, C_SENT, lim);
	top("Recipient domains (delivered)", &domains, C_SENT, lim);
	top("Recipient domains (deferred)", &domains, C_DEFER, lim);
	top("Recipient domains (bounced)", &domains, C_BOUNCE, lim);
	top("Deferral reasons", &deferrals, C_DEFER, lim);
	top("Bounce reasons", &bounces, C_BOUNCE, lim);
	top("Expiry reasons", &bounces, C_EXPIRE, lim);
	top("Rejections (stage: reason)", &rejects, C_REJECT, lim);
	return fflush(stdout) == 0 ? rc : EXIT_TEMP;
}
