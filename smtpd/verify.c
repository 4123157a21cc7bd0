/* verify: SPF, DKIM and DMARC checks of mail received on port 25 from
 * clients that may not relay (neither AUTH nor relayclients), and the
 * Authentication-Results field (RFC 8601) that records them at the top
 * of the message the queue stores (doc/deliverability.md).
 *
 * SPF (lib/spf.c) runs at MAIL, for the MAIL FROM identity (postmaster@
 * HELO for a null sender) and for the HELO name.  The text is then held
 * in the session until its end, since the field must precede it and the
 * DKIM results (lib/authres.c) need the whole body: it reaches the queue
 * only after the checks, with any Authentication-Results field that
 * claims our name (smtpd_authserv_id, default the host name) removed.
 * DMARC (lib/dmarc.c) takes the organizational domain from the Public
 * Suffix List (libpsl, read before the sandbox).  An ARC chain (lib/arc.c)
 * is verified and recorded; a DMARC failure is not acted on when the chain
 * passes, its newest sealer is one of arc_trusted_sealers, and that
 * sealer's ARC-Authentication-Results says the message passed DMARC, or
 * DKIM or SPF aligned with the From domain, when it came (RFC 7489's
 * override "trusted_forwarder", recorded in our field and the log).
 *
 * Policy: spf_policy reject refuses an SPF "fail" at MAIL (550 5.7.23);
 * dmarc_policy reject refuses a DMARC failure whose domain says
 * p=reject (550 5.7.1), quarantine-header marks the failures of
 * quarantine and reject domains with "X-Sandmail-Quarantine:".  When a
 * refusal would rest on a DNS error, the answer is 451 instead.
 *
 * DNS: like the blocklists (dnsbl.c), one UDP socket connected before
 * the sandbox to smtpd_verify_nameserver, a local caching resolver; the
 * session can ask it and nothing else.  Answers are read by lib/dns.c's
 * parser through lib/dnsans.c.  Each query waits at most 3 seconds (one
 * retransmission), all the queries of one message smtpd_verify_timeout.
 * An answer too long for UDP (TC) is asked again over TCP, on a
 * connection the session's listener makes to the same name server and
 * passes over (BROKER_DNS, doc/protocols.md "broker"); a session under
 * tcpserver has no listener and counts it as a temporary error. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpsl.h>
#include <sodium.h>

#include "authres.h"
#include "dkim.h"
#include "dmarc.h"
#include "dns.h"
#include "dnsans.h"
#include "exitcode.h"
#include "filter.h"
#include "log.h"
#include "saddr.h"
#include "smtpd.h"
#include "spf.h"

#define QUERY_MS	1500	/* before the one retransmission */

enum { POL_NONE, POL_QUARANTINE, POL_REJECT };

static struct {
	int		 on;		/* smtpd_verify */
	const char	*ns;
	const char	*id;		/* authserv-id */
	int		 timeout_ms;
	int		 spf_reject;
	int		 dmarc;		/* POL_* */
	const char	*arc_trusted;	/* arc_trusted_sealers, or NULL */
	int		 fd;
	psl_ctx_t	*psl;
	/* the transaction */
	int		 hold;		/* the text is held here */
	size_t		 msg_off;	/* where the client's text begins */
	struct buf	 held;
	long long	 dl;		/* the DNS deadline of this message */
	struct authres	 ar;
} V = { .fd = -1 };

