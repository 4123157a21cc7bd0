/* confkeys: the registry of sandmail.conf's keys (see confkeys.h).  Add a
 * key here, with the default and the range its getter uses, before a
 * program reads it: the getters of conf.c die on a key missing here, and
 * tests/integration/test_conf.py checks this list against the sources,
 * scripts/setup and sandmail.conf(5). */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "confkeys.h"
#include "env.h"

#define ANY		0, ULLONG_MAX
#define DAYS(n)		((unsigned long long)(n) * 86400)

#define STR(k, d, p)		{ k, CONF_STR, 0, ANY, d, NULL, p }
#define WORD(k, d, p)		{ k, CONF_WORD, 0, ANY, d, NULL, p }
#define PATH(k, d, p)		{ k, CONF_PATH, 0, ANY, d, NULL, p }
#define NUM(k, d, lo, hi, p)	{ k, CONF_NUM, 0, lo, hi, d, NULL, p }
#define SECS(k, d, p)		{ k, CONF_SECS, 0, ANY, d, NULL, p }
#define SIZE(k, d, p)		{ k, CONF_SIZE, 0, ANY, d, NULL, p }
#define BOOL(k, d, p)		{ k, CONF_BOOL, 0, ANY, d, NULL, p }
#define USER(k, d, p)		WORD(k, d, p)

