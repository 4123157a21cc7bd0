/* rspawn: the parent of sandmail-rspawn's SMTP workers.  Takes RJOB
 * messages (with the message fd) from send on a SOCK_SEQPACKET socket,
 * hands each to a worker child (forked, not exec'd, and sandboxed),
 * preferring an idle worker that still holds a connection to the same
 * route, and passes the workers' RRES back to send. */
#ifndef SANDMAIL_REMOTE_RSPAWN_H
#define SANDMAIL_REMOTE_RSPAWN_H

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "smtp.h"

struct rspawn_cfg {
	struct smtp_cfg	smtp;
	unsigned	max_workers;
	int		reuse_ms;	/* how long an idle worker is kept */
	unsigned	max_queued;
};

/* rspawn_run: serve on sock until EOF and every job is answered; 0 */
int	rspawn_run(const struct rspawn_cfg *, int sock);
struct conf;
/* rspawn_sandbox: user_remote, chroot to empty_dir as root, rspawn's
 * filter (rspawn_sbx.c); exits 111 on failure */
void	rspawn_sandbox(const struct conf *);
/* worker_sandbox: a worker's own, narrower filter (worker.c) */
void	worker_sandbox(void);
/* worker_run: a worker's life on its socket to rspawn; never returns */
void	worker_run(const struct smtp_cfg *, int sock)
	    __attribute__((noreturn));

/* RSPAWN_WORKER_RULES - the seccomp rules of a worker's job (sbx.h's
 * entries): TCP to mail servers, the message read at its own offsets.
 * rspawn's filter must allow them too, since filters stack and the
 * worker installs its own after the fork. */
#define RSPAWN_WORKER_RULES \
	/* TCP only: type SOCK_STREAM (with any of its flags) */ \
	SBX_ALLOW2(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET), \
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM)), \
	SBX_ALLOW2(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET6), \
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM)), \
	SBX_ALLOW(connect), \
	SBX_ALLOW(getsockopt), \
	/* TCP_NODELAY (smtp.c, tcp_connect), that level and option only */ \
	SBX_ALLOW2(setsockopt, SCMP_A1(SCMP_CMP_EQ, IPPROTO_TCP), \
	    SCMP_A2(SCMP_CMP_EQ, TCP_NODELAY)), \
	SBX_ALLOW1(sendto, SCMP_A4(SCMP_CMP_EQ, 0)),	/* connected only */ \
	SBX_ALLOW(recvfrom), \
	SBX_ALLOW(shutdown), \
	SBX_ALLOW(pread64)

#endif
