/* tbl: lookups in the CDB tables that sandmail-cdb compiles (the key
 * conventions are in doc/sandmail-tables.5).  A table is opened and
 * mapped before the sandbox; lookups then touch only memory.  Keys are
 * built in bounded buffers from values a client may have chosen. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tbl.h"

/* tbl_open - open and map path; a missing file is an empty table */
int
tbl_open(struct tbl *t, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1 && errno != ENOENT) {
		memset(t, 0, sizeof *t);
		t->fd = -1;
		return -1;
	}
	return tbl_open_fd(t, fd, path);
}

/* tbl_open_fd - the table on fd, opened by someone else (-1: absent,
 * an empty table); fd is the table's from now on, closed on failure */
int
tbl_open_fd(struct tbl *t, int fd, const char *path)
{
	struct stat st;

	memset(t, 0, sizeof *t);
	t->fd = fd;
	if ((t->path = strdup(path)) == NULL)
		goto fail;
	if (fd == -1)
		return 0;
	if (fstat(t->fd, &st) == -1 || cdb_init(&t->cdb, t->fd) != 0)
		goto fail;
	t->mtime = st.st_mtim;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	return 0;
fail:
	if (t->fd != -1) {
		int e = errno;

		close(t->fd);
		errno = e;
	}
	t->fd = -1;
	free(t->path);
	t->path = NULL;
	return -1;
}

/* tbl_close - unmap and close; the struct may be opened again */
void
tbl_close(struct tbl *t)
{
	if (t->fd != -1) {
		cdb_free(&t->cdb);
		close(t->fd);
	}
	t->fd = -1;
	free(t->path);
	t->path = NULL;
}

static int
ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* is_bad - st is the file a reload last failed to open */
static int
is_bad(const struct tbl *t, const struct stat *st)
{
	return t->bad && st->st_dev == t->bad_dev &&
	    st->st_ino == t->bad_ino && ts_eq(&st->st_mtim, &t->bad_mtime) &&
	    ts_eq(&st->st_ctim, &t->bad_ctime);
}

/* tbl_changed - whether the file at path is not the one mapped */
int
tbl_changed(const struct tbl *t)
{
	struct stat st;

	if (t->path == NULL)
		return 0;
	if (stat(t->path, &st) == -1)	/* gone: empty; else cannot tell */
		return errno == ENOENT && t->fd != -1;
	if (is_bad(t, &st))
		return 0;
	if (t->fd == -1)
		return 1;
	return st.st_dev != t->dev || st.st_ino != t->ino ||
	    !ts_eq(&st.st_mtim, &t->mtime);
}

/* tbl_reload - the file at path mapped in place of the old one, which
 * stays when the new one cannot be opened */
int
tbl_reload(struct tbl *t)
{
	struct tbl nt;
	struct stat st;
	int e;

	if (t->path == NULL)
		return errno = EINVAL, -1;
	if (tbl_open(&nt, t->path) == -1) {
		e = errno;
		if (stat(t->path, &st) == 0) {
			t->bad = 1;
			t->bad_dev = st.st_dev;
			t->bad_ino = st.st_ino;
			t->bad_mtime = st.st_mtim;
			t->bad_ctime = st.st_ctim;
		}
		errno = e;
		return -1;
	}
	tbl_close(t);
	*t = nt;
	return 0;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* tblset_open - dir/NAME.cdb for each name; 0, or -1 with all closed */
int
tblset_open(struct tblset *s, struct tbl *t, const char *dir,
    const char *const *names, size_t n)
{
	char p[4096];
	size_t i;
	int r = 0, k;

	s->t = t;
	s->n = n;
	s->last_ms = mono_ms();
	for (i = 0; i < n; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].fd = -1;
		k = snprintf(p, sizeof p, "%s/%s.cdb", dir, names[i]);
		if (k < 0 || (size_t)k >= sizeof p)
			errno = ENAMETOOLONG;
		else if (tbl_open(&t[i], p) == 0)
			continue;
		log_kv("error", "op", "open table", "path", p, "err",
		    strerror(errno), NULL);
		r = -1;
	}
	if (r == -1)
		tblset_close(s);
	return r;
}

/* tblset_close - unmap them all */
void
tblset_close(struct tblset *s)
{
	for (size_t i = 0; i < s->n; i++)
		tbl_close(&s->t[i]);
}

/* tblset_refresh - map again what was replaced (at most once a second,
 * or now), or everything; a table that cannot be opened is kept, logged */
