# Unit tests: tests/unit/test_NAME.c, each a cmocka program linked with lib
# and with the objects of the program it tests, listed as test_NAME_OBJS by
# that program's build.mk (without its main.o).
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_TESTS += $(UNIT_SRCS:%.c=%)

define unit_rule
$(B)/$(1): $(B)/$(1).o $$($(notdir $(1))_OBJS:%=$(B)/%) $(LIBA)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS) -lcmocka
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_rule,$(t))))
