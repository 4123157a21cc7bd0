/* fetch: one MTA-STS policy over HTTPS with libcurl (RFC 8461 3.3).
 * Only https, only to mta-sts.DOMAIN at the address our own DNS gave
 * (CURLOPT_RESOLVE: libcurl asks no name server), the certificate
 * verified against the CA bundle read before the sandbox (PKIX, the
 * host name included), no redirect followed (a 3xx is a failure), a
 * text/plain 200 only, the body cut at STS_POLICY_MAX bytes and the
 * whole fetch at mta_sts_fetch_timeout.  And the other way, a TLS
 * report POSTed to an https: rua (RFC 8460 3), under the same rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "sts.h"

struct sink {
	struct buf	*b;
	int		 big;
};

static size_t
on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->b->len + n > STS_POLICY_MAX || buf_put(s->b, p, n) == -1) {
		s->big = 1;
		return 0;		/* libcurl stops: CURLE_WRITE_ERROR */
	}
	return n;
}

int
fetch_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* the rules of every request: https to host:port at addr only, PKIX,
 * no redirect, no proxy, bounded in time */
static int
base(CURL *h, const struct sts_cfg *c, const char *url, const char *host,
    const char *addr, struct curl_slist **rs)
{
	char res[512];
	struct curl_blob ca = { c->ca, c->calen, CURL_BLOB_NOCOPY };
	int k;

	k = snprintf(res, sizeof res, "%s:%u:%s%s%s", host, c->port,
	    strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "");
	if (k < 0 || (size_t)k >= sizeof res ||
	    (*rs = curl_slist_append(NULL, res)) == NULL)
		return -1;
	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_RESOLVE, *rs) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CAPATH, NULL) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->fetch_timeout_ms) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    c->fetch_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_MAXFILESIZE, (long)STS_POLICY_MAX) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "sandmail-sts") != CURLE_OK)
		return -1;
	return 0;
}

static int
setup(CURL *h, const struct sts_cfg *c, const char *domain,
    const char *addr, struct curl_slist **rs, struct sink *s)
{
	char url[512], host[STS_NAME_BUF + 16];
	int k;

	k = snprintf(url, sizeof url, "https://mta-sts.%s:%u/.well-known/"
	    "mta-sts.txt", domain, c->port);
	if (k < 0 || (size_t)k >= sizeof url)
		return -1;
	k = snprintf(host, sizeof host, "mta-sts.%s", domain);
	if (k < 0 || (size_t)k >= sizeof host ||
	    base(h, c, url, host, addr, rs) == -1 ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, s) != CURLE_OK)
		return -1;
	return 0;
}

int
fetch_policy(const struct sts_cfg *c, const char *domain, const char *addr,
    struct buf *body, char *err, size_t errsz)
{
	struct curl_slist *rs = NULL;
	struct sink s = { body, 0 };
	char *ctype = NULL;
	long code = 0;
	CURLcode rc;
	CURL *h;
	int ret = -1;

	body->len = 0;
	if ((h = curl_easy_init()) == NULL) {
		snprintf(err, errsz, "libcurl: no handle");
		return -1;
	}
	if (setup(h, c, domain, addr, &rs, &s) == -1)
		snprintf(err, errsz, "libcurl: setup failed");
	else if ((rc = curl_easy_perform(h)) != CURLE_OK)
		snprintf(err, errsz, "%s", s.big || rc == CURLE_FILESIZE_EXCEEDED ?
		    "policy over 64 KB" : curl_easy_strerror(rc));
	else if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) !=
	    CURLE_OK || code != 200)
		snprintf(err, errsz, "HTTP status %ld%s", code,
		    code >= 300 && code < 400 ? " (redirects are refused)" : "");
	else if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype) !=
	    CURLE_OK || ctype == NULL || strncasecmp(ctype, "text/plain", 10) ||
	    (ctype[10] != '\0' && ctype[10] != ';' && ctype[10] != ' '))
		snprintf(err, errsz, "content type is not text/plain");
	else
		ret = 0;
	curl_easy_cleanup(h);
	curl_slist_free_all(rs);
	return ret;
}

/* the answer to a report is not read, only bounded */
static size_t
on_answer(char *p, size_t size, size_t nmemb, void *arg)
{
	size_t *got = arg, n = size * nmemb;

	(void)p;
	if ((*got += n) > STS_POLICY_MAX)
		return 0;
	return n;
}

/* rua_split - "https://HOST[:PORT][/PATH]" (as tlsrpt_txt_parse keeps
 * it) into host, port (0: none given) and path; 0 or -1 */
static int
rua_split(const char *uri, char *host, size_t hostsz, unsigned long *port,
    const char **path)
{
	const char *h = uri + 8, *e;
	char *end;

	if (strncmp(uri, "https://", 8) != 0)
		return -1;
	e = h + strcspn(h, ":/");
	if (e == h || (size_t)(e - h) >= hostsz)
		return -1;
	memcpy(host, h, (size_t)(e - h));
	host[e - h] = '\0';
	*port = 0;
	if (*e == ':') {
		*port = strtoul(e + 1, &end, 10);
		if (end == e + 1 || *port == 0 || *port > 65535)
			return -1;
		e = end;
	}
	*path = *e == '/' ? e : "/";
	return 0;
}

int
post_report(const struct sts_cfg *c, const char *uri, const void *gz,
    size_t n, char *err, size_t errsz)
{
	char host[STS_NAME_BUF], addr[64], url[TLSRPT_URI_BUF + 16];
	struct curl_slist *rs = NULL, *hd = NULL;
	const char *path;
	unsigned long port;
	size_t got = 0;
	long code = 0;
	CURLcode rc;
	CURL *h;
	int k, ret = -1;

	if (rua_split(uri, host, sizeof host, &port, &path) == -1) {
		snprintf(err, errsz, "not an https URI we take");
		return -1;
	}
	if (port != 0 && port != c->port) {
		/* the sandbox connects to mta_sts_port only */
		snprintf(err, errsz, "port %lu is not mta_sts_port (%u)", port,
		    c->port);
		return -1;
	}
	k = snprintf(url, sizeof url, "https://%s:%u%s", host, c->port, path);
	if (k < 0 || (size_t)k >= sizeof url) {
		snprintf(err, errsz, "URI too long");
		return -1;
	}
	if (dnsq_addr(c, host, addr, sizeof addr) != 0) {
		snprintf(err, errsz, "no address for %s", host);
		return -1;
	}
	if ((h = curl_easy_init()) == NULL) {
		snprintf(err, errsz, "libcurl: no handle");
		return -1;
	}
	if (base(h, c, url, host, addr, &rs) == -1 ||
	    (hd = curl_slist_append(NULL,
	    "Content-Type: application/tlsrpt+gzip")) == NULL ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, gz) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_answer) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got) != CURLE_OK)
		snprintf(err, errsz, "libcurl: setup failed");
	else if ((rc = curl_easy_perform(h)) != CURLE_OK)
		snprintf(err, errsz, "%s", curl_easy_strerror(rc));
	else if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) !=
	    CURLE_OK || code < 200 || code > 299)
		snprintf(err, errsz, "HTTP status %ld%s", code,
		    code >= 300 && code < 400 ? " (redirects are refused)" : "");
	else
		ret = 0;
	curl_easy_cleanup(h);
	curl_slist_free_all(rs);
	curl_slist_free_all(hd);
	return ret;
}
