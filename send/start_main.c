/* sandmail-start: what the supervisor runs (as qmail-start).  Makes the
 * socket pairs between send and its helpers, starts sandmail-resolve,
 * sandmail-lspawn, sandmail-rspawn, sandmail-sign, sandmail-sts and
 * sandmail-send with
 * them (and sandmail-srs, smtpd's SRS check service on its own socket,
 * when srs_domain is set), and then only waits.  Each helper gets its socket on fd 0
 * (resolve also on fd 1) and this program's stderr as fd 2; send gets
 * -L 3 -R 4 -D 5, and -K 6 when the key table TABLES/dkim exists (else
 * sandmail-sign is not started and nothing is signed), and -M 7 when
 * mta_sts is on (sandmail-sts, the MTA-STS policy fetcher).  Each
 * program drops to its own user_* itself (lspawn stays root).  If any of
 * them dies, the others are stopped and this exits 111, so the supervisor
 * starts the whole set again.  TERM goes to send (which finishes the
 * deliveries in progress, and to sandmail-srs, which has no pipe to see
 * end); when send is gone the helpers see EOF.  If
 * this dies (kill -9), every child gets TERM from the kernel (its
 * parent-death signal, set before the exec; send sets it again after its
 * privilege drop, which clears it), so a new set never runs beside the
 * old one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "log.h"

enum { P_RESOLVE, P_LSPAWN, P_RSPAWN, P_SIGN, P_STS, P_SRS, P_SEND,
	NPROG };

static const char *const names[NPROG] = {
	"sandmail-resolve", "sandmail-lspawn", "sandmail-rspawn",
	"sandmail-sign", "sandmail-sts", "sandmail-srs", "sandmail-send",
};
static const char *const keys[NPROG] = {
	"prog_resolve", "prog_lspawn", "prog_rspawn", "prog_sign",
	"prog_sts", "prog_srs", "prog_send",
};

static pid_t pids[NPROG];
static int use_sign;		/* TABLES/dkim exists: start sandmail-sign */
static int use_sts;		/* mta_sts yes: start sandmail-sts */
static int use_srs;		/* srs_domain set: start sandmail-srs */

/* wanted - whether program i runs in this set */
static int
wanted(int i)
{
	return (i != P_SIGN || use_sign) && (i != P_STS || use_sts) &&
	    (i != P_SRS || use_srs);
}
static volatile sig_atomic_t got_term, got_hup, got_alrm;

static void
on_sig(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGALRM)
		got_alrm = 1;
	else
		got_term = 1;
}

/* progpath - prog_<name> from the conf, else bindir/sandmail-<name> */
static char *
progpath(const struct conf *cf, int i)
{
	char self[PATH_MAX], *slash, *p, *alloc = NULL;
	const char *dir;
	ssize_t n;
	int k;

	if (conf_str(cf, keys[i], NULL) != NULL)
		return conf_path(cf, keys[i], NULL);
	if (conf_str(cf, "bindir", NULL) != NULL)
		dir = alloc = conf_path(cf, "bindir", NULL);
	else {
		/* by default, next to this program */
		if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) < 0)
			die_temp("readlink", "/proc/self/exe");
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		dir = self;
	}
	if ((p = malloc(PATH_MAX)) == NULL)
		die_temp("malloc", NULL);
	k = snprintf(p, PATH_MAX, "%s/%s", dir, names[i]);
	if (k < 0 || k >= PATH_MAX)
		die_msg(EXIT_TEMP, "bindir", "path too long");
	free(alloc);
	return p;
}

/* sign_wanted - the signer runs only where there is a key table */
static int
sign_wanted(const struct conf *cf)
{
	char *t = conf_path(cf, "tables", ".");
	char p[PATH_MAX];
	int n = snprintf(p, sizeof p, "%s/dkim", t);

	free(t);
	if (n < 0 || (size_t)n >= sizeof p)
		die_msg(EXIT_TEMP, "tables", "path too long");
	return access(p, F_OK) == 0;
}

