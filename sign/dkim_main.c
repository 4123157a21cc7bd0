/* sandmail-dkim: the administrator's DKIM tool.  keygen writes a key pair
 * (private key 0640, group sandmailk when run as root) and prints the TXT
 * record to publish; sign and verify work on one message on stdin with
 * keys given on the command line, since no DNS verifier exists yet.  Run
 * by an administrator or the tests; no network, no sandbox, it writes only
 * the key files it is asked for.  See doc/sandmail-dkim.8. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "buf.h"
#include "dkim.h"
#include "exitcode.h"

#define MSG_MAX		(64u << 20)	/* a message on stdin */
#define KEYS_MAX	4

static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: sandmail-dkim keygen [-k dir] DOMAIN SELECTOR "
	    "[rsa|ed25519]\n"
	    "       sandmail-dkim txt KEYFILE\n"
	    "       sandmail-dkim records [-k dir] DOMAIN\n"
	    "       sandmail-dkim sign -d DOMAIN (-s SELECTOR -k KEYFILE)... "
	    "[-t] [-c simple|relaxed]\n"
	    "       sandmail-dkim verify (-p PUBFILE | -r 'v=DKIM1; ...')\n",
	    stderr);
	exit(EXIT_PERM);
}

static void __attribute__((noreturn))
fail(int code, const char *what, const char *arg)
{
	fprintf(stderr, "sandmail-dkim: %s%s%s: %s\n", what, arg ? " " : "",
	    arg ? arg : "", errno ? strerror(errno) : "failed");
	exit(code);
}

static EVP_PKEY *
key_read(const char *path)
{
	EVP_PKEY *k;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		fail(EXIT_TEMP, "open", path);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL) {
		errno = EINVAL;
		fail(EXIT_PERM, "not a private key:", path);
	}
	return k;
}

/* txt_print - the record as a zone-file line, in strings of <= 255 */
static void
txt_print(const char *domain, const char *sel, const struct buf *t)
{
	size_t i;

	printf("%s._domainkey.%s. IN TXT (", sel, domain);
	for (i = 0; i < t->len; i += 250)
		printf(" \"%.*s\"", (int)(t->len - i < 250 ? t->len - i : 250),
		    t->p + i);
	printf(" )\n");
}

static void
key_txt(EVP_PKEY *k, struct buf *t)
{
	t->len = 0;
	if (dkim_pubkey_txt(k, t) == -1)
		fail(EXIT_TEMP, "public key", NULL);
}

/* file_new - O_EXCL, so keygen never replaces a key in use */
static FILE *
file_new(const char *path, mode_t mode)
{
	int fd;
	FILE *f;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    mode)) == -1)
		fail(EXIT_TEMP, "create", path);
	if (fchmod(fd, mode) == -1)	/* the umask may have cut it */
		fail(EXIT_TEMP, "chmod", path);
	if (geteuid() == 0 && mode == 0640) {
		struct group *g = getgrnam("sandmailk");

		if (g != NULL && fchown(fd, 0, g->gr_gid) == -1)
			fail(EXIT_TEMP, "chown", path);
	}
	if ((f = fdopen(fd, "w")) == NULL)
		fail(EXIT_TEMP, "fdopen", path);
	return f;
}

