/* sandbox: smtpd's seccomp filter, compiled once and applied per session.
 *
 * The listener forks a child per connection; building the filter with
 * libseccomp in each child would cost CPU (a few ms) and private memory
 * (libseccomp's heap) per session.  So the filter (lib/sbx.c's sbx_base
 * plus smtpd's rules, the same default action as sbx_enter) is compiled
 * to BPF once before the first fork, and a child only loads it:
 * PR_SET_NO_NEW_PRIVS, then seccomp(2) with SECCOMP_FILTER_FLAG_LOG.
 * Fail closed: a session that cannot load it exits 111. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "sbx.h"
#include "smtpd.h"

#ifdef SBX_DEBUG
#define DEFAULT_ACTION	SCMP_ACT_LOG
#else
#define DEFAULT_ACTION	SCMP_ACT_KILL_PROCESS
#endif

#define BPF_MAX		(64 * 1024)

/* What a session may do once sandboxed, beyond sbx_base: no open, no
 * socket, no exec.  shutdown ends a connection cleanly; wait4 reaps a
 * spawned queue (qc_close).  TLS needs nothing more (lib/tls.h), except
 * that after a handshake we ask for an immediate ACK (tls_start: a
 * client's Finished and its first command would otherwise wait out our
 * delayed ACK under its Nagle, 40 ms per session): setsockopt with that
 * one level and option only. */
static const struct sbx_rule smtpd_rules[] = {
	TLS_SBX_RULES
	SBX_ALLOW2(setsockopt, SCMP_A1(SCMP_CMP_EQ, IPPROTO_TCP),
	    SCMP_A2(SCMP_CMP_EQ, TCP_QUICKACK)),
	/* sockets already open */
	SBX_ALLOW(shutdown),
	/* the milters' spool (milters.c): a memfd per message, anonymous
	 * memory as mmap gives.  Not ftruncate, which could shorten a file
	 * the session holds for writing (a log on stderr) */
	SBX_ALLOW1(memfd_create, SCMP_A1(SCMP_CMP_EQ, MFD_CLOEXEC)),
	/* a spawned sandmail-queue */
	SBX_ALLOW(wait4),
	/* a reused worker (worker.c) takes its next connection from the
	 * listener with fd_recv: recvmsg with MSG_CMSG_CLOEXEC only.  It
	 * can only receive descriptors where someone sends them, and only
	 * the listener does (the queue socket and TCP carry none); its
	 * "idle" is a write(2), its wait a ppoll, both in sbx_base. */
	SBX_ALLOW1(recvmsg, SCMP_A2(SCMP_CMP_EQ, MSG_CMSG_CLOEXEC)),
	SBX_LAST
};

static struct sock_fprog prog;

/* export - the filter's BPF into memory, through a memfd */
static int
export(scmp_filter_ctx ctx)
{
	char *b;
	ssize_t n;
	int fd;

	if ((fd = memfd_create("smtpd-bpf", MFD_CLOEXEC)) == -1)
		return -1;
	if (seccomp_export_bpf(ctx, fd) < 0 || lseek(fd, 0, SEEK_SET) == -1 ||
	    (b = malloc(BPF_MAX)) == NULL) {
		close(fd);
		return -1;
	}
	n = read(fd, b, BPF_MAX);
	close(fd);
	if (n <= 0 || n >= BPF_MAX || n % sizeof(struct sock_filter) != 0) {
		free(b);
		return errno = EINVAL, -1;
	}
	prog.filter = (struct sock_filter *)b;
	prog.len = (unsigned short)(n / sizeof(struct sock_filter));
	return 0;
}

/* compile - the session filter, compiled here; 0 or -1 */
static int
compile(void)
{
	scmp_filter_ctx ctx;
	int r;

	if (prog.filter != NULL)
		return 0;
	if ((ctx = seccomp_init(DEFAULT_ACTION)) == NULL)
		return errno = ENOMEM, -1;
	r = sbx_rules_add(ctx, sbx_base, SCMP_ACT_ALLOW) == -1 ||
	    sbx_rules_add(ctx, smtpd_rules, SCMP_ACT_ALLOW) == -1 ||
	    export(ctx) == -1 ? -1 : 0;
	seccomp_release(ctx);
	return r;
}

/* fetch - the filter from a child that compiled it, through a pipe */
static int
fetch(int fd)
{
	char *b;
	size_t n = 0;
	ssize_t r;

	if ((b = malloc(BPF_MAX)) == NULL)
		return -1;
	while (n < BPF_MAX && (r = read(fd, b + n, BPF_MAX - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			break;
		n += (size_t)r;
	}
	if (n == 0 || n >= BPF_MAX || n % sizeof(struct sock_filter) != 0) {
		free(b);
		return errno = EINVAL, -1;
	}
	prog.filter = (struct sock_filter *)b;
	prog.len = (unsigned short)(n / sizeof(struct sock_filter));
	return 0;
}

/* sandbox_prepare - compile the session filter once; 0 or -1.  In a
 * short-lived child: libseccomp's work would leave free chunks all over
 * the listener's heap, and a session's mallocs landing in them would
 * each copy a page the listener shares with it (a costly fault here). */
int
sandbox_prepare(void)
{
	int p[2], st, r;
	pid_t pid;

	if (prog.filter != NULL)
		return 0;
	if (pipe2(p, O_CLOEXEC) == -1)
		return compile();
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return compile();
	}
	if (pid == 0) {
		close(p[0]);
		r = compile() == -1 || write(p[1], prog.filter,
		    prog.len * sizeof *prog.filter) !=
		    (ssize_t)(prog.len * sizeof *prog.filter);
		_exit(r ? EXIT_TEMP : EXIT_OK);
	}
	close(p[1]);
	r = fetch(p[0]);
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		free(prog.filter);
		prog.filter = NULL;
		return errno = EINVAL, -1;
	}
	return r;
}

/* session_sandbox - drop to user_smtpd (as root; forked by the listener
 * it is user_smtpd already, and drops the capability the listener kept)
 * and load the filter: after this the session opens no file, makes no
 * socket, runs nothing */
void
session_sandbox(const struct smtpd_cfg *cfg)
{
	priv_drop_or_die(cfg->uid, cfg->gid);
	if (!priv_caps_none() && priv_caps_keep(0) == -1)
		die_temp("sandbox", "capabilities");
	priv_nodump();		/* the TLS key, passwords in flight */
	/* under tcpserver nothing was prepared: this process serves one
	 * session, so the heap argument of sandbox_prepare does not apply */
	if (prog.filter == NULL && compile() == -1)
		die_temp("sandbox", "compile");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	    SECCOMP_FILTER_FLAG_LOG, &prog) == -1)
		die_temp("sandbox", "load");
}
