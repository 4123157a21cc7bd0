/* test_listen: the listener helpers smtpd and pop3d share. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "listen.h"
#include "netkey.h"

static void
test_loopback(void **state)
{
	static const struct { const char *ip; int want; } cases[] = {
		{ "127.0.0.1", 1 }, { "127.255.3.4", 1 }, { "::1", 1 },
		{ "::ffff:127.0.0.1", 1 }, { "::FFFF:127.0.0.9", 1 },
		{ "128.0.0.1", 0 }, { "1.127.0.0", 0 }, { "::2", 0 },
		{ "::ffff:10.0.0.1", 0 }, { "", 0 }, { "unknown", 0 },
		{ "::1:1", 0 }, { "127", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(listen_is_loopback(cases[i].ip),
		    cases[i].want);
}

static void
test_open(void **state)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char ip[LISTEN_IP_MAX], port[8];
	int fd;

	(void)state;
	fd = listen_open("127.0.0.1:0", 4);
	assert_true(fd >= 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	listen_addr_text(&ss, ip, sizeof ip, port, sizeof port);
	assert_string_equal(ip, "127.0.0.1");
	assert_string_not_equal(port, "0");
	close(fd);
	/* [::1] where the machine has an IPv6 loopback (else refused) */
	if ((fd = socket(AF_INET6, SOCK_STREAM, 0)) >= 0) {
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
		    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		int have6 = bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0;

		close(fd);
		fd = listen_open("[::1]:0", 4);
		assert_true(have6 ? fd >= 0 : fd == -1);
		if (fd >= 0) {
			sl = sizeof ss;
			assert_int_equal(getsockname(fd,
			    (struct sockaddr *)&ss, &sl), 0);
			listen_addr_text(&ss, ip, sizeof ip, port,
			    sizeof port);
			assert_string_equal(ip, "::1");
			close(fd);
		}
	}
	static const char *bad[] = { "", "127.0.0.1", ":25", "127.0.0.1:",
	    "127.0.0.1:x", "127.0.0.1:70000", "localhost:25", "[::1:25",
	    "999.0.0.1:25" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		if ((fd = listen_open(bad[i], 4)) >= 0)
			close(fd);
		if (fd >= 0)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void
test_kids(void **state)
{
	struct kid kids[4];
	size_t n = 0;
	pid_t pid;

	(void)state;
	kids_add(kids, &n, 100000, "10.0.0.1");
	kids_add(kids, &n, 100001, "10.0.0.1");
	kids_add(kids, &n, 100002, "::1");
	assert_int_equal(n, 3);
	assert_int_equal(kids_count_ip(kids, n, "10.0.0.1"), 2);
	assert_int_equal(kids_count_ip(kids, n, "::1"), 1);
	assert_int_equal(kids_count_ip(kids, n, "10.0.0.2"), 0);
	/* a real child that ends is reaped and dropped */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	kids_add(kids, &n, pid, "192.0.2.1");
	for (int i = 0; i < 500 && n == 4; i++) {
		kids_reap(kids, &n);
		if (n == 4)
			usleep(10000);
	}
	assert_int_equal(n, 3);
	assert_int_equal(kids_count_ip(kids, n, "192.0.2.1"), 0);
	assert_int_equal(kids_count_ip(kids, n, "10.0.0.1"), 2);
}

/* netkey: client addresses (text from a peer's address, or a client's
 * field in an auth request) as the networks the limits count */
static const struct {
	const char *ip;
	enum netkey_kind kind;
	int ok;
	const char *text;
} nk[] = {
	{ "192.0.2.77", NK_HOST, 0, "192.0.2.77/32" },
	{ "192.0.2.77", NK_NET, 0, "192.0.2.0/24" },
	{ "::ffff:192.0.2.77", NK_NET, 0, "192.0.2.0/24" },	/* mapped */
	{ "2001:db8:1:2:3:4:5:6", NK_HOST, 0, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2:3:4:5:6", NK_NET, 0, "2001:db8:1::/48" },
	{ "::1", NK_HOST, 0, "::/64" },
	{ "0.0.0.0", NK_NET, 0, "0.0.0.0/24" },
	{ "255.255.255.255", NK_NET, 0, "255.255.255.0/24" },
	{ "", NK_HOST, -1, "unknown" },
	{ "unknown", NK_NET, -1, "unknown" },
	{ "1.2.3.4.5", NK_HOST, -1, "unknown" },
	{ "1.2.3.4 ", NK_HOST, -1, "unknown" },
	{ "1.2.3.4/24", NK_HOST, -1, "unknown" },
	{ "2001:db8::1%eth0", NK_HOST, -1, "unknown" },
};

static void
test_netkey(void **state)
{
	struct netkey a, b;
	char t[64];

	(void)state;
	for (size_t i = 0; i < sizeof nk / sizeof nk[0]; i++) {
		assert_int_equal(netkey_of(nk[i].ip, nk[i].kind, &a), nk[i].ok);
		netkey_text(&a, t, sizeof t);
		assert_string_equal(t, nk[i].text);
	}
	/* neighbours share the network, not the address */
	netkey_of("198.51.100.1", NK_NET, &a);
	netkey_of("198.51.100.254", NK_NET, &b);
	assert_true(netkey_eq(&a, &b));
	netkey_of("198.51.100.1", NK_HOST, &a);
	netkey_of("198.51.100.254", NK_HOST, &b);
	assert_false(netkey_eq(&a, &b));
	netkey_of("198.51.101.1", NK_NET, &b);
	netkey_of("198.51.100.1", NK_NET, &a);
	assert_false(netkey_eq(&a, &b));
	/* v4 and the same bytes in v6 differ */
	netkey_of("::c633:6401", NK_HOST, &b);
	netkey_of("198.51.100.1", NK_HOST, &a);
	assert_false(netkey_eq(&a, &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_netkey),
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_kids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
