"""The queue tools against a running sandmail-send: sandmail-mailq lists
pending recipients with their last error, sandmail-flush makes a deferred
delivery due now, sandmail-rm removes a message through send."""
import subprocess

import sendutil as su
from conftest import prog, wait_for


def empty(conf):
    return all(not su.queued(conf, d) for d in
               ("todo", "info", "local", "remote", "bounce", "mess"))


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True)


def test_mailq_flush_rm(procs, tmp_path):
    tries = {}

    def rpol(j, r):
        tries[r] = tries.get(r, 0) + 1
        if r.startswith("later") and tries[r] == 1:
            return ("Z", "451 4.7.1 greylisted")
        if r.startswith("never"):
            return ("Z", "421 4.4.2 timeout")
        return ("K", "250 ok")
    conf = su.setup(tmp_path, su.TABLES, retry_first="1h", retry_max="4h")
    s = su.Send(procs, conf, rpolicy=rpol).start()
    m1 = su.inject(conf, "s@test.example",
                   ["later@a.example", "alice@test.example"])
    m2 = su.inject(conf, "t@test.example", ["never@b.example"])
    wait_for(lambda: s.logtext().count(b"event=deferred") >= 2,
             what="deferrals")
    # send logs a deferral before it writes the error into info/ID, and
    # writes the marks (alice's done) once per window: wait until mailq,
    # which reads info/ID, can show them
    want = ("\tpending\tlater@a.example\t(451 4.7.1 greylisted)",
            "\tdone\talice@test.example",
            "\tpending\tnever@b.example\t(421 4.4.2 timeout)")

    def mailq():
        q = run(prog("sandmail-mailq"), "-c", conf)
        return q if all(w in q.stdout for w in want) else None
    try:
        wait_for(mailq, what="the deferrals and the mark in info/")
    except TimeoutError:
        pass
    q = run(prog("sandmail-mailq"), "-c", conf)
    assert q.returncode == 0, q.stderr
    out = q.stdout
    assert f"{m1} " in out and "<s@test.example>" in out
    assert "\tpending\tlater@a.example\t(451 4.7.1 greylisted)" in out
    assert "\tdone\talice@test.example" in out
    assert "\tpending\tnever@b.example\t(421 4.4.2 timeout)" in out
    assert out.strip().endswith("-- 2 messages")
    # flush one domain: only that delivery happens now
    r = run(prog("sandmail-flush"), "-c", conf, "a.example")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: m1 not in su.queued(conf, "info"), what="m1 done")
    assert tries["later@a.example"] == 2
    assert tries["never@b.example"] == 1
    # rm: send removes the message; nothing is bounced
    r = run(prog("sandmail-rm"), "-c", conf, m2)
    assert r.returncode == 0, r.stderr
    assert "1 recipient marked done" in r.stdout
    wait_for(lambda: empty(conf), what="queue empty")
    assert su.reports(s) == []
    assert tries["never@b.example"] == 1
    r = run(prog("sandmail-rm"), "-c", conf, m2)
    assert r.returncode == 111 and "no such message" in r.stderr
    q = run(prog("sandmail-mailq"), "-c", conf)
    assert q.stdout.strip() == "-- 0 messages"
