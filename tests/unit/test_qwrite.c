/* test_qwrite: lib/qwrite.c and queue/qinit.c on a real directory:
 * commit, abort, group commit, and cleanup when a step fails. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "env.h"
#include "../../queue/qinit.h"
#include "qwrite.h"
#include "seal.h"

struct fx {
	char	dir[64];
	int	dfd;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct qinit_ids ids = { 0 };
	const char *what;

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_qwrite.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(qinit(f->dir, &ids, &what), 0);
	/* twice: qinit is idempotent */
	assert_int_equal(qinit(f->dir, &ids, &what), 0);
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->dfd >= 0);
	*state = f;
	return 0;
}

static void
rm_tree(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	struct dirent *de;
	DIR *d;

	if (fd == -1) {
		(void)unlinkat(dfd, name, 0);
		return;
	}
	if ((d = fdopendir(fd)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			rm_tree(dirfd(d), de->d_name);
	closedir(d);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	close(f->dfd);
	rm_tree(AT_FDCWD, f->dir);
	free(f);
	return 0;
}

static int
count(struct fx *f, const char *sub)
{
	int fd = openat(f->dfd, sub, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (fd == -1 || (d = fdopendir(fd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
mkenv(struct env *e)
{
	env_init(e);
	assert_int_equal(env_set(&e->sender, "a@example.org"), 0);
	assert_int_equal(env_set(&e->proto, "ESMTP"), 0);
	assert_int_equal(env_add_rcpt(e, "b@example.org", NOTIFY_FAILURE,
	    ""), 0);
}

static size_t
slurp(struct fx *f, const char *sub, const char *id, char *b, size_t n)
{
	char p[128];
	ssize_t k;
	int fd;

	snprintf(p, sizeof p, "%s/%s", sub, id);
	fd = openat(f->dfd, p, O_RDONLY);
	assert_true(fd >= 0);
	k = read(fd, b, n);
	close(fd);
	assert_true(k >= 0);
	return (size_t)k;
}

static void
test_commit(void **state)
{
	struct fx *f = *state;
	const uint8_t boot[16] = "0123456789abcdef";
	struct seal sl;
	struct qw q;
	struct env e, d;
	char b[4096];
	size_t n;

	mkenv(&e);
	qw_set_boot(boot);
	assert_int_equal(qw_begin(&q, f->dfd), 0);
	assert_true(qw_idok(q.id));
	/* written in place: mess/ID, an orphan until todo/ID names it */
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "mess"), 1);
	assert_int_equal(count(f, "todo"), 0);
	assert_int_equal(qw_write(&q, "Subject: x\n\n", 12), 0);
	assert_int_equal(qw_write(&q, "body\n", 5), 0);
	assert_int_equal(qw_commit(&q, &e), 0);
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "mess"), 1);
	assert_int_equal(count(f, "todo"), 1);
	n = slurp(f, "mess", q.id, b, sizeof b);
	assert_int_equal(n, 17);
	assert_memory_equal(b, "Subject: x\n\nbody\n", 17);
	n = slurp(f, "todo", q.id, b, sizeof b);
	/* sealed: the message's size and CRC, its ID, this boot */
	assert_int_equal(seal_env(&d, b, n, &sl), 1);
	assert_string_equal(sl.id, q.id);
	assert_int_equal(sl.size, 17);
	assert_int_equal(sl.crc, crc32c(0, "Subject: x\n\nbody\n", 17));
	assert_memory_equal(sl.boot, boot, 16);
	assert_int_equal(d.size, 17);
	assert_string_equal(d.sender, "a@example.org");
	assert_int_equal(d.nrcpt, 1);
	assert_string_equal(d.rcpt[0].addr, "b@example.org");
	assert_int_equal(d.rcpt[0].notify, NOTIFY_FAILURE);
	env_free(&d);
	env_free(&e);
}

static void
test_empty_message(void **state)
{
	struct fx *f = *state;
	struct qw q;
	struct env e;

	mkenv(&e);
	assert_int_equal(qw_begin(&q, f->dfd), 0);
	assert_int_equal(qw_commit(&q, &e), 0);
	assert_int_equal(e.size, 0);
	assert_int_equal(count(f, "todo"), 1);
	env_free(&e);
}

static void
test_abort(void **state)
{
	struct fx *f = *state;
	struct qw q;

	assert_int_equal(qw_begin(&q, f->dfd), 0);
	assert_int_equal(qw_write(&q, "x", 1), 0);
	qw_abort(&q);
	qw_abort(&q);		/* twice is harmless */
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "mess"), 0);
	assert_int_equal(count(f, "todo"), 0);
}

/* todo/ is not a directory: the todo rename fails, after mess/ID was made;
 * both mess/ID and tmp/ID.env must go (works as root, unlike chmod) */
static void
test_todo_fails(void **state)
{
	struct fx *f = *state;
	struct qw q;
	struct env e;
	int fd;

	mkenv(&e);
	assert_int_equal(unlinkat(f->dfd, "todo", AT_REMOVEDIR), 0);
	fd = openat(f->dfd, "todo", O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(qw_begin(&q, f->dfd), 0);
	assert_int_equal(qw_write(&q, "hello\n", 6), 0);
	assert_int_equal(qw_commit(&q, &e), -1);
	assert_string_equal(q.op, "rename todo");
	assert_int_equal(q.err, ENOTDIR);
	assert_int_equal(q.made, 0);
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "mess"), 0);
	env_free(&e);
}

