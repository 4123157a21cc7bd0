/* test_buf: the bounded buffer at its ceiling. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void
test_put_limits(void **state)
{
	struct buf b = BUF_INIT(8);

	(void)state;
	assert_int_equal(buf_put(&b, "", 0), 0);	/* empty: fine */
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_put(&b, "12345678", 8), 0);	/* at max */
	assert_int_equal(b.len, 8);
	assert_int_equal(b.cap, 9);	/* max + the NUL, no more */
	errno = 0;
	assert_int_equal(buf_putc(&b, 'x'), -1);	/* one over */
	assert_int_equal(errno, E2BIG);
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_cstr(&b), 0);	/* NUL fits at max */
	assert_string_equal(b.p, "12345678");
	assert_int_equal(b.len, 8);
	buf_drop(&b, 3);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.p, "45678", 5);
	buf_drop(&b, 99);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.max, 8);	/* reusable after free */
	assert_int_equal(buf_puts(&b, "abc"), 0);
	buf_free(&b);
}

static void
test_zero_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_put(&b, "", 0), 0);
	assert_int_equal(buf_putc(&b, 'a'), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(buf_cstr(&b), 0);
	assert_string_equal(b.p, "");
	assert_true(buf_eq(&b, ""));
	buf_free(&b);
}

static void
test_overflow(void **state)
{
	/* len near SIZE_MAX: the addition must not wrap */
	struct buf b = { NULL, SIZE_MAX - 2, 0, SIZE_MAX };

	(void)state;
	errno = 0;
	assert_int_equal(buf_reserve(&b, 10), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(buf_reserve(&b, SIZE_MAX), -1);
	assert_int_equal(errno, E2BIG);
	/* an "unlimited" buffer still grows sanely */
	{
		struct buf u = BUF_INIT(SIZE_MAX);

		assert_int_equal(buf_puts(&u, "abc"), 0);
		assert_int_equal(u.cap, 64);
		assert_int_equal(buf_reserve(&u, 100), 0);
		assert_int_equal(u.cap, 128);
		buf_free(&u);
	}
}

static void
test_growth(void **state)
{
	struct buf b = BUF_INIT(100000);
	size_t i;

	(void)state;
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 100000);
	assert_true(b.cap <= 100001);
	assert_int_equal(buf_putc(&b, 'x'), -1);
	for (i = 0; i < 100000; i++)
		if (b.p[i] != (char)('a' + i % 26))
			fail_msg("byte %zu", i);
	buf_free(&b);
}

static void
test_fmt(void **state)
{
	struct buf b = BUF_INIT(10);

	(void)state;
	assert_int_equal(buf_fmt(&b, "%s-%d", "ab", 42), 0);
	assert_true(buf_eq(&b, "ab-42"));
	assert_int_equal(buf_fmt(&b, "%05d", 7), 0);	/* exactly at max */
	assert_int_equal(b.len, 10);
	assert_true(buf_eq(&b, "ab-4200007"));
	assert_int_equal(buf_fmt(&b, "%s", ""), 0);
	errno = 0;
	b.len = 6;
	assert_int_equal(buf_fmt(&b, "%s", "12345"), -1);	/* whole or none */
	assert_int_equal(errno, E2BIG);
	assert_int_equal(b.len, 6);
	buf_free(&b);
}

static void
test_eq(void **state)
{
	struct buf b = BUF_INIT(16);

	(void)state;
	assert_true(buf_eq(&b, ""));
	assert_false(buf_eq(&b, "a"));
	assert_int_equal(buf_put(&b, "a\0b", 3), 0);
	assert_false(buf_eq(&b, "a"));
	assert_int_equal(b.len, 3);
	assert_int_equal(memcmp(b.p, "a\0b", 3), 0);
	b.len = 1;
	assert_true(buf_eq(&b, "a"));
	assert_false(buf_eq(&b, "ab"));
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_limits),
		cmocka_unit_test(test_zero_max),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_fmt),
		cmocka_unit_test(test_eq),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
