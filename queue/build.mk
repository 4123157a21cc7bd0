# queue/: sandmail-queue, the only writer of new messages into the queue.
# Its crash-safe writer (lib/qwrite.c) is shared with send's bounces.
PROGS += sandmail-queue
sandmail-queue_OBJS := queue/queue_main.o queue/qserver.o queue/qinit.o \
    queue/qsbx.o
# objects the queue unit test links (never queue_main.o)
test_qwrite_OBJS := queue/qinit.o
fuzz_qserver_OBJS := queue/qserver.o queue/qinit.o
