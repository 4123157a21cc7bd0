/* test_send: sandmail-send's pure parts: the retry schedule, the message
 * index, the record formats of local/ remote/ bounce/, and the RFC 3464
 * report, checked field by field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "send_int.h"

static void
test_sched(void **st)
{
	static const struct {
		uint64_t arrival, now, first, max, want;
	} c[] = {
		/* points: 0, 300, 900, 2100, 4500, 9300, 14400... (cap 4h) */
		{ 0, 0, 300, 14400, 300 },
		{ 0, 1, 300, 14400, 300 },
		{ 0, 299, 300, 14400, 300 },
		{ 0, 300, 300, 14400, 900 },
		{ 0, 301, 300, 14400, 900 },
		{ 0, 900, 300, 14400, 2100 },
		{ 0, 2100, 300, 14400, 4500 },
		{ 0, 4500, 300, 14400, 9300 },
		{ 0, 9300, 300, 14400, 18900 },	/* 4800 -> 9600 */
		{ 0, 18900, 300, 14400, 33300 },	/* then capped 14400 */
		{ 0, 33300, 300, 14400, 47700 },
		{ 0, 40000, 300, 14400, 47700 },
		{ 1000, 1000 + 5 * 86400, 300, 14400, 0 },	/* checked below */
		{ 100, 50, 300, 14400, 400 },	/* clock before arrival */
		{ 0, 0, 0, 0, 1 },		/* zero: one second */
		{ 0, 10, 1, 2, 11 },
		{ 0, 3, 5, 2, 5 },		/* max < first: first */
	};

	(void)st;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		uint64_t got = sched_next(c[i].arrival, c[i].now, c[i].first,
		    c[i].max);

		assert_true(got > c[i].now);
		if (c[i].want != 0)
			assert_int_equal(got, c[i].want);
		else
			assert_true(got - c[i].now <= c[i].max);
	}
	/* a huge age does not loop step by step */
	assert_true(sched_next(0, UINT64_C(1) << 40, 300, 14400) >
	    UINT64_C(1) << 40);
}

static void
test_index(void **st)
{
	struct index x;
	struct msg *m;
	char id[16];
	uint64_t last = 0;

	(void)st;
	idx_init(&x);
	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof id, "m%d", i);
		assert_non_null(idx_add(&x, id, (uint64_t)((i * 7919) % 1000) + 1));
	}
	assert_null(idx_add(&x, "m5", 1));	/* EEXIST */
	m = idx_get(&x, "m42");
	assert_non_null(m);
	idx_unsched(&x, m);
	idx_sched(&x, m, 0);
	assert_ptr_equal(idx_top(&x), m);
	idx_del(&x, m);
	assert_null(idx_get(&x, "m42"));
	while ((m = idx_top(&x)) != NULL) {
		assert_true(m->due >= last);
		last = m->due;
		idx_unsched(&x, m);
	}
	assert_int_equal(x.n, 2999);
	/* reschedule every one: the heap has room for all */
	m = idx_get(&x, "m7");
	idx_sched(&x, m, 5);
	assert_ptr_equal(idx_top(&x), m);
	idx_free(&x);
}

/* the oldest arrival: kept as messages come and go, and looked for
 * again only when the oldest one went */
static void
test_index_oldest(void **st)
{
	struct index x;
	struct msg *a, *b, *c;

	(void)st;
	idx_init(&x);
	assert_int_equal(idx_oldest(&x), 0);		/* empty */
	a = idx_add(&x, "a", 0);
	b = idx_add(&x, "b", 0);
	c = idx_add(&x, "c", 0);
	assert_int_equal(idx_oldest(&x), 0);		/* none known yet */
	idx_arrival(&x, b, 200);
	idx_arrival(&x, c, 300);
	assert_int_equal(idx_oldest(&x), 200);
	idx_arrival(&x, a, 100);
	assert_int_equal(idx_oldest(&x), 100);
	idx_arrival(&x, a, 100);			/* loaded again */
	assert_int_equal(idx_oldest(&x), 100);
	idx_del(&x, c);					/* not the oldest */
	assert_int_equal(x.ostale, 0);
	assert_int_equal(idx_oldest(&x), 100);
	idx_del(&x, a);					/* the oldest */
	assert_int_equal(idx_oldest(&x), 200);
	idx_arrival(&x, b, 250);			/* its time corrected */
	assert_int_equal(idx_oldest(&x), 250);
	idx_del(&x, b);
	assert_int_equal(idx_oldest(&x), 0);		/* empty again */
	idx_free(&x);
}

