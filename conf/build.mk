# sandmail-conf: checks sandmail.conf against the key registry and every
# text table with sandmail-cdb's own parser; prints the settings that
# differ from the defaults.  An administrator's tool (sandmail-check runs
# it): reads the configuration and the tables, writes nothing.
PROGS += sandmail-conf
sandmail-conf_OBJS := conf/main.o cdb/compile.o
$(B)/conf/%.o: CPPFLAGS += -Icdb
