/* test_saddr: lib/saddr.c, the one parser of the filters' peer
 * addresses: each spelling, the default port, and the edges it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "saddr.h"

static void
ok4(const char *s, const char *def, const char *ip, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	socklen_t len;
	char b[INET_ADDRSTRLEN];

	assert_int_equal(saddr_parse(s, def, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof *in);
	assert_non_null(inet_ntop(AF_INET, &in->sin_addr, b, sizeof b));
	assert_string_equal(b, ip);
	assert_int_equal(ntohs(in->sin_port), port);
}

static void
ok6(const char *s, const char *def, const char *ip, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	char b[INET6_ADDRSTRLEN];

	assert_int_equal(saddr_parse(s, def, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof *in);
	assert_non_null(inet_ntop(AF_INET6, &in->sin6_addr, b, sizeof b));
	assert_string_equal(b, ip);
	assert_int_equal(ntohs(in->sin6_port), port);
}

static void
bad(const char *s, const char *def)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (saddr_parse(s, def, &ss, &len) != -1)
		fail_msg("accepted: %s", s);
}

static void
test_parse(void **st)
{
	(void)st;
	ok4("127.0.0.1", "53", "127.0.0.1", 53);
	ok4("127.0.0.1:5353", "53", "127.0.0.1", 5353);
	ok4("10.1.2.3:65535", NULL, "10.1.2.3", 65535);
	ok6("::1", "53", "::1", 53);
	ok6("[::1]", "53", "::1", 53);
	ok6("[::1]:8891", NULL, "::1", 8891);
	ok6("fe80::1:25", "53", "fe80::1:25", 53);	/* bare: no port */
	/* a port is required, and a real one */
	bad("127.0.0.1", NULL);
	bad("::1", NULL);
	bad("[::1]", NULL);
	bad("127.0.0.1:", "53");
	bad("127.0.0.1:0", "53");
	bad("127.0.0.1:65536", "53");
	bad("127.0.0.1:70000", "53");
	bad("127.0.0.1:+25", "53");
	bad("127.0.0.1:25x", "53");
	bad("127.0.0.1: 25", "53");
	/* names, empties, broken brackets */
	bad("localhost:25", NULL);
	bad("", "53");
	bad(":25", "53");
	bad("[]:25", "53");
	bad("[::1", "53");
	bad("[::1]x", "53");
	bad("[::1]:", "53");
	bad("[[::1]]:25", "53");
	bad("[127.0.0.1]:25", "53");
	bad("1.2.3.4.5", "53");
	bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaa:25", NULL);
}

static void
test_service(void **st)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *un = (struct sockaddr_un *)&ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	socklen_t len;
	char lng[sizeof un->sun_path + 8];

	(void)st;
	assert_int_equal(saddr_service("unix:/run/m.sock", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_UNIX);
	assert_string_equal(un->sun_path, "/run/m.sock");
	assert_int_equal(saddr_service("inet:127.0.0.1:11332", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 11332);
	assert_int_equal(saddr_service("inet:[::1]:8891", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	/* a port is required; relative paths and other schemes are not */
	assert_int_equal(saddr_service("inet:127.0.0.1", &ss, &len), -1);
	assert_int_equal(saddr_service("inet:::1:25", &ss, &len), -1);
	assert_int_equal(saddr_service("unix:run/m.sock", &ss, &len), -1);
	assert_int_equal(saddr_service("unix:", &ss, &len), -1);
	assert_int_equal(saddr_service("local:/run/m", &ss, &len), -1);
	assert_int_equal(saddr_service("127.0.0.1:25", &ss, &len), -1);
	memcpy(lng, "unix:/", 6);
	memset(lng + 6, 'a', sizeof lng - 7);
	lng[sizeof lng - 1] = '\0';
	assert_int_equal(saddr_service(lng, &ss, &len), -1);
}

int
main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_service),
	};

	return cmocka_run_group_tests(t, NULL, NULL);
}
