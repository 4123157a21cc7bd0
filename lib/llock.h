/* llock: Landlock, the kernel's path (and TCP port) confinement, for the
 * processes whose seccomp filter cannot see where a path leads.
 *
 * seccomp checks numbers: it can require that openat(2) gets the queue
 * directory's descriptor, but an absolute path or "../" ignores that
 * descriptor.  Landlock checks what the path resolves to: a confined
 * process may reach, by any path, only what lies beneath the
 * directories it was given, in the ways it was given.  Used on top of
 * seccomp, never instead of it.  Descriptors opened before stay usable.
 *
 * Every access right the running kernel knows is handled (denied unless
 * a rule allows it), so a newer kernel only confines more; TCP bind and
 * connect (ABI 4) likewise, and abstract UNIX sockets and signals to
 * processes outside the domain (ABI 6). */
#ifndef SANDMAIL_LLOCK_H
#define SANDMAIL_LLOCK_H

#include <stddef.h>
#include <stdint.h>

/* what a rule may allow beneath its directory */
#define LL_READ		(1ull << 0)	/* read files, list directories */
#define LL_WRITE	(1ull << 1)	/* write and truncate files */
#define LL_CREATE	(1ull << 2)	/* make and remove regular files */
#define LL_RENAME	(1ull << 3)	/* rename and link between its dirs */
#define LL_MKDIR	(1ull << 4)	/* make and remove directories */

struct ll_rule {
	int		 fd;		/* a directory, opened before */
	uint64_t	 allow;		/* LL_* */
};

/* ll_abi: the kernel's Landlock ABI version, 0 without Landlock */
int	ll_abi(void);
/* ll_confine: allow only the n rules (and TCP connect to the nports
 * ports; nothing else over TCP), for this process and its children.
 * Sets NO_NEW_PRIVS.  0 confined, 1 the kernel has no usable Landlock
 * (nothing done: the caller logs it, ll_missing), -1 error with errno. */
int	ll_confine(const struct ll_rule *r, size_t n, const uint16_t *ports,
	    size_t nports);
/* ll_confine_flags: the same with flags: LL_KEEP_SIGNALS leaves signals
 * to processes outside the domain allowed (a parent that must kill
 * children which confine themselves in domains of their own) */
#define LL_KEEP_SIGNALS	1u
int	ll_confine_flags(const struct ll_rule *r, size_t n,
	    const uint16_t *ports, size_t nports, unsigned flags);
/* ll_missing: one warning line in the log, once per process, that the
 * paths of prog are confined by seccomp and the uid alone */
void	ll_missing(void);

#endif
