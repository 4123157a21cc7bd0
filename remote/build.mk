PROGS += sandmail-rspawn
sandmail-rspawn_OBJS := remote/main.o remote/rspawn_sbx.o remote/rspawn.o remote/worker.o \
	remote/smtp.o remote/reply.o remote/mime7.o remote/hdr2047.o \
	remote/dane.o remote/rtls.o
# the UNIX-socket connector for LMTP (uconn.h)
sandmail-rspawn_OBJS += remote/uconn.o
# objects the unit test and the fuzzer link (never main.o)
test_remote_OBJS := remote/reply.o remote/mime7.o remote/hdr2047.o \
	remote/dane.o remote/rtls.o
fuzz_remote_OBJS := remote/reply.o remote/mime7.o remote/hdr2047.o \
	remote/rtls.o
$(B)/tests/unit/test_remote.o: CPPFLAGS += -Iremote
# smtp_job itself, for its failure paths (tests/unit/test_smtpjob.c)
test_smtpjob_OBJS := remote/smtp.o remote/reply.o remote/mime7.o \
	remote/hdr2047.o remote/dane.o remote/rtls.o remote/uconn.o
$(B)/tests/unit/test_smtpjob.o: CPPFLAGS += -Iremote
# STARTTLS once lib/tls.c (the shared TLS code) exists
ifneq ($(wildcard lib/tls.c),)
$(B)/remote/%.o: CPPFLAGS += -DREMOTE_TLS
endif
