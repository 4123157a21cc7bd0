/* fuzz_auth: what the authentication service takes from its clients: a
 * check request (auth_req_decode: what it accepts encodes back to exactly
 * the same bytes), and the client address and login it counts failures
 * by (netkey_of, guard_who, then a failure and the lockout check). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authc.h"
#include "../../auth/guard.h"
#include "netkey.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct guard g;
static int ready;

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct guard_cfg c = { 10, 100, 3, 5, 60000, 100 };
	struct buf b = BUF_INIT(AUTH_REC_MAX);
	struct auth_req q;
	struct guard_who w;
	struct netkey k;
	char ip[80], t[64];
	size_t m;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		guard_init(&g, &c);
		ready = 1;
	}
	if (auth_req_decode(&q, p, n) == 0) {
		char *svc = strndup(q.service, q.slen);
		char *cli = strndup(q.client, q.clen);

		if (svc == NULL || cli == NULL)
			abort();
		/* NULs inside service or client do not survive pk_cstr */
		if (strlen(svc) == q.slen && strlen(cli) == q.clen) {
			if (auth_req_encode(&b, svc, q.login, q.llen, q.pass,
			    q.plen, cli) != 0 || b.len != n ||
			    memcmp(b.p, p, n) != 0)
				abort();
		}
		guard_who(&g, &w, cli, q.login, q.llen);
		(void)guard_fail(&g, &w, 1000);
		(void)guard_locked(&g, &w, 1000);
		free(svc);
		free(cli);
	}
	m = n < sizeof ip - 1 ? n : sizeof ip - 1;
	memcpy(ip, p, m);
	ip[m] = '\0';
	(void)netkey_of(ip, NK_HOST, &k);
	netkey_text(&k, t, sizeof t);
	(void)netkey_of(ip, NK_NET, &k);
	netkey_text(&k, t, sizeof t);
	buf_free(&b);
	return 0;
}
