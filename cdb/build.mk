# sandmail-cdb: the table compiler.  Links lib (addr, tbl, conf) and
# tinycdb; no network, no sandbox (an administrator's tool).
PROGS += sandmail-cdb
sandmail-cdb_OBJS := cdb/main.o cdb/compile.o
# tests/unit/test_tbl.c builds its tables with the real compiler
test_tbl_OBJS := cdb/compile.o
# tests/unit/test_rcpt.c too (lib/rcpt.c on real tables)
test_rcpt_OBJS := cdb/compile.o
# and tests/fuzz/fuzz_rcpt.c
fuzz_rcpt_OBJS := cdb/compile.o
