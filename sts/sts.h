/* sts: sandmail-sts's parts (the MTA-STS policy fetcher and cache). */
#ifndef SANDMAIL_STS_H
#define SANDMAIL_STS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"
#include "stspol.h"

#define STS_NS_MAX	4
#define STS_CACHE_MAX	10000		/* domains kept in memory */

struct sts_cfg {
	struct sockaddr_storage	ns[STS_NS_MAX];
	socklen_t		nslen[STS_NS_MAX];
	unsigned		nns;
	int			dns_timeout_ms;
	long			fetch_timeout_ms;
	unsigned		port;		/* of the policy servers (443) */
	char			*ca;		/* PEM bundle, read before the sandbox */
	size_t			calen;
	int			cachefd;	/* the cache directory */
	const char		*hostname;	/* the reports' submitter */
	unsigned long long	rpt_period;	/* tlsrpt_period, seconds */
};

struct sts_entry {
	char			domain[STS_NAME_BUF];
	char			id[STS_ID_MAX + 1];
	struct sts_policy	pol;
	time_t			fetched;	/* expires at fetched + max_age */
	time_t			recheck;	/* the TXT record again after */
};

/* dnsq.c: lookups through the configured name servers, blocking and
 * bounded by dns_timeout per server.  0 done, -1 temporary failure */
struct dns_txt;
int	dnsq_txt(const struct sts_cfg *, const char *name, struct dns_txt *);
int	dnsq_addr(const struct sts_cfg *, const char *name, char *out,
	    size_t outsz);
int	dnsq_ns_add(struct sts_cfg *, const char *);

/* fetch.c: the policy of domain from https://mta-sts.DOMAIN/ at addr
 * into body (at most STS_POLICY_MAX bytes); 0, or -1 with err set */
int	fetch_init(void);
int	fetch_policy(const struct sts_cfg *, const char *domain,
	    const char *addr, struct buf *body, char *err, size_t errsz);
/* post_report: the gzipped JSON report gz[0..n) POSTed to an https rua
 * (RFC 8460 3) as application/tlsrpt+gzip, to HOST (our DNS) on
 * mta_sts_port only; 0 on a 2xx answer, or -1 with err set */
int	post_report(const struct sts_cfg *, const char *uri, const void *gz,
	    size_t n, char *err, size_t errsz);

/* sbx.c: the sandbox (uid, chroot, Landlock, seccomp) */
struct conf;
void	sts_sandbox(const struct conf *, const struct sts_cfg *);

/* cache.c: the policies on disk (one file per domain) and in memory */
void	cache_load(const struct sts_cfg *);
struct sts_entry *cache_find(const char *domain);
struct sts_entry *cache_put(const struct sts_cfg *, const char *domain,
	    const char *id, const char *body, size_t len, time_t now);
int	cache_valid(const struct sts_entry *, time_t now);

/* report.c: TLS reporting (RFC 8460); reports go to fd 0 as 'M' */
struct sts_res;
void	report_count(const struct sts_cfg *, struct sts_res *, time_t now);
int	report_due(const struct sts_cfg *, time_t now);
void	report_tick(const struct sts_cfg *, time_t now);
void	report_save(const struct sts_cfg *, time_t now);
int	report_save_due(time_t now);
void	report_load(const struct sts_cfg *);

#endif