/* tmp/ missing: the envelope cannot be written; nothing of the message
 * may remain in mess/ */
static void
test_mess_fails(void **state)
{
	struct fx *f = *state;
	struct qw q;
	struct env e;

	mkenv(&e);
	assert_int_equal(unlinkat(f->dfd, "tmp", AT_REMOVEDIR), 0);
	assert_int_equal(qw_begin(&q, f->dfd), 0);
	assert_int_equal(qw_write(&q, "hello\n", 6), 0);
	assert_int_equal(qw_commit(&q, &e), -1);
	assert_string_equal(q.op, "open envelope");
	assert_int_equal(q.made, 0);
	assert_int_equal(count(f, "mess"), 0);
	assert_int_equal(count(f, "todo"), 0);
	env_free(&e);
}

/* mess/ missing: qw_begin fails and says so */
static void
test_begin_fails(void **state)
{
	struct fx *f = *state;
	struct qw q;

	assert_int_equal(unlinkat(f->dfd, "mess", AT_REMOVEDIR), 0);
	assert_int_equal(qw_begin(&q, f->dfd), -1);
	assert_string_equal(q.op, "open mess");
	assert_int_equal(q.fd, -1);
	assert_int_equal(q.made, 0);
	assert_int_equal(errno, ENOENT);
}

/* a write on a closed message fails cleanly */
static void
test_write_after_prepare(void **state)
{
	struct fx *f = *state;
	struct qw q;
	struct env e;

	mkenv(&e);
	assert_int_equal(qw_begin(&q, f->dfd), 0);
	assert_int_equal(qw_prepare(&q, &e, QW_SYNC_FILE), 0);
	assert_int_equal(qw_write(&q, "x", 1), -1);
	qw_abort(&q);
	assert_int_equal(count(f, "tmp"), 0);
	env_free(&e);
}

/* how many descriptors this process holds */
static int
nfds(void)
{
	struct dirent *d;
	DIR *dp = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(dp);
	while ((d = readdir(dp)) != NULL)
		n += d->d_name[0] != '.';
	closedir(dp);
	return n;
}

/* fsync mode keeps both files open from qw_prepare to qw_publish (their
 * fdatasyncs are the batch's); an abort in between closes both and
 * removes both, a publish closes both */
static void
test_prepared_open(void **state)
{
	struct fx *f = *state;
	struct qw q[2], *v[1] = { &q[1] };
	struct env e[2];
	int base = nfds();

	for (int i = 0; i < 2; i++) {
		mkenv(&e[i]);
		assert_int_equal(qw_begin(&q[i], f->dfd), 0);
		assert_int_equal(qw_write(&q[i], "m\n", 2), 0);
		assert_int_equal(qw_prepare(&q[i], &e[i], QW_SYNC_FILE), 0);
		assert_true(q[i].fd >= 0 && q[i].efd >= 0);
	}
	assert_int_equal(nfds(), base + 4);
	qw_abort(&q[0]);
	assert_int_equal(nfds(), base + 2);
	assert_int_equal(count(f, "tmp"), 1);
	assert_int_equal(count(f, "mess"), 1);
	assert_int_equal(qw_publish(v, 1), 1);
	assert_int_equal(nfds(), base);
	assert_int_equal(q[1].fd, -1);
	assert_int_equal(q[1].efd, -1);
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(count(f, "todo"), 1);
	for (int i = 0; i < 2; i++)
		env_free(&e[i]);
}

