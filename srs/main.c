/* sandmail-srs: the SRS check service (uid user_srs, sandmailh).  Started
 * by sandmail-start when srs_domain is set.  Reads the SRS secret
 * (srs_secret) as root, binds its socket srs_socket (default
 * QUEUE/lock/srs.sock, 0660, group of user_smtpd as root: only smtpd's
 * listener and sessions connect), then, chrooted to an empty directory,
 * under its own uid and a filter that allows nothing but its sockets,
 * answers each request: whether an SRS local part was made with the
 * secret and is not too old (srs_reverse).  It never says what address
 * one stands for, and reads nothing else: a session that parses network
 * bytes can ask it yes or no, never learn the secret.  One process, one
 * poll loop; requests take microseconds.  TERM (from sandmail-start)
 * ends it.  See doc/sandmail-srs.8 and doc/protocols.md. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "rec.h"
#include "sbx.h"
#include "srs.h"
#include "srsc.h"
#include "srsd.h"
#include "usock.h"

SBX_NO_LEAK_CHECK

#define CLIENTS_MAX	1024	/* smtpd sessions asking at once */
#define CLIENT_BUF	(REC_HDR + SRSC_REC_MAX)

struct client {
	int		 fd;
	size_t		 len;
	unsigned char	 b[CLIENT_BUF];
};

static struct srs_keys keys;
static unsigned maxdays;
/* who connects: smtpd's listener and sessions */
static const char *const smtpd_user[] = { "user_smtpd", NULL };
static int nclients = CLIENTS_MAX;	/* fd_room: what the fds allow */
static struct client cl[CLIENTS_MAX];
static struct pollfd pf[CLIENTS_MAX + 1];

/* listen_sock - the service's socket: 0660 root:user_smtpd's group as
 * root, 0600 otherwise.  One already served is the previous set's (a
 * sandmail-start killed while its send finishes, as runsv starts the
 * next): wait until it is gone, as send waits for its lock, rather than
 * fail and stop the new set; a stale one is replaced */
static int
listen_sock(const char *path, const struct conf *c)
{
	const char *op;
	int fd;

	for (int said = 0; (fd = usock_connect(path, 0)) >= 0; said = 1) {
		struct timespec ts = { 1, 0 };

		close(fd);
		if (!said)
			log_kv("wait", "for", "the previous sandmail-srs to end",
			    "socket", path, NULL);
		(void)nanosleep(&ts, NULL);
	}
	if (errno == ENAMETOOLONG)
		die_msg(EXIT_TEMP, "srs_socket", "path too long");
	if ((fd = usock_listen(path, geteuid() == 0 ?
	    usock_clients_gid(c, smtpd_user) :
	    (gid_t)-1, &op)) == -1)
		die_temp(op, path);
	return fd;
}

/* fd_room - as many descriptors as the hard limit allows, and never
 * more clients than fit below it: a full table of descriptors would
 * leave the listening socket readable and accept4 failing, a loop that
 * spins */
static void
fd_room(void)
{
	nclients = (int)usock_fd_room(CLIENTS_MAX, 16);
}

/* secret - srs_secret, read before the sandbox (installed: root:
 * user_send 0640; read as root, before the drop) */
static void
secret(const struct conf *c)
{
	char *path;
	int fd;

	if ((path = conf_path(c, "srs_secret", "srs.secret")) == NULL)
		die_temp("malloc", NULL);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		die_temp("open", path);
	if (srs_keys_read(&keys, fd) == -1)
		die_msg(EXIT_TEMP, "srs_secret", "expected 1 to 8 lines of at "
		    "most 256 bytes");
	close(fd);
	free(path);
}

/* warm_up - one check before the sandbox: OpenSSL loads its HMAC and
 * SHA-1 now, not under the filter */
static void
warm_up(void)
{
	struct buf out = BUF_INIT(1024);

	(void)srs_reverse(&keys, "SRS0=AAAA=AA=warm.test=up", 25, time(NULL),
	    SRS_SLOTS, &out);
	buf_free(&out);
}

/* answer - the verdict on one request record (payload p, n) into out;
 * -1: malformed (the client goes) */
static int
answer(const unsigned char *p, size_t n, struct buf *out)
{
	struct buf to = BUF_INIT(1024);
	struct logln ll;
	const char *l;
	size_t ln;
	enum srs_res r;

	if (srsc_req_decode(p, n, &l, &ln) == -1)
		return -1;
	r = srs_reverse(&keys, l, ln, time(NULL), maxdays, &to);
	buf_free(&to);
	if (r == SRS_NOTSRS)
		r = SRS_SYNTAX;		/* not ours: as bad as malformed */
	log_start(&ll, "srs");
	log_m(&ll, "local", l, ln);
	log_s(&ll, "result", srs_res_name(r));
	log_done(&ll);
	return srsc_res_encode(out, r);
}

