/* cache: MTA-STS policies kept for their max_age (RFC 8461 5.1), in
 * memory and in one file per domain in the cache directory (the domain
 * is the file name: sandmail-sts only takes LDH names), so they survive
 * a restart.  A file is "sts1 ID FETCHED\n" and then the policy as it
 * was fetched; it is parsed again when loaded, so a file changed behind
 * our back is no more trusted than the server was.  Written to tmp.NAME,
 * fsynced, renamed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sts.h"

static struct sts_entry *ent;
static size_t nent;

int
cache_valid(const struct sts_entry *e, time_t now)
{
	return e != NULL && e->fetched + (time_t)e->pol.max_age > now;
}

struct sts_entry *
cache_find(const char *domain)
{
	for (size_t i = 0; i < nent; i++)
		if (strcmp(ent[i].domain, domain) == 0)
			return &ent[i];
	return NULL;
}

/* slot - the entry of domain, a new one, or the one expiring first */
static struct sts_entry *
slot(const char *domain)
{
	struct sts_entry *e = cache_find(domain), *np;
	size_t old = 0;

	if (e != NULL)
		return e;
	if (nent == STS_CACHE_MAX) {
		for (size_t i = 1; i < nent; i++)
			if (ent[i].fetched + ent[i].pol.max_age <
			    ent[old].fetched + ent[old].pol.max_age)
				old = i;
		return &ent[old];
	}
	if ((np = realloc(ent, (nent + 1) * sizeof *ent)) == NULL)
		return NULL;
	ent = np;
	return &ent[nent++];
}

/* fill - an entry from an id, a time and a policy text; 0 or -1 */
static int
fill(struct sts_entry *e, const char *domain, const char *id, time_t at,
    const char *body, size_t len, const char **why)
{
	struct sts_policy pol;

	if (sts_policy_parse(body, len, &pol, why) == -1)
		return -1;
	memset(e, 0, sizeof *e);
	snprintf(e->domain, sizeof e->domain, "%s", domain);
	snprintf(e->id, sizeof e->id, "%s", id);
	e->pol = pol;
	e->fetched = at;
	return 0;
}

static void
load_one(const struct sts_cfg *c, const char *name, time_t now)
{
	char *p, *nl, id[STS_ID_MAX + 1];
	struct sts_entry e, *s;
	long long at;
	const char *why = "malformed";
	ssize_t n;
	int fd;

	if ((p = malloc(STS_POLICY_MAX + 128)) == NULL)
		return;
	if ((fd = openat(c->cachefd, name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		free(p);
		return;
	}
	n = read(fd, p, STS_POLICY_MAX + 127);
	close(fd);
	if (n > 0) {
		p[n] = '\0';
		if ((nl = memchr(p, '\n', (size_t)n)) != NULL &&
		    sscanf(p, "sts1 %32[A-Za-z0-9] %lld", id, &at) == 2 &&
		    fill(&e, name, id, (time_t)at, nl + 1,
		    (size_t)(p + n - nl - 1), &why) == 0 &&
		    cache_valid(&e, now) && (s = slot(name)) != NULL) {
			*s = e;
			free(p);
			return;
		}
	}
	/* expired or broken: gone */
	log_kv("sts", "op", "cache drop", "domain", name, "why",
	    n > 0 ? why : "empty", NULL);
	(void)unlinkat(c->cachefd, name, 0);
	free(p);
}

/* cache_load - every policy file still valid (before the sandbox) */
void
cache_load(const struct sts_cfg *c)
{
	time_t now = time(NULL);
	struct dirent *d;
	DIR *dir;
	int fd;

	if ((fd = dup(c->cachefd)) == -1 || (dir = fdopendir(fd)) == NULL)
		die_temp("opendir", "mta_sts_cache");
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (strncmp(d->d_name, "tmp.", 4) == 0)
			(void)unlinkat(c->cachefd, d->d_name, 0);
		else
			load_one(c, d->d_name, now);
	}
	closedir(dir);
	log_kv("sts", "op", "cache loaded", "policies",
	    nent ? "some" : "none", NULL);
}

static int
save(const struct sts_cfg *c, const struct sts_entry *e, const char *body,
    size_t len)
{
	char tmp[STS_NAME_BUF + 8], head[80];
	int fd, k, ok;

	snprintf(tmp, sizeof tmp, "tmp.%s", e->domain);
	k = snprintf(head, sizeof head, "sts1 %s %lld\n", e->id,
	    (long long)e->fetched);
	if ((fd = openat(c->cachefd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		return -1;
	ok = write(fd, head, (size_t)k) == k &&
	    write(fd, body, len) == (ssize_t)len && fsync(fd) == 0;
	if (close(fd) == -1 || !ok ||
	    renameat(c->cachefd, tmp, c->cachefd, e->domain) == -1) {
		(void)unlinkat(c->cachefd, tmp, 0);
		return -1;
	}
	return 0;
}

/* cache_put - a policy just fetched: kept (and written) if it parses;
 * NULL if not (why in errno's place: the caller parsed it already) */
struct sts_entry *
cache_put(const struct sts_cfg *c, const char *domain, const char *id,
    const char *body, size_t len, time_t now)
{
	struct sts_entry e, *s;
	const char *why;

	if (fill(&e, domain, id, now, body, len, &why) == -1 ||
	    (s = slot(domain)) == NULL)
		return NULL;
	*s = e;
	if (save(c, s, body, len) == -1)
		log_kv("warning", "op", "cache write", "domain", domain, "err",
		    strerror(errno), NULL);
	return s;
}
