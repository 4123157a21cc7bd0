# queue/: sandmail-queue (the only writer into the queue) and qwrite, the
# crash-safe writer it shares with send's bounces.
PROGS += sandmail-queue
sandmail-queue_OBJS := queue/queue_main.o queue/qserver.o queue/qwrite.o \
	queue/qinit.o
# objects the queue unit test links (never queue_main.o)
test_qwrite_OBJS := queue/qwrite.o queue/qinit.o
fuzz_qserver_OBJS := queue/qserver.o queue/qwrite.o queue/qinit.o
# sandmail-send, sandmail-start and the queue tools (the send part)
PROGS += sandmail-send
SEND_OBJS := queue/send_pre.o queue/send_loop.o queue/send_fs.o \
	queue/send_rcpt.o queue/send_sched.o queue/send_bounce.o queue/qwrite.o
sandmail-send_OBJS := queue/send_main.o $(SEND_OBJS)
test_send_OBJS := $(SEND_OBJS)
$(B)/tests/unit/test_send.o: CPPFLAGS += -Iqueue
PROGS += sandmail-start
sandmail-start_OBJS := queue/start_main.o
PROGS += sandmail-mailq sandmail-flush sandmail-rm
TOOLS_OBJS := queue/tools_common.o queue/send_fs.o queue/send_rcpt.o
sandmail-mailq_OBJS := queue/tools_mailq.o $(TOOLS_OBJS)
sandmail-flush_OBJS := queue/tools_flush.o $(TOOLS_OBJS) queue/qwrite.o
sandmail-rm_OBJS := queue/tools_rm.o $(TOOLS_OBJS) queue/qwrite.o
