/* authd: what sandmail-auth's loop (serve.c) and sandmail-passwd share:
 * the hash parameters, the dummy hash, the settings, and the look-up of a
 * login in the users table opened before the sandbox. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "authc.h"
#include "authd.h"
#include "exitcode.h"
#include "log.h"
#include "rec.h"

/* pw_params - the argon2id cost sandmail-passwd hashes with */
void
pw_params(const struct conf *c, struct pwparams *p)
{
	p->ops = conf_num(c, "passwd_opslimit",
	    crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_OPSLIMIT_MIN,
	    crypto_pwhash_OPSLIMIT_SENSITIVE);
	p->mem = (size_t)conf_size(c, "passwd_memlimit",
	    crypto_pwhash_MEMLIMIT_INTERACTIVE);
	if (p->mem < crypto_pwhash_MEMLIMIT_MIN)
		p->mem = crypto_pwhash_MEMLIMIT_MIN;
	if (p->mem > crypto_pwhash_MEMLIMIT_SENSITIVE)
		p->mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
}

/* pw_dummy - a random argon2id string of the given cost */
int
pw_dummy(const struct pwparams *p, char *out, size_t outsz)
{
	unsigned char salt[crypto_pwhash_SALTBYTES], h[32];
	char s64[64], h64[64];
	int n;

	randombytes_buf(salt, sizeof salt);
	randombytes_buf(h, sizeof h);
	sodium_bin2base64(s64, sizeof s64, salt, sizeof salt,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	sodium_bin2base64(h64, sizeof h64, h, sizeof h,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	n = snprintf(out, outsz, "$argon2id$v=19$m=%zu,t=%llu,p=1$%s$%s",
	    p->mem / 1024, p->ops, s64, h64);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* auth_delay_ms - a delay setting: "NNNms" or a duration in seconds */
unsigned long
auth_delay_ms(const struct conf *c, const char *key, unsigned long def)
{
	const char *v = conf_str(c, key, NULL);
	unsigned long long n;

	if (v == NULL)
		return def;
	if (parse_msecs(v, &n) == 0 && n <= 600000)
		return (unsigned long)n;
	die_msg(EXIT_TEMP, "config", "auth delay setting: not a delay");
}

/* authd_settings - the limits of the service and of its guard */
void
authd_settings(struct authd *d, const struct conf *c)
{
	struct guard_cfg g;

	g.delay_ms = auth_delay_ms(c, "auth_fail_delay", 1000);
	g.delay_max_ms = auth_delay_ms(c, "auth_fail_delay_max", 16000);
	g.lockout = (unsigned)conf_num(c, "auth_lockout", 10, 1, 100000);
	g.lockout_net = (unsigned)conf_num(c, "auth_lockout_net", 30, 1,
	    1000000);
	g.lockout_ms = (unsigned long)conf_secs(c, "auth_lockout_time", 600) *
	    1000;
	g.global = (unsigned)conf_num(c, "auth_global_failures", 100, 1,
	    10000000);
	guard_init(&d->guard, &g);
	d->max_fail = (unsigned long)conf_num(c, "auth_max_failures", 3, 1,
	    1000);
	d->timeout_ms = (int)conf_secs(c, "auth_idle_timeout", 3600) * 1000;
	d->max_clients = (unsigned)conf_num(c, "auth_max_clients", 4096, 1,
	    1000000);
	d->max_wait = (unsigned)conf_num(c, "auth_max_waiting", 64, 1,
	    100000);
	d->wait_ms = (unsigned long)conf_secs(c, "auth_max_wait", 10) * 1000;
}

/* authd_lookup - the hash of login (exactly, then lowercased); the key
 * that matched becomes the canonical login.  1, 0 not found, -1 error */
int
authd_lookup(struct authd *d, const char *login, size_t n, struct buf *hash,
    struct buf *canon)
{
	int r;

	canon->len = 0;
	if (buf_put(canon, login, n) == -1)
		return -1;
	if ((r = tbl_get(&d->users, login, n, hash)) != 0)
		return r;
	canon->len = 0;
	if (tbl_lower(canon, login, n) == -1)
		return -1;
	if (canon->len == n && memcmp(canon->p, login, n) == 0)
		return 0;
	return tbl_get(&d->users, canon->p, canon->len, hash);
}

