/* test_rec: record framing, field cursors, and the envelope and job
 * codecs built on them: round trips, every truncation, extra bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "env.h"
#include "job.h"
#include "rec.h"

/* ---- a reader over fixed bytes ---- */

struct mem {
	const unsigned char	*p;
	size_t			 n, pos, chunk;
};

static ssize_t
mem_read(int fd, void *p, size_t n, void *ctx)
{
	struct mem *m = ctx;
	size_t k = m->n - m->pos;

	(void)fd;
	if (k > n)
		k = n;
	if (k > m->chunk)
		k = m->chunk;
	memcpy(p, m->p + m->pos, k);
	m->pos += k;
	return (ssize_t)k;
}

/* rec_from - read one record from bytes s[0..n) with limit */
static int
rec_from(const void *s, size_t n, uint32_t limit, struct buf *out,
    size_t chunk)
{
	struct mem m = { s, n, 0, chunk };
	struct rd r;

	rd_init(&r, -1, mem_read, &m);
	return rec_read(&r, out, limit);
}

static void
test_rec_read(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		uint32_t limit;
		int want;	/* 1, 0, or -errno */
		size_t len;
	} rows[] = {
		{ "", 0, 10, 0, 0 },				/* EOF between */
		{ "\0\0\0\0", 4, 10, 1, 0 },			/* empty record */
		{ "\0\0\0\3abc", 7, 3, 1, 3 },			/* at the limit */
		{ "\0\0\0\4abcd", 8, 3, -EMSGSIZE, 0 },	/* one over */
		{ "\xff\xff\xff\xff", 4, 1 << 20, -EMSGSIZE, 0 },
		{ "\0", 1, 10, -EPROTO, 0 },			/* mid-header */
		{ "\0\0\0", 3, 10, -EPROTO, 0 },
		{ "\0\0\0\3ab", 6, 10, -EPROTO, 0 },		/* mid-payload */
		{ "\0\0\0\3", 4, 10, -EPROTO, 0 },
		{ "\0\0\0\2a\0", 6, 10, 1, 2 },		/* NUL is data */
	};
	struct buf out = BUF_INIT(1 << 20);
	size_t i, c;
	int r;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
		for (c = 1; c <= 16; c *= 4) {
			errno = 0;
			r = rec_from(rows[i].in, rows[i].n, rows[i].limit,
			    &out, c);
			if (r == -1)
				r = -errno;
			if (r != rows[i].want)
				fail_msg("row %zu chunk %zu: %d", i, c, r);
			if (r == 1 && out.len != rows[i].len)
				fail_msg("row %zu: len %zu", i, out.len);
		}
	/* the out buffer's own ceiling */
	buf_free(&out);
	buf_init(&out, 2);
	assert_int_equal(rec_from("\0\0\0\3abc", 7, 10, &out, 7), -1);
	assert_int_equal(errno, E2BIG);
	buf_free(&out);
}

static void
test_rec_pipe(void **state)
{
	struct buf out = BUF_INIT(1 << 20), b = BUF_INIT(1 << 20);
	struct wr w;
	struct rd r;
	size_t start;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	wr_init(&w, p[1], NULL, NULL);
	assert_int_equal(rec_write(&w, "hello", 5), 0);
	assert_int_equal(rec_write(&w, "", 0), 0);
	assert_int_equal(wr_flush(&w), 0);
	start = b.len;
	assert_int_equal(pk_begin(&b), 0);
	assert_int_equal(pk_cstr(&b, "framed"), 0);
	assert_int_equal(pk_finish(&b, start), 0);
	assert_int_equal(rec_send(p[1], &b), 0);
	close(p[1]);
	rd_init(&r, p[0], NULL, NULL);
	assert_int_equal(rec_read(&r, &out, 100), 1);
	assert_true(buf_eq(&out, "hello"));
	assert_int_equal(rec_read(&r, &out, 100), 1);
	assert_int_equal(out.len, 0);
	assert_int_equal(rec_read(&r, &out, 100), 1);
	assert_int_equal(out.len, 10);
	assert_memory_equal(out.p, "\0\0\0\6framed", 10);
	assert_int_equal(rec_read(&r, &out, 100), 0);
	close(p[0]);
	assert_int_equal(pk_finish(&b, b.len - 2), -1);	/* no header */
	buf_free(&out);
	buf_free(&b);
}

