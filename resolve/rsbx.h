/* rsbx: sandmail-resolve's settings and sandbox entry (rsbx.c). */
#ifndef SANDMAIL_RSBX_H
#define SANDMAIL_RSBX_H

#include "conf.h"
#include "resolver.h"

/* resolve_config: the settings and name servers (sandmail.conf, else
 * resolv_conf's nameserver lines, else 127.0.0.1) */
void	resolve_config(struct rcfg *, const struct conf *);
/* resolve_sandbox: user_resolve, chroot (root), the settings copied to
 * a read-only page, Landlock, the filter: connect only to the name
 * servers of that copy, which the caller must use from now on.  Exits
 * 111 on failure. */
const struct rcfg *resolve_sandbox(const struct conf *, const struct rcfg *);

#endif
