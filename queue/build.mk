# queue/: sandmail-queue (the only writer into the queue) and qwrite, the
# crash-safe writer it shares with send's bounces.
PROGS += sandmail-queue
sandmail-queue_OBJS := queue/queue_main.o queue/qserver.o queue/qwrite.o \
	queue/qinit.o
# objects the queue unit test links (never queue_main.o)
test_qwrite_OBJS := queue/qwrite.o queue/qinit.o
