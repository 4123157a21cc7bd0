/* sandmail-sbxprobe: a test program (never installed) that enters a
 * filter from lib/sbx.c and shows what the kernel thinks of it, so that
 * tests/integration/test_sandbox.py can check the sandbox for real.
 *
 *   sandmail-sbxprobe socket   filter, print Seccomp/NoNewPrivs from an fd
 *                              opened before it, then call socket(2): the
 *                              kernel must kill us with SIGSYS
 *   sandmail-sbxprobe open     the same with open(2) of /etc/passwd
 *                              (allowed in SANITIZE=1 builds, whose
 *                              runtime needs it: the probe says so)
 *   sandmail-sbxprobe unlink   the same with unlink(2)
 *   sandmail-sbxprobe pause    filter, say "ready", wait for a byte on
 *                              stdin (so the test reads /proc/PID/status
 *                              itself), then call socket(2)
 *   sandmail-sbxprobe allowed  filter, use only allowed calls, exit 0
 *   sandmail-sbxprobe rule     filter with one extra rule (getuid): the
 *                              call it allows works, geteuid(2) kills
 *   sandmail-sbxprobe drop USER  as root: priv_drop to USER, then show
 *                              that setuid(0) fails; exit 0 if it does
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "sbx.h"

static const struct sbx_rule extra[] = {
	SBX_ALLOW(getuid),
	SBX_LAST
};

static void
say(const char *s)
{
	size_t n = strlen(s);

	if (write(1, s, n) != (ssize_t)n)
		_exit(3);
}

/* status - the Seccomp and NoNewPrivs lines, from an fd opened earlier */
static void
status(int fd)
{
	char b[8192], *p, *nl;
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) == -1 || (n = read(fd, b, sizeof b - 1)) <= 0)
		_exit(4);
	b[n] = '\0';
	for (p = b; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		if (strncmp(p, "Seccomp:", 8) == 0 ||
		    strncmp(p, "NoNewPrivs:", 11) == 0) {
			say(p);
			say("\n");
		}
	}
}

static int
drop(const char *user)
{
	char b[128];
	uid_t uid, r, e, s;
	gid_t gid;

	if (priv_lookup(user, &uid, &gid) == -1 || priv_drop(uid, gid) == -1) {
		perror("priv_drop");
		return 111;
	}
	getresuid(&r, &e, &s);
	snprintf(b, sizeof b, "uid %u %u %u gid %u\n", (unsigned)r,
	    (unsigned)e, (unsigned)s, (unsigned)getgid());
	say(b);
	if (setuid(0) == 0 || seteuid(0) == 0) {
		say("setuid(0) worked\n");
		return 1;
	}
	snprintf(b, sizeof b, "setuid(0) failed: %s\n", strerror(errno));
	say(b);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *mode = argc > 1 ? argv[1] : "";
	char c;
	int fd;

	if (strcmp(mode, "drop") == 0 && argc == 3)
		return drop(argv[2]);
	/* opened before the filter, like every table of a real program */
	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) == -1)
		return 111;
	if (sbx_enter(strcmp(mode, "rule") == 0 ? extra : NULL) == -1) {
		perror("sbx_enter");
		return 111;
	}
	status(fd);
#if defined(__SANITIZE_ADDRESS__)
	say("sanitizer build\n");
#endif
	if (strcmp(mode, "allowed") == 0) {
		say("still alive\n");
		return 0;
	}
	if (strcmp(mode, "rule") == 0) {
		say(getuid() == (uid_t)-1 ? "getuid failed\n" : "getuid ok\n");
		(void)syscall(SYS_geteuid);
	} else if (strcmp(mode, "pause") == 0) {
		say("ready\n");
		if (read(0, &c, 1) != 1)
			return 5;
		(void)socket(AF_INET, SOCK_STREAM, 0);
	} else if (strcmp(mode, "open") == 0)
		(void)open("/etc/passwd", O_RDONLY);
	else if (strcmp(mode, "unlink") == 0)
		(void)unlink("/nonexistent/sandmail-sbxprobe");
	else
		(void)socket(AF_INET, SOCK_STREAM, 0);
	say("survived the forbidden call\n");
	return 0;
}
