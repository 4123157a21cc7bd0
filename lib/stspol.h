/* stspol: the texts of MTA-STS (RFC 8461) and SMTP TLS reporting (RFC
 * 8460) that come from other people's servers: the policy file fetched
 * over HTTPS, the _mta-sts TXT record and the _smtp._tls TXT record;
 * and the matching of an MX host against a policy's mx patterns.  No
 * I/O, so the unit tests and the fuzzer drive the same code as
 * sandmail-sts and sandmail-send.  Every length is bounded. */
#ifndef SANDMAIL_STSPOL_H
#define SANDMAIL_STSPOL_H

#include <stddef.h>
#include <stdint.h>

#define STS_POLICY_MAX	65536		/* bytes of a policy file (RFC 8461 3.3) */
#define STS_MX_MAX	32		/* mx patterns kept */
#define STS_NAME_BUF	256		/* a host name pattern and its NUL */
#define STS_ID_MAX	32		/* sts-id: 1*32(ALPHA / DIGIT) */
#define STS_MAXAGE_MAX	31557600u	/* one year (RFC 8461 3.2) */
#define TLSRPT_RUA_MAX	4		/* rua URIs kept */
#define TLSRPT_URI_BUF	512

enum sts_mode { STS_NONE, STS_TESTING, STS_ENFORCE };

struct sts_policy {
	enum sts_mode	mode;
	uint32_t	max_age;		/* seconds */
	size_t		nmx;
	char		mx[STS_MX_MAX][STS_NAME_BUF];	/* lower case */
};

/* sts_policy_parse: a policy body (CRLF or LF lines of "key: value");
 * 0, or -1 with *why set (then the policy is to be treated as absent) */
int	sts_policy_parse(const char *p, size_t n, struct sts_policy *pol,
	    const char **why);
/* sts_txt_parse: one TXT record's text (its strings joined); 0 with the
 * id copied into id (NUL ended), 1 if it is not an STSv1 record (to be
 * ignored), -1 if it claims STSv1 but is malformed */
int	sts_txt_parse(const char *p, size_t n, char id[STS_ID_MAX + 1]);
/* sts_mx_match: 1 if host (a name, any case, a final dot allowed)
 * matches one of the policy's patterns ("*." matches exactly one
 * leftmost label), else 0 */
int	sts_mx_match(const struct sts_policy *pol, const char *host);
/* sts_mode_name: "none", "testing", "enforce" */
const char *sts_mode_name(enum sts_mode);
/* sts_mode_parse: the inverse; -1 if none matches */
int	sts_mode_parse(const char *s);

/* tlsrpt_txt_parse: an _smtp._tls TXT record; 0 with its rua URIs in
 * rua[0..*nrua): a mailto: one as the bare address ("mailto:" removed,
 * %-escapes and ':' refused), an https: one whole ("https://HOST[:PORT]
 * [/PATH]"), other schemes skipped; 1 if not a TLSRPTv1 record, -1 if
 * malformed.  An entry starts with "https://" only if it is a URI */
int	tlsrpt_txt_parse(const char *p, size_t n,
	    char rua[TLSRPT_RUA_MAX][TLSRPT_URI_BUF], size_t *nrua);

#endif