static void
test_rcpt_codec(void **st)
{
	struct buf b = BUF_INIT(1 << 20);
	struct rcpt r[2], *v = NULL;
	size_t n = 0;

	(void)st;
	memset(r, 0, sizeof r);
	r[0] = (struct rcpt){ 0, 12345, RC_PENDING, RC_LOCAL, NOTIFY_DELAY,
	    0, "a@x", "rfc822;a@x", "/home/a/Maildir/", "", 1000, 1001, "" };
	r[1] = (struct rcpt){ 0, 0, RC_WARNED, RC_REMOTE, 0, 0, "b@y", "", "",
	    "y", 0, 0, "451 later" };
	r[0].orig = "list@x";	/* expanded from an alias: kept */
	r[1].orig = "b@y";	/* the same address: not written */
	assert_int_equal(buf_put(&b, RC_MAGIC, RC_MAGIC_LEN), 0);
	assert_int_equal(rc_encode(&b, &r[0]), 0);
	assert_int_equal(rc_encode(&b, &r[1]), 0);
	assert_int_equal(rc_decode(b.p, b.len, RC_LOCAL, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].off, RC_MAGIC_LEN);
	/* the state byte sits at off: a one-byte overwrite changes it */
	assert_int_equal((unsigned char)b.p[v[1].off], RC_WARNED);
	assert_int_equal(v[0].next, 12345);
	assert_string_equal(v[0].addr, "a@x");
	assert_string_equal(v[0].orcpt, "rfc822;a@x");
	assert_string_equal(v[0].dest, "/home/a/Maildir/");
	assert_int_equal(v[0].uid, 1000);
	assert_int_equal(v[0].gid, 1001);
	assert_int_equal(v[0].notify, NOTIFY_DELAY);
	assert_string_equal(v[0].orig, "list@x");
	assert_null(v[1].orig);
	assert_string_equal(v[1].domain, "y");
	assert_string_equal(v[1].err, "451 later");
	assert_true(rc_pending(&v[1]));
	b.p[v[1].off] = RC_DONE;
	for (size_t i = 0; i < n; i++)
		rc_free(&v[i]);
	free(v), v = NULL, n = 0;
	assert_int_equal(rc_decode(b.p, b.len, RC_REMOTE, &v, &n), 0);
	assert_false(rc_pending(&v[1]));
	for (size_t i = 0; i < n; i++)
		rc_free(&v[i]);
	free(v), v = NULL, n = 0;
	/* bad: magic, state, a cut record, one byte more */
	b.p[0] = 'X';
	assert_int_equal(rc_decode(b.p, b.len, RC_LOCAL, &v, &n), -1);
	b.p[0] = 'S';
	b.p[RC_MAGIC_LEN] = 'Q';
	assert_int_equal(rc_decode(b.p, b.len, RC_LOCAL, &v, &n), -1);
	for (size_t i = 0; i < n; i++)
		rc_free(&v[i]);
	free(v), v = NULL, n = 0;
	b.p[RC_MAGIC_LEN] = RC_PENDING;
	assert_int_equal(rc_decode(b.p, b.len - 1, RC_LOCAL, &v, &n), -1);
	for (size_t i = 0; i < n; i++)
		rc_free(&v[i]);
	free(v), v = NULL, n = 0;
	assert_int_equal(rc_decode(b.p, RC_MAGIC_LEN, RC_LOCAL, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
	buf_free(&b);
}

static void
test_brec_codec(void **st)
{
	struct buf b = BUF_INIT(1 << 20);
	struct brec r = { BR_FAILED, 77, "a@x", "", "mx.x", "550 no", 0 };
	struct brec *v;
	size_t n, whole;

	(void)st;
	assert_int_equal(br_encode(&b, &r), 0);
	r.action = BR_DELAYED;
	assert_int_equal(br_encode(&b, &r), 0);
	whole = b.len;
	assert_int_equal(br_encode(&b, &r), 0);
	/* a torn last record (crash while appending) is not read */
	assert_int_equal(br_decode(b.p, b.len - 3, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].action, BR_FAILED);
	assert_int_equal(v[0].time, 77);
	assert_string_equal(v[0].mta, "mx.x");
	assert_string_equal(v[1].text, "550 no");
	br_free(v, n);
	assert_int_equal(br_decode(b.p, whole, &v, &n), 0);
	assert_int_equal(n, 2);
	br_free(v, n);
	b.p[4] = 'Q';		/* unknown action */
	assert_int_equal(br_decode(b.p, b.len, &v, &n), -1);
	assert_int_equal(br_decode(b.p, 0, &v, &n), 0);
	assert_int_equal(n, 0);
	br_free(v, n);
	buf_free(&b);
}

static void
test_status(void **st)
{
	static const struct {
		const char *text;
		uint8_t action;
		const char *want;
	} c[] = {
		{ "550 5.1.1 <a@b>: no such user", BR_FAILED, "5.1.1" },
		{ "550-5.7.1 policy", BR_FAILED, "5.7.1" },
		{ "451 4.3.0 try again", BR_DELAYED, "4.3.0" },
		{ "4.4.7 delivery time expired; last error: 421 4.4.2 x",
		    BR_FAILED, "4.4.7" },
		{ "550 no code here", BR_FAILED, "5.0.0" },
		{ "421 later", BR_DELAYED, "4.0.0" },
		{ "ok", BR_DELIVERED, "2.0.0" },
		{ "", BR_FAILED, "5.0.0" },
		{ "550 5.1", BR_FAILED, "5.0.0" },	/* cut */
		{ "550 5.1.1234 long", BR_FAILED, "5.0.0" },
		{ "550 x5.1.1 glued", BR_FAILED, "5.0.0" },
		{ "550 3.1.1 bad class", BR_FAILED, "5.0.0" },
		{ "550 5.1.1\r\n", BR_FAILED, "5.1.1" },
		/* resolve's own reasons (RFC 7505 4.1, RFC 3463) */
		{ "5.1.10 domain x.example accepts no mail (null MX, RFC "
		    "7505)", BR_FAILED, "5.1.10" },
		{ "5.1.2 domain x.example does not exist (NXDOMAIN)",
		    BR_FAILED, "5.1.2" },
		{ "4.4.3 MX lookup for x.example failed: timed out",
		    BR_DELAYED, "4.4.3" },
		{ "mx[1.2.3.4] said: 250 2.0.0 queued", BR_RELAYED, "2.0.0" },
	};
	char out[16];

	(void)st;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		bounce_status(c[i].text, c[i].action, out);
		assert_string_equal(out, c[i].want);
	}
}

static int
put_buf(void *ctx, const void *p, size_t n)
{
	return buf_put(ctx, p, n);
}

/* field - the value of "name: " on a line of its own in s */
static const char *
field(const char *s, const char *name, char *out, size_t sz)
{
	char key[128];
	const char *p, *e;

	snprintf(key, sizeof key, "\n%s: ", name);
	if ((p = strstr(s, key)) == NULL)
		return NULL;
	p += strlen(key);
	e = strchr(p, '\n');
	snprintf(out, sz, "%.*s", (int)(e - p), p);
	return out;
}

static int
msgfd(const char *text)
{
	int fd = memfd_create("m", 0);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

static void
test_bounce(void **st)
{
	struct buf b = BUF_INIT(1 << 20);
	struct brec r[2] = {
		{ BR_FAILED, 86400, "bad@remote.example",
		    "rfc822;orig+2Bx@remote.example", "mx1.remote.example",
		    "550 5.1.1 <bad@remote.example>:\r\n no such user", 0 },
		{ BR_DELAYED, 86400, "slow@x.example", "", "",
		    "connect to x.example: timed out", 0 },
	};
	struct bctx c = { "mx.test.example", "QID1", "alice@test.example",
	    "ENV+2B1", 0, 86400 * 2, 86400 * 5, RET_HDRS, -1, "BD" };
	char v[1024], *s;

	(void)st;
	c.msgfd = msgfd("Received: x\nSubject: hello\n\nsecret body\n");
	assert_int_equal(bounce_write(&c, r, 2, put_buf, &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	s = b.p;
	/* the header */
	assert_true(strncmp(s, "From: MAILER-DAEMON@mx.test.example", 35) == 0);
	assert_string_equal(field(s, "To", v, sizeof v), "alice@test.example");
	assert_string_equal(field(s, "Subject", v, sizeof v),
	    "Undelivered Mail Returned to Sender");
	assert_string_equal(field(s, "Date", v, sizeof v),
	    "Sat, 03 Jan 1970 00:00:00 +0000");
	assert_string_equal(field(s, "Auto-Submitted", v, sizeof v),
	    "auto-replied");
	assert_string_equal(field(s, "Content-Type", v, sizeof v),
	    "multipart/report; report-type=delivery-status;");
	assert_non_null(strstr(s, "\n\tboundary=\"BD\"\n\n"));
	/* the human part: the remote's own text, on one line */
	assert_non_null(strstr(s, "\n--BD\nContent-Description: Notification"
	    "\nContent-Type: text/plain; charset=us-ascii\n\n"));
	assert_non_null(strstr(s, "<bad@remote.example>: failed (host "
	    "mx1.remote.example): 550 5.1.1 <bad@remote.example>:   no such "
	    "user\n"));
	/* the delivery-status part */
	assert_non_null(strstr(s, "\n--BD\nContent-Description: Delivery "
	    "report\nContent-Type: message/delivery-status\n\nReporting-MTA: "
	    "dns; mx.test.example\n"));
	assert_string_equal(field(s, "Original-Envelope-Id", v, sizeof v),
	    "ENV+1");
	assert_string_equal(field(s, "Arrival-Date", v, sizeof v),
	    "Thu, 01 Jan 1970 00:00:00 +0000");
	assert_string_equal(field(s, "Final-Recipient", v, sizeof v),
	    "rfc822; bad@remote.example");
	assert_string_equal(field(s, "Original-Recipient", v, sizeof v),
	    "rfc822;orig+x@remote.example");
	assert_string_equal(field(s, "Action", v, sizeof v), "failed");
	assert_string_equal(field(s, "Status", v, sizeof v), "5.1.1");
	assert_string_equal(field(s, "Remote-MTA", v, sizeof v),
	    "dns; mx1.remote.example");
	assert_string_equal(field(s, "Diagnostic-Code", v, sizeof v),
	    "smtp; 550 5.1.1 <bad@remote.example>:   no such user");
	/* the second recipient: delayed, no MTA */
	s = strstr(s, "Final-Recipient: rfc822; slow@x.example") - 1;
	assert_string_equal(field(s, "Action", v, sizeof v), "delayed");
	assert_string_equal(field(s, "Status", v, sizeof v), "4.0.0");
	assert_string_equal(field(s, "Diagnostic-Code", v, sizeof v),
	    "x-unix; connect to x.example: timed out");
	assert_string_equal(field(s, "Will-Retry-Until", v, sizeof v),
	    "Tue, 06 Jan 1970 00:00:00 +0000");
	assert_null(strstr(s, "Original-Recipient"));
	/* headers only, then the closing boundary */
	assert_non_null(strstr(b.p, "\n--BD\nContent-Description: Message "
	    "Headers\nContent-Type: text/rfc822-headers\n\nReceived: x\n"
	    "Subject: hello\n\n--BD--\n"));
	assert_null(strstr(b.p, "secret body"));
	/* RET=FULL: the whole message as message/rfc822 */
	b.len = 0;
	c.ret = RET_FULL;
	assert_int_equal(bounce_write(&c, r, 1, put_buf, &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	assert_non_null(strstr(b.p, "Content-Type: message/rfc822\n\n"
	    "Received: x\nSubject: hello\n\nsecret body\n\n--BD--\n"));
	/* a success report */
	b.len = 0;
	r[0].action = BR_DELIVERED;
	r[0].text = "250 ok";
	assert_int_equal(bounce_write(&c, r, 1, put_buf, &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	assert_string_equal(field(b.p, "Subject", v, sizeof v),
	    "Successful Mail Delivery Report");
	assert_string_equal(field(b.p, "Action", v, sizeof v), "delivered");
	assert_string_equal(field(b.p, "Status", v, sizeof v), "2.0.0");
	assert_null(strstr(b.p, "secret body"));	/* never FULL */
	/* handed to a next hop without DSN: relayed, and said so */
	b.len = 0;
	r[0].action = BR_RELAYED;
	r[0].text = "mx1.remote.example[192.0.2.1] said: 250 2.0.0 ok";
	assert_int_equal(bounce_write(&c, r, 1, put_buf, &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	assert_string_equal(field(b.p, "Action", v, sizeof v), "relayed");
	assert_string_equal(field(b.p, "Status", v, sizeof v), "2.0.0");
	assert_string_equal(field(b.p, "Remote-MTA", v, sizeof v),
	    "dns; mx1.remote.example");
	assert_non_null(strstr(b.p, "<bad@remote.example>: relayed (host "
	    "mx1.remote.example): "));
	assert_non_null(strstr(b.p, "there may be no further report"));
	/* a local delivery: no internal path, no diagnostic */
	b.len = 0;
	r[0].action = BR_DELIVERED;
	r[0].mta = "";
	r[0].text = "2.0.0 stored in the mailbox";
	assert_int_equal(bounce_write(&c, r, 1, put_buf, &b), 0);
	assert_int_equal(buf_cstr(&b), 0);
	assert_non_null(strstr(b.p, "<bad@remote.example>: delivered: 2.0.0 "
	    "stored in the mailbox\n"));
	assert_null(strstr(b.p, "Diagnostic-Code"));
	assert_null(strstr(b.p, "Remote-MTA"));
	close(c.msgfd);
	buf_free(&b);
}

static void
test_idok(void **st)
{
	(void)st;
	assert_true(send_idok("abcXYZ019"));
	assert_true(send_idok("01234567890123456789012345678901"));
	assert_false(send_idok("012345678901234567890123456789012"));
	assert_false(send_idok(""));
	assert_false(send_idok("a/b"));
	assert_false(send_idok("../x"));
	assert_false(send_idok("a.env"));
	assert_false(send_idok("\xc3\xa9"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sched),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_index_oldest),
		cmocka_unit_test(test_rcpt_codec),
		cmocka_unit_test(test_brec_codec),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_bounce),
		cmocka_unit_test(test_idok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
