/* fetch: one MTA-STS policy over HTTPS with libcurl (RFC 8461 3.3).
 * Only https, only to mta-sts.DOMAIN at the address our own DNS gave
 * (CURLOPT_RESOLVE: libcurl asks no name server), the certificate
 * verified against the CA bundle read before the sandbox (PKIX, the
 * host name included), no redirect followed (a 3xx is a failure), a
 * text/plain 200 only, the body cut at STS_POLICY_MAX bytes and the
 * whole fetch at mta_sts_fetch_timeout. */
#include <stdio.h>
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

static int
setup(CURL *h, const struct sts_cfg *c, const char *domain,
    const char *addr, struct curl_slist **rs, struct sink *s)
{
	char url[512], res[512];
	struct curl_blob ca = { c->ca, c->calen, CURL_BLOB_NOCOPY };
	int k;

	k = snprintf(url, sizeof url, "https://mta-sts.%s:%u/.well-known/"
	    "mta-sts.txt", domain, c->port);
	if (k < 0 || (size_t)k >= sizeof url)
		return -1;
	k = snprintf(res, sizeof res, "mta-sts.%s:%u:%s%s%s", domain, c->port,
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
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "sandmail-sts") !=
	    CURLE_OK ||
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
