/* confine: a Landlock ruleset that leaves sandmail-local one maildir. */
#include <errno.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "confine.h"

#define FS_ALL	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | \
    LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | \
    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | \
    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | \
    LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER)
/* a delivery: create tmp/NAME, write it, link it to new/, remove it */
#define FS_MAILDIR (LANDLOCK_ACCESS_FS_WRITE_FILE | \
    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
    LANDLOCK_ACCESS_FS_REFER)

/* confine_maildir - only regular files beneath dir, and only these ways */
int
confine_maildir(int dir)
{
	struct landlock_ruleset_attr ra = { .handled_access_fs = FS_ALL };
	struct landlock_path_beneath_attr pb = {
		.allowed_access = FS_MAILDIR, .parent_fd = dir };
	long abi;
	int rs, e;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0)
		return errno == ENOSYS || errno == EOPNOTSUPP ? 1 : -1;
	if (abi < 2)		/* ABI 1 refuses every link across dirs */
		return 1;
	if ((rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof ra,
	    0)) < 0)
		return -1;
	if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0) == -1 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    syscall(SYS_landlock_restrict_self, rs, 0) == -1) {
		e = errno;
		close(rs);
		return errno = e, -1;
	}
	close(rs);
	return 0;
}
