"""The real sandmail-queue service in front of sandmail-send (with fake
deliverers): messages committed through the queue protocol are taken
from todo/ at the trigger and delivered; the queue's F (ETRN) record
reaches send and makes a deferred delivery happen now."""
import time

import queueutil as qu
import sendutil as su
from conftest import wait_for


def empty(conf):
    return all(not su.queued(conf, d) for d in
               ("todo", "info", "local", "remote", "bounce", "mess"))


def test_queue_to_send(procs, tmp_path):
    tries = {"n": 0}

    def rpol(j, r):
        tries["n"] += 1
        return ("Z", "451 later") if tries["n"] == 1 else ("K", "250 ok")
    conf = su.setup(tmp_path, su.TABLES, retry_first="1h", retry_max="4h")
    s = su.Send(procs, conf, rpolicy=rpol).start()
    qu.start_service(procs, conf)
    c = qu.QClient.connect(conf)
    ids = []
    for i in range(5):
        t, v = c.message(f"Subject: m{i}\n\nbody {i}\n".encode(),
                         su.envelope("s@remote.example",
                                     ["alice@test.example"],
                                     arrival=int(time.time())))
        assert t == b"K", v
        ids.append(v.decode() if isinstance(v, bytes) else v)
    wait_for(lambda: len(s.local_done()) == 5, what="5 deliveries")
    got = {j["qid"] for j in s.local_done()}
    assert len(got) == 5
    assert all(b"body " in j["data"] for j in s.local_done())
    # a deferred remote delivery, then ETRN through the queue service
    t, v = c.message(b"Subject: r\n\nremote\n",
                     su.envelope("s@test.example", ["r@remote.example"],
                                 arrival=int(time.time())))
    assert t == b"K", v
    wait_for(lambda: b"event=deferred" in s.logtext(), what="deferral")
    t, v = c.flush("remote.example")
    assert t == b"K", v
    wait_for(lambda: empty(conf), timeout=15, what="flushed")
    assert tries["n"] == 2
    c.close()
