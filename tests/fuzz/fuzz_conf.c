/* fuzz_conf: sandmail.conf's reader (lib/conf.c) and its check against
 * the registry (lib/confkeys.c).  Whatever conf_check reports is one
 * "name:line: ..." message; whatever it accepts without an error, every
 * getter must read without dying (a getter that disagrees with the check
 * would stop a program the check had passed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "confkeys.h"

static void
report(void *arg, int error, const char *msg)
{
	int *errors = arg;

	if (strncmp(msg, "f:", 2) != 0 || strchr(msg, '\n') != NULL)
		abort();
	*errors += error;
}

static void
read_all(const struct conf *c)
{
	const struct conf_key *k;
	unsigned long long d;
	const char *why;
	size_t i;
	char *p;

	for (k = conf_keys; k->name != NULL; k++) {
		d = 0;
		if (k->def != NULL && conf_key_value(k, k->def, &d, &why) == -1)
			abort();
		switch (k->type) {
		case CONF_NUM:
			(void)conf_num(c, k->name, d, k->min, k->max);
			break;
		case CONF_SECS:
			(void)conf_secs(c, k->name, d);
			break;
		case CONF_SIZE:
			(void)conf_size(c, k->name, d);
			break;
		case CONF_BOOL:
			(void)conf_bool(c, k->name, (int)d);
			break;
		case CONF_PATH:
			free((p = conf_path(c, k->name, NULL)));
			break;
		default:
			if (k->flags & CONF_MULTI)
				for (i = 0; conf_next(c, k->name, &i) != NULL;)
					;
			else
				(void)conf_str(c, k->name, NULL);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c;
	char err[512];
	int errors = 0;

	if (conf_parse_mem(&c, "f", (const char *)data, size, err,
	    sizeof err) == 0) {
		if (conf_check(&c, report, &errors) == 0 && errors == 0)
			read_all(&c);
		else if (errors == 0)
			abort();	/* the count and the reports disagree */
	}
	conf_free(&c);
	return 0;
}
