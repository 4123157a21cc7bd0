PROGS += sandmail-resolve
sandmail-resolve_OBJS := resolve/main.o resolve/rsbx.o resolve/resolver.o resolve/route.o \
	resolve/cache.o
# objects the unit test and the fuzzer link (never main.o)
test_dns_OBJS := resolve/route.o resolve/cache.o
fuzz_dns_OBJS := resolve/route.o resolve/cache.o
$(B)/tests/unit/test_dns.o: CPPFLAGS += -Iresolve
