"""sandmail-queuectl against a running sandmail-send while mail keeps
coming: list (text and JSON, with the right next retry times), summary,
show, hold/release/requeue/delete by ID, by filter and from stdin; held
mail is never tried, survives a restart of send and does not expire;
nothing the tool did not target is lost or delivered twice."""
import collections
import json
import os
import subprocess
import threading
import time

import pytest

import sendutil as su
from conftest import prog, wait_for


def qctl(conf, *args, stdin=None):
    r = subprocess.run([prog("sandmail-queuectl"), "-c", conf, *args],
                       capture_output=True, text=True, input=stdin)
    return r


def ok(r):
    assert r.returncode == 0, r.stderr
    return r.stdout


def jlist(conf, *filt):
    out = ok(qctl(conf, "-j", *filt, "list"))
    return {m["queue_id"]: m for m in map(json.loads, out.splitlines())}


def tries(s):
    """(qid, rcpt) -> how many delivery attempts send made"""
    c = collections.Counter()
    for j in s.rjobs():
        for r in j["rcpts"]:
            c[(j["qid"], r[0])] += 1
    return c


def wait_reasons(conf):
    """send logs a deferral before it writes the error into info/ID (what
    makes the listing say deferred, with its reason): wait for every
    recipient's reason; the caller's assertions say what is missing."""
    try:
        wait_for(lambda: all(r.get("delay_reason") for m in
                             jlist(conf).values() for r in m["recipients"]),
                 what="the errors in info/")
    except TimeoutError:
        pass

def test_queuectl_under_load(procs, tmp_path):
    state = {"slow_ok": False}

    def rpol(j, r):
        if r.endswith("@slow.example") and not state["slow_ok"]:
            return ("Z", "451 4.3.0 try later")
        return ("K", "250 2.0.0 ok")
    # the deferred ones stay far past their lifetime while held
    conf = su.setup(tmp_path, su.TABLES, retry_first="1h", retry_max="4h",
                    queue_lifetime="3")
    s = su.Send(procs, conf, rpolicy=rpol).start()
    spam = [su.inject(conf, "spam@bad.example", [f"v{i}@slow.example"])
            for i in range(10)]
    good = [su.inject(conf, "ann@test.example", [f"w{i}@slow.example"])
            for i in range(10)]
    wait_for(lambda: s.logtext().count(b"event=deferred") >= 20,
             what="deferrals")
    wait_reasons(conf)

    # JSON: one object a line; next retry = arrival + retry_first
    js = jlist(conf)
    assert set(js) == set(spam + good)
    for m in js.values():
        assert m["state"] == m["queue_name"] == "deferred"
        assert not m["held"]
        (r,) = m["recipients"]
        assert r["state"] == "deferred"
        assert r["delay_reason"] == "451 4.3.0 try later"
        assert r["next_retry"] == m["arrival_time"] + 3600
        assert r["domain"] == "slow.example"
    assert set(jlist(conf, "-s", "spam@")) == set(spam)
    assert set(jlist(conf, "-r", "w3@")) == {good[3]}
    assert jlist(conf, "-d", "nowhere.example") == {}
    text = ok(qctl(conf, "list"))
    assert "\tnext 20" in text and "(451 4.3.0 try later)" in text
    assert text.strip().endswith("-- 20 messages")
    shape = ok(qctl(conf, "summary")).splitlines()
    assert shape[1].split()[:3] == ["TOTAL", "20", "20"]
    assert shape[2].split()[:3] == ["slow.example", "20", "20"]
    body = ok(qctl(conf, "show", good[0]))
    assert "sender: <ann@test.example>" in body
    assert f"Subject: test {good[0]}" in body

    # load: new mail to a working domain keeps coming while we act
    stop = threading.Event()
    fresh = []

    def feed():
        while not stop.is_set():
            fresh.append(su.inject(conf, "load@test.example",
                                   ["x@fast.example"]))
            time.sleep(0.01)
    t = threading.Thread(target=feed)
    t.start()
    try:
        # hold by filter; all spam held, nothing else
        out = ok(qctl(conf, "-s", "spam@bad.example", "hold"))
        assert out.count(": held") == 10
        assert set(jlist(conf, "-S", "held")) == set(spam)
        # requeue everything deferred: only the unheld are tried
        before = tries(s)
        state["slow_ok"] = True
        ok(qctl(conf, "-d", "slow.example", "requeue"))
        wait_for(lambda: not set(good) & set(su.queued(conf, "info")),
                 what="good delivered")
        # delete some held ones by IDs on stdin
        out = ok(qctl(conf, "delete", "-",
                      stdin="\n".join(spam[:3]) + "\n"))
        assert out.count(": deleted (1 recipient)") == 3
    finally:
        stop.set()
        t.join()
    wait_for(lambda: not set(spam[:3]) & set(su.queued(conf, "info")),
             what="deleted")
    after = tries(s)
    for i, m in enumerate(spam):
        assert after[(m, f"v{i}@slow.example")] == 1
    for i, m in enumerate(good):
        assert after[(m, f"w{i}@slow.example")] == \
            before[(m, f"w{i}@slow.example")] + 1
    wait_for(lambda: not set(fresh) & set(su.queued(conf, "info") +
                                          su.queued(conf, "todo")),
             what="fresh delivered")
    done = collections.Counter(q for q, _ in s.remote_done())
    for m in fresh + good:
        assert done[m] == 1, m

    # held mail survives a restart of send, is never tried and never
    # expires (queue_lifetime 3 s is long past; were it tried, the 451
    # would expire it)
    state["slow_ok"] = False
    time.sleep(3.5)
    s.kill()
    s.start()
    ok(qctl(conf, "-A", "requeue"))
    su.flush(conf)
    held = set(spam[3:])
    assert set(jlist(conf, "-S", "held")) == held
    s.kill()
    s.start()
    assert set(jlist(conf, "-S", "held")) == held
    n = sum(after[(m, r)] for (m, r) in after if m in held)
    assert sum(c for (m, _), c in tries(s).items() if m in held) == n
    assert b"event=bounced" not in s.logtext()
    # sandmail-rm removes a held message and its hold
    gone = sorted(held)[0]
    held.discard(gone)
    r = subprocess.run([prog("sandmail-rm"), "-c", conf, gone],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: gone not in su.queued(conf, "info"), what="rm held")
    assert gone not in su.queued(conf, "hold")
    # release: tried at once, delivered (slow.example answers now)
    state["slow_ok"] = True
    out = ok(qctl(conf, "release", *sorted(held)))
    assert out.count(": released") == 6
    wait_for(lambda: not held & set(su.queued(conf, "info")),
             what="released delivered")
    done = collections.Counter(q for q, _ in s.remote_done())
    for m in held:
        assert done[m] == 1
    assert su.reports(s) == []
    assert su.queued(conf, "hold") == []
    r = qctl(conf, "hold", spam[0])
    assert r.returncode == 111 and "no such message" in r.stderr
    r = qctl(conf, "delete")
    assert r.returncode == 100          # no filter: never everything


