# tlspolicy/: sandmail-tlspolicy, the administrator's view of the outbound
# TLS policy of one domain (routes, tls_policy, DANE, MTA-STS cache).
# Run by hand; reads the configuration, the tables and the STS cache and
# asks the configured name server; no sandbox of its own, no secrets.
PROGS += sandmail-tlspolicy
sandmail-tlspolicy_OBJS := tlspolicy/main.o
