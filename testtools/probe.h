/* probe: the parts of sandmail-probe that need headers of their own
 * (smtpd.h and pop3d.h cannot share a file). */
#ifndef SANDMAIL_PROBE_H
#define SANDMAIL_PROBE_H

#include "conf.h"

/* probe_smtpd: enter an smtpd session's sandbox as the listener's child
 * does; *gen gets its generation page */
void	probe_smtpd(const struct conf *, const volatile unsigned **gen);
/* probe_smtpd_listener: the smtpd listener's own confinement */
void	probe_smtpd_listener(const struct conf *);

#endif
