# sandmail-dkim: the administrator's DKIM tool (keygen, txt, sign,
# verify).  Links lib (dkim, buf) with OpenSSL and libsodium; no network,
# no sandbox: it runs as the administrator on files it is given.
PROGS += sandmail-dkim
sandmail-dkim_OBJS := sign/dkim_main.o
# sandmail-sign: the signing service send asks (uid sandmailk).  Holds
# the private keys; sandboxed with the base rules only: no files, no
# network after its keys are loaded.
PROGS += sandmail-sign
sandmail-sign_OBJS := sign/sign_main.o
