/* args: sendmail's command line, as cron, PHP, mutt and a thousand
 * scripts write it.  The options that matter are honoured, the harmless
 * rest (-odi, -oem, -v, -B8BITMIME ...) are accepted and ignored, as
 * Postfix's sendmail does.  No I/O: unit tests call it directly. */
#ifndef SANDMAIL_INJECT_ARGS_H
#define SANDMAIL_INJECT_ARGS_H

#include <stdint.h>

enum inj_mode {
	MODE_MAIL,		/* -bm: a message on stdin (the default) */
	MODE_SMTP,		/* -bs: SMTP on stdin/stdout */
	MODE_LIST,		/* -bp, or called as mailq */
	MODE_FLUSH,		/* -q, -qRdomain */
	MODE_NEWALIASES,	/* -bi, -I, or called as newaliases */
	MODE_IGNORE,		/* -q30m: a daemon interval; nothing to do */
};

struct args {
	enum inj_mode	 mode;
	int		 tflag;		/* -t */
	int		 dot;		/* a lone dot ends input (no -i) */
	int		 verbose;	/* -v: say the queue ID */
	const char	*sender;	/* -f, -r */
	const char	*fullname;	/* -F */
	const char	*conf;		/* -C FILE */
	const char	*envid;		/* -V envid (DSN ENVID) */
	const char	*flush_domain;	/* -qRdomain */
	uint8_t		 notify;	/* -N */
	uint8_t		 ret;		/* -R full|hdrs */
	const char	*err;		/* why args_parse said no */
};

/* args_parse: the index of the first recipient argument, or -1 with the
 * reason in a->err */
int	args_parse(struct args *, int argc, char **argv);

#endif
