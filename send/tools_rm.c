/* sandmail-rm: remove messages from the queue safely.  Only send removes
 * queue files, so this never unlinks anything: it marks every pending
 * recipient of info/ID done (one byte in place + fdatasync, the same
 * write send makes) and sends an R record on lock/trigger; send reads the
 * message again as soon as none of its deliveries is in flight, finds
 * nothing pending and removes it in its crash-safe order.  A delivery
 * already handed to lspawn/rspawn may still complete.  A message still in
 * todo/ (not yet split by send) is refused: try again in a moment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"
#include "qwrite.h"
#include "tools_common.h"

static int
rm_one(int qfd, const char *id)
{
	unsigned char rec[2 + QID_MAX];
	struct rcpt *v = NULL;
	size_t n = 0, k = 0;
	int bad = 0;

	if (!send_idok(id) || fs_exists(qfd, "info", id) != 1) {
		fprintf(stderr, "sandmail-rm: %s: %s\n", id,
		    send_idok(id) && fs_exists(qfd, "todo", id) == 1 ?
		    "not yet taken by send; try again" : "no such message");
		return EXIT_TEMP;
	}
	if (tools_rcpts(qfd, id, &v, &n) == -1) {
		fprintf(stderr, "sandmail-rm: %s: %s\n", id, strerror(errno));
		return EXIT_TEMP;
	}
	for (size_t i = 0; i < n; i++) {
		if (rc_pending(&v[i])) {
			if (fs_mark(qfd, rc_dir(&v[i]), id, v[i].off,
			    RC_DONE, 1) == -1)
				bad = 1;
			else
				k++;
		}
		rc_free(&v[i]);
	}
	free(v);
	/* a held message (sandmail-queuectl hold) is removed too: its
	 * hold/ID must not outlive it */
	if (fs_unlink(qfd, "hold", id) == -1)
		bad = 1;
	rec[0] = 'R';
	rec[1] = (unsigned char)strlen(id);
	memcpy(rec + 2, id, rec[1]);
	(void)qw_trigger(qfd, rec, 2u + rec[1]);
	log_kv("rm", "id", id, "marked", k > 0 ? "yes" : "none pending",
	    NULL);
	printf("%s: %zu recipient%s marked done; send removes it\n", id, k,
	    k == 1 ? "" : "s");
	return bad ? EXIT_TEMP : EXIT_OK;
}

int
main(int argc, char *argv[])
{
	struct tools t;
	int i, rc = EXIT_OK, r;

	log_init("rm");
	if ((i = tools_open(argc, argv, &t)) == -1 || i >= argc) {
		fputs("usage: sandmail-rm [-c conf] ID...\n", stderr);
		return EXIT_PERM;
	}
	for (; i < argc; i++)
		if ((r = rm_one(t.qfd, argv[i])) != EXIT_OK)
			rc = r;
	return rc;
}