def test_queuectl_whole_system(procs):
    """make run's whole system: smtp-source sends 70 messages, the remote
    site answers 451; hold the spam run by sender, requeue the rest once
    the site is back (each delivered once, none of the held), release the
    spam (each delivered once); sandmail-logsum over the run's log knows
    the counts."""
    import shutil
    from remoteutil import SMTPServer
    from runutil import RunSystem, scratch

    tmp = scratch()
    s = RunSystem(tmp)
    mx = SMTPServer("127.0.0.1", s.ports["remote"], "mx.slow.test")
    state = {"up": False}
    mx.rcpt = lambda a: "250 2.1.5 ok" if state["up"] else \
        "451 4.3.0 busy, later"
    try:
        s.start()
        s.wait_ready()
        conf = s.conf
        src = f"127.0.0.1:{s.ports['smtp']}"
        for frm, to, n in (("spam@src.test", "a@slow.test", 50),
                           ("good@src.test", "b@slow.test", 20)):
            r = subprocess.run(["smtp-source", "-s", "5", "-m", str(n),
                                "-f", frm, "-t", to, src],
                               capture_output=True, timeout=120)
            assert r.returncode == 0, r.stderr

        def deferred():
            js = jlist(conf)
            return len(js) == 70 and all(
                m["state"] == "deferred" for m in js.values()) and js
        js = wait_for(deferred, timeout=60, what="70 deferred")
        for m in js.values():
            (r,) = m["recipients"]
            # retry_first 5m: the first point after the failure
            assert r["next_retry"] == m["arrival_time"] + 300
            assert r["delay_reason"].endswith("451 4.3.0 busy, later")
        spam = set(jlist(conf, "-s", "spam@src.test"))
        assert len(spam) == 50
        out = ok(qctl(conf, "-s", "spam@src.test", "hold"))
        assert out.count(": held") == 50
        state["up"] = True
        ok(qctl(conf, "-A", "requeue"))

        def got(addr):
            return sum(1 for t in mx.transactions
                       if any(addr in x for x in t.rcpts) and t.data)
        wait_for(lambda: got("b@slow.test") == 20, timeout=60,
                 what="the 20 requeued")
        # the site has them; send removes each once rspawn has reported
        # it (and its window barrier is over): then only the held remain
        wait_for(lambda: set(jlist(conf)) == spam, timeout=30,
                 what="the 20 delivered gone from the queue")
        assert set(jlist(conf, "-S", "held")) == spam
        assert got("a@slow.test") == 0
        out = ok(qctl(conf, "release", "-",
                      stdin="\n".join(sorted(spam)) + "\n"))
        assert out.count(": released") == 50
        wait_for(lambda: jlist(conf) == {}, timeout=60, what="queue empty")
        assert got("a@slow.test") == 50 and got("b@slow.test") == 20
        log = os.path.join(s.dir, "log", "sandmail.log")
        tot, _ = logsum_of(log)
        assert tot["received"] == 70 and tot["delivered"] == 70
        assert tot["deferred"] == 70 and tot["bounced"] == 0
    finally:
        s.cleanup()
        mx.close()
        shutil.rmtree(tmp, ignore_errors=True)


