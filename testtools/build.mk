# Programs only tests use: built by build-all into the build directory,
# never installed.
# lib/milter.c against a real milter (tests/integration/test_milter.py)
TESTPROGS += sandmail-milterc
sandmail-milterc_OBJS := testtools/milterc.o
TESTPROGS += sandmail-sbxprobe
sandmail-sbxprobe_OBJS := testtools/sbxprobe.o
# the attacker probe: each program's own sandbox entry, linked from its
# folder, so that the probe sets itself up exactly as the program does
TESTPROGS += sandmail-probe
sandmail-probe_OBJS := testtools/probe.o testtools/probe_smtpd.o queue/qsbx.o send/send_sbx.o \
	auth/auth_sbx.o smtpd/lsbx.o \
	local/lfork.o local/lspawn.o local/lspawn_sbx.o local/lspawn_cfg.o \
	local/lwork.o $(LOCAL_DELIVER_OBJS) \
	resolve/rsbx.o resolve/resolver.o resolve/cache.o \
	resolve/route.o $(POP3D_LIB_OBJS) smtpd/gen.o smtpd/sandbox.o \
	$(filter-out remote/main.o,$(sandmail-rspawn_OBJS)) sts/sbx.o \
	srs/srs_sbx.o
# lib/spf.c driven by the RFC 7208 test suite (tests/integration/
# test_spf_suite.py): DNS questions and answers on stdin/stdout
TESTPROGS += sandmail-spfcheck
sandmail-spfcheck_OBJS := testtools/spfcheck.o
