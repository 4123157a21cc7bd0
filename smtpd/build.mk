# smtpd/: sandmail-smtpd, the SMTP receiver.  It links no delivery code:
# the queue client (lib/qclient.c) is its only way out for mail.  The DNS
# wire code (lib/dns.c, pure functions, shared with resolve) builds and
# reads the DNS blocklist lookups of smtpd/dnsbl.c.
PROGS += sandmail-smtpd
SMTPD_LIB_OBJS := smtpd/session.o smtpd/data.o smtpd/param.o smtpd/auth.o \
	smtpd/policy.o smtpd/policyd.o smtpd/dnsbl.o smtpd/verify.o smtpd/milters.o smtpd/cfg.o smtpd/listen.o \
	smtpd/worker.o smtpd/sandbox.o smtpd/lsbx.o \
	auth/authclient.o
# the generation page (gen.c), also linked by the attacker probe
SMTPD_LIB_OBJS += smtpd/gen.o
sandmail-smtpd_OBJS := smtpd/main.o $(SMTPD_LIB_OBJS)
# objects the unit test links (never main.o): tests/unit/test_smtpd.c
test_smtpd_OBJS := $(SMTPD_LIB_OBJS)
# objects the fuzz target links: tests/fuzz/fuzz_smtpd.c
fuzz_smtpd_OBJS := $(SMTPD_LIB_OBJS)
# the filters' parsers: tests/unit/test_filter.c, tests/fuzz/fuzz_policyd.c
# and fuzz_dnsbl.c
test_filter_OBJS := $(SMTPD_LIB_OBJS)
fuzz_policyd_OBJS := $(SMTPD_LIB_OBJS)
fuzz_dnsbl_OBJS := $(SMTPD_LIB_OBJS)
# milters.c's header and body code: tests/fuzz/fuzz_mhdr.c
fuzz_mhdr_OBJS := $(SMTPD_LIB_OBJS)
