/* gen: the generation page over a memfd.
 *
 * A session's filter allows mprotect without PROT_EXEC (malloc needs
 * it), so a page the child inherits writable and merely mprotects
 * read-only can be made writable again by a compromised session, which
 * could then hold every worker on an old generation or retire them all.
 * So the page is a memfd: the listener maps it read-write; it also keeps
 * a read-only descriptor of it (opened through /proc/self/fd), and a
 * session unmaps the inherited mapping and maps the page again from that
 * descriptor, read-only and shared: a mapping of a file opened read-only
 * can never be made writable. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gen.h"
#include "log.h"

static int ro_fd = -1;

/* gen_map - the listener's writable mapping, and the read-only fd */
volatile unsigned *
gen_map(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char path[64];
	void *p;
	int fd;

	if ((fd = memfd_create("smtpd-gen", MFD_CLOEXEC)) == -1 ||
	    ftruncate(fd, pg) == -1)
		die_temp("memfd", "generation");
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((ro_fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		die_temp("open", path);
	p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die_temp("mmap", "generation");
	close(fd);
	return p;
}

/* gen_child - the page again, read-only for good */
const volatile unsigned *
gen_child(volatile unsigned *listener)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p;

	if (listener != NULL)
		(void)munmap((void *)listener, (size_t)pg);
	if (ro_fd < 0)
		die_msg(111, "generation", "no page");
	p = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, ro_fd, 0);
	if (p == MAP_FAILED)
		die_temp("mmap", "generation");
	close(ro_fd);
	ro_fd = -1;
	return p;
}
