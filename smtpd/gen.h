/* gen: the listener's generation page (tables and certificate), shared
 * with its session workers, which may read it and never write it. */
#ifndef SANDMAIL_SMTPD_GEN_H
#define SANDMAIL_SMTPD_GEN_H

/* gen_map: in the listener: the page, writable by the listener only.
 * Exits 111 on failure. */
volatile unsigned *gen_map(void);
/* gen_child: in a forked session, before its sandbox: the listener's
 * writable mapping goes, and the page comes back read-only from a
 * read-only descriptor, so that no mprotect(2) can make it writable
 * again (the mapping may never be written: the kernel refuses).  Exits
 * 111 on failure. */
const volatile unsigned *gen_child(volatile unsigned *listener);

#endif
