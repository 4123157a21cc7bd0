# dmarcrep/: sandmail-dmarcrep, the DMARC aggregate reports (RFC 7489
# 7.2) from smtpd's event=verify log lines; an administrator's tool (run
# daily by cron), reading only the log files it is given, asking the
# name server for external destination records, handing each report to
# sandmail-inject.
PROGS += sandmail-dmarcrep
sandmail-dmarcrep_OBJS := dmarcrep/main.o
sandmail-dmarcrep_LIBS := $(shell pkg-config --libs zlib 2>/dev/null || echo -lz)
