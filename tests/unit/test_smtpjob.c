/* test_smtpjob: remote/smtp.c's smtp_job when memory runs out at its
 * end: it fails (-1) and leaves nothing allocated, neither its own
 * working state nor the results it had filled (a SANITIZE=1 build's
 * LeakSanitizer sees the first; the second is checked here).  strdup
 * is this program's own, so that a test can make the n-th call fail. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "env.h"
#include "job.h"
#include "smtp.h"

static int strdup_calls, strdup_fail_at = -1;

/* strdup - libc's, but the strdup_fail_at-th call (from 0) fails */
char *
strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (strdup_calls++ == strdup_fail_at)
		return errno = ENOMEM, NULL;
	if ((p = malloc(n)) != NULL)
		memcpy(p, s, n);
	return p;
}

/* a job that ends without a network: its one recipient's address is
 * empty, so no host is tried */
static int
run(struct rres *res)
{
	static char sender[] = "a@example.org", rcpt[] = "";
	struct rjob_rcpt r = { 0 };
	struct rjob j = { 0 };
	struct smtp_cfg cfg = { "test.example", 25, 1000, 1000, 1000, 1000,
	    1000, 1000, NULL, TLS_MAY, -1 };
	struct smtp_conn c;

	r.addr = rcpt;
	j.qid = sender;
	j.sender = sender;
	j.envid = sender;
	j.tls = "";
	j.auth_user = "";
	j.auth_pass = "";
	j.dkim = "";
	j.nrcpt = 1;
	j.rcpt = &r;
	smtp_conn_init(&c);
	return smtp_job(&cfg, &c, &j, -1, res);
}

static void
test_job_without_hosts(void **state)
{
	struct rres res;

	(void)state;
	strdup_calls = 0;
	strdup_fail_at = -1;
	assert_int_equal(run(&res), 0);
	assert_int_equal(res.nrcpt, 1);
	assert_int_equal(res.rcpt[0].status, ST_PERM);
	assert_non_null(res.mta);
	assert_non_null(res.tlsfail);
	rres_free(&res);
}

/* each of the job's strdups failing in turn: -1, and res empty */
static void
test_strdup_fails(void **state)
{
	struct rres res;
	int n;

	(void)state;
	strdup_calls = 0;
	strdup_fail_at = -1;
	assert_int_equal(run(&res), 0);
	rres_free(&res);
	n = strdup_calls;
	assert_true(n >= 2);		/* the result's text, mta, tlsfail */
	for (int k = 1; k < n; k++) {	/* (0: result() exits 111) */
		strdup_calls = 0;
		strdup_fail_at = k;
		assert_int_equal(run(&res), -1);
		assert_null(res.mta);
		assert_null(res.rcpt);
		assert_null(res.tlsfail);
		assert_int_equal(res.nrcpt, 0);
	}
	strdup_fail_at = -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_without_hosts),
		cmocka_unit_test(test_strdup_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
