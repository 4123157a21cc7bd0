/* test_metrics: sandmail-metrics' counting of log lines (metrics/mstat.c):
 * which line feeds which counter, label values escaped and bounded, the
 * label sets of a family capped with "other", send's stats file read
 * strictly, and the rendered text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "mstat.h"

static struct mt m;

static void
ln(const char *s)
{
	mt_line(&m, s, strlen(s));
}

static char *
render(const struct mt_gauges *g)
{
	static struct buf b = BUF_INIT(1 << 20);

	b.len = 0;
	assert_int_equal(mt_render(&m, g, 1000, &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	return b.p;
}

static void
test_lines(void **st)
{
	(void)st;
	mt_init(&m);
	ln("2026-12-07_03:04:05.12345 prog=smtpd event=connect ip=1.2.3.4");
	ln("prog=smtpd event=accept id=X from=a nrcpt=1 size=3");
	ln("prog=queue event=queued id=X size=300 nrcpt=1 sender=a");
	ln("prog=send event=delivered id=X to=a relay=local delay=0 "
	    "status=sent\n");
	ln("prog=send event=delivered id=X to=a relay=mx[1.2.3.4] delay=7 "
	    "status=sent");
	ln("prog=send event=deferred id=X to=a relay=mx[1.2.3.4] "
	    "status=deferred");
	ln("prog=send event=bounced id=X to=a relay=none status=bounced");
	ln("prog=send event=bounced id=X to=a relay=mx status=expired");
	ln("prog=send event=rcpt_fail id=X rcpt=b why=\"5.1.1 unknown\"");
	ln("prog=smtpd event=refuse ip=1 stage=AUTH reason=\"auth failed\"");
	ln("prog=pop3d event=refuse ip=1 stage=AUTH reason=\"auth failed\"");
	ln("prog=pop3d event=refuse ip=1 reason=\"too many\"");
	ln("prog=smtpd event=tls ip=1 version=TLSv1.3 cipher=x");
	ln("prog=rspawn event=tls id=X mta=m version=TLSv1.2");
	/* not ours, or not lines at all */
	ln("prog=send event=start id=X kind=remote");
	ln("event=delivered status=sent");
	ln("prog=smtpd text=\"event=accept\"");
	ln("");
	assert_int_equal(m.connections, 1);
	assert_int_equal(m.accepted, 1);
	assert_int_equal(m.queued, 1);
	assert_int_equal(m.bytes, 300);
	assert_int_equal(m.deliv[MK_LOCAL][MS_SENT], 1);
	assert_int_equal(m.deliv[MK_REMOTE][MS_SENT], 1);
	assert_int_equal(m.deliv[MK_REMOTE][MS_DEFERRED], 1);
	assert_int_equal(m.deliv[MK_NONE][MS_BOUNCED], 2);
	assert_int_equal(m.deliv[MK_REMOTE][MS_EXPIRED], 1);
	assert_int_equal(m.delay_count, 2);
	assert_int_equal(m.delay_sum, 7);
	assert_int_equal(m.bucket[0], 1);	/* le 1: the 0 */
	assert_int_equal(m.bucket[2], 2);	/* le 30: both */
	assert_int_equal(m.rejected.n, 1);
	assert_string_equal(m.rejected.v[0].a, "AUTH");
	assert_string_equal(m.rejected.v[0].b, "auth failed");
	assert_int_equal(m.authfail.n, 2);
	assert_string_equal(m.authfail.v[1].a, "pop3");
	assert_int_equal(m.rejected.n, 1);	/* smtpd's only */
	assert_int_equal(m.tls.n, 2);
	assert_string_equal(m.tls.v[0].a, "in");
	assert_string_equal(m.tls.v[1].a, "out");
	assert_int_equal(m.lines, 15);
}

static void
test_labels(void **st)
{
	char l[400], *t;

	(void)st;
	mt_init(&m);
	/* quotes, backslashes and newlines escaped (lib/log.h's own escapes
	 * undone first) */
	ln("prog=smtpd event=refuse stage=RCPT reason=\"a \\\"q\\\" b\\\\c"
	    "\\x0ad\"");
	t = render(&(struct mt_gauges){ 0 });
	assert_non_null(strstr(t, "sandmail_smtpd_rejected_total{stage="
	    "\"RCPT\",reason=\"a \\\"q\\\" b\\\\c\\nd\"} 1\n"));
	/* no queue gauges before send wrote its file */
	assert_null(strstr(t, "sandmail_queue_messages"));
	/* a client's reasons cannot grow the family without end */
	mt_init(&m);
	for (int i = 0; i < 200; i++) {
		snprintf(l, sizeof l, "prog=smtpd event=refuse stage=RCPT "
		    "reason=r%d", i);
		ln(l);
	}
	assert_int_equal(m.rejected.n, MT_SETS_MAX);
	assert_string_equal(m.rejected.v[MT_SETS_MAX - 1].a, "other");
	assert_int_equal(m.rejected.v[MT_SETS_MAX - 1].n,
	    200 - (MT_SETS_MAX - 1));
	/* a long value is cut */
	memset(l, 'S', sizeof l - 1);
	l[sizeof l - 1] = '\0';
	memcpy(l, "prog=smtpd event=refuse stage=", 30);
	mt_init(&m);
	ln(l);
	assert_int_equal(strlen(m.rejected.v[0].a), MT_LABEL_MAX);
}

static void
test_gauges(void **st)
{
	struct mt_gauges g;
	const char *f = "todo 1\ninfo 20\nbounce 0\nhold 3\noldest 400\n"
	    "active_local 2\nactive_remote 5\ntime 990\n";
	char *t;

	(void)st;
	assert_int_equal(mt_gauges_parse(&g, f, strlen(f)), 0);
	assert_int_equal(g.v[MG_INFO], 20);
	assert_int_equal(g.v[MG_ACTIVE_REMOTE], 5);
	mt_init(&m);
	t = render(&g);
	assert_non_null(strstr(t, "sandmail_queue_messages{queue=\"hold\"} "
	    "3\n"));
	assert_non_null(strstr(t, "sandmail_queue_oldest_age_seconds 590\n"));
	assert_non_null(strstr(t, "sandmail_deliveries_active{kind="
	    "\"remote\"} 5\n"));
	assert_non_null(strstr(t, "sandmail_send_stats_age_seconds 10\n"));
	/* bad lines skipped, nothing known: -1 */
	f = "todo\ninfo x\nhold -1\n 3\nzzz 4\ninfo 5x";
	assert_int_equal(mt_gauges_parse(&g, f, strlen(f)), -1);
	assert_int_equal(g.have[MG_INFO], 0);
	assert_int_equal(mt_gauges_parse(&g, "", 0), -1);
	f = "info 7";			/* no newline at the end */
	assert_int_equal(mt_gauges_parse(&g, f, strlen(f)), 0);
	assert_int_equal(g.v[MG_INFO], 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_gauges),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