static void
drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* put - one framed record to a client that is not blocked reading: a
 * client whose socket is full is not reading its answers and goes */
static int
put(int fd, const struct buf *b)
{
	return write(fd, b->p, b->len) == (ssize_t)b->len ? 0 : -1;
}

/* client_read - bytes from c; each whole request answered at once */
static void
client_read(struct client *c)
{
	struct buf out = BUF_INIT(64);
	ssize_t k;
	size_t rl, used = 0;

	k = read(c->fd, c->b + c->len, sizeof c->b - c->len);
	if (k == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (k <= 0)
		return drop(c);
	c->len += (size_t)k;
	while (c->len - used >= REC_HDR) {
		const unsigned char *h = c->b + used;

		rl = (size_t)h[0] << 24 | (size_t)h[1] << 16 |
		    (size_t)h[2] << 8 | h[3];
		if (rl > SRSC_REC_MAX) {
			log_kv("error", "op", "request", "err", "too long",
			    NULL);
			buf_free(&out);
			return drop(c);
		}
		if (c->len - used - REC_HDR < rl)
			break;
		out.len = 0;
		if (answer(h + REC_HDR, rl, &out) == -1 ||
		    put(c->fd, &out) == -1) {
			log_kv("error", "op", "request", "err", "malformed, or "
			    "answers not read", NULL);
			buf_free(&out);
			return drop(c);
		}
		used += REC_HDR + rl;
	}
	memmove(c->b, c->b + used, c->len - used);
	c->len -= used;
	buf_free(&out);
}

/* accept_one - a new client, greeted; refused (closed) when full */
static void
accept_one(int lfd, const struct buf *hello)
{
	int fd, i;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		/* out of descriptors or memory system-wide: the socket stays
		 * readable, so wait a little rather than spin */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			struct timespec ts = { 0, 100 * 1000000 };

			(void)nanosleep(&ts, NULL);
		}
		return;
	}
	for (i = 0; i < nclients && cl[i].fd >= 0; i++)
		;
	if (i == nclients || put(fd, hello) == -1) {
		log_kv("error", "op", "accept", "err", i == nclients ?
		    "too many clients" : "greeting not sent", NULL);
		close(fd);
		return;
	}
	cl[i].fd = fd;
	cl[i].len = 0;
}

static int
serve(int lfd)
{
	struct buf hello = BUF_INIT(64);
	int i, r;

	if (srsc_hello_encode(&hello) == -1)
		die_temp("encode", "greeting");
	for (i = 0; i < CLIENTS_MAX; i++)
		cl[i].fd = -1;
	for (;;) {
		pf[0].fd = lfd, pf[0].events = POLLIN;
		for (i = 0; i < CLIENTS_MAX; i++)
			pf[i + 1].fd = cl[i].fd, pf[i + 1].events = POLLIN;
		if ((r = poll(pf, CLIENTS_MAX + 1, -1)) == -1) {
			if (errno == EINTR)
				continue;
			die_temp("poll", NULL);
		}
		for (i = 0; i < CLIENTS_MAX; i++)
			if (cl[i].fd >= 0 && pf[i + 1].revents != 0)
				client_read(&cl[i]);
		if (pf[0].revents & POLLIN)
			accept_one(lfd, &hello);
	}
}

int
main(int argc, char *argv[])
{
	static struct conf cf;
	const char *cpath = NULL;
	char *path;
	pid_t parent = getppid();
	int ch, lfd;

	log_init("srs");
	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			die_msg(EXIT_TEMP, "usage", "sandmail-srs [-c conf]");
		cpath = optarg;
	}
	conf_load(&cf, cpath);
	if (conf_str(&cf, "srs_domain", NULL) == NULL)
		die_msg(EXIT_TEMP, "srs_domain", "not set: nothing to check");
	maxdays = (unsigned)(conf_secs(&cf, "srs_max_age", 21 * 86400) /
	    86400);
	secret(&cf);
	warm_up();
	signal(SIGPIPE, SIG_IGN);
	if ((path = usock_path(&cf, "srs_socket", "srs.sock")) == NULL)
		die_temp("malloc", NULL);
	lfd = listen_sock(path, &cf);
	fd_room();
	tzset();
	srs_sandbox(&cf, lfd, parent);
	log_kv("ready", "socket", path, NULL);
	free(path);
	return serve(lfd);
}