/* verify_load - the settings (doc/sandmail.conf.5) */
void
verify_load(const struct conf *c, const char *hostname)
{
	const char *p;

	V.on = conf_bool(c, "smtpd_verify", 0);
	V.ns = conf_str(c, "smtpd_verify_nameserver", "127.0.0.1");
	V.id = conf_str(c, "smtpd_authserv_id", hostname);
	V.timeout_ms = (int)conf_secs(c, "smtpd_verify_timeout", 20) * 1000;
	V.spf_reject = strcmp(conf_str(c, "spf_policy", "none"),
	    "reject") == 0;
	p = conf_str(c, "dmarc_policy", "none");
	V.dmarc = strcmp(p, "reject") == 0 ? POL_REJECT :
	    strcmp(p, "quarantine-header") == 0 ? POL_QUARANTINE : POL_NONE;
	V.arc_trusted = conf_str(c, "arc_trusted_sealers", NULL);
	if (V.on && V.psl == NULL &&
	    (V.psl = psl_latest(NULL)) == NULL &&
	    (V.psl = (psl_ctx_t *)psl_builtin()) == NULL)
		die_msg(EXIT_TEMP, "smtpd_verify", "no public suffix list "
		    "(libpsl, package publicsuffix)");
}

/* warm_up - one verification with each kind of key before the sandbox:
 * OpenSSL loads its providers and takes its locks on first use, with
 * system calls the session's filter does not allow (sign_main.c does
 * the same) */