const struct conf_key conf_keys[] = {
	/* shared */
	{ "hostname", CONF_WORD, CONF_DYNDEF, ANY, NULL, NULL,
	    "smtpd inject lspawn rspawn send pop3d mailq sts dmarcrep" },
	PATH("queue", "/var/spool/sandmail",
	    "smtpd queue send inject mailq flush rm"),
	{ "tables", CONF_PATH, CONF_DYNDEF, ANY, ".", NULL,
	    "smtpd send auth passwd cdb pop3d sign start" },
	{ "bindir", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL,
	    "smtpd start lspawn pop3d inject dmarcrep" },
	SIZE("max_message_size", "35m", "smtpd queue"),
	NUM("max_recipients", "100", 1, ENV_RCPT_MAX, "smtpd queue inject"),
	{ "nameserver", CONF_HOSTPORT, CONF_MULTI, ANY, NULL, NULL,
	    "resolve sts dmarcrep" },
	NUM("mx_port", "25", 1, 65535, "rspawn resolve"),
	PATH("tls_cert", NULL, "smtpd pop3d"),
	{ "tls_key", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL, "smtpd pop3d" },
	PATH("tls_ca_file", NULL, "rspawn"),
	PATH("empty_dir", "/var/empty", "resolve rspawn sign srs"),
	USER("user_smtpd", "sandmaild", "smtpd queue srs"),
	USER("user_queue", "sandmailq", "queue"),
	USER("user_send", "sandmails", "queue send"),
	USER("user_resolve", "sandmailr", "resolve"),
	USER("user_remote", "sandmailr", "rspawn"),
	USER("user_auth", "sandmaila", "auth"),
	USER("user_pop3d", "sandmaild", "pop3d"),
	USER("user_vmail", "vmail", "send pop3d lspawn"),
	USER("user_alias", "nobody", "send lspawn"),
	USER("user_lspawn", "nobody", "lspawn"),
	USER("user_sign", "sandmailk", "sign"),
	USER("user_srs", "sandmailh", "srs"),

	/* sandmail-inject */
	{ "inject_domain", CONF_WORD, CONF_DYNDEF, ANY, NULL, NULL,
	    "inject" },

	/* sandmail-smtpd */
	PATH("queue_program", NULL, "smtpd"),
	NUM("max_errors", "10", 1, 100000, "smtpd"),
	NUM("max_hops", "100", 1, 10000, "smtpd"),
	NUM("smtpd_line_max", "1024", 512, 65536, "smtpd"),
	SECS("smtpd_timeout", "300", "smtpd"),
	SECS("smtpd_data_timeout", "600", "smtpd"),
	NUM("smtpd_min_data_rate", "500", 0, 1u << 30, "smtpd"),
	SECS("smtpd_session_limit", "3600", "smtpd"),
	SECS("greet_delay", "0", "smtpd"),
	{ "greet_delay_ms", CONF_NUM, CONF_DYNDEF, 0, 60000, NULL, NULL,
	    "smtpd" },
	BOOL("smtpd_forward_251", "no", "smtpd"),
	BOOL("smtpd_vrfy", "no", "smtpd"),
	BOOL("smtpd_expn", "no", "smtpd"),
	NUM("max_connections", "1000", 1, 65536, "smtpd"),
	NUM("max_per_ip", "20", 1, 65536, "smtpd"),
	NUM("max_per_net", "100", 1, 65536, "smtpd"),
	NUM("max_unauth_per_net", "50", 0, 65536, "smtpd"),
	NUM("smtpd_conn_rate", "0", 0, 10000000, "smtpd"),
	NUM("smtpd_msg_rate", "0", 0, 10000000, "smtpd"),
	NUM("smtpd_msg_rate_user", "0", 0, 10000000, "smtpd"),
	SECS("smtpd_queue_wait", "10", "smtpd"),
	{ "smtpd_limits_file", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL,
	    "smtpd" },
	NUM("smtpd_max_use", "100", 1, 1000000, "smtpd"),
	SECS("smtpd_idle_worker", "60", "smtpd"),
	BOOL("smtpd_auth", "no", "smtpd"),
	BOOL("smtpd_auth_plaintext_loopback", "no", "smtpd"),
	{ "smtpd_sender_restrict", CONF_BOOL, CONF_DYNDEF, ANY, NULL, NULL,
	    "smtpd" },
	/* smtpd's filters (doc/filters.md) */
	STR("smtpd_policy_service", NULL, "smtpd"),
	{ "smtpd_policy_timeout", CONF_SECS, 0, 1, 3600, "10", NULL,
	    "smtpd" },
	{ "smtpd_policy_failure", CONF_CHOICE, 0, ANY, "tempfail",
	    "tempfail|dunno", "smtpd" },
	{ "smtpd_policy_cache", CONF_SECS, 0, 0, 3600, "10", NULL,
	    "smtpd" },
	BOOL("smtpd_policy_eom", "no", "smtpd"),
	{ "smtpd_dnsbl", CONF_STR, CONF_MULTI, ANY, NULL, NULL, "smtpd" },
	{ "smtpd_dnswl", CONF_STR, CONF_MULTI, ANY, NULL, NULL, "smtpd" },
	NUM("smtpd_dnsbl_threshold", "1", 1, 1000000, "smtpd"),
	{ "smtpd_dnsbl_nameserver", CONF_HOSTPORT, 0, ANY, "127.0.0.1",
	    NULL, "smtpd" },
	{ "smtpd_dnsbl_timeout", CONF_SECS, 0, 1, 60, "5", NULL, "smtpd" },
	/* inbound SPF, DKIM, DMARC (smtpd/verify.c) */
	BOOL("smtpd_verify", "no", "smtpd"),
	{ "smtpd_verify_nameserver", CONF_HOSTPORT, 0, ANY, "127.0.0.1",
	    NULL, "smtpd" },
	{ "smtpd_verify_timeout", CONF_SECS, 0, 1, 300, "20", NULL,
	    "smtpd" },
	{ "smtpd_authserv_id", CONF_WORD, CONF_DYNDEF, ANY, NULL, NULL,
	    "smtpd send" },
	{ "spf_policy", CONF_CHOICE, 0, ANY, "none", "none|reject",
	    "smtpd" },
	{ "dmarc_policy", CONF_CHOICE, 0, ANY, "none",
	    "none|quarantine-header|reject", "smtpd" },
	BOOL("smtpd_iprev", "no", "smtpd"),
	/* SRS (lib/srs.c): send rewrites forwarded senders and takes back
	 * bounces; smtpd refuses SRS recipients that sandmail-srs (which
	 * holds the secret, as send does) says were not made here */
	STR("srs_domain", NULL, "smtpd send srs start"),
	PATH("srs_secret", "srs.secret", "send srs"),
	{ "srs_max_age", CONF_SECS, 0, DAYS(1), DAYS(1000), "21d", NULL,
	    "smtpd send srs" },
	{ "srs_socket", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL,
	    "srs smtpd" },
	STR("srs_exclude", NULL, "send"),
	/* ARC sealing (lib/arc.c) of verified mail send relays */
	STR("arc_domain", NULL, "send"),
	/* ARC chains whose newest sealer smtpd trusts to say what passed
	 * (a DMARC failure is then not acted on: smtpd/verify.c) */
	STR("arc_trusted_sealers", NULL, "smtpd"),
	{ "smtpd_milter", CONF_STR, CONF_MULTI, ANY, NULL, NULL, "smtpd" },
	{ "smtpd_milter_timeout", CONF_SECS, 0, 1, 3600, "30", NULL,
	    "smtpd" },
	{ "smtpd_milter_default_action", CONF_CHOICE, 0, ANY, "tempfail",
	    "tempfail|accept|reject", "smtpd" },

	/* sandmail-queue */
	{ "queue_sync", CONF_CHOICE, 0, ANY, "fsync", "syncfs|fsync",
	    "queue" },
	NUM("queue_max_clients", "1000", 1, 100000, "queue"),
	SECS("queue_timeout", "600", "queue"),
	{ "queue_reuse", CONF_CHOICE, 0, ANY, "auto",
	    "auto|yes|no|true|false|on|off|1|0", "queue send" },

	/* sandmail-send and sandmail-start */
	NUM("concurrency_local", "10", 1, 1000, "send"),
	NUM("concurrency_remote", "20", 1, 1000, "send"),
	NUM("concurrency_destination", "20", 1, 1000, "send"),
	SECS("queue_lifetime", "5d", "send"),
	SECS("retry_first", "5m", "send"),
	SECS("retry_max", "4h", "send"),
	SECS("delay_warning", "4h", "send"),
	STR("recipient_delimiter", "-+", "send"),
	SECS("resolve_cache", "300", "send"),
	SECS("term_wait", "60", "send start"),
	SECS("orphan_sweep_delay", "30", "send"),
	{ "prog_send", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL, "start" },
	{ "prog_resolve", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL, "start" },
	{ "prog_lspawn", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL, "start" },
	{ "prog_rspawn", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL, "start" },
	{ "prog_sign", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL, "start" },
	{ "prog_srs", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL, "start" },

	/* sandmail-lspawn and sandmail-local */
	NUM("local_uid_min", "1000", 1, UINT32_MAX - 1, "lspawn"),
	NUM("local_uid_max", "60000", 1, UINT32_MAX - 1, "lspawn"),
	NUM("local_gid_min", "100", 1, UINT32_MAX - 1, "lspawn pop3d"),
	BOOL("local_allow_programs", "no", "lspawn"),
	BOOL("lspawn_exec", "no", "lspawn"),
	BOOL("local_lookup", "yes", "lspawn"),
	{ "local_timeout", CONF_SECS, 0, 1, DAYS(7), "1h", NULL, "lspawn" },
	NUM("lspawn_children", "100", 1, 500, "lspawn"),
	{ "lspawn_idle", CONF_SECS, 0, 1, DAYS(1), "30", NULL, "lspawn" },
	NUM("lspawn_max_use", "200", 1, 1000000, "lspawn"),

	/* sandmail-resolve */
	PATH("resolv_conf", "/etc/resolv.conf", "resolve sts"),
	SECS("dns_timeout", "5", "resolve sts"),
	NUM("dns_retries", "2", 0, 10, "resolve"),
	SECS("dns_ttl_max", "86400", "resolve"),
	SECS("dns_negative_ttl_max", "900", "resolve"),
	NUM("dns_cache_size", "2000", 0, 1000000, "resolve"),
	NUM("dns_max_queries", "500", 1, 100000, "resolve"),
	NUM("dns_max_sockets", "200", 1, 800, "resolve"),
	BOOL("dns_prefer_ipv6", "no", "resolve"),
	BOOL("dns_dnssec", "no", "resolve"),

	/* sandmail-rspawn */
	{ "remote_tls", CONF_CHOICE, 0, ANY, "may",
	    "none|may|encrypt|verify|dane|dane-only", "rspawn" },
	NUM("remote_concurrency", "50", 1, 1000, "rspawn"),
	NUM("remote_max_queued", "10000", 1, 1000000, "rspawn"),
	SECS("remote_reuse_time", "5", "rspawn"),
	SECS("remote_timeout_connect", "30", "rspawn"),
	SECS("remote_timeout_greeting", "300", "rspawn"),
	SECS("remote_timeout_command", "300", "rspawn"),
	SECS("remote_timeout_data_init", "120", "rspawn"),
	SECS("remote_timeout_data_block", "180", "rspawn"),
	SECS("remote_timeout_data_done", "600", "rspawn"),
	{ "lmtp_socket", CONF_PATH, CONF_MULTI, ANY, NULL, NULL, "rspawn" },

	/* sandmail-auth and sandmail-passwd (libsodium's INTERACTIVE and
	 * the MIN..SENSITIVE range of argon2id) */
	NUM("auth_max_failures", "3", 1, 1000, "auth"),
	{ "auth_fail_delay", CONF_MSECS, 0, 0, 600000, "1s", NULL, "auth" },
	SECS("auth_idle_timeout", "3600", "auth"),
	{ "auth_fail_delay_max", CONF_MSECS, 0, 0, 600000, "16s", NULL,
	    "auth" },
	NUM("auth_lockout", "10", 1, 100000, "auth"),
	NUM("auth_lockout_net", "30", 1, 1000000, "auth"),
	SECS("auth_lockout_time", "600", "auth"),
	NUM("auth_global_failures", "100", 1, 10000000, "auth"),
	NUM("auth_max_clients", "4096", 1, 1000000, "auth"),
	NUM("auth_max_waiting", "64", 1, 100000, "auth"),
	SECS("auth_max_wait", "10", "auth"),
	{ "auth_workers", CONF_NUM, CONF_DYNDEF, 1, 64, NULL, NULL, "auth" },
	{ "auth_socket", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL,
	    "auth smtpd pop3d" },
	NUM("passwd_opslimit", "2", 1, 4, "auth passwd"),
	SIZE("passwd_memlimit", "64m", "auth passwd"),

	/* sandmail-metrics (and send, which writes lock/send.stats) */
	{ "metrics_log", CONF_PATH, CONF_MULTI, ANY, NULL, NULL, "metrics" },
	PATH("metrics_file", NULL, "metrics"),
	STR("metrics_listen", NULL, "metrics"),
	SECS("metrics_interval", "30", "metrics send"),
	USER("user_metrics", "nobody", "metrics"),

	/* sandmail-pop3d */
	SECS("pop3_timeout", "600", "pop3d"),
	BOOL("pop3_plain_loopback", "no", "pop3d"),
	BOOL("pop3_implicit_tls", "no", "pop3d"),
	NUM("pop3_max_connections", "100", 1, 100000, "pop3d"),
	NUM("pop3_max_per_ip", "10", 1, 100000, "pop3d"),
	NUM("pop3_max_per_net", "50", 1, 100000, "pop3d"),
	NUM("pop3_conn_rate", "0", 0, 10000000, "pop3d"),
	{ "pop3_limits_file", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL,
	    "pop3d" },
	NUM("pop3_max_messages", "100000", 1, 10000000, "pop3d"),

	/* MTA-STS (sandmail-sts) and TLS reporting */
	BOOL("mta_sts", "no", "start send"),
	USER("user_sts", "sandmailm", "sts"),
	{ "prog_sts", CONF_PATH, CONF_DYNDEF, ANY, NULL, NULL, "start" },
	PATH("mta_sts_cache", "/var/lib/sandmail/sts", "sts"),
	PATH("mta_sts_ca_file", "/etc/ssl/certs/ca-certificates.crt", "sts"),
	{ "mta_sts_fetch_timeout", CONF_SECS, 0, 1, 300, "10", NULL, "sts" },
	NUM("mta_sts_port", "443", 1, 65535, "sts"),
	{ "tlsrpt_period", CONF_SECS, 0, 1, DAYS(7), "86400", NULL, "sts" },
	{ NULL, CONF_STR, 0, 0, 0, NULL, NULL, NULL },
};

