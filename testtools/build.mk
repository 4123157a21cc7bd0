# Programs only tests use: built by build-all into the build directory,
# never installed.
# lib/milter.c against a real milter (tests/integration/test_milter.py)
TESTPROGS += sandmail-milterc
sandmail-milterc_OBJS := testtools/milterc.o
TESTPROGS += sandmail-sbxprobe
sandmail-sbxprobe_OBJS := testtools/sbxprobe.o
