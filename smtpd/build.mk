# smtpd/: sandmail-smtpd, the SMTP receiver.  It links no DNS and no
# delivery code: the queue client (lib/qclient.c) is its only way out.
PROGS += sandmail-smtpd
SMTPD_LIB_OBJS := smtpd/session.o smtpd/data.o smtpd/param.o smtpd/auth.o \
	smtpd/policy.o smtpd/cfg.o smtpd/listen.o smtpd/worker.o smtpd/sandbox.o smtpd/limits.o \
	auth/authclient.o
# the generation page (gen.c), also linked by the attacker probe
SMTPD_LIB_OBJS += smtpd/gen.o
sandmail-smtpd_OBJS := smtpd/main.o $(SMTPD_LIB_OBJS)
# objects the unit test links (never main.o): tests/unit/test_smtpd.c
test_smtpd_OBJS := $(SMTPD_LIB_OBJS)
# objects the fuzz target links: tests/fuzz/fuzz_smtpd.c
fuzz_smtpd_OBJS := $(SMTPD_LIB_OBJS)