/* conf_key_find - a key by name */
const struct conf_key *
conf_key_find(const char *name)
{
	const struct conf_key *k;

	for (k = conf_keys; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* distance - Levenshtein's, for names of at most 63 bytes */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], i, j, prev, t;

	if (la >= sizeof row || lb >= sizeof row)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			t = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (t + 1 < row[j])
				row[j] = t + 1;
			prev = t;
		}
	}
	return row[lb];
}

/* conf_key_near - the nearest listed name, if it is a likely typo */
const char *
conf_key_near(const char *name)
{
	const struct conf_key *k, *best = NULL;
	size_t d, bd = SIZE_MAX, len = strlen(name);

	for (k = conf_keys; k->name != NULL; k++)
		if ((d = distance(name, k->name)) < bd)
			bd = d, best = k;
	/* a third of the name may be wrong, at most 3 edits */
	return best != NULL && bd > 0 && bd <= 3 && bd * 3 <= len ?
	    best->name : NULL;
}

static int
is_word(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == ' ' || *s == '\t')
			return 0;
	return 1;
}

static int
is_choice(const char *choices, const char *s)
{
	size_t n = strlen(s);
	const char *p = choices, *bar;

	for (;;) {
		bar = strchr(p, '|');
		if ((bar ? (size_t)(bar - p) : strlen(p)) == n &&
		    strncmp(p, s, n) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		p = bar + 1;
	}
}

/* is_hostport - resolve's name server syntax (resolve/resolver.c
 * ns_parse): ADDR, ADDR:PORT for IPv4, [ADDR]:PORT or a bare IPv6 */
static int
is_hostport(const char *s)
{
	char host[64];
	const char *port = NULL, *e;
	unsigned long long p;
	unsigned char a[16];
	size_t n;

	if (s[0] == '[') {
		if ((e = strchr(s, ']')) == NULL || (e[1] != '\0' && e[1] != ':'))
			return 0;
		n = (size_t)(e - s - 1), s++;
		port = e[1] == ':' ? e + 2 : NULL;
	} else if ((e = strchr(s, ':')) != NULL && strchr(e + 1, ':') == NULL)
		n = (size_t)(e - s), port = e + 1;
	else
		n = strlen(s);
	if (n == 0 || n >= sizeof host)
		return 0;
	memcpy(host, s, n);
	host[n] = '\0';
	if (port != NULL && (parse_ull(port, &p) == -1 || p == 0 ||
	    p > 65535))
		return 0;
	return inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1;
}

static int
number(const struct conf_key *k, const char *val, unsigned long long *v,
    const char **why)
{
	switch (k->type) {
	case CONF_NUM:
		if (parse_ull(val, v) == -1)
			return *why = "not a number", -1;
		break;
	case CONF_SECS:
		if (parse_secs(val, v) == -1)
			return *why = "not a duration (number with s, m, h "
			    "or d)", -1;
		break;
	case CONF_SIZE:
		if (parse_size(val, v) == -1)
			return *why = "not a size (number with k, m or g)", -1;
		break;
	case CONF_MSECS:
		if (parse_msecs(val, v) == -1)
			return *why = "not a delay (a duration, or a "
			    "number with ms)", -1;
		break;
	default:
		return *why = "not a number", -1;
	}
	if (*v < k->min || *v > k->max)
		return *why = "out of range", -1;
	return 0;
}

/* conf_key_value - is val a good value of k */
int
conf_key_value(const struct conf_key *k, const char *val,
    unsigned long long *v, const char **why)
{
	static char msg[128];
	unsigned long long dummy;
	int b;

	if (v == NULL)
		v = &dummy;
	*v = 0;
	switch (k->type) {
	case CONF_STR:
		return 0;
	case CONF_WORD:
		return is_word(val) ? 0 : (*why = "expected one word", -1);
	case CONF_PATH:
		return strlen(val) < PATH_MAX ? 0 :
		    (*why = "path too long", -1);
	case CONF_BOOL:
		if ((b = conf_yesno(val)) == -1)
			return *why = "expected yes or no", -1;
		*v = (unsigned long long)b;
		return 0;
	case CONF_CHOICE:
		if (is_choice(k->choices, val))
			return 0;
		snprintf(msg, sizeof msg, "expected one of %s", k->choices);
		return *why = msg, -1;
	case CONF_HOSTPORT:
		return is_hostport(val) ? 0 :
		    (*why = "expected an IP address with an optional :port", -1);
	default:
		return number(k, val, v, why);
	}
}

/* conf_type_name - a word for the kind of value */
const char *
conf_type_name(enum conf_type t)
{
	static const char *const names[] = {
		[CONF_STR] = "string", [CONF_WORD] = "word",
		[CONF_PATH] = "path", [CONF_NUM] = "number",
		[CONF_SECS] = "duration", [CONF_SIZE] = "size",
		[CONF_BOOL] = "bool", [CONF_CHOICE] = "choice",
		[CONF_MSECS] = "delay", [CONF_HOSTPORT] = "address",
	};

	return (size_t)t < sizeof names / sizeof names[0] && names[t] ?
	    names[t] : "?";
}
