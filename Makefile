# sandmail: one GNU make file, no recursion. Each program folder adds its
# programs in its own build.mk fragment (the allow-list of what it links).
# Data first, then pattern rules.

PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   := $(PREFIX)/sbin
MANDIR   := $(PREFIX)/share/man
LIBEXEC  := $(PREFIX)/libexec/sandmail

PYTHON   := /usr/bin/python3
# A test that hangs (its setup and teardown too) fails after this long,
# with every thread's stack, instead of holding CI to its own limit; the
# longest test (the crash test under ASan) takes about 15 minutes.
PYTEST_TIMEOUT ?= --timeout=1500 --timeout-method=thread
PKGS     := libseccomp libsodium libcdb libssl libcrypto

CC       ?= cc
OPT      ?= -O2
CFLAGS   := -std=c17 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wvla \
	    -Wno-missing-field-initializers \
	    -fstack-protector-strong -fPIE
CPPFLAGS := -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -MMD -MP -Ilib
LDFLAGS  := -pie -Wl,-z,relro,-z,now
LDLIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lseccomp -lsodium -lcdb -lssl -lcrypto -lpsl)
# libpsl: the Public Suffix List, for DMARC's organizational domain
PKGS     += libpsl

# SANITIZE=1 builds everything into build-asan/ with ASan and UBSan, so the
# two builds never mix objects.
ifeq ($(SANITIZE),1)
B        := build-asan
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
CPPFLAGS := $(filter-out -D_FORTIFY_SOURCE=2,$(CPPFLAGS))
OPT      := -O1
else
B        := build
endif
# SBX_DEBUG=1: seccomp logs instead of killing, so the kernel names a missing call.
ifeq ($(SBX_DEBUG),1)
CPPFLAGS += -DSBX_DEBUG
endif

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
LIBA     := $(B)/lib/libsandmail.a

PROGS    :=
TESTPROGS :=
MAN_PAGES := $(wildcard doc/*.[1-8])
UNIT_TESTS :=

all: build-all

include $(sort $(filter-out tests/build.mk,$(wildcard */build.mk)))
include tests/build.mk

BINS := $(PROGS:%=$(B)/%)
# programs only the tests use (testtools/): built, never installed
TESTBINS := $(TESTPROGS:%=$(B)/%)

build-all: $(BINS) $(TESTBINS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# Each program: $(prog_OBJS) from its build.mk; linked with lib.
define prog_rule
$(B)/$(1): $$($(1)_OBJS:%=$(B)/%) $(LIBA)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$($(1)_LIBS) $$(LDLIBS)
endef
$(foreach p,$(PROGS) $(TESTPROGS),$(eval $(call prog_rule,$(p))))

deps:
	@scripts/deps --check || scripts/deps

# The banned-function check: every one of these has bitten a mail server.
banned:
	@if grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|strncpy|strtok|atoi|alloca)[[:space:]]*\(' \
	    $$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]') | grep -v '^tests/banned'; then \
		echo "banned: unbounded or unsafe string functions above"; exit 1; \
	else echo "banned: 1 passed, 0 failed"; fi

# In order, even under -j (each step still builds in parallel); the unit
# and integration tests both run, and check fails if either did.
check:
	@$(MAKE) --no-print-directory deps
	@PYTHON=$(PYTHON) scripts/deps --check-tools
	@$(MAKE) --no-print-directory build-all
	@$(MAKE) --no-print-directory banned
	@st=0; $(MAKE) --no-print-directory unit || st=1; \
	$(MAKE) --no-print-directory integration || st=1; \
	if [ $$st -ne 0 ]; then echo "check: FAILED (see above)"; fi; exit $$st

unit: $(UNIT_TESTS:%=$(B)/%)
	@ok=0; bad=0; for t in $^; do echo "== $$t"; \
		if $$t; then ok=$$((ok + 1)); else bad=$$((bad + 1)); echo "FAILED: $$t"; fi; \
	done; echo "unit: $$ok programs passed, $$bad failed"; [ $$bad -eq 0 ]

