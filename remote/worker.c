/* worker: one child of sandmail-rspawn.  Sandboxed right after the fork
 * (it may make TCP sockets, connect, read and write them, and read the
 * message descriptors it is handed); takes jobs from its parent one at a
 * time and keeps its SMTP connection open between them, so the parent
 * can give it the next job for the same route. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exitcode.h"
#include "fdpass.h"
#include "job.h"
#include "log.h"
#include "rspawn.h"
#include "sbx.h"

static const struct sbx_rule worker_rules[] = {
	/* TCP to the mail servers, the message at offsets of its own */
	RSPAWN_WORKER_RULES,
	/* LMTP over a UNIX socket: a pair to ask the connector on (uconn.h);
	 * no AF_UNIX socket() of its own, so no other socket is reachable */
	SBX_ALLOW1(socketpair, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
	/* jobs and results with the parent */
	SBX_ALLOW(sendmsg),
	SBX_ALLOW(recvmsg),
	SBX_LAST
};

static void
log_result(const struct rjob *j, const struct rres *r,
    const struct smtp_conn *c)
{
	struct logln l;

	for (uint32_t i = 0; i < r->nrcpt; i++) {
		log_start(&l, "delivery");
		log_s(&l, "id", j->qid);
		log_s(&l, "rcpt", j->rcpt[i].addr);
		log_m(&l, "status", &r->rcpt[i].status, 1);
		log_s(&l, "mta", r->mta);
		log_s(&l, "tls", c->tlsv);
		log_s(&l, "text", r->rcpt[i].text);
		log_done(&l);
	}
}

static void
one_job(const struct smtp_cfg *cfg, struct smtp_conn *c, int sock,
    const char *msg, size_t n, int fd)
{
	struct rjob j;
	struct rres r;
	struct buf out = BUF_INIT(JOB_MAX + 1);

	if (rjob_decode(&j, msg, n) == -1)
		die_msg(EXIT_TEMP, "job", "malformed RJOB from rspawn");
	if (smtp_job(cfg, c, &j, fd, &r) == -1)
		die_temp("job", "memory");
	close(fd);
	log_result(&j, &r, c);
	if (buf_putc(&out, c->fd >= 0 ? 'C' : 'N') == -1 ||
	    rres_encode(&out, &r) == -1 ||
	    fd_send(sock, out.p, out.len, -1) == -1)
		die_temp("result", "send");
	rjob_free(&j);
	rres_free(&r);
	buf_free(&out);
}

/* worker_sandbox - the worker's own filter, on top of rspawn's */
void
worker_sandbox(void)
{
	sbx_enter_or_die(worker_rules);
}

/* worker_run - see rspawn.h */
void
worker_run(const struct smtp_cfg *cfg, int sock)
{
	static char msg[JOB_MAX];
	static struct smtp_conn c;
	ssize_t n;
	int fd;

	worker_sandbox();
	smtp_conn_init(&c);
	for (;;) {
		n = fd_recv(sock, msg, sizeof msg, &fd);
		if (n <= 0) {
			/* the parent closed us (idle too long) or is gone */
			smtp_quit(cfg, &c);
			_exit(n == 0 ? EXIT_OK : EXIT_TEMP);
		}
		if (fd < 0)
			die_msg(EXIT_TEMP, "job", "no message descriptor");
		one_job(cfg, &c, sock, msg, (size_t)n, fd);
	}
}
