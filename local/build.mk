# local/: sandmail-lspawn (root, forks reusable maildir workers that run
# the delivery code in place, lwork.c and lrun.c) and sandmail-local (the
# same delivery as a program: for "|command", lspawn_exec and admins).
PROGS += sandmail-lspawn sandmail-local
LOCAL_DELIVER_OBJS := local/lrun.o local/maildir.o local/deliver.o \
    local/confine.o
sandmail-lspawn_OBJS := local/lspawn_main.o local/lspawn.o local/lspawn_cfg.o \
    local/lspawn_sbx.o local/lwork.o local/lfork.o $(LOCAL_DELIVER_OBJS)
sandmail-local_OBJS := local/local_main.o $(LOCAL_DELIVER_OBJS)
# objects a unit test links (never main.o): tests/unit/test_local.c
test_local_OBJS := local/maildir.o local/deliver.o local/lspawn.o \
    local/lspawn_sbx.o local/confine.o local/lrun.o local/lwork.o \
    local/lfork.o
# local is exec'd once per delivery: link only the libraries it uses, so
# the dynamic loader does not map OpenSSL and libsodium for nothing.
sandmail-local_LIBS := -Wl,--as-needed
sandmail-lspawn_LIBS := -Wl,--as-needed
# the fuzz target: tests/fuzz/fuzz_local.c (loop scan, report text)
fuzz_local_OBJS := local/lspawn.o local/lspawn_sbx.o local/lwork.o local/lfork.o \
    $(LOCAL_DELIVER_OBJS)
