"""Deliveries at once to one destination (concurrency_destination): by
default 20, Postfix's default_destination_concurrency_limit.  With a
remote server that takes its time per message, this limit is what bounds
the relay rate (scripts/bench relay with BENCH_SINK_DELAY=1: 4.8 msg/s
at 5, 17 at 20)."""
import time

import sendutil as su
from conftest import wait_for


def in_flight(procs, tmp_path, n, **conf):
    """n one-recipient messages to one domain whose server never answers;
    returns how many jobs are in flight once send has split them all."""
    conf = su.setup(tmp_path, su.TABLES, concurrency_remote=50, **conf)
    s = su.Send(procs, conf, rpolicy=lambda j, r: None).start()
    for i in range(n):
        su.inject(conf, "s@test.example", [f"u{i}@remote.example"])
    wait_for(lambda: s.logtext().count(b"event=new") == n, what="split")
    wait_for(lambda: len(s.rjobs()) >= min(n, 5), what="jobs")
    time.sleep(0.5)	# room for jobs past the limit, if it let them go
    return len(s.rjobs())


def test_default_is_20(procs, tmp_path):
    assert in_flight(procs, tmp_path, 25) == 20


def test_setting(procs, tmp_path):
    assert in_flight(procs, tmp_path, 12, concurrency_destination=5) == 5