static void
warm_up(void)
{
	static const char *const recs[] = {
		"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDTwG4QTO"
		"dTcEJNcdK97mHchQrs4JUmoTI7bzl/qfV7ZrfXOhlceTipRJIbhLefIf823uuIm"
		"kO4Y0vYaQvwPb1BsZl3UalYS21vd+mSpze7KOdxkD6gz5kL4f6QZSOxQpqweG7X"
		"2Qanm6wfxx4RSwssYQgOLSe+6leXm02mxb+XEwIDAQAB",
		"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	};
	static const enum dkim_alg algs[] = { DKIM_RSA_SHA256,
	    DKIM_ED25519_SHA256 };
	unsigned char h[DKIM_HASHLEN] = { 0 }, sig[128] = { 0 };
	struct dkim_body b;
	EVP_PKEY *k;

	for (size_t i = 0; i < 2; i++) {
		if (dkim_pubkey_parse(recs[i], strlen(recs[i]), &k) == -1)
			die_msg(EXIT_TEMP, "smtpd_verify", "OpenSSL key setup");
		(void)dkim_pk_verify(k, algs[i], h, sig, i == 0 ? 128 : 64);
		EVP_PKEY_free(k);
	}
	if (dkim_body_init(&b, DKIM_RELAXED) == 0)
		(void)dkim_body_final(&b, h);
}

/* ns_addr - smtpd_verify_nameserver: "IP", "IP:port", "[IPv6]:port";
 * 0 or -1 */
static int
ns_addr(struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	char host[IP_MAX];
	const char *port = "53", *c, *s = V.ns;
	size_t hl;

	if (*s == '[' && (c = strchr(s, ']')) != NULL) {
		hl = (size_t)(c - s - 1);
		s++;
		if (c[1] == ':')
			port = c + 2;
	} else if ((c = strchr(s, ':')) != NULL && !strchr(c + 1, ':')) {
		hl = (size_t)(c - s);
		port = c + 1;
	} else
		hl = strlen(s);
	if (hl == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* verify_open - the socket to the name server, before the sandbox */
void
verify_open(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (!V.on || V.fd >= 0)
		return;
	if (ns_addr(&ss, &len) == -1)
		die_msg(EXIT_TEMP, "smtpd_verify_nameserver", "bad address");
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&ss, len) == -1) {
		log_kv("verify", "err", strerror(errno), NULL);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	V.fd = fd;
	warm_up();
}

/* verify_tcp - in the listener (unsandboxed), for a session whose answer
 * came truncated: a TCP socket to the same name server, its connect
 * under way (the listener never waits for it) */
int
verify_tcp(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (!V.on || ns_addr(&ss, &len) == -1 ||
	    (fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* verify_port - see filter.h */
unsigned
verify_port(void)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!V.on || ns_addr(&ss, &len) == -1)
		return 0;
	return saddr_port(&ss);
}

/* applies - the checks are for port 25 clients that may not relay */
static int
applies(const struct session *s)
{
	return V.on && V.fd >= 0 && !(s->mode & (MODE_SUBMISSION | MODE_TLS |
	    MODE_LOCAL)) && !may_relay(s);
}

/* io_wait - poll one fd for ev until the message's deadline; 0 or -1 */
static int
io_wait(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	long long t;

	while ((t = V.dl - io_now_ms()) > 0)
		if (poll(&p, 1, (int)t) == 1)
			return (p.revents & ev) ? 0 : -1;
	return -1;
}

/* tcp_ask - the query q[0..ql) again over TCP (RFC 7766: a 2-byte
 * length before each message), on a connection the listener made */
static void
tcp_ask(struct session *s, const uint8_t *q, int ql, const char *name,
    uint16_t type, struct dnsans *a)
{
	static uint8_t in[2 + 65535];
	uint8_t out[2 + DNS_UDP_MAX];
	size_t got = 0, want = 2;
	ssize_t k;
	int fd;

	if (s == NULL || s->dns_tcp == NULL || (fd = s->dns_tcp(s)) < 0)
		return;
	out[0] = (uint8_t)(ql >> 8);
	out[1] = (uint8_t)ql;
	memcpy(out + 2, q, (size_t)ql);
	if (io_wait(fd, POLLOUT) == -1 ||
	    write(fd, out, (size_t)ql + 2) != ql + 2)
		goto out;
	while (got < want) {
		if (io_wait(fd, POLLIN) == -1 ||
		    (k = read(fd, in + got, want - got)) <= 0)
			goto out;
		got += (size_t)k;
		if (got == 2 && want == 2 && (want += (size_t)(in[0] << 8 |
		    in[1])) == 2)
			goto out;
	}
	if (dnsans_parse(in + 2, want - 2, name, type, a) == -1)
		a->st = DA_TEMP;
out:
	close(fd);
}

/* ask - one query over the socket, by the message's deadline; an answer
 * cut short (TC) is asked again over TCP */
static void
ask(void *arg, const char *name, uint16_t type, struct dnsans *a)
{
	uint8_t pkt[512 + 4096];	/* the query, then an answer (larger
					 * than asked for: a server ignoring EDNS) */
	struct pollfd p = { .fd = V.fd, .events = POLLIN };
	long long now, t, resend;
	uint16_t id;
	ssize_t k;
	int len, tries = 0;

	a->st = DA_TEMP;
	a->n = 0;
	while (read(V.fd, pkt, sizeof pkt) > 0)
		;		/* late answers to earlier queries */
	randombytes_buf(&id, sizeof id);
	if ((len = dns_query(pkt, sizeof pkt, id, name, type, 1)) == -1)
		return;
	for (resend = 0; (now = io_now_ms()) < V.dl; ) {
		if (now >= resend) {
			if (tries++ == 2 ||
			    write(V.fd, pkt, (size_t)len) != len)
				return;
			resend = now + QUERY_MS;
		}
		t = (resend < V.dl ? resend : V.dl) - now;
		if (poll(&p, 1, (int)t) <= 0)
			continue;
		if ((k = read(V.fd, pkt + len, sizeof pkt - (size_t)len)) <
		    DNS_HDR || (uint16_t)(pkt[len] << 8 | pkt[len + 1]) != id)
			continue;
		if (dnsans_parse(pkt + len, (size_t)k, name, type, a) == 0)
			return;
		if (pkt[len + 2] & (DNS_F_TC >> 8)) {
			tcp_ask(arg, pkt, len, name, type, a);
			return;
		}
		if (pkt[len + 3] & 0x0f)	/* SERVFAIL, REFUSED */
			return;
	}
}

/* verify_reset - a new transaction */
void
verify_reset(void)
{
	memset(&V.ar, 0, sizeof V.ar);
	V.hold = 0;
	buf_free(&V.held);	/* up to a message's size: not kept idle */
}

/* identity - the SPF identity of the MAIL FROM (2.4: postmaster@HELO
 * for a null sender; 4.3: postmaster for an empty local part) */
static void
identity(const struct session *s, char *out, size_t sz)
{
	const char *snd = s->env.sender != NULL ? s->env.sender : "";

	if (*snd == '\0')
		snprintf(out, sz, "postmaster@%s", s->helo);
	else if (*snd == '@')
		snprintf(out, sz, "postmaster%s", snd);
	else
		snprintf(out, sz, "%s", snd);
}

/* verify_mail - SPF at MAIL; 1 go on, 0 refused (answered) */
int
verify_mail(struct session *s)
{
	struct spf_req q;
	char hid[HELO_MAX + 16];
	const char *at;

	verify_reset();
	if (!applies(s))
		return 1;
	V.dl = io_now_ms() + V.timeout_ms;
	identity(s, V.ar.mailfrom, sizeof V.ar.mailfrom);
	at = strrchr(V.ar.mailfrom, '@');
	q = (struct spf_req){ s->ip, V.ar.mailfrom, s->helo, at + 1,
	    s->cfg->hostname, ask, s };
	spf_check(&q, &V.ar.spf);
	V.ar.spf_done = 1;
	if (s->helo[0] != '\0' && strchr(s->helo, '.') != NULL &&
	    s->helo[0] != '[') {
		snprintf(V.ar.helo, sizeof V.ar.helo, "%s", s->helo);
		snprintf(hid, sizeof hid, "postmaster@%s", s->helo);
		q.sender = hid;
		q.domain = s->helo;
		spf_check(&q, &V.ar.spf_helo);
		V.ar.helo_done = 1;
	}
	if (V.spf_reject && V.ar.spf.r == SPF_FAIL) {
		refuse(s, "spf fail", "550 5.7.23 SPF check failed for %s%s%s",
		    V.ar.mailfrom, V.ar.spf.expl[0] ? ": " : "",
		    V.ar.spf.expl);
		return 0;
	}
	if (V.spf_reject && V.ar.spf.r == SPF_TEMPERROR) {
		refuse(s, "spf temperror", "451 4.7.24 SPF check: temporary "
		    "DNS error, try again later");
		return 0;
	}
	return 1;
}

/* verify_holding - at the start of the text: hold it here? */
int
verify_holding(const struct session *s)
{
	buf_free(&V.held);
	V.hold = applies(s) && V.ar.spf_done;
	V.held.max = s->cfg->max_size + (1 << 20);
	return V.hold;
}

/* verify_held - whether the text of this transaction is held */
int
verify_held(void)
{
	return V.hold;
}

/* verify_keep - bytes for the queue, held; the first call's bytes are
 * ours (Received:), so the client's text starts after them */
int
verify_keep(const char *p, size_t n, int ours)
{
	if (buf_put(&V.held, p, n) == -1)
		return -1;
	if (ours)
		V.msg_off = V.held.len;
	return 0;
}

/* from_domain - the RFC5322.From domain of the held text */
static void
from_domain(const char *m, size_t n, struct dmarc_in *in)
{
	static struct dkim_fields fs;
	size_t nfrom = 0;

	in->from = NULL;
	in->from_bad = 0;
	if (dkim_fields_split(&fs, m, n) == -1) {
		in->from_bad = 1;
		return;
	}
	for (size_t i = 0; i < fs.n; i++) {
		const struct dkim_field *f = &fs.f[i];
		const char *v;
		size_t vn;

		if (!dkim_field_is(f, "from", 4))
			continue;
		v = dkim_field_value(f, &vn);
		if (nfrom++ > 0 || dmarc_from_domain(v, vn, V.ar.from,
		    sizeof V.ar.from) == -1) {
			in->from_bad = 1;
			V.ar.from[0] = '\0';
			return;
		}
		in->from = V.ar.from;
	}
}

/* arc_override - a DMARC failure a trusted forwarder vouches for: the
 * chain passes, its newest sealer is in arc_trusted_sealers, and what
 * that sealer saw (its AAR) passed DMARC for our From domain, or DKIM or
 * SPF aligned with it (relaxed: the forwarder's view, RFC 7489 3.1).
 * The disposition is then set aside (RFC 7489 6.7, 7.2: the override
 * type trusted_forwarder). */
static void
arc_override(const struct dmarc_in *in)
{
	const struct arc_aar *a = &V.ar.arc.aar;
	struct dmarc_out *o = &V.ar.dmarc;
	const char *by = NULL;

	if (o->r != DMARC_FAIL || o->disposition == DMARC_P_NONE ||
	    V.ar.arc.r != ARC_PASS || in->from == NULL ||
	    !conf_list_has(V.arc_trusted, V.ar.arc.d,
	    strlen(V.ar.arc.d)))
		return;
	if (a->dmarc[0] != '\0' && strcasecmp(a->dmarc, in->from) == 0)
		by = "dmarc";
	for (size_t i = 0; by == NULL && i < a->ndkim; i++)
		if (dmarc_aligned(V.psl, a->dkim[i], in->from, 0))
			by = "dkim";
	if (by == NULL && a->spf[0] != '\0' &&
	    dmarc_aligned(V.psl, a->spf, in->from, 0))
		by = "spf";
	if (by == NULL)
		return;
	o->override = "trusted_forwarder";
	snprintf(o->override_why, sizeof o->override_why, "arc=pass as[%u].d="
	    "%s %s=pass", V.ar.arc.n, V.ar.arc.d, by);
}

/* check - DKIM, ARC and DMARC on the held text */
static void
check(struct session *s)
{
	const char *m = V.held.p + V.msg_off;
	size_t n = V.held.len - V.msg_off;
	struct dmarc_in in = { 0 };
	const char *at = strrchr(V.ar.mailfrom, '@');

	V.dl = io_now_ms() + V.timeout_ms;
	ar_dkim_verify(&V.ar, m, n, ask, s, time(NULL));
	arc_verify(m, n, ask, s, &V.ar.arc);
	V.ar.arc_done = 1;
	from_domain(m, n, &in);
	in.spf = V.ar.spf.r;
	in.spf_domain = at != NULL ? at + 1 : "";
	for (size_t i = 0; i < V.ar.nsig && in.ndkim < DMARC_DOMAINS_MAX;
	    i++)
		if (V.ar.sig[i].r == ARD_PASS)
			in.dkim_pass[in.ndkim++] = V.ar.sig[i].d;
	in.psl = V.psl;
	in.roll = randombytes_uniform(100);
	in.dns = ask;
	in.arg = s;
	dmarc_check(&in, &V.ar.dmarc);
	V.ar.dmarc_done = 1;
	arc_override(&in);
}

/* dns_trouble - a DNS error that may have turned a pass into a fail */
static int
dns_trouble(void)
{
	if (V.ar.spf.r == SPF_TEMPERROR)
		return 1;
	for (size_t i = 0; i < V.ar.nsig; i++)
		if (V.ar.sig[i].r == ARD_TEMPERROR)
			return 1;
	return 0;
}

/* applied - what this host does with the message for DMARC: none,
 * quarantine (the header) or reject, by dmarc_policy and the result */
static const char *
applied(void)
{
	if (V.ar.dmarc.r != DMARC_FAIL ||
	    V.ar.dmarc.disposition == DMARC_P_NONE ||
	    V.ar.dmarc.override != NULL)
		return "none";
	if (V.dmarc == POL_REJECT &&
	    V.ar.dmarc.disposition == DMARC_P_REJECT)
		return dns_trouble() ? "tempfail" : "reject";
	return V.dmarc >= POL_QUARANTINE ? "quarantine" : "none";
}

/* d_escaped - a signature's d= for the log's dkim_d list ("d:result,
 * ..."): the list's own separators and the escape byte as %2C, %3A, %25,
 * so that a d= holding them (they come from outside) cannot split an
 * entry; sandmail-dmarcrep undoes it */
static void
d_escaped(const char *d, char *out, size_t sz)
{
	size_t k = 0;

	for (; *d != '\0' && k + 4 < sz; d++) {
		if (*d == ',' || *d == ':' || *d == '%')
			k += (size_t)snprintf(out + k, sz - k, "%%%02X",
			    (unsigned char)*d);
		else
			out[k++] = *d;
	}
	out[k] = '\0';
}

/* log_results - every result on the message's line, with what a DMARC
 * aggregate report's row needs (RFC 7489 7.2, appendix C): each
 * signature's d= and result, the SPF domain, the record's domain, the
 * alignment and what was done */
static void
log_results(const struct session *s)
{
	const struct dmarc_rec *rec = &V.ar.dmarc.rec;
	char dk[64], dd[1024], de[3 * 256], pub[80];
	char rua[DMARC_RUA_MAX * (256 + 22)];
	const char *at = strrchr(V.ar.mailfrom, '@');
	size_t npass = 0, k = 0;
	int n;

	dd[0] = '\0';
	for (size_t i = 0; i < V.ar.nsig; i++) {
		npass += V.ar.sig[i].r == ARD_PASS;
		d_escaped(V.ar.sig[i].d, de, sizeof de);
		n = snprintf(dd + k, sizeof dd - k, "%s%s:%s", k ? "," : "",
		    de, ar_dkim_name(V.ar.sig[i].r));
		if (n < 0 || (size_t)n >= sizeof dd - k) {
			dd[k] = '\0';	/* whole entries only */
			break;
		}
		k += (size_t)n;
	}
	snprintf(dk, sizeof dk, "%s", V.ar.nsig == 0 ? "none" : npass > 0 ?
	    "pass" : ar_dkim_name(V.ar.sig[0].r));
	/* the record that applied: policy_published, and where reports go
	 * (each address with its size limit in bytes, "!N") */
	pub[0] = rua[0] = '\0';
	if (V.ar.dmarc.has_rec) {
		snprintf(pub, sizeof pub, "p=%s,sp=%s,pct=%u,adkim=%c,aspf=%c,"
		    "fo=%s", dmarc_policy_name(rec->p),
		    dmarc_policy_name(rec->has_sp ? rec->sp : rec->p),
		    rec->pct, rec->adkim_strict ? 's' : 'r',
		    rec->aspf_strict ? 's' : 'r', rec->fo);
		for (size_t i = 0, j = 0; i < rec->nrua; i++) {
			n = rec->rua_max[i] > 0 ? snprintf(rua + j,
			    sizeof rua - j, "%s%s!%llu", i ? "," : "",
			    rec->rua[i], rec->rua_max[i]) : snprintf(rua + j,
			    sizeof rua - j, "%s%s", i ? "," : "", rec->rua[i]);
			if (n < 0 || (size_t)n >= sizeof rua - j) {
				rua[j] = '\0';
				break;
			}
			j += (size_t)n;
		}
	}
	log_kv("verify", "id", s->id, "ip", s->ip, "spf",
	    spf_name(V.ar.spf.r), "spf_helo", V.ar.helo_done ?
	    spf_name(V.ar.spf_helo.r) : "none", "dkim", dk, "arc",
	    arc_name(V.ar.arc.r), "dmarc",
	    dmarc_name(V.ar.dmarc.r), "from_domain", V.ar.from,
	    "policy", V.ar.dmarc.r == DMARC_FAIL ?
	    dmarc_policy_name(V.ar.dmarc.disposition) : "none",
	    "spf_domain", at != NULL ? at + 1 : "", "dkim_d", dd,
	    "dmarc_domain", V.ar.dmarc.domain, "aligned",
	    V.ar.dmarc.spf_aligned ? (V.ar.dmarc.dkim_aligned ? "spf,dkim" :
	    "spf") : V.ar.dmarc.dkim_aligned ? "dkim" : "none",
	    "applied", applied(), "published", pub, "rua", rua,
	    /* last: without an override the line ends here */
	    V.ar.dmarc.override ? "override" : NULL, V.ar.dmarc.override,
	    "override_why", V.ar.dmarc.override_why, NULL);
}

/* send_stripped - the held text to the queue without the fields that
 * claim our authserv-id; returns the bytes removed, or -1 */
static long long
send_stripped(struct session *s)
{
	const char *p = V.held.p, *end = p + V.held.len, *f, *e;
	const char *from = p + V.msg_off;
	long long removed = 0;

	/* our own fields to the queue; the client's text to where it goes
	 * next (data_out: the milters' spool, or the queue) */
	if (V.msg_off > 0 && qc_data(s->qc, p, V.msg_off) == -1)
		return -1;
	f = from;
	while (f < end && *f != '\n') {		/* header fields */
		for (e = f; e < end; e++)
			if (*e == '\n' && (e + 1 == end || (e[1] != ' ' &&
			    e[1] != '\t')))
				break;
		if (e < end)
			e++;
		if (ar_is_ours(f, (size_t)(e - f), V.id)) {
			if (data_out(s, from, (size_t)(f - from)) == -1)
				return -1;
			removed += e - f;
			from = e;
		}
		f = e;
	}
	return data_out(s, from, (size_t)(end - from)) == -1 ? -1 :
	    removed;
}

/* with_iprev - the session's iprev result (smtpd_iprev, dnsbl.c) as one
 * more method of our field h (it ends with a newline): one field of ours,
 * not two */
static int
with_iprev(struct buf *h, const struct session *s)
{
	struct buf m = BUF_INIT(512);
	int r;

	if (h->len == 0 || h->p[h->len - 1] != '\n' ||
	    (r = dnsbl_iprev_method(&m, s)) == 0) {
		buf_free(&m);
		return 0;
	}
	h->len--;		/* the method goes before the newline */
	r = r == -1 || buf_put(h, ";\n\t", 3) == -1 ||
	    buf_put(h, m.p, m.len) == -1 || buf_putc(h, '\n') == -1 ? -1 : 0;
	buf_free(&m);
	return r;
}

/* verify_end - the text is in: check, decide, and hand the held text to
 * the queue behind our field.  0 go on to commit; -1 refused (answered)
 * or the queue failed (D_QFAIL set) */
int
verify_end(struct session *s)
{
	struct buf h = BUF_INIT(8192);
	long long removed;
	int fail;

	if (!V.hold)
		return 0;
	V.hold = 0;
	check(s);
	log_results(s);
	fail = V.ar.dmarc.r == DMARC_FAIL && V.ar.dmarc.override == NULL;
	if (fail && V.dmarc == POL_REJECT &&
	    V.ar.dmarc.disposition == DMARC_P_REJECT) {
		if (dns_trouble())
			refuse(s, "dmarc temperror", "451 4.7.5 DMARC check: "
			    "temporary DNS error, try again later");
		else
			refuse(s, "dmarc reject", "550 5.7.1 Message "
			    "rejected: DMARC policy of %s", V.ar.dmarc.domain);
		return -1;
	}
	if (ar_header(&V.ar, V.id, &h) == -1 || with_iprev(&h, s) == -1 ||
	    (fail && V.dmarc >= POL_QUARANTINE &&
	    V.ar.dmarc.disposition != DMARC_P_NONE &&
	    buf_fmt(&h, "X-Sandmail-Quarantine: dmarc=fail policy=%s\n",
	    dmarc_policy_name(V.ar.dmarc.disposition)) == -1) ||
	    qc_data(s->qc, h.p, h.len) == -1 ||
	    (removed = send_stripped(s)) == -1) {
		buf_free(&h);
		s->dm.bad |= D_QFAIL;
		return -1;
	}
	s->env.size += h.len;
	/* for send's ARC seal: our field is the first, and what the chain
	 * it came with was worth (cv=) */
	s->env.flags |= ENV_VERIFIED |
	    (V.ar.arc.r == ARC_PASS ? ENV_ARC_PASS : 0);
	/* with milters, what they leave (the spool never had the removed
	 * fields) replaces the whole client's text in the size (data.c) */
	if (!s->spooling)
		s->env.size -= (uint64_t)removed;
	buf_free(&h);
	return 0;
}