static void
test_fields(void **state)
{
	struct buf b = BUF_INIT(1024);
	struct cur c;
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;
	const char *s;
	char *cs;
	size_t n, i;

	(void)state;
	assert_int_equal(pk_u8(&b, 0xab) | pk_u32(&b, 0xdeadbeef) |
	    pk_u64(&b, 0x0123456789abcdefULL) | pk_str(&b, "x\0y", 3) |
	    pk_cstr(&b, NULL) | pk_cstr(&b, "abc"), 0);
	assert_int_equal(b.len, 1 + 4 + 8 + 7 + 4 + 7);
	cur_init(&c, b.p, b.len);
	assert_int_equal(cur_u8(&c, &u8), 0);
	assert_int_equal(u8, 0xab);
	assert_int_equal(cur_u32(&c, &u32), 0);
	assert_int_equal(u32, 0xdeadbeef);
	assert_int_equal(cur_u64(&c, &u64), 0);
	assert_true(u64 == 0x0123456789abcdefULL);
	assert_int_equal(cur_str(&c, &s, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "x\0y", 3);
	assert_int_equal(cur_cstr(&c, &cs, 0), 0);	/* "" fits max 0 */
	assert_string_equal(cs, "");
	free(cs);
	assert_int_equal(cur_end(&c), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(cur_cstr(&c, &cs, 3), 0);	/* at max */
	assert_string_equal(cs, "abc");
	free(cs);
	assert_int_equal(cur_end(&c), 0);
	/* each short field: EPROTO and nothing taken beyond the data */
	for (i = 0; i < 4; i++) {
		cur_init(&c, "\0\0\0", i);
		errno = 0;
		assert_int_equal(cur_u32(&c, &u32), -1);
		assert_int_equal(errno, EPROTO);
	}
	cur_init(&c, "", 0);
	assert_int_equal(cur_u8(&c, &u8), -1);
	cur_init(&c, "\0\0\0\0\0\0\0", 7);
	assert_int_equal(cur_u64(&c, &u64), -1);
	cur_init(&c, "\0\0\0\5abcd", 8);		/* length past the end */
	assert_int_equal(cur_str(&c, &s, &n), -1);
	assert_int_equal(errno, EPROTO);
	cur_init(&c, "\xff\xff\xff\xff" "a", 5);
	assert_int_equal(cur_str(&c, &s, &n), -1);
	cur_init(&c, "\0\0\0\3a\0b", 7);		/* NUL in a C string */
	assert_int_equal(cur_cstr(&c, &cs, 10), -1);
	assert_int_equal(errno, EPROTO);
	cur_init(&c, "\0\0\0\4abcd", 8);		/* one over max */
	assert_int_equal(cur_cstr(&c, &cs, 3), -1);
	assert_int_equal(errno, EPROTO);
	buf_free(&b);
}

/* ---- the envelope ---- */

static void
env_sample(struct env *e)
{
	env_init(e);
	assert_int_equal(env_set(&e->sender, "\"a b\"@example.org"), 0);
	assert_int_equal(env_set(&e->envid, "QQ+2B"), 0);
	assert_int_equal(env_set(&e->auth, "bob"), 0);
	assert_int_equal(env_set(&e->client, "127.0.0.1"), 0);
	assert_int_equal(env_set(&e->helo, "client.example"), 0);
	assert_int_equal(env_set(&e->proto, "ESMTPA"), 0);
	e->arrival = 1700000000;
	e->size = 12345;
	e->flags = ENV_SMTPUTF8 | ENV_8BITMIME;
	e->ret = RET_HDRS;
	assert_int_equal(env_add_rcpt(e, "u1@example.org", NOTIFY_FAILURE,
	    "rfc822;u1@example.org"), 0);
	assert_int_equal(env_add_rcpt(e, "u2@example.net", 0, NULL), 0);
	assert_int_equal(env_add_rcpt(e, "u3@example.net", NOTIFY_NEVER, ""),
	    0);
}

static void
test_env(void **state)
{
	struct buf b = BUF_INIT(1 << 20), b2 = BUF_INIT(1 << 20);
	struct env e, d;
	size_t i;

	(void)state;
	env_sample(&e);
	assert_int_equal(env_encode(&b, &e), 0);
	assert_int_equal(env_decode(&d, b.p, b.len), 0);
	assert_string_equal(d.sender, e.sender);
	assert_string_equal(d.envid, "QQ+2B");
	assert_string_equal(d.proto, "ESMTPA");
	assert_true(d.arrival == e.arrival && d.size == e.size);
	assert_int_equal(d.flags, e.flags);
	assert_int_equal(d.ret, RET_HDRS);
	assert_int_equal(d.nrcpt, 3);
	assert_string_equal(d.rcpt[0].orcpt, "rfc822;u1@example.org");
	assert_string_equal(d.rcpt[1].addr, "u2@example.net");
	assert_string_equal(d.rcpt[1].orcpt, "");
	assert_int_equal(d.rcpt[2].notify, NOTIFY_NEVER);
	assert_int_equal(env_encode(&b2, &d), 0);	/* stable */
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.p, b.p, b.len);
	env_free(&d);
	/* every truncation, and one extra byte, is EPROTO */
	for (i = 0; i < b.len; i++) {
		errno = 0;
		if (env_decode(&d, b.p, i) != -1 || errno != EPROTO)
			fail_msg("truncated at %zu: accepted", i);
	}
	assert_int_equal(buf_putc(&b, 0), 0);
	assert_int_equal(env_decode(&d, b.p, b.len), -1);
	b.len--;
	/* a wrong magic, a bad ret */
	b.p[0] = 'X';
	assert_int_equal(env_decode(&d, b.p, b.len), -1);
	env_free(&e);
	/* null sender, no recipients */
	env_init(&e);
	b.len = 0;
	assert_int_equal(env_encode(&b, &e), 0);
	assert_int_equal(env_decode(&d, b.p, b.len), 0);
	assert_string_equal(d.sender, "");
	assert_int_equal(d.nrcpt, 0);
	env_free(&d);
	e.ret = 3;
	b.len = 0;
	assert_int_equal(env_encode(&b, &e), 0);
	assert_int_equal(env_decode(&d, b.p, b.len), -1);
	env_free(&e);
	buf_free(&b);
	buf_free(&b2);
}

static void
test_env_malformed(void **state)
{
	struct buf b = BUF_INIT(1 << 20);
	struct env d;
	size_t i;

	(void)state;
	/* a sender with a NUL inside */
	buf_put(&b, ENV_MAGIC, 6);
	pk_str(&b, "a\0b", 3);
	for (i = 0; i < 5; i++)
		pk_cstr(&b, "");
	pk_u64(&b, 0), pk_u64(&b, 0), pk_u32(&b, 0), pk_u8(&b, 0);
	pk_u32(&b, 0);
	assert_int_equal(env_decode(&d, b.p, b.len), -1);
	assert_int_equal(errno, EPROTO);
	/* a recipient count past the limit, and one that lies */
	b.len = 0;
	buf_put(&b, ENV_MAGIC, 6);
	for (i = 0; i < 6; i++)
		pk_cstr(&b, "");
	pk_u64(&b, 0), pk_u64(&b, 0), pk_u32(&b, 0), pk_u8(&b, 0);
	pk_u32(&b, ENV_RCPT_MAX + 1);
	assert_int_equal(env_decode(&d, b.p, b.len), -1);
	b.len -= 4;
	pk_u32(&b, 2);
	pk_cstr(&b, "a@b"), pk_cstr(&b, ""), pk_u8(&b, 0);
	assert_int_equal(env_decode(&d, b.p, b.len), -1);
	/* an address over ENV_ADDR_MAX */
	b.len = 0;
	buf_put(&b, ENV_MAGIC, 6);
	{
		char big[ENV_ADDR_MAX + 2];

		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		pk_cstr(&b, big);
	}
	assert_int_equal(env_decode(&d, b.p, b.len), -1);
	assert_int_equal(env_decode(&d, "", 0), -1);
	buf_free(&b);
}

/* ---- the job codecs ---- */

typedef int enc_fn(struct buf *, const void *);
typedef int dec_fn(void *, const void *, size_t);
typedef void free_fn(void *);

/* cuts - every prefix and one extra byte must fail to decode */
static void
cuts(const struct buf *b, dec_fn *dec, free_fn *fr, void *scratch)
{
	struct buf x = BUF_INIT(1 << 20);
	size_t i;

	for (i = 0; i < b->len; i++) {
		errno = 0;
		if (dec(scratch, b->p, i) != -1 || errno != EPROTO)
			fail_msg("prefix %zu of %zu accepted", i, b->len);
	}
	buf_put(&x, b->p, b->len);
	buf_putc(&x, 'x');
	if (dec(scratch, x.p, x.len) != -1)
		fail_msg("extra byte accepted");
	/* a wrong type byte */
	x.p[0] ^= 0x20;
	if (dec(scratch, x.p, b->len) != -1)
		fail_msg("wrong type accepted");
	(void)fr;
	buf_free(&x);
}

static void
test_ljob(void **state)
{
	struct ljob j = { 7, "QID1", "", "u@x.y", "/home/u/Maildir/", 1000,
	    100 }, d;
	struct lres r = { 7, ST_TEMP, "disk full" }, rd;
	struct buf b = BUF_INIT(JOB_MAX);

	(void)state;
	assert_int_equal(ljob_encode(&b, &j), 0);
	assert_int_equal(ljob_decode(&d, b.p, b.len), 0);
	assert_int_equal(d.id, 7);
	assert_string_equal(d.qid, "QID1");
	assert_string_equal(d.sender, "");
	assert_string_equal(d.dest, "/home/u/Maildir/");
	assert_int_equal(d.uid, 1000);
	assert_int_equal(d.gid, 100);
	ljob_free(&d);
	cuts(&b, (dec_fn *)ljob_decode, (free_fn *)ljob_free, &d);
	b.len = 0;
	assert_int_equal(lres_encode(&b, &r), 0);
	assert_int_equal(lres_decode(&rd, b.p, b.len), 0);
	assert_int_equal(rd.status, ST_TEMP);
	assert_string_equal(rd.text, "disk full");
	lres_free(&rd);
	cuts(&b, (dec_fn *)lres_decode, (free_fn *)lres_free, &rd);
	r.status = 'Q';				/* not a status */
	b.len = 0;
	lres_encode(&b, &r);
	assert_int_equal(lres_decode(&rd, b.p, b.len), -1);
	buf_free(&b);
}

static void
rjob_sample(struct rjob *j, struct rjob_rcpt *rc, struct route_host *h,
    char **addrs)
{
	memset(j, 0, sizeof *j);
	j->id = 9, j->qid = "Q2", j->sender = "s@x.y", j->envid = "E";
	j->ret = RET_FULL, j->flags = ENV_8BITMIME, j->size = 1ULL << 40;
	j->tls = "may", j->auth_user = "", j->auth_pass = "";
	rc[0] = (struct rjob_rcpt){ "a@d.e", "rfc822;a@d.e", NOTIFY_SUCCESS };
	rc[1] = (struct rjob_rcpt){ "b@d.e", "", 0 };
	j->nrcpt = 2, j->rcpt = rc;
	h[0] = (struct route_host){ "mx1.d.e", 10, 0, 2, addrs };
	h[1] = (struct route_host){ "[127.0.0.1]", 0, 2525, 1, addrs + 2 };
	j->nhost = 2, j->host = h;
	j->dkim = "DKIM-Signature: v=1; a=ed25519-sha256;\n\tb=AA==\n";
}

static void
test_rjob(void **state)
{
	static char *addrs[] = { "192.0.2.1", "2001:db8::1", "127.0.0.1" };
	struct rjob_rcpt rc[2];
	struct route_host h[2];
	struct rjob j, d;
	struct buf b = BUF_INIT(JOB_MAX);

	(void)state;
	rjob_sample(&j, rc, h, addrs);
	assert_int_equal(rjob_encode(&b, &j), 0);
	assert_int_equal(rjob_decode(&d, b.p, b.len), 0);
	assert_true(d.size == 1ULL << 40);
	assert_int_equal(d.nrcpt, 2);
	assert_string_equal(d.rcpt[0].orcpt, "rfc822;a@d.e");
	assert_int_equal(d.nhost, 2);
	assert_string_equal(d.host[0].addr[1], "2001:db8::1");
	assert_int_equal(d.host[1].port, 2525);
	assert_int_equal(d.host[0].pref, 10);
	assert_int_equal(d.proto, PROTO_SMTP);
	assert_string_equal(d.dkim, j.dkim);
	rjob_free(&d);
	/* LMTP round-trips; a protocol we do not know is refused */
	j.proto = PROTO_LMTP;
	b.len = 0;
	assert_int_equal(rjob_encode(&b, &j), 0);
	assert_int_equal(rjob_decode(&d, b.p, b.len), 0);
	assert_int_equal(d.proto, PROTO_LMTP);
	rjob_free(&d);
	b.p[b.len - 1] = 2;
	assert_int_equal(rjob_decode(&d, b.p, b.len), -1);
	j.proto = PROTO_SMTP;
	b.len = 0;
	assert_int_equal(rjob_encode(&b, &j), 0);
	cuts(&b, (dec_fn *)rjob_decode, (free_fn *)rjob_free, &d);
	/* no recipients; a port past 65535; too many addresses */
	j.nrcpt = 0;
	b.len = 0;
	rjob_encode(&b, &j);
	assert_int_equal(rjob_decode(&d, b.p, b.len), -1);
	j.nrcpt = 2;
	h[1].port = 0;
	b.len = 0;
	rjob_encode(&b, &j);
	assert_int_equal(rjob_decode(&d, b.p, b.len), 0);
	rjob_free(&d);
	{
		/* patch the last host's port field to 65536 (before it:
		 * its address, its naddr; after them its DANE state,
		 * TLSA count, MX state and empty TLSA name, the DKIM
		 * fields and the proto byte) */
		size_t off = b.len - 1 - (4 + strlen(j.dkim)) - 10 -
		    (4 + 9) - 4 - 4;

		assert_memory_equal(b.p + off, "\0\0\0\0", 4);
		memcpy(b.p + off, "\0\1\0\0", 4);
		assert_int_equal(rjob_decode(&d, b.p, b.len), -1);
	}
	h[0].naddr = JOB_ADDRS_MAX + 1;
	{
		char *many[JOB_ADDRS_MAX + 1];
		size_t i;

		for (i = 0; i < JOB_ADDRS_MAX + 1; i++)
			many[i] = "192.0.2.9";
		h[0].addr = many;
		b.len = 0;
		rjob_encode(&b, &j);
		assert_int_equal(rjob_decode(&d, b.p, b.len), -1);
	}
	buf_free(&b);
}

/* how a host came into the route (RFC 8689 4.2.1): MX secure or not, or
 * a route; 0 goes out as insecure, anything else is malformed */
static void
test_hosts_mx(void **state)
{
	static char *addrs[] = { "192.0.2.1" };
	static const uint8_t ok[] = { MX_SECURE, MX_INSECURE, MX_ROUTE,
	    MX_LITERAL };
	struct route_host h = { "mx.example.org", 5, 0, 1, addrs };
	struct rans a = { 4, ST_OK, "", 1, &h }, ad;
	struct buf b = BUF_INIT(JOB_MAX);

	(void)state;
	for (size_t i = 0; i < sizeof ok; i++) {
		h.mx = ok[i];
		b.len = 0;
		assert_int_equal(rans_encode(&b, &a), 0);
		assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
		assert_int_equal(ad.host[0].mx, ok[i]);
		rans_free(&ad);
	}
	cuts(&b, (dec_fn *)rans_decode, (free_fn *)rans_free, &ad);
	h.mx = 0;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	assert_int_equal(ad.host[0].mx, MX_INSECURE);
	rans_free(&ad);
	h.mx = 's';
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	buf_free(&b);
}

/* a host's DANE state and TLSA records (RFC 7672) in RANS and RJOB */
static void
test_hosts_dane(void **state)
{
	static char *addrs[] = { "192.0.2.1" };
	char *recs[JOB_TLSA_MAX + 1];
	struct route_host h = { "mx.example.org", 5, 0, 1, addrs };
	struct rans a = { 4, ST_OK, "", 1, &h }, ad;
	struct buf b = BUF_INIT(JOB_MAX);

	(void)state;
	recs[0] = "3 1 1 0a0b";
	recs[1] = "2 0 2 ff";
	h.dane = DANE_SECURE, h.ntlsa = 2, h.tlsa = recs;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	assert_int_equal(ad.host[0].dane, DANE_SECURE);
	assert_int_equal(ad.host[0].ntlsa, 2);
	assert_string_equal(ad.host[0].tlsa[1], "2 0 2 ff");
	rans_free(&ad);
	cuts(&b, (dec_fn *)rans_decode, (free_fn *)rans_free, &ad);
	/* a record not in the text form */
	recs[1] = "2 0 2 f";
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	recs[1] = "2 0 2 ff";
	/* records go only with DANE_SECURE, which needs some */
	h.dane = DANE_NONE;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	h.dane = DANE_SECURE, h.ntlsa = 0;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	/* a state we do not know; 0 (never set) goes out as DANE_NONE */
	h.dane = 'Q';
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	h.dane = 0;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	assert_int_equal(ad.host[0].dane, DANE_NONE);
	rans_free(&ad);
	h.dane = DANE_FAIL;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	assert_int_equal(ad.host[0].dane, DANE_FAIL);
	rans_free(&ad);
	/* at most JOB_TLSA_MAX records */
	for (size_t i = 0; i < JOB_TLSA_MAX + 1; i++)
		recs[i] = "3 1 1 00";
	h.dane = DANE_SECURE, h.ntlsa = JOB_TLSA_MAX;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	rans_free(&ad);
	h.ntlsa = JOB_TLSA_MAX + 1;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	buf_free(&b);
}

/* where a host's TLSA records were found (RFC 7672 2.2.3, 3.2.2): a
 * DNS name, only with DANE_SECURE; NULL goes out as "" */
static void
test_hosts_tlsa_name(void **state)
{
	static char *addrs[] = { "192.0.2.1" };
	char *recs[] = { "2 0 1 0a0b" }, name[300];
	struct route_host h = { "alias.example.org", 5, 0, 1, addrs };
	struct rans a = { 4, ST_OK, "", 1, &h }, ad;
	struct buf b = BUF_INIT(JOB_MAX);

	(void)state;
	h.dane = DANE_SECURE, h.ntlsa = 1, h.tlsa = recs;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	assert_string_equal(ad.host[0].tlsa_name, "");
	rans_free(&ad);
	h.tlsa_name = "mx.example.org";
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	assert_string_equal(ad.host[0].tlsa_name, "mx.example.org");
	rans_free(&ad);
	cuts(&b, (dec_fn *)rans_decode, (free_fn *)rans_free, &ad);
	/* not without records */
	h.dane = DANE_NONE, h.ntlsa = 0;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	h.dane = DANE_SECURE, h.ntlsa = 1;
	/* a space or a control is no name */
	h.tlsa_name = "mx.example.org evil";
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	h.tlsa_name = "mx\n.example.org";
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	/* 253 bytes at most */
	memset(name, 'a', sizeof name);
	name[253] = '\0';
	h.tlsa_name = name;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	rans_free(&ad);
	name[253] = 'a', name[254] = '\0';
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), -1);
	buf_free(&b);
}

