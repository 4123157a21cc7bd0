# pop3d/: sandmail-pop3d, the POP3 server.  Links the TLS code (lib), the
# auth client (auth/authclient.o) and the table lookups; no queue, no DNS.
PROGS += sandmail-pop3d
POP3D_LIB_OBJS := pop3d/parse.o pop3d/stuff.o pop3d/mbox.o pop3d/trans.o \
	pop3d/login.o pop3d/session.o pop3d/cfg.o pop3d/listen.o pop3d/lsbx.o \
	auth/authclient.o
sandmail-pop3d_OBJS := pop3d/main.o $(POP3D_LIB_OBJS)
# tests/unit/test_pop3.c, tests/fuzz/fuzz_pop3.c
test_pop3_OBJS := $(POP3D_LIB_OBJS)
fuzz_pop3_OBJS := pop3d/parse.o pop3d/stuff.o pop3d/mbox.o pop3d/trans.o \
	auth/authclient.o
