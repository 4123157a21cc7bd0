/* test_qclient: lib/qclient.c against a scripted fake queue in a child
 * process: the greeting, D records packed whatever the caller's slices,
 * each answer (K, Z, X), a queue that dies or never answers (QC_TEMP, no
 * hang), flush, and qc_spawn. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "env.h"
#include "io.h"
#include "qclient.h"
#include "rec.h"

enum script {
	S_OK,		/* I, then K after E */
	S_TEMP,		/* Z at E */
	S_PERM,		/* X at E */
	S_DIE,		/* close after M */
	S_MUTE,		/* never answer M */
	S_BADV,		/* wrong greeting */
	S_FLUSH,	/* K to F */
	S_NOSTATUS,	/* Z at E without its status code */
	S_BADSTATUS,	/* Z at E with a status of class 5 */
	S_LONGSTATUS,	/* X at E with a status of four digits */
};

struct srv {
	char	path[108];
	pid_t	pid;
};

static int
send_rec(int fd, char type, const char *s)
{
	struct buf b = BUF_INIT(4096);
	size_t st = 0;
	int r;

	r = pk_begin(&b) == 0 && pk_u8(&b, (uint8_t)type) == 0 &&
	    pk_cstr(&b, s) == 0 && pk_finish(&b, st) == 0 &&
	    rec_send(fd, &b) == 0 ? 0 : -1;
	buf_free(&b);
	return r;
}

/* send_fail - Z or X: text, then the status code (NULL: none) */
static int
send_fail(int fd, char type, const char *text, const char *status)
{
	struct buf b = BUF_INIT(4096);
	size_t st = 0;
	int r;

	r = pk_begin(&b) == 0 && pk_u8(&b, (uint8_t)type) == 0 &&
	    pk_cstr(&b, text) == 0 && (status == NULL ||
	    pk_cstr(&b, status) == 0) && pk_finish(&b, st) == 0 &&
	    rec_send(fd, &b) == 0 ? 0 : -1;
	buf_free(&b);
	return r;
}

/* serve - the fake queue; exits 0 when what it saw was right */
static void
serve(int fd, enum script sc, size_t want)
{
	static struct rd in;
	struct buf b = BUF_INIT(1 << 20);
	size_t got = 0, nrec = 0;

	rd_init(&in, fd, NULL, NULL);
	if (send_rec(fd, 'V', sc == S_BADV ? "sandmail-queue 2" :
	    "sandmail-queue 1") == -1)
		_exit(1);
	if (sc == S_BADV)
		_exit(0);
	if (rec_read(&in, &b, 1 << 20) != 1)
		_exit(2);
	if (sc == S_FLUSH) {
		if (b.len != 1 + 4 + 11 || b.p[0] != 'F' ||
		    memcmp(b.p + 5, "example.org", 11) != 0)
			_exit(3);
		send_rec(fd, 'K', "");
		_exit(0);
	}
	if (b.len != 1 || b.p[0] != 'M')
		_exit(3);
	if (sc == S_DIE)
		_exit(0);
	if (sc == S_MUTE) {
		pause();
		_exit(0);
	}
	send_rec(fd, 'I', "ID123");
	for (;;) {
		if (rec_read(&in, &b, 1 << 20) != 1)
			_exit(4);
		if (b.p[0] != 'D')
			break;
		if (b.len - 1 > 65536)
			_exit(5);
		for (size_t i = 1; i < b.len; i++)
			if (b.p[i] != (char)('a' + (got + i - 1) % 26))
				_exit(6);
		got += b.len - 1;
		nrec++;
	}
	if (b.p[0] != 'E' || got != want)
		_exit(7);
	/* packed: 16 KiB records however the caller sliced the data */
	if (nrec > want / 16000 + 1)
		_exit(8);
	if (sc == S_OK)
		send_rec(fd, 'K', "ID123");
	else if (sc == S_TEMP)
		send_fail(fd, 'Z', "no way", "4.3.1");
	else if (sc == S_PERM)
		send_fail(fd, 'X', "no way", "5.3.4");
	else if (sc == S_NOSTATUS)
		send_fail(fd, 'Z', "no way", NULL);
	else if (sc == S_BADSTATUS)
		send_fail(fd, 'Z', "no way", "5.3.0");
	else
		send_fail(fd, 'X', "no way", "5.1234.1");
	_exit(0);
}

static void
srv_start(struct srv *s, enum script sc, size_t want)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, fd;

	snprintf(s->path, sizeof s->path, "/tmp/test_qclient.%d.sock",
	    (int)getpid());
	unlink(s->path);
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(lfd, 1), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			_exit(9);
		serve(fd, sc, want);
	}
	close(lfd);
}