static void
test_rres_rqry_rans(void **state)
{
	static char *addrs[] = { "192.0.2.1" };
	struct rres_rcpt rr[2] = { { ST_OK, "250 ok" }, { ST_PERM, "550 no" } };
	struct rres r = { 3, "mx.d.e", 2525, 2, rr }, rd;
	struct rqry q = { 4, "example.org" }, qd;
	struct route_host h = { "mx.example.org", 5, 0, 1, addrs };
	struct rans a = { 4, ST_OK, "", 1, &h }, ad;
	struct buf b = BUF_INIT(JOB_MAX);

	(void)state;
	assert_int_equal(rres_encode(&b, &r), 0);
	assert_int_equal(rres_decode(&rd, b.p, b.len), 0);
	assert_int_equal(rd.nrcpt, 2);
	assert_int_equal(rd.port, 2525);
	assert_int_equal(rd.rcpt[1].status, ST_PERM);
	assert_string_equal(rd.rcpt[1].text, "550 no");
	assert_string_equal(rd.tlsfail, "");	/* NULL goes out as "" */
	rres_free(&rd);
	r.tlsfail = "4.7.5 TLS with mx.d.e[192.0.2.1] failed: hostname "
	    "mismatch";
	b.len = 0;
	assert_int_equal(rres_encode(&b, &r), 0);
	assert_int_equal(rres_decode(&rd, b.p, b.len), 0);
	assert_string_equal(rd.tlsfail, r.tlsfail);
	rres_free(&rd);
	cuts(&b, (dec_fn *)rres_decode, (free_fn *)rres_free, &rd);
	/* a port above 65535 is no port */
	b.len = 0;
	r.port = 65536;
	assert_int_equal(rres_encode(&b, &r), 0);
	assert_int_equal(rres_decode(&rd, b.p, b.len), -1);
	r.port = 2525;
	b.len = 0;
	assert_int_equal(rqry_encode(&b, &q), 0);
	assert_int_equal(rqry_decode(&qd, b.p, b.len), 0);
	assert_string_equal(qd.domain, "example.org");
	rqry_free(&qd);
	cuts(&b, (dec_fn *)rqry_decode, (free_fn *)rqry_free, &qd);
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	assert_int_equal(ad.nhost, 1);
	assert_string_equal(ad.host[0].name, "mx.example.org");
	rans_free(&ad);
	cuts(&b, (dec_fn *)rans_decode, (free_fn *)rans_free, &ad);
	/* an answer with no hosts (a PERM, null MX) */
	a.status = ST_PERM, a.text = "null MX", a.nhost = 0, a.host = NULL;
	b.len = 0;
	assert_int_equal(rans_encode(&b, &a), 0);
	assert_int_equal(rans_decode(&ad, b.p, b.len), 0);
	assert_int_equal(ad.nhost, 0);
	rans_free(&ad);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rec_read),
		cmocka_unit_test(test_rec_pipe),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_env_malformed),
		cmocka_unit_test(test_ljob),
		cmocka_unit_test(test_rjob),
		cmocka_unit_test(test_rres_rqry_rans),
		cmocka_unit_test(test_hosts_dane),
		cmocka_unit_test(test_hosts_mx),
		cmocka_unit_test(test_hosts_tlsa_name),
	};

	return cmocka_run_group_tests_name("rec", tests, NULL, NULL);
}
