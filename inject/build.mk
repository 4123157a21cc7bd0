# inject/: sandmail-inject, the sendmail command (also installed as
# sendmail and mailq).  It links the queue client and nothing of the
# network: it only hands a local user's message to sandmail-queue.
PROGS += sandmail-inject
sandmail-inject_OBJS := inject/main.o inject/args.o inject/msg.o inject/hdr.o
# objects the unit test and the fuzz target link (never main.o)
test_inject_OBJS := inject/args.o inject/msg.o inject/hdr.o
fuzz_inject_OBJS := inject/args.o inject/msg.o inject/hdr.o