integration: build-all
	SANDMAIL_BUILD=$(abspath $(B)) $(PYTHON) -m pytest -q -rx -p no:cacheprovider $(PYTEST_TIMEOUT) tests/integration $(PYTEST_ARGS)

asan:
	$(MAKE) SANITIZE=1 check

fuzz:
	@scripts/fuzz $(FUZZ_SECONDS)

# Fuzz targets: tests/fuzz/fuzz_NAME.c with clang's libFuzzer, ASan and
# UBSan, linked with lib and the objects a program's build.mk lists as
# fuzz_NAME_OBJS, all compiled again with clang into build-fuzz/.
FUZZ_CC    ?= clang
FUZZ_CFLAGS := -std=c17 -g -O1 -Wall -fno-omit-frame-pointer \
	    -fsanitize=fuzzer-no-link,address,undefined
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS    := $(FUZZ_SRCS:tests/fuzz/%.c=%)
FUZZ_LIB   := $(LIB_SRCS:%.c=build-fuzz/%.o)
# every lib object is linked (not the archive): lib/report.c's gzip too
FUZZ_ZLIB  := $(shell pkg-config --libs zlib 2>/dev/null || echo -lz)

fuzz-build: $(FUZZERS:%=build-fuzz/%)

build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -D_GNU_SOURCE -MMD -MP -Ilib $(FUZZ_CFLAGS) -c -o $@ $<

define fuzz_rule
build-fuzz/$(1): build-fuzz/tests/fuzz/$(1).o $$($(1)_OBJS:%=build-fuzz/%) $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $$@ $$^ $$(LDLIBS) $$(FUZZ_ZLIB)
endef
$(foreach f,$(FUZZERS),$(eval $(call fuzz_rule,$(f))))

run: deps build-all
	@scripts/run $(abspath $(B))

# install: programs and sandmail-check to sbin, man pages, the setup script
# and the service directories (runit, systemd) to libexec; then run
# $(LIBEXEC)/setup as root.  SENDMAIL_LINKS=1 also makes sendmail, mailq
# and newaliases links to sandmail-inject.  DESTDIR is honoured.  An
# upgrade by root of a machine setup has made keeps sandmail-queue
# set-uid and set-gid sandmailq (doc/design.md, "The installed layout").
install: build-all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(LIBEXEC)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && \
	    getent passwd sandmailq >/dev/null 2>&1; then \
		chown sandmailq:sandmailq $(BINDIR)/sandmail-queue && \
		chmod 6711 $(BINDIR)/sandmail-queue && \
		echo "install: $(BINDIR)/sandmail-queue set-uid and set-gid sandmailq"; fi
	install -m 0755 scripts/sandmail-check $(DESTDIR)$(BINDIR)/sandmail-check
	for m in $(MAN_PAGES); do s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	install -m 0755 scripts/setup $(DESTDIR)$(LIBEXEC)/setup
	rm -rf $(DESTDIR)$(LIBEXEC)/runit $(DESTDIR)$(LIBEXEC)/systemd
	cp -R scripts/runit scripts/systemd $(DESTDIR)$(LIBEXEC)/
ifeq ($(SENDMAIL_LINKS),1)
	install -d $(DESTDIR)$(PREFIX)/bin
	ln -sf $(BINDIR)/sandmail-inject $(DESTDIR)$(BINDIR)/sendmail
	ln -sf $(BINDIR)/sandmail-inject $(DESTDIR)$(PREFIX)/bin/mailq
	ln -sf $(BINDIR)/sandmail-inject $(DESTDIR)$(PREFIX)/bin/newaliases
endif

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all build-all deps banned check unit integration asan fuzz fuzz-build run install clean
.DELETE_ON_ERROR:

-include $(wildcard build-fuzz/*/*.d build-fuzz/tests/fuzz/*.d)
-include $(LIB_OBJS:.o=.d) $(foreach p,$(PROGS) $(TESTPROGS),$($(p)_OBJS:%.o=$(B)/%.d)) $(UNIT_TESTS:%=$(B)/%.d)
