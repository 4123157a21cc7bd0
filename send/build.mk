# send/: sandmail-send (the queue manager, its own user), sandmail-start
# (which starts send and its helpers) and the queue tools, which read
# send's files (info/, bounce/) with send's own code.
PROGS += sandmail-send
SEND_OBJS := send/send_pre.o send/send_loop.o send/send_fs.o \
	send/send_rcpt.o send/send_sched.o send/send_bounce.o send/send_dkim.o \
	send/send_sts.o \
	send/send_stats.o
sandmail-send_OBJS := send/send_main.o send/send_sbx.o $(SEND_OBJS)
test_send_OBJS := $(SEND_OBJS)
$(B)/tests/unit/test_send.o: CPPFLAGS += -Isend
PROGS += sandmail-start
sandmail-start_OBJS := send/start_main.o
PROGS += sandmail-mailq sandmail-flush sandmail-rm sandmail-queuectl
TOOLS_OBJS := send/tools_common.o send/send_fs.o send/send_rcpt.o
sandmail-mailq_OBJS := send/tools_mailq.o $(TOOLS_OBJS)
sandmail-flush_OBJS := send/tools_flush.o $(TOOLS_OBJS)
sandmail-rm_OBJS := send/tools_rm.o $(TOOLS_OBJS)
sandmail-queuectl_OBJS := send/tools_queuectl.o $(TOOLS_OBJS)
