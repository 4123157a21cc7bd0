/* llock: a Landlock ruleset over raw system calls (no libc wrapper).
 * The constants are those of the kernel's uapi; Debian's headers may
 * predate some, so the ones this file uses are spelled out here. */
#include <errno.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "llock.h"
#include "log.h"

/* filesystem rights (ABI 1, then 2: refer, 3: truncate, 5: ioctl_dev) */
#define FS_EXECUTE	(1ull << 0)
#define FS_WRITE_FILE	(1ull << 1)
#define FS_READ_FILE	(1ull << 2)
#define FS_READ_DIR	(1ull << 3)
#define FS_REMOVE_DIR	(1ull << 4)
#define FS_REMOVE_FILE	(1ull << 5)
#define FS_MAKE_CHAR	(1ull << 6)
#define FS_MAKE_DIR	(1ull << 7)
#define FS_MAKE_REG	(1ull << 8)
#define FS_MAKE_SOCK	(1ull << 9)
#define FS_MAKE_FIFO	(1ull << 10)
#define FS_MAKE_BLOCK	(1ull << 11)
#define FS_MAKE_SYM	(1ull << 12)
#define FS_REFER	(1ull << 13)
#define FS_TRUNCATE	(1ull << 14)
#define FS_IOCTL_DEV	(1ull << 15)
#define FS_ABI1		((1ull << 13) - 1)
/* network (ABI 4) and scopes (ABI 6) */
#define NET_BIND_TCP	(1ull << 0)
#define NET_CONNECT_TCP	(1ull << 1)
#define SCOPE_ABSTRACT_UNIX	(1ull << 0)
#define SCOPE_SIGNAL		(1ull << 1)
#define RULE_PATH_BENEATH	1
#define RULE_NET_PORT		2

struct ll_attr {		/* struct landlock_ruleset_attr, ABI 6 */
	uint64_t	fs, net, scoped;
};

struct ll_beneath {		/* struct landlock_path_beneath_attr */
	uint64_t	allow;
	int32_t		fd;
} __attribute__((packed));

struct ll_port {		/* struct landlock_net_port_attr */
	uint64_t	allow;
	uint64_t	port;
};

/* ll_abi - 0 when the kernel has no Landlock (or it is off) */
int
ll_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return v < 0 ? 0 : (int)v;
}

static uint64_t
fs_handled(int abi)
{
	uint64_t m = FS_ABI1;

	if (abi >= 2)
		m |= FS_REFER;
	if (abi >= 3)
		m |= FS_TRUNCATE;
	if (abi >= 5)
		m |= FS_IOCTL_DEV;
	return m;
}

/* rights - LL_* into the kernel's rights, within what it handles */
static uint64_t
rights(uint64_t allow, uint64_t handled)
{
	uint64_t m = 0;

	if (allow & LL_READ)
		m |= FS_READ_FILE | FS_READ_DIR;
	if (allow & LL_WRITE)
		m |= FS_WRITE_FILE | FS_TRUNCATE;
	/* a symlink someone planted must be renamed and removed like a
	 * file (the queue takes tmp/ names and checks what it got);
	 * making one takes symlinkat(2), which no filter here allows */
	if (allow & LL_CREATE)
		m |= FS_MAKE_REG | FS_REMOVE_FILE | FS_MAKE_SYM;
	if (allow & LL_RENAME)
		m |= FS_REFER;
	if (allow & LL_MKDIR)
		m |= FS_MAKE_DIR | FS_REMOVE_DIR;
	return m & handled;
}

static int
add_all(int rs, const struct ll_rule *r, size_t n, uint64_t handled,
    const uint16_t *ports, size_t nports, int abi)
{
	struct ll_beneath pb;
	struct ll_port np;

	for (size_t i = 0; i < n; i++) {
		pb.allow = rights(r[i].allow, handled);
		pb.fd = r[i].fd;
		if (pb.allow != 0 && syscall(SYS_landlock_add_rule, rs,
		    RULE_PATH_BENEATH, &pb, 0) == -1)
			return -1;
	}
	for (size_t i = 0; abi >= 4 && i < nports; i++) {
		np.allow = NET_CONNECT_TCP;
		np.port = ports[i];
		if (syscall(SYS_landlock_add_rule, rs, RULE_NET_PORT, &np,
		    0) == -1)
			return -1;
	}
	return 0;
}

/* ll_confine - the rules and nothing else (see llock.h) */
int
ll_confine(const struct ll_rule *r, size_t n, const uint16_t *ports,
    size_t nports)
{
	return ll_confine_flags(r, n, ports, nports, 0);
}

/* ll_confine_flags - ll_confine, with LL_KEEP_SIGNALS */
int
ll_confine_flags(const struct ll_rule *r, size_t n, const uint16_t *ports,
    size_t nports, unsigned flags)
{
	struct ll_attr a = { 0 };
	size_t size;
	int abi, rs, e;

	/* ABI 1 refuses every rename or link between directories */
	if ((abi = ll_abi()) < 2)
		return 1;
	a.fs = fs_handled(abi);
	size = sizeof a.fs;
	if (abi >= 4) {
		a.net = NET_BIND_TCP | NET_CONNECT_TCP;
		size = 2 * sizeof a.fs;
	}
	if (abi >= 6) {
		a.scoped = SCOPE_ABSTRACT_UNIX |
		    (flags & LL_KEEP_SIGNALS ? 0 : SCOPE_SIGNAL);
		size = sizeof a;
	}
	if ((rs = (int)syscall(SYS_landlock_create_ruleset, &a, size, 0)) < 0)
		return -1;
	if (add_all(rs, r, n, a.fs, ports, nports, abi) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    syscall(SYS_landlock_restrict_self, rs, 0) == -1) {
		e = errno;
		close(rs);
		return errno = e, -1;
	}
	close(rs);
	return 0;
}

/* ll_missing - say once that the kernel gives no path confinement */
void
ll_missing(void)
{
	static int said;

	if (said++)
		return;
	log_kv("warning", "landlock", "unavailable", "missing",
	    "path confinement: paths are limited by seccomp and the uid only",
	    NULL);
}
