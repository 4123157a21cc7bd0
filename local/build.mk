# local/: sandmail-lspawn (root, forks one local per delivery) and
# sandmail-local (one delivery into one maildir, as the recipient).
# lspawn links no maildir code; local links no socket code.
PROGS += sandmail-lspawn sandmail-local
sandmail-lspawn_OBJS := local/lspawn_main.o local/lspawn.o local/lspawn_sbx.o
sandmail-local_OBJS := local/local_main.o local/maildir.o local/deliver.o \
    local/confine.o
# objects a unit test links (never main.o): tests/unit/test_local.c
test_local_OBJS := local/maildir.o local/deliver.o local/lspawn.o \
    local/lspawn_sbx.o local/confine.o
# local is exec'd once per delivery: link only the libraries it uses, so
# the dynamic loader does not map OpenSSL and libsodium for nothing.
sandmail-local_LIBS := -Wl,--as-needed
sandmail-lspawn_LIBS := -Wl,--as-needed
# the fuzz target: tests/fuzz/fuzz_local.c (loop scan, report text)
fuzz_local_OBJS := local/deliver.o local/lspawn.o local/lspawn_sbx.o