static void
child_fds(int i, const int *peer, int devnull)
{
	/* /dev/null out of the way first: opened early, it is often fd 3,
	 * which send's lspawn socket is about to take (and then fds 0 and
	 * 1 were that socket) */
	if ((devnull = fcntl(devnull, F_DUPFD, 10)) == -1)
		_exit(EXIT_TEMP);
	if (i == P_SEND) {
		/* fds 3, 4, 5 (, 6) (, 7): lspawn, rspawn, resolve (, sign)
		 * (, sts) */
		int want[5] = { peer[P_LSPAWN], peer[P_RSPAWN], peer[P_RESOLVE],
		    peer[P_SIGN], peer[P_STS] };
		int tmp[5];

		for (int k = 0; k < 5; k++)
			if (want[k] != -1 &&
			    (tmp[k] = fcntl(want[k], F_DUPFD, 10)) == -1)
				_exit(EXIT_TEMP);
		for (int k = 0; k < 5; k++)
			if (want[k] != -1 && dup2(tmp[k], 3 + k) == -1)
				_exit(EXIT_TEMP);
		if (dup2(devnull, 0) == -1 || dup2(devnull, 1) == -1)
			_exit(EXIT_TEMP);
		return;
	}
	if (i == P_SRS) {
		/* no pipe: its clients come on its own socket */
		if (dup2(devnull, 0) == -1 || dup2(devnull, 1) == -1)
			_exit(EXIT_TEMP);
		return;
	}
	if (dup2(peer[i], 0) == -1 ||
	    dup2(i == P_RESOLVE ? peer[i] : devnull, 1) == -1)
		_exit(EXIT_TEMP);
}

static pid_t
spawn(int i, const char *path, const char *cpath, const int *peer,
    int devnull, const sigset_t *old)
{
	char *argv[16];
	int n = 0;
	pid_t pid, me = getpid();

	if ((pid = fork()) == -1)
		die_temp("fork", names[i]);
	if (pid > 0) {
		log_kv("spawn", "prog", names[i], "path", path, NULL);
		return pid;
	}
	child_fds(i, peer, devnull);
	/* close every other descriptor but 0-2 (and 3-7 for send) */
	for (int fd = i == P_SEND ? 8 : 3; fd < 1024; fd++)
		close(fd);
	signal(SIGHUP, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigprocmask(SIG_SETMASK, old, NULL);
	argv[n++] = (char *)names[i];
	if (cpath != NULL) {
		argv[n++] = "-c";
		argv[n++] = (char *)cpath;
	}
	if (i == P_SEND) {
		argv[n++] = "-L", argv[n++] = "3";
		argv[n++] = "-R", argv[n++] = "4";
		argv[n++] = "-D", argv[n++] = "5";
		if (use_sign)
			argv[n++] = "-K", argv[n++] = "6";
		if (use_sts)
			argv[n++] = "-M", argv[n++] = "7";
	}
	argv[n] = NULL;
	/* our death (even kill -9) ends the child (TERM), from here until
	 * it changes its ids; send arms this again after its drop.  Gone
	 * already: the child must not start a set nobody waits for. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != me)
		_exit(EXIT_TEMP);
	execv(path, argv);
	log_kv("fatal", "op", "exec", "path", path, "err", strerror(errno),
	    NULL);
	_exit(EXIT_TEMP);
}

static int
which(pid_t pid)
{
	for (int i = 0; i < NPROG; i++)
		if (pids[i] == pid)
			return i;
	return -1;
}

static void
log_exit(int i, int st)
{
	char v[32];

	if (WIFEXITED(st))
		snprintf(v, sizeof v, "%d", WEXITSTATUS(st));
	else
		snprintf(v, sizeof v, "signal %d", WTERMSIG(st));
	log_kv("exit", "prog", names[i], "status", v, NULL);
}

/* reap_all - wait for every child until deadline, then kill them */
static void
reap_all(int sig, int secs)
{
	time_t end = time(NULL) + secs;
	pid_t pid;
	int st, i, left;

	for (i = 0; i < NPROG; i++)
		if (pids[i] > 0 && sig != 0)
			kill(pids[i], sig);
	for (;;) {
		for (left = 0, i = 0; i < NPROG; i++)
			left += pids[i] > 0;
		if (left == 0)
			return;
		if ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if ((i = which(pid)) >= 0) {
				log_exit(i, st);
				pids[i] = 0;
			}
			continue;
		}
		if (time(NULL) >= end) {
			for (i = 0; i < NPROG; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			end = time(NULL) + 5;
		}
		usleep(20000);
	}
}

static void
pairs(int *mine, int *peer)
{
	int sv[2];

	for (int i = 0; i < P_SEND; i++) {
		if (!wanted(i) || i == P_SRS) {
			mine[i] = peer[i] = -1;
			continue;
		}
		if (socketpair(AF_UNIX, (i == P_RESOLVE || i == P_SIGN ||
		    i == P_STS ?
		    SOCK_STREAM :
		    SOCK_SEQPACKET) | SOCK_CLOEXEC, 0, sv) == -1)
			die_temp("socketpair", names[i]);
		mine[i] = sv[0], peer[i] = sv[1];
	}
}

static void
signals(sigset_t *old)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, old);
	signal(SIGPIPE, SIG_IGN);
}

