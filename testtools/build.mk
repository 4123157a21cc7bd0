# Programs only tests use: built by build-all into the build directory,
# never installed.
TESTPROGS += sandmail-sbxprobe
sandmail-sbxprobe_OBJS := testtools/sbxprobe.o