static int
cmd_keygen(int argc, char *argv[])
{
	const char *dir = ".", *alg;
	char priv[4096], pub[4096];
	struct buf t = BUF_INIT(4096);
	EVP_PKEY *k;
	FILE *f;
	int c, n;

	while ((c = getopt(argc, argv, "k:")) != -1)
		if (c == 'k')
			dir = optarg;
		else
			usage();
	argc -= optind, argv += optind;
	if (argc < 2 || argc > 3)
		usage();
	alg = argc == 3 ? argv[2] : "rsa";
	if (strchr(argv[0], '/') || strchr(argv[1], '/') ||
	    argv[0][0] == '.' || argv[1][0] == '.')
		usage();
	if (strcmp(alg, "rsa") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(alg, "ed25519") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		usage();
	if (k == NULL)
		fail(EXIT_TEMP, "keygen", alg);
	n = snprintf(priv, sizeof priv, "%s/%s.%s.key", dir, argv[0], argv[1]);
	if (n < 0 || (size_t)n >= sizeof priv)
		usage();
	n = snprintf(pub, sizeof pub, "%s/%s.%s.txt", dir, argv[0], argv[1]);
	if (n < 0 || (size_t)n >= sizeof pub)
		usage();
	key_txt(k, &t);
	f = file_new(priv, 0640);
	if (PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(f) != 0 || fsync(fileno(f)) == -1 || fclose(f) != 0)
		fail(EXIT_TEMP, "write", priv);
	f = file_new(pub, 0644);
	if (fprintf(f, "%.*s\n", (int)t.len, t.p) < 0 || fclose(f) != 0)
		fail(EXIT_TEMP, "write", pub);
	txt_print(argv[0], argv[1], &t);
	EVP_PKEY_free(k);
	buf_free(&t);
	return EXIT_OK;
}

static int
cmd_txt(int argc, char *argv[])
{
	struct buf t = BUF_INIT(4096);
	EVP_PKEY *k;

	if (argc != 2)
		usage();
	k = key_read(argv[1]);
	key_txt(k, &t);
	printf("%.*s\n", (int)t.len, t.p);
	EVP_PKEY_free(k);
	buf_free(&t);
	return EXIT_OK;
}

/* cmd_records - every DNS record a sending domain should publish: SPF,
 * the DKIM key of each DOMAIN.SELECTOR.key in dir, and DMARC (p=none to
 * begin with: reports first, then quarantine or reject) */
static int
cmd_records(int argc, char *argv[])
{
	const char *dir = ".", *d;
	struct buf t = BUF_INIT(4096), p = BUF_INIT(4096);
	struct dirent *e;
	DIR *dp;
	size_t dl;
	int c, n = 0;

	while ((c = getopt(argc, argv, "k:")) != -1)
		if (c == 'k')
			dir = optarg;
		else
			usage();
	if (optind + 1 != argc || strchr(argv[optind], '/') != NULL)
		usage();
	d = argv[optind];
	dl = strlen(d);
	printf("; SPF (RFC 7208): the hosts that send %s's mail; add others'\n"
	    "%s. IN TXT \"v=spf1 mx -all\"\n", d, d);
	if ((dp = opendir(dir)) == NULL)
		fail(EXIT_TEMP, "opendir", dir);
	while ((e = readdir(dp)) != NULL) {
		size_t nl = strlen(e->d_name);
		char sel[256];
		EVP_PKEY *k;

		/* DOMAIN.SELECTOR.key */
		if (nl <= dl + 5 || strncasecmp(e->d_name, d, dl) != 0 ||
		    e->d_name[dl] != '.' || strcmp(e->d_name + nl - 4, ".key") ||
		    nl - dl - 5 >= sizeof sel)
			continue;
		memcpy(sel, e->d_name + dl + 1, nl - dl - 5);
		sel[nl - dl - 5] = '\0';
		if (strchr(sel, '.') != NULL)
			continue;
		p.len = 0;
		if (buf_fmt(&p, "%s/%s", dir, e->d_name) == -1 ||
		    buf_cstr(&p) == -1)
			fail(EXIT_TEMP, "path", e->d_name);
		k = key_read(p.p);
		key_txt(k, &t);
		if (n++ == 0)
			printf("; DKIM (RFC 6376): one record per key\n");
		txt_print(d, sel, &t);
		EVP_PKEY_free(k);
	}
	closedir(dp);
	if (n == 0)
		printf("; DKIM: no key %s/%s.SELECTOR.key yet: "
		    "sandmail-dkim keygen -k %s %s SELECTOR\n", dir, d, dir, d);
	printf("; DMARC (RFC 7489): start with p=none, then quarantine or "
	    "reject\n_dmarc.%s. IN TXT \"v=DMARC1; p=none; "
	    "rua=mailto:postmaster@%s\"\n", d, d);
	buf_free(&t);
	buf_free(&p);
	return EXIT_OK;
}

static void
read_stdin(struct buf *m)
{
	ssize_t r;

	for (;;) {
		if (buf_reserve(m, 65536) == -1)
			fail(EXIT_PERM, "message", "too large");
		if ((r = read(0, m->p + m->len, 65536)) == -1) {
			if (errno == EINTR)
				continue;
			fail(EXIT_TEMP, "read", "stdin");
		}
		if (r == 0)
			return;
		m->len += (size_t)r;
	}
}

/* local_sign - the dkim_signfn of keys held here (arg: q's keys) */
static int
local_sign(void *arg, const struct dkim_sigreq *q, struct dkim_sigout *o,
    size_t n)
{
	EVP_PKEY **k = arg;
	size_t i;

	for (i = 0; i < n; i++)
		if (dkim_pk_sign(k[i], q[i].alg, o[i].hash, o[i].sig,
		    &o[i].siglen) == -1)
			return -1;
	return 0;
}

/* lf_only - CRLF to LF */
static void
lf_only(struct buf *b)
{
	size_t i, j;

	for (i = j = 0; i < b->len; i++)
		if (!(b->p[i] == '\r' && i + 1 < b->len && b->p[i + 1] == '\n'))
			b->p[j++] = b->p[i];
	b->len = j;
}

static int
cmd_sign(int argc, char *argv[])
{
	EVP_PKEY *keys[KEYS_MAX];
	struct dkim_sigreq q = { .hc = DKIM_RELAXED, .bc = DKIM_RELAXED },
	    qs[KEYS_MAX];
	const char *sels[KEYS_MAX];
	struct buf m = BUF_INIT(MSG_MAX), out = BUF_INIT(1 << 20);
	const char *sel = NULL;
	size_t nk = 0, i;
	int c, a;

	while ((c = getopt(argc, argv, "c:d:k:s:t")) != -1)
		switch (c) {
		case 'c':
			if (strcmp(optarg, "simple") == 0)
				q.hc = q.bc = DKIM_SIMPLE;
			else if (strcmp(optarg, "relaxed") != 0)
				usage();
			break;
		case 'd':
			q.domain = optarg;
			break;
		case 's':
			sel = optarg;
			break;
		case 'k':
			if (sel == NULL || nk == KEYS_MAX)
				usage();
			sels[nk] = sel;
			keys[nk++] = key_read(optarg);
			break;
		case 't':
			q.t = time(NULL);
			break;
		default:
			usage();
		}
	if (optind != argc || q.domain == NULL || nk == 0)
		usage();
	read_stdin(&m);
	for (i = 0; i < nk; i++) {
		if ((a = dkim_key_alg(keys[i], DKIM_RSA_SIGN_MIN)) == -1)
			fail(EXIT_PERM, "key not usable (RSA needs 2048 bits)",
			    sels[i]);
		qs[i] = q;
		qs[i].alg = (enum dkim_alg)a;
		qs[i].selector = sels[i];
	}
	if (dkim_sign_msg(m.p, m.len, qs, nk, local_sign, keys, &out) == -1)
		fail(EXIT_TEMP, "sign", q.domain);
	for (i = 0; i < nk; i++)
		EVP_PKEY_free(keys[i]);
	/* a message with bare LF line ends gets its new fields in kind */
	if (memchr(m.p, '\n', m.len) != NULL &&
	    ((char *)memchr(m.p, '\n', m.len) == m.p ||
	    ((char *)memchr(m.p, '\n', m.len))[-1] != '\r'))
		lf_only(&out);
	if (fwrite(out.p, 1, out.len, stdout) != out.len ||
	    fwrite(m.p, 1, m.len, stdout) != m.len || fflush(stdout) != 0)
		fail(EXIT_TEMP, "write", "stdout");
	buf_free(&m);
	buf_free(&out);
	return EXIT_OK;
}

/* slurp - a small text file (a key record) as a C string */
static char *
slurp(const char *path)
{
	static struct buf b = BUF_INIT(65536);
	int fd;
	ssize_t r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		fail(EXIT_TEMP, "open", path);
	for (;;) {
		if (buf_reserve(&b, 4096) == -1)
			fail(EXIT_PERM, "too large", path);
		if ((r = read(fd, b.p + b.len, 4096)) <= 0)
			break;
		b.len += (size_t)r;
	}
	close(fd);
	if (r < 0 || buf_cstr(&b) == -1)
		fail(EXIT_TEMP, "read", path);
	return b.p;
}

static const char *const result_names[] = {
	"pass", "fail", "fail", "none", "permerror"
};

static int
cmd_verify(int argc, char *argv[])
{
	static struct dkim_fields fs;
	struct dkim_verdict v;
	struct buf m = BUF_INIT(MSG_MAX);
	const char *rec = NULL;
	EVP_PKEY *k;
	size_t i, nsig = 0, npass = 0;
	int c;

	while ((c = getopt(argc, argv, "p:r:")) != -1)
		if (c == 'p')
			rec = slurp(optarg);
		else if (c == 'r')
			rec = optarg;
		else
			usage();
	if (optind != argc || rec == NULL)
		usage();
	if (dkim_pubkey_parse(rec, strcspn(rec, "\n"), &k) == -1)
		fail(EXIT_PERM, "key record", errno == ENOKEY ? "(revoked)" :
		    NULL);
	read_stdin(&m);
	if (dkim_fields_split(&fs, m.p, m.len) == -1)
		fail(EXIT_PERM, "message", "too many header fields");
	for (i = 0; i < fs.n; i++) {
		if (!dkim_field_is(&fs.f[i], "dkim-signature", 14))
			continue;
		nsig++;
		dkim_verify_field(m.p, m.len, &fs, i, k, time(NULL), &v);
		printf("dkim=%s d=%s s=%s reason=\"%s\"\n",
		    result_names[v.r], v.d, v.s, v.why);
		npass += v.r == DKIM_PASS;
	}
	if (nsig == 0)
		printf("dkim=none\n");
	EVP_PKEY_free(k);
	buf_free(&m);
	return npass > 0 ? EXIT_OK : EXIT_PERM;
}

int
main(int argc, char *argv[])
{
	if (argc < 2)
		usage();
	if (sodium_init() == -1)
		fail(EXIT_TEMP, "sodium_init", NULL);
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "txt") == 0)
		return cmd_txt(argc - 1, argv + 1);
	if (strcmp(argv[1], "records") == 0)
		return cmd_records(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	usage();
}
