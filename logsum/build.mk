# logsum/: sandmail-logsum, a summary of the log (as pflogsumm); reads
# only the files it is given.
PROGS += sandmail-logsum
sandmail-logsum_OBJS := logsum/logsum.o
