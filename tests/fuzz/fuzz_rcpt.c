/* fuzz_rcpt: lib/rcpt.c, the recipient decision smtpd makes on a
 * client's RCPT address, on small tables built once by the real
 * compiler.  The first byte picks: an address (parsed as smtpd does,
 * then resolved), an alias value for rcpt_offsite, or a localusers
 * value for rcpt_user.  Beyond not crashing: results keep their
 * invariants (a maildir ends in '/', an offsite target lies in v). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cdb/compile.h"
#include "rcpt.h"

static struct tbl tabs[6];
static struct rcpt_tabs rt;

static void
build(int i, const char *dir, const char *name, const char *text)
{
	const struct cdbc_table *ct = cdbc_find(name);
	struct cdbc_out o = { NULL, 0, 0 };
	struct buf err = BUF_INIT(65536);
	char path[256];

	snprintf(path, sizeof path, "%s/%s.cdb", dir, name);
	if (ct == NULL || cdbc_parse(ct, name, text, strlen(text), &o,
	    &err) != 0 || cdbc_write(path, ct->mode, &o) != 0 ||
	    tbl_open(&tabs[i], path) != 0)
		abort();
	cdbc_free(&o);
	buf_free(&err);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz_rcpt.XXXXXX";

	(void)argc, (void)argv;
	if (mkdtemp(dir) == NULL)
		abort();
	build(0, dir, "domains", "a.org local\nv.org virtual\n");
	build(1, dir, "aliases", "abuse alice\n@a.org bob, x@b.org\n");
	build(2, dir, "virtual", "c@v.org /m/c\n@v.org /m/all/\n");
	build(3, dir, "localusers", "alice 1:1:/h/a\nw-d 2:2:/h/w\n");
	build(4, dir, "moved", "gone@a.org new@b.org\n");
	build(5, dir, "routes", "r.org [127.0.0.1]:25\n* [127.0.0.1]:26\n");
	rt = (struct rcpt_tabs){ &tabs[0], &tabs[1], &tabs[2], &tabs[3],
	    &tabs[4], &tabs[5], "mx.a.org", "-+" };
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(65536);
	struct rcpt_res r;
	struct addr a;
	uint32_t uid, gid;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;

	if (size == 0)
		return 0;
	buf_init(&r.val, 65536);
	switch (data[0] % 3) {
	case 0:
		if (addr_parse_mailbox(s, n, data[0] & 4 ? ADDR_UTF8 : 0,
		    &a) != ADDR_OK)
			break;
		rcpt_resolve(&rt, &a, data[0] & 8 ? RCPT_NOALIAS : 0, &r);
		if ((r.kind == RK_USER || r.kind == RK_VIRTUAL) &&
		    (r.val.len == 0 || r.val.p[r.val.len - 1] != '/'))
			abort();
		break;
	case 1:
		if (rcpt_offsite(&rt, s, n, &out) == 1 &&
		    (out.len == 0 || out.len > n ||
		    memmem(s, n, out.p, out.len) == NULL))
			abort();
		break;
	default:
		if (rcpt_user(s, n, &uid, &gid, &out) == 0 &&
		    (out.len < 9 || out.p[0] != '/' ||
		    memcmp(out.p + out.len - 9, "/Maildir/", 9) != 0))
			abort();
		break;
	}
	buf_free(&r.val);
	buf_free(&out);
	return 0;
}