size_t
tblset_refresh(struct tblset *s, int how)
{
	int force = how == TBLSET_ALL;
	uint64_t now = mono_ms();
	size_t i, n = 0;
	struct tbl *t;

	if (how == TBLSET_TICK && now - s->last_ms < TBLSET_EVERY_MS)
		return 0;
	s->last_ms = now;
	for (i = 0; i < s->n; i++) {
		t = &s->t[i];
		if (t->path == NULL || (!force && !tbl_changed(t)))
			continue;
		if (tbl_reload(t) == -1) {
			log_kv("error", "op", "reload", "path", t->path, "err",
			    strerror(errno), "kept", "the old table", NULL);
			continue;
		}
		n++;
	}
	return n;
}

/* tbl_get - the value of exactly this key */
int
tbl_get(struct tbl *t, const void *key, size_t klen, struct buf *val)
{
	const void *d;
	unsigned n;
	int r;

	if (t->fd == -1 || klen > 0xffffffffu)
		return 0;
	if ((r = cdb_find(&t->cdb, key, (unsigned)klen)) <= 0)
		return r == 0 ? 0 : (errno = EIO, -1);
	n = cdb_datalen(&t->cdb);
	if ((d = cdb_getdata(&t->cdb)) == NULL)
		return errno = EIO, -1;
	val->len = 0;
	if (buf_put(val, d, n) == -1)
		return -1;
	return 1;
}

/* tbl_lower - append s[0..n) with ASCII letters lowercased */
int
tbl_lower(struct buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (buf_putc(b, c) == -1)
			return -1;
	}
	return 0;
}

static int
get_buf(struct tbl *t, const struct buf *k, struct buf *val)
{
	return tbl_get(t, k->p, k->len, val);
}

