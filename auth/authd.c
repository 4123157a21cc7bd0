/* authd: sandmail-auth's loop.  Reads check requests from its one client
 * (smtpd or pop3d, which it distrusts), looks the login up in the users
 * table opened before the sandbox, verifies with crypto_pwhash_str_verify
 * and answers.  A failure is answered only after auth_fail_delay; after
 * auth_max_failures it answers D and exits.  An unknown login is verified
 * against a dummy hash of the same cost, so timing tells nothing. */
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

/* auth_delay_ms - auth_fail_delay: "NNNms" or a duration in seconds */
unsigned long
auth_delay_ms(const struct conf *c)
{
	const char *v = conf_str(c, "auth_fail_delay", NULL);
	unsigned long long n;

	if (v == NULL)
		return 1000;
	if (parse_msecs(v, &n) == 0 && n <= 600000)
		return (unsigned long)n;
	die_msg(EXIT_TEMP, "config", "auth_fail_delay: not a delay");
}

static void
sleep_ms(unsigned long ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* lookup: the hash of login (exactly, then lowercased); the key that
 * matched becomes the canonical login.  1, 0 not found, -1 error */
static int
lookup(struct authd *d, const char *login, size_t n, struct buf *hash,
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

static void
log_check(const char *event, const struct auth_req *q, const char *why,
    unsigned long fails)
{
	struct logln l;

	log_start(&l, event);
	log_m(&l, "service", q->service, q->slen);
	log_m(&l, "login", q->login, q->llen);
	log_m(&l, "client", q->client, q->clen);
	if (why != NULL)
		log_s(&l, "reason", why);
	if (fails > 0)
		log_u(&l, "failures", fails);
	log_done(&l);
}

/* verify: the answer for one request, AUTH_OK with canon set */
static enum auth_status
verify(struct authd *d, const struct auth_req *q, struct buf *canon,
    const char **why)
{
	struct buf hash = BUF_INIT(AUTHD_HASH_MAX);
	const char *h = d->dummy;
	int r = 0, ok;

	*why = "no such login";
	if (users_login_ok(q->login, q->llen) &&
	    (r = lookup(d, q->login, q->llen, &hash, canon)) == -1) {
		buf_free(&hash);
		*why = "users table";
		return AUTH_TEMP;
	}
	if (r == 1) {
		if (buf_cstr(&hash) == 0 && strlen(hash.p) == hash.len) {
			h = hash.p;
			*why = "wrong password";
		} else
			*why = "bad hash in users table";
	}
	/* the dummy costs the same: an unknown login is not faster */
	ok = crypto_pwhash_str_verify(h, q->pass, q->plen) == 0;
	buf_free(&hash);
	return ok && h != d->dummy ? AUTH_OK : AUTH_BAD;
}

static int
reply(struct wr *w, struct buf *rec, enum auth_status st, const char *text,
    size_t tlen)
{
	struct buf t = BUF_INIT(AUTH_FIELD_MAX);
	int r;

	rec->len = 0;
	if (buf_put(&t, text, tlen) == -1 || buf_cstr(&t) == -1) {
		buf_free(&t);
		return -1;
	}
	r = auth_ans_encode(rec, st, t.p);
	buf_free(&t);
	if (r == -1 || rec_write(w, rec->p, rec->len) == -1 ||
	    wr_flush(w) == -1)
		return -1;
	return 0;
}

/* serve_one: answer one request; 1 go on, 0 done (disconnect), -1 error */
static int
serve_one(struct authd *d, struct wr *w, struct buf *rec)
{
	struct buf canon = BUF_INIT(AUTH_FIELD_MAX);
	struct auth_req q;
	enum auth_status st;
	const char *why;
	int r = 1;

	if (auth_req_decode(&q, rec->p, rec->len) == -1) {
		log_kv("protocol", "error", "bad request", NULL);
		return -1;
	}
	st = verify(d, &q, &canon, &why);
	/* the password is not kept; q's other fields point into rec until
	 * the reply below reuses it, so each branch logs first */
	sodium_memzero((char *)q.pass, q.plen);
	if (st == AUTH_OK) {
		log_check("auth_ok", &q, NULL, 0);
		if (reply(w, rec, AUTH_OK, canon.p, canon.len) == -1)
			r = -1;
	} else if (st == AUTH_TEMP) {
		log_check("auth_temp", &q, why, 0);
		if (reply(w, rec, AUTH_TEMP, why, strlen(why)) == -1)
			r = -1;
	} else {
		d->failures++;
		log_check("auth_fail", &q, why, d->failures);
		sleep_ms(d->delay_ms);
		if (d->failures >= d->max_fail) {
			log_kv("auth_disconnect", "reason",
			    "too many failures", NULL);
			st = AUTH_DISCONNECT;
			why = "too many failures";
			r = 0;
		} else
			why = "authentication failed";
		if (reply(w, rec, st, why, strlen(why)) == -1)
			r = -1;
	}
	buf_free(&canon);
	return r;
}

/* authd_run - greet and serve until EOF */
int
authd_run(struct authd *d, int in, int out)
{
	struct buf rec = BUF_INIT(AUTH_REC_MAX);
	struct rd r;
	struct wr w;
	int k;

	rd_init(&r, in, NULL, NULL);
	wr_init(&w, out, NULL, NULL);
	r.timeout_ms = d->timeout_ms;
	w.timeout_ms = d->timeout_ms;
	if (pk_u8(&rec, 'V') == -1 || pk_cstr(&rec, AUTH_VERSION) == -1 ||
	    rec_write(&w, rec.p, rec.len) == -1 || wr_flush(&w) == -1)
		return EXIT_TEMP;
	for (;;) {
		if ((k = rec_read(&r, &rec, AUTH_REC_MAX)) == 0)
			break;
		if (k == -1) {
			log_kv("protocol", "error", strerror(errno), NULL);
			buf_free(&rec);
			return EXIT_TEMP;
		}
		if ((k = serve_one(d, &w, &rec)) <= 0) {
			buf_free(&rec);
			return k == 0 ? EXIT_OK : EXIT_TEMP;
		}
	}
	buf_free(&rec);
	return EXIT_OK;
}
