# metrics/: sandmail-metrics, the counters for Prometheus: follows the
# log files, reads send's stats file, writes a textfile and answers
# loopback HTTP.  Links no queue, SMTP, TLS or DNS code.
PROGS += sandmail-metrics
METRICS_OBJS := metrics/mstat.o
sandmail-metrics_OBJS := metrics/main.o $(METRICS_OBJS)
test_metrics_OBJS := $(METRICS_OBJS)
$(B)/tests/unit/test_metrics.o: CPPFLAGS += -Imetrics
fuzz_metrics_OBJS := $(METRICS_OBJS)