/* the service's barriers with mess/ and todo/ kept open (qw_keep_dirs):
 * two batches commit, neither closes them; each batch's C records and
 * its T reach the FIFO in order (one write since the T joined them) */
static void
test_publish_kept_dirs(void **state)
{
	struct fx *f = *state;
	struct qw q[2], *v[2] = { &q[0], &q[1] };
	struct env e[2];
	char b[256], want[256];
	size_t k = 0;
	int base, rfd;

	rfd = openat(f->dfd, "lock/trigger", O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	base = nfds();
	assert_int_equal(qw_keep_dirs(f->dfd), 0);
	assert_int_equal(nfds(), base + 2);
	for (int round = 0; round < 2; round++) {
		k = 0;
		for (int i = 0; i < 2; i++) {
			mkenv(&e[i]);
			assert_int_equal(qw_begin(&q[i], f->dfd), 0);
			assert_int_equal(qw_write(&q[i], "m\n", 2), 0);
			assert_int_equal(qw_prepare(&q[i], &e[i], QW_SYNC_FILE),
			    0);
		}
		assert_int_equal(qw_publish(v, 2), 2);
		assert_int_equal(nfds(), base + 2);
		for (int i = 0; i < 2; i++) {
			size_t len = strlen(q[i].id);

			want[k++] = 'C';
			want[k++] = (char)len;
			memcpy(want + k, q[i].id, len);
			k += len;
			env_free(&e[i]);
		}
		want[k++] = 'T';
		assert_int_equal(read(rfd, b, sizeof b), (ssize_t)k);
		assert_memory_equal(b, want, k);
	}
	assert_int_equal(count(f, "todo"), 4);
	assert_int_equal(qw_keep_dirs(-1), 0);
	assert_int_equal(nfds(), base);
	close(rfd);
}

/* group commit: 8 messages, one of which collides in todo/: 7 commit */
static void
batch(struct fx *f, enum qw_sync sync)
{
	struct qw q[8], *v[8];
	struct env e[8];
	char p[128];
	int fd;

	for (int i = 0; i < 8; i++) {
		mkenv(&e[i]);
		assert_int_equal(qw_begin(&q[i], f->dfd), 0);
		assert_int_equal(qw_write(&q[i], "m\n", 2), 0);
		v[i] = &q[i];
	}
	snprintf(p, sizeof p, "todo/%s", q[3].id);
	fd = openat(f->dfd, p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	for (int i = 0; i < 8; i++)
		assert_int_equal(qw_prepare(&q[i], &e[i], sync), 0);
	/* fsync mode publishes; syncfs mode renames, then one syncfs (as
	 * the queue service does) */
	if (sync == QW_SYNC_FILE)
		assert_int_equal(qw_publish(v, 8), 7);
	else {
		assert_int_equal(qw_rename(v, 8), 7);
		assert_int_equal(syncfs(f->dfd), 0);
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(q[i].made, i == 3 ? 0 : QW_MESS | QW_TODO);
	assert_string_equal(q[3].op, "rename todo");
	assert_int_equal(q[3].err, EEXIST);
	assert_int_equal(count(f, "tmp"), 0);
	/* the collision's own file is not ours: it stays; our mess/ goes */
	assert_int_equal(count(f, "todo"), 8);
	assert_int_equal(count(f, "mess"), 7);
	for (int i = 0; i < 8; i++)
		env_free(&e[i]);
}

/* the service's pipelined commit: syncfs, qw_rename (K only after the
 * next syncfs); a failed barrier fails every message, but those already
 * renamed into todo/ stay there for send (which may have split them:
 * removing mess/ID under it could lose the message); the others go */
static void
test_rename_fail(void **state)
{
	struct fx *f = *state;
	struct qw q[4], *v[4];
	struct env e[4];

	for (int i = 0; i < 4; i++) {
		mkenv(&e[i]);
		assert_int_equal(qw_begin(&q[i], f->dfd), 0);
		assert_int_equal(qw_write(&q[i], "m\n", 2), 0);
		assert_int_equal(qw_prepare(&q[i], &e[i], QW_SYNC_FS), 0);
		v[i] = &q[i];
	}
	assert_int_equal(count(f, "tmp"), 4);
	assert_int_equal(syncfs(f->dfd), 0);
	assert_int_equal(qw_rename(v, 2), 2);
	assert_int_equal(count(f, "todo"), 2);
	assert_int_equal(count(f, "tmp"), 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(q[i].made, QW_MESS | QW_TODO);
	errno = EIO;
	qw_fail(v, 4, "syncfs");
	for (int i = 0; i < 4; i++) {
		assert_int_equal(q[i].made, 0);
		assert_string_equal(q[i].op, "syncfs");
		assert_int_equal(q[i].err, EIO);
		env_free(&e[i]);
	}
	assert_int_equal(count(f, "todo"), 2);
	assert_int_equal(count(f, "mess"), 2);
	assert_int_equal(count(f, "tmp"), 0);
	assert_int_equal(qw_rename(v, 4), 0);	/* nothing live: no-op */
}

/* fsync mode: one message's fdatasync fails inside the barrier, after
 * its rename into todo/ (a descriptor fdatasync refuses stands in for
 * a failing disk): it fails (Z for its client), its files stay for
 * send, its descriptors are closed; the other message commits */
static void
test_publish_fsync_fail(void **state)
{
	struct fx *f = *state;
	struct qw q[2], *v[2] = { &q[0], &q[1] };
	struct env e[2];
	int base = nfds(), p[2];

	for (int i = 0; i < 2; i++) {
		mkenv(&e[i]);
		assert_int_equal(qw_begin(&q[i], f->dfd), 0);
		assert_int_equal(qw_write(&q[i], "m\n", 2), 0);
		assert_int_equal(qw_prepare(&q[i], &e[i], QW_SYNC_FILE), 0);
	}
	/* q[0]'s message descriptor becomes a pipe: EINVAL to fdatasync */
	assert_int_equal(pipe(p), 0);
	assert_true(dup2(p[0], q[0].fd) == q[0].fd);
	close(p[0]);
	close(p[1]);
	assert_int_equal(qw_publish(v, 2), 1);
	assert_int_equal(q[0].made, 0);
	assert_string_equal(q[0].op, "fsync mess");
	assert_int_equal(q[0].err, EINVAL);
	assert_int_equal(q[0].fd, -1);
	assert_int_equal(q[0].efd, -1);
	assert_int_equal(q[1].made, QW_MESS | QW_TODO);
	assert_int_equal(nfds(), base);
	/* both in todo/, both messages (q[0]'s mess/ID was written before
	 * its descriptor was swapped); nothing in tmp/ */
	assert_int_equal(count(f, "todo"), 2);
	assert_int_equal(count(f, "mess"), 2);
	assert_int_equal(count(f, "tmp"), 0);
	for (int i = 0; i < 2; i++)
		env_free(&e[i]);
}

static void
test_batch_fsync(void **state)
{
	batch(*state, QW_SYNC_FILE);
}

static void
test_batch_syncfs(void **state)
{
	batch(*state, QW_SYNC_FS);
}

static void
test_publish_none(void **state)
{
	(void)state;
	assert_int_equal(qw_publish(NULL, 0), 0);
}

static void
test_ids(void **state)
{
	static const struct {
		const char	*id;
		int		 ok;
	} cases[] = {
		{ "", 0 }, { "a", 1 }, { "0123456789abcdefABCDEF0123456789", 1 },
		{ "0123456789abcdefABCDEF01234567890", 0 }, { "a.b", 0 },
		{ "../x", 0 }, { "a b", 0 }, { "a\n", 0 }, { "\xc3\xa9", 0 },
		{ "a-b", 0 }, { "a/b", 0 },
	};
	char seen[2000][QID_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(qw_idok(cases[i].id), cases[i].ok);
	for (int i = 0; i < 2000; i++) {
		qw_newid(seen[i]);
		assert_int_equal(strlen(seen[i]), 22);
		assert_true(qw_idok(seen[i]));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
}

static void
test_trigger(void **state)
{
	struct fx *f = *state;
	char b[8];
	int rfd;

	/* no reader: fine, nothing to wake */
	assert_int_equal(qw_trigger(f->dfd, "T", 1), 1);
	rfd = openat(f->dfd, "lock/trigger", O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	assert_int_equal(qw_trigger(f->dfd, "T", 1), 0);
	assert_int_equal(qw_trigger(f->dfd, "F\3a.b", 5), 0);
	assert_int_equal(read(rfd, b, sizeof b), 6);
	assert_memory_equal(b, "TF\3a.b", 6);
	close(rfd);
}

/* the layout: every directory and a FIFO */
static void
test_layout(void **state)
{
	static const char *dirs[] = { "tmp", "mess", "todo", "info", "local",
	    "remote", "bounce", "lock" };
	struct fx *f = *state;
	struct stat st;

	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		assert_int_equal(fstatat(f->dfd, dirs[i], &st, 0), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
	assert_int_equal(fstatat(f->dfd, "lock/trigger", &st, 0), 0);
	assert_true(S_ISFIFO(st.st_mode));
}

static void
seen(void *ctx, const char *name)
{
	(void)name;
	++*(int *)ctx;
}

/* qw_re_walk: only tmp/re.?*; the first keep to fn, the rest unlinked */
static void
test_re_walk(void **state)
{
	static const char *names[] = { "re.m.a", "re.t.b", "re.m.c", "re.",
	    "rm.m.d", "fs.e" };
	struct fx *f = *state;
	struct qw_re r;
	char p[64];
	int fd, n = 0;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(p, sizeof p, "tmp/%s", names[i]);
		fd = openat(f->dfd, p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	assert_int_equal(qw_re_walk(f->dfd, SIZE_MAX, NULL, NULL, &r), 0);
	assert_int_equal(r.gone, 0);
	assert_int_equal(r.left, 3);
	assert_int_equal(qw_re_walk(f->dfd, 1, seen, &n, &r), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r.gone, 2);
	assert_int_equal(r.left, 1);
	assert_int_equal(qw_re_walk(f->dfd, 0, seen, &n, &r), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r.gone, 1);
	assert_int_equal(r.left, 0);
	assert_int_equal(count(f, "tmp"), 3);
	assert_int_equal(qw_re_walk(-1, 0, NULL, NULL, &r), -1);
}

static size_t
drop_hook(void *ctx)
{
	return ++*(size_t *)ctx;
}

/* a pool with its own drop (send's): none of tmp/re.* taken, and only
 * a full file system calls the drop, errno kept */
static void
test_pool_drop_hook(void **state)
{
	struct fx *f = *state;
	struct qw_pool pl = { 0 };
	struct qw q;
	size_t calls = 0;
	int fd;

	pl.drop = drop_hook;
	pl.ctx = &calls;
	fd = openat(f->dfd, "tmp/re.m.OLD", O_WRONLY | O_CREAT | O_EXCL,
	    0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(qw_begin_pool(&q, f->dfd, &pl), 0);
	assert_int_equal(pl.reused, 0);
	assert_int_equal(count(f, "tmp"), 1);
	qw_abort(&q);
	errno = EIO;
	assert_int_equal(qw_pool_drop(&pl, f->dfd), 0);
	errno = ENOSPC;
	assert_int_equal(qw_pool_drop(&pl, f->dfd), 1);
	assert_int_equal(errno, ENOSPC);
	errno = EDQUOT;
	assert_int_equal(qw_pool_drop(&pl, f->dfd), 2);
	assert_int_equal(pl.dropped, 3);
	assert_int_equal(qw_pool_drop(NULL, f->dfd), 0);
	assert_int_equal(count(f, "tmp"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_message, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_todo_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mess_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_begin_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_after_prepare, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_prepared_open, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_fsync, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_syncfs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rename_fail, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_publish_fsync_fail, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_publish_kept_dirs, setup,
		    teardown),
		cmocka_unit_test(test_publish_none),
		cmocka_unit_test(test_ids),
		cmocka_unit_test_setup_teardown(test_trigger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_re_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_drop_hook, setup,
		    teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