static int
wait_loop(int term_wait)
{
	struct timespec ts = { 1, 0 };
	sigset_t chld;
	pid_t pid;
	int st, i;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		if (got_hup)
			got_hup = 0, kill(pids[P_SEND], SIGHUP);
		if (got_alrm)
			got_alrm = 0, kill(pids[P_SEND], SIGALRM);
		if (got_term) {
			log_kv("stopping", NULL);
			kill(pids[P_SEND], SIGTERM);
			if (pids[P_SRS] > 0)
				kill(pids[P_SRS], SIGTERM);
			reap_all(0, term_wait + 10);
			return EXIT_OK;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if ((i = which(pid)) < 0)
				continue;
			log_exit(i, st);
			pids[i] = 0;
			/* one gone: stop the set, the supervisor restarts it */
			reap_all(SIGTERM, 10);
			return EXIT_TEMP;
		}
		(void)sigtimedwait(&chld, NULL, &ts);
	}
}

int
main(int argc, char *argv[])
{
	static struct conf cf;		/* live until exit */
	static char *path[NPROG];
	int mine[NPROG], peer[NPROG], devnull, ch;
	const char *cpath = NULL;
	sigset_t old;

	log_init("start");
	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			die_msg(EXIT_TEMP, "usage", "sandmail-start [-c conf]");
		cpath = optarg;
	}
	memset(&cf, 0, sizeof cf);
	conf_load(&cf, cpath);
	for (int i = 0; i < NPROG; i++)
		path[i] = progpath(&cf, i);
	use_sign = sign_wanted(&cf);
	use_sts = conf_bool(&cf, "mta_sts", 0);
	use_srs = conf_str(&cf, "srs_domain", NULL) != NULL;
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		die_temp("open", "/dev/null");
	pairs(mine, peer);
	signals(&old);
	for (int i = 0; i < P_SEND; i++)
		if (wanted(i))
			pids[i] = spawn(i, path[i], cpath, peer, devnull, &old);
	/* send gets our ends of the pairs */
	pids[P_SEND] = spawn(P_SEND, path[P_SEND], cpath, mine, devnull, &old);
	for (int i = 0; i < P_SEND; i++)
		if (mine[i] != -1)
			close(mine[i]), close(peer[i]);
	return wait_loop((int)conf_secs(&cf, "term_wait", 60));
}