/* srv_wait - the fake queue's verdict; a mute one is stopped first */
static int
srv_wait(struct srv *s, int stop)
{
	int st;

	if (stop)
		kill(s->pid, SIGTERM);
	assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
	unlink(s->path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
mkenv(struct env *e)
{
	env_init(e);
	assert_int_equal(env_set(&e->sender, "a@example.org"), 0);
	assert_int_equal(env_add_rcpt(e, "b@example.org", 0, ""), 0);
}

static void
send_data(struct qc *q, size_t n, size_t slice)
{
	char b[1000];

	for (size_t off = 0; off < n; ) {
		size_t k = n - off < slice ? n - off : slice;

		for (size_t i = 0; i < k; i++)
			b[i] = (char)('a' + (off + i) % 26);
		assert_int_equal(qc_data(q, b, k), 0);
		off += k;
	}
}

static void
message(enum script sc, size_t n, size_t slice, int want)
{
	struct srv s;
	struct qc q;
	struct env e;
	char id[QID_MAX + 1];

	mkenv(&e);
	srv_start(&s, sc, n);
	assert_int_equal(qc_connect(&q, s.path), 0);
	assert_int_equal(qc_begin(&q, id), QC_OK);
	assert_string_equal(id, "ID123");
	send_data(&q, n, slice);
	assert_int_equal(qc_end(&q, &e), want);
	if (sc == S_TEMP || sc == S_PERM)
		assert_string_equal(q.text, "no way");
	if (sc == S_TEMP)
		assert_string_equal(q.status, "4.3.1");
	if (sc == S_PERM)
		assert_string_equal(q.status, "5.3.4");
	if (sc > S_FLUSH) {
		/* a Z or X without a well-formed status of its class */
		assert_string_equal(q.text, "queue: protocol error");
		assert_string_equal(q.status, "4.3.0");
	}
	qc_close(&q);
	assert_int_equal(srv_wait(&s, 0), 0);
	env_free(&e);
}

static void
test_ok_bytewise(void **state)
{
	(void)state;
	message(S_OK, 40000, 1, QC_OK);
}

static void
test_ok_slices(void **state)
{
	(void)state;
	message(S_OK, 100000, 999, QC_OK);
	message(S_OK, 16384 - 5, 1000, QC_OK);	/* exactly one full buffer */
	message(S_OK, 0, 1, QC_OK);		/* empty message */
}

static void
test_temp(void **state)
{
	(void)state;
	message(S_TEMP, 100, 10, QC_TEMP);
}

static void
test_perm(void **state)
{
	(void)state;
	message(S_PERM, 100, 10, QC_PERM);
}

static void
test_bad_status(void **state)
{
	(void)state;
	message(S_NOSTATUS, 100, 10, QC_TEMP);
	message(S_BADSTATUS, 100, 10, QC_TEMP);
	message(S_LONGSTATUS, 100, 10, QC_TEMP);
}

static void
test_dies(void **state)
{
	struct srv s;
	struct qc q;
	char id[QID_MAX + 1];

	(void)state;
	srv_start(&s, S_DIE, 0);
	assert_int_equal(qc_connect(&q, s.path), 0);
	assert_int_equal(qc_begin(&q, id), QC_TEMP);
	assert_true(q.text[0] != '\0');
	qc_close(&q);
	assert_int_equal(srv_wait(&s, 0), 0);
}

static void
test_mute_times_out(void **state)
{
	struct srv s;
	struct qc q;
	char id[QID_MAX + 1];

	(void)state;
	srv_start(&s, S_MUTE, 0);
	assert_int_equal(qc_connect(&q, s.path), 0);
	q.rd.timeout_ms = 200;
	assert_int_equal(qc_begin(&q, id), QC_TEMP);
	assert_non_null(strstr(q.text, "timed out"));
	qc_close(&q);
	srv_wait(&s, 1);
}

static void
test_bad_greeting(void **state)
{
	struct srv s;
	struct qc q;

	(void)state;
	srv_start(&s, S_BADV, 0);
	assert_int_equal(qc_connect(&q, s.path), -1);
	assert_int_equal(q.fd, -1);
	srv_wait(&s, 1);
}

static void
test_no_queue(void **state)
{
	struct qc q;

	(void)state;
	assert_int_equal(qc_connect(&q, "/nonexistent/queue.sock"), -1);
	assert_int_equal(qc_connect(&q, "/tmp/" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxx"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

static void
test_flush(void **state)
{
	struct srv s;
	struct qc q;

	(void)state;
	srv_start(&s, S_FLUSH, 0);
	assert_int_equal(qc_connect(&q, s.path), 0);
	assert_int_equal(qc_flush(&q, "example.org"), QC_OK);
	qc_close(&q);
	assert_int_equal(srv_wait(&s, 0), 0);
}

/* qc_spawn: a stand-in queue that greets and waits for EOF */
static void
test_spawn(void **state)
{
	char prog[64];
	struct qc q;
	FILE *f;

	(void)state;
	snprintf(prog, sizeof prog, "/tmp/test_qclient.%d.sh", (int)getpid());
	f = fopen(prog, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\n[ \"$1\" = -c ] && [ \"$2\" = /x.conf ] || exit 1\n"
	    "printf '\\000\\000\\000\\025V\\000\\000\\000\\020sandmail-queue 1'\n"
	    "exec cat >/dev/null\n", f);
	fclose(f);
	assert_int_equal(chmod(prog, 0700), 0);
	assert_int_equal(qc_spawn(&q, prog, "/x.conf"), 0);
	assert_true(q.pid > 0);
	qc_close(&q);		/* EOF: the child exits and is reaped */
	assert_int_equal(q.pid, -1);
	/* a program that does not greet */
	assert_int_equal(qc_spawn(&q, "/bin/true", NULL), -1);
	unlink(prog);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_bytewise),
		cmocka_unit_test(test_ok_slices),
		cmocka_unit_test(test_temp),
		cmocka_unit_test(test_perm),
		cmocka_unit_test(test_bad_status),
		cmocka_unit_test(test_dies),
		cmocka_unit_test(test_mute_times_out),
		cmocka_unit_test(test_bad_greeting),
		cmocka_unit_test(test_no_queue),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_spawn),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