def logsum_of(path):
    r = subprocess.run([prog("sandmail-logsum"), path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tot = {}
    for ln in r.stdout.split("\n\n")[0].splitlines()[1:]:
        k, v = ln.rsplit(None, 1)
        tot[k.strip()] = int(v)
    return tot, r.stdout


def test_queuectl_json_any_bytes(procs, tmp_path):
    """An envelope's bytes are the client's: JSON output parses whatever
    they are (invalid UTF-8 as \\u00XX, quotes and controls escaped)."""
    conf = su.setup(tmp_path, su.TABLES, retry_first="1h")
    s = su.Send(procs, conf, rpolicy=lambda j, r: (
        "Z", '451 4.3.0 "busy"\x01')).start()
    snd = b'b\xffd"q\\\x7f@x.example'
    m = su.inject(conf, snd, ["caf\u00e9@r.example"])
    wait_for(lambda: b"event=deferred" in s.logtext(), what="deferral")
    wait_reasons(conf)
    (j,) = jlist(conf).values()
    assert j["queue_id"] == m
    assert j["sender"] == 'b\u00ffd"q\\\x7f@x.example'
    assert j["recipients"][0]["address"] == "caf\u00e9@r.example"
    assert j["recipients"][0]["delay_reason"] == '451 4.3.0 "busy"\x01'
    assert jlist(conf, "-s", "<>") == {}


def test_hold_during_delivery(procs, tmp_path):
    """A hold that comes while a delivery is in flight: the delivery ends
    as it would (its result is kept), then the message is held: not tried
    again on a requeue or a flush, until released."""
    go = threading.Event()
    busy = threading.Event()
    n = {"tries": 0}

    def rpol(j, r):
        if not r.startswith("x@"):
            return ("K", "250 2.0.0 ok")
        n["tries"] += 1
        if n["tries"] == 1:
            busy.set()
            go.wait(30)
            return ("Z", "451 4.3.0 later")
        return ("K", "250 2.0.0 ok")
    conf = su.setup(tmp_path, su.TABLES, retry_first="1h")
    s = su.Send(procs, conf, rpolicy=rpol).start()
    m = su.inject(conf, "ann@test.example", ["x@r.example"])
    assert busy.wait(30)
    out = ok(qctl(conf, "hold", m))
    assert out == f"{m}: held\n"
    go.set()
    wait_for(lambda: f"event=held id={m}".encode() in s.logtext(),
             what="held after the delivery")
    assert b"status=deferred" in s.logtext()
    ok(qctl(conf, "-A", "requeue"))
    su.flush(conf)
    # mail sent after them is delivered after them (send reads its
    # trigger in order, rspawn answers jobs in order): by then a retry
    # of the held message would have been answered
    m2 = su.inject(conf, "ann@test.example", ["y@r.example"])
    wait_for(lambda: (m2, "y@r.example") in s.remote_done(), what="m2")
    # the fake rspawn has m2's job before send has its answer; send
    # removes m2 once it has (and its window barrier is over): then the
    # held one alone is listed
    wait_for(lambda: set(jlist(conf)) == {m}, what="m2 out of the queue")
    assert n["tries"] == 1
    (j,) = jlist(conf).values()
    assert j["held"] and j["recipients"][0]["state"] == "held"
    ok(qctl(conf, "release", m))
    wait_for(lambda: m not in su.queued(conf, "info"), what="delivered")
    assert n["tries"] == 2 and len(s.remote_done()) == 2
