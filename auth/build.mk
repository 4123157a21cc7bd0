# auth/: sandmail-auth (the password service for smtpd and pop3d)
# and sandmail-passwd (sets a password in the users table).
# smtpd and pop3d link auth/authclient.o (lib/authc.h: auth_spawn,
# auth_check, SASL PLAIN/base64 decoding).
PROGS += sandmail-auth sandmail-passwd
sandmail-auth_OBJS := auth/main.o auth/authd.o auth/serve.o auth/auth_sbx.o \
	auth/guard.o auth/users.o auth/authclient.o
sandmail-passwd_OBJS := auth/passwd.o auth/authd.o auth/guard.o auth/users.o \
	auth/authclient.o \
	cdb/compile.o
test_auth_OBJS := auth/authd.o auth/serve.o auth/auth_sbx.o auth/guard.o \
	auth/users.o auth/authclient.o
fuzz_auth_OBJS := auth/authclient.o auth/guard.o
