# srs/: sandmail-srs, the SRS check service smtpd's sessions ask at RCPT
# (uid sandmailh).  Holds the SRS secret; links lib (srs, srsc, rec,
# sbx) with OpenSSL's HMAC; no files and no network after its socket is
# bound, no exec.
PROGS += sandmail-srs
sandmail-srs_OBJS := srs/main.o srs/srs_sbx.o
