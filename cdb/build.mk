# sandmail-cdb: the table compiler.  Links lib (addr, tbl, conf) and
# tinycdb; no network, no sandbox (an administrator's tool).
PROGS += sandmail-cdb
sandmail-cdb_OBJS := cdb/main.o cdb/compile.o
# tests/unit/test_tbl.c builds its tables with the real compiler
test_tbl_OBJS := cdb/compile.o
# sandmail-conf: checks sandmail.conf against the key registry and every
# text table with the same compiler, writing nothing; -n prints the
# settings that differ from the defaults.  Same links, same user: an
# administrator's tool that sandmail-check runs.
PROGS += sandmail-conf
sandmail-conf_OBJS := cdb/conf_main.o cdb/compile.o
# tests/unit/test_rcpt.c too (lib/rcpt.c on real tables)
test_rcpt_OBJS := cdb/compile.o
# and tests/fuzz/fuzz_rcpt.c
fuzz_rcpt_OBJS := cdb/compile.o
