/* log: one key=value line per event on stderr.  Values are escaped so that
 * no byte a client sends (CR, LF, NUL, quotes, invalid UTF-8) can split a
 * line or forge a key.  The supervisor's logger adds timestamps. */
#ifndef SANDMAIL_LOG_H
#define SANDMAIL_LOG_H

#include <stddef.h>

#define LOG_LINE_MAX	2048

struct logln {
	char	b[LOG_LINE_MAX];
	size_t	len;
	int	cut;		/* something did not fit: line ends in "..." */
};

void	log_init(const char *prog);
const char *log_prog(void);
void	log_start(struct logln *, const char *event);
void	log_s(struct logln *, const char *key, const char *val);
void	log_m(struct logln *, const char *key, const void *val, size_t n);
void	log_u(struct logln *, const char *key, unsigned long long);
void	log_i(struct logln *, const char *key, long long);
void	log_done(struct logln *);	/* write the line to fd 2 */
void	log_finish(struct logln *);	/* terminate the line, do not write */

/* log_kv(event, key, val, key, val, ..., NULL): string values only */
void	log_kv(const char *event, ...) __attribute__((sentinel));

/* die_*: log "event=fatal op=.. arg=.. err=strerror(errno) exit=N" and exit */
void	die_temp(const char *op, const char *arg) __attribute__((noreturn));
void	die_perm(const char *op, const char *arg) __attribute__((noreturn));
void	die_code(int code, const char *op, const char *arg)
	    __attribute__((noreturn));
/* die_msg: as die_code, with a reason of ours instead of errno */
void	die_msg(int code, const char *op, const char *reason)
	    __attribute__((noreturn));

#endif
