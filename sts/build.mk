# sandmail-sts: the MTA-STS policy fetcher send asks (uid user_sts).
# The one program that links libcurl (HTTPS to policy servers); DNS
# through lib's packet code to the configured name servers; zlib for
# the TLS reports (RFC 8460) it also writes.
PROGS += sandmail-sts
sandmail-sts_OBJS := sts/main.o sts/sbx.o sts/dnsq.o sts/fetch.o sts/cache.o \
	sts/report.o
sandmail-sts_LIBS := $(shell pkg-config --libs libcurl zlib 2>/dev/null || echo -lcurl -lz)