/* tbl_domain - domain, then ".parent" for each parent, then "*" */
int
tbl_domain(struct tbl *t, const char *domain, struct buf *val)
{
	struct buf k = BUF_INIT(TBL_KEY_MAX);
	size_t n = strlen(domain), i;
	int r;

	/* a trailing dot names the same domain */
	if (n > 1 && domain[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
	if (tbl_lower(&k, domain, n) == -1) {
		buf_free(&k);
		return -1;
	}
	if ((r = get_buf(t, &k, val)) != 0)
		goto out;
	/* no parents for an address literal */
	for (i = 0; k.p[0] != '[' && i < k.len; i++) {
		if (k.p[i] != '.' || i + 1 == k.len)
			continue;
		if ((r = tbl_get(t, k.p + i, k.len - i, val)) != 0)
			goto out;
	}
	r = tbl_get(t, "*", 1, val);
out:
	buf_free(&k);
	return r;
}

/* addr_key - key := local "@" domain (domain already lowercased) */
static int
addr_key(struct buf *k, const char *local, size_t ln, int lower,
    const struct buf *dom)
{
	k->len = 0;
	if ((lower ? tbl_lower(k, local, ln) : buf_put(k, local, ln)) == -1)
		return -1;
	if (dom->len == 0)
		return 0;
	if (buf_putc(k, '@') == -1)
		return -1;
	return buf_put(k, dom->p, dom->len);
}

/* try_local - local@domain as given, then with the local part lowercased */
static int
try_local(struct tbl *t, const char *local, size_t ln,
    const struct buf *dom, struct buf *k, struct buf *val)
{
	size_t i;
	int r;

	if (addr_key(k, local, ln, 0, dom) == -1)
		return -1;
	if ((r = get_buf(t, k, val)) != 0)
		return r;
	for (i = 0; i < ln; i++)
		if (local[i] >= 'A' && local[i] <= 'Z')
			break;
	if (i == ln)
		return 0;
	if (addr_key(k, local, ln, 1, dom) == -1)
		return -1;
	return get_buf(t, k, val);
}

/* tbl_addr - local@domain, then local-ext stripped, then @domain */
int
tbl_addr(struct tbl *t, const char *local, const char *domain,
    const char *seps, struct buf *val, enum tbl_match *how)
{
	struct buf k = BUF_INIT(TBL_KEY_MAX), dom = BUF_INIT(TBL_KEY_MAX);
	size_t ln = strlen(local), base;
	enum tbl_match m = TBL_EXACT;
	int r;

	if ((r = tbl_lower(&dom, domain, strlen(domain))) == -1)
		goto out;
	if ((r = try_local(t, local, ln, &dom, &k, val)) != 0)
		goto out;
	/* "a-b-c": "a-b", then "a" (qmail's order: the longest base first) */
	m = TBL_EXT;
	for (base = ln; seps != NULL && *seps != '\0' && base > 1; base--) {
		if (strchr(seps, local[base - 1]) == NULL)
			continue;
		if ((r = try_local(t, local, base - 1, &dom, &k, val)) != 0)
			goto out;
	}
	m = TBL_DOMAIN;
	r = 0;
	if (dom.len > 0) {
		k.len = 0;
		if ((r = buf_putc(&k, '@')) == -1 ||
		    (r = buf_put(&k, dom.p, dom.len)) == -1)
			goto out;
		r = get_buf(t, &k, val);
	}
out:
	if (r == 1 && how != NULL)
		*how = m;
	buf_free(&k);
	buf_free(&dom);
	return r;
}

/* ip_fmt - append "ADDR/LEN" for an address already masked to LEN */
static int
ip_fmt(struct buf *key, int af, const unsigned char *bin, unsigned len)
{
	char t[INET6_ADDRSTRLEN];

	if (inet_ntop(af, bin, t, sizeof t) == NULL)
		return -1;
	return buf_fmt(key, "%s/%u", t, len);
}

/* ip_mask - clear every bit of bin past the first len; returns whether
 * any bit had been set there */
static int
ip_mask(unsigned char *bin, size_t size, unsigned len)
{
	size_t i;
	int set = 0;
	unsigned char m;

	for (i = 0; i < size; i++) {
		if (len >= 8 * (i + 1))
			continue;
		m = len <= 8 * i ? 0 : (unsigned char)(0xff << (8 - (len - 8 * i)));
		set |= (bin[i] & ~m) != 0;
		bin[i] &= m;
	}
	return set;
}

/* ip_parse - text to (af, bin); IPv4-mapped IPv6 becomes IPv4 */
static int
ip_parse(const char *s, size_t n, int *af, unsigned char bin[16],
    unsigned *bits)
{
	static const unsigned char mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char t[INET6_ADDRSTRLEN + 1];

	if (n == 0 || n >= sizeof t)
		return errno = EINVAL, -1;
	memcpy(t, s, n);
	t[n] = '\0';
	if (inet_pton(AF_INET, t, bin) == 1) {
		*af = AF_INET, *bits = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, t, bin) != 1)
		return errno = EINVAL, -1;
	*af = AF_INET6, *bits = 128;
	if (memcmp(bin, mapped, sizeof mapped) == 0) {
		memmove(bin, bin + 12, 4);
		*af = AF_INET, *bits = 32;
	}
	return 0;
}

/* tbl_ip_key - the normal form of "ADDR[/LEN]" */
int
tbl_ip_key(const char *text, struct buf *key)
{
	unsigned char bin[16];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	unsigned bits, len;
	unsigned long v;
	char *end;
	int af, v6;

	v6 = memchr(text, ':', n) != NULL;
	if (ip_parse(text, n, &af, bin, &bits) == -1)
		return -1;
	len = bits;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return errno = EINVAL, -1;
		errno = 0;
		v = strtoul(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || end - slash > 4)
			return errno = EINVAL, -1;
		/* ::ffff:a.b.c.d/LEN: LEN counts the 96 mapped bits */
		if (v6 && af == AF_INET) {
			if (v < 96)
				return errno = EINVAL, -1;
			v -= 96;
		}
		if (v > bits)
			return errno = EINVAL, -1;
		len = (unsigned)v;
	}
	if (ip_mask(bin, bits / 8, len))
		return errno = EINVAL, -1;
	return ip_fmt(key, af, bin, len);
}

/* tbl_ip - the longest prefix in the table that holds ip */
int
tbl_ip(struct tbl *t, const char *ip, struct buf *val)
{
	struct buf k = BUF_INIT(TBL_KEY_MAX);
	unsigned char bin[16];
	unsigned bits;
	int af, r = 0, len;

	if (ip_parse(ip, strlen(ip), &af, bin, &bits) == -1)
		return 0;		/* not an address: in no block */
	for (len = (int)bits; len >= 0 && r == 0; len--) {
		ip_mask(bin, bits / 8, (unsigned)len);
		k.len = 0;
		if ((r = ip_fmt(&k, af, bin, (unsigned)len)) == 0)
			r = get_buf(t, &k, val);
	}
	buf_free(&k);
	return r;
}
