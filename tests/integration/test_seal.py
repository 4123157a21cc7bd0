"""A power loss during sandmail-queue's one barrier (the fsyncs, or the
syncfs, after the todo/ rename) can leave todo/ID on disk without the bytes it names.  No
client got a 250 for such a message.  sandmail-send checks the seal of
every todo/ file written in an earlier boot (lib/seal.h) and drops the
torn ones; what a power loss cannot have cut (sealed in this boot, or
written by an older version without a seal) is delivered as it is.

The torn files are planted by hand, in the states a power loss leaves on
a file system that orders nothing (ext4 without a journal): the name
without the data (zeros, or the bytes of the file written over), the
envelope without the message, the message cut short."""
import os
import subprocess
import time

import queueutil as qu
import sendutil as su
from conftest import prog, wait_for

OTHER_BOOT = bytes(range(16))	# a boot that is not this one


def body(mid, extra=""):
    return (f"From: s@remote.example\nTo: alice\nSubject: {mid}\n\n"
            f"body of {mid}{extra}\n").encode()


def plant(q, mid, todo, mess, mtime=None):
    for d, data in (("mess", mess), ("todo", todo)):
        if data is None:
            continue
        p = os.path.join(q, d, mid)
        with open(p, "wb") as f:
            f.write(data)
        if mtime is not None:
            os.utime(p, (mtime, mtime))


def env(mid, rcpt="alice@test.example", size=0):
    return su.envelope("s@remote.example", [rcpt], size=size)


def test_torn_todo_files_are_dropped_and_whole_ones_delivered(procs,
                                                               tmp_path):
    conf = su.setup(tmp_path, su.TABLES)
    q = su.qdir(conf)
    before_boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME) \
        - 3600
    ids = {k: su.newid() for k in ("whole", "changed", "short", "other_id",
                                   "zeros", "garbage_now", "this_boot",
                                   "unsealed", "no_mess", "unreadable")}
    m = {k: body(i) for k, i in ids.items()}

    def sealed(k, boot=OTHER_BOOT, sealed_body=None, sid=None):
        b = m[k] if sealed_body is None else sealed_body
        return qu.seal(env(ids[k], size=len(b)), sid or ids[k], boot, b)

    # an earlier boot, message and envelope whole: delivered
    plant(q, ids["whole"], sealed("whole"), m["whole"])
    # the message's blocks are another file's (same size, other bytes)
    changed = bytearray(m["changed"])
    changed[-3] ^= 0x20
    plant(q, ids["changed"], sealed("changed"), bytes(changed))
    # the message cut short
    plant(q, ids["short"], sealed("short"), m["short"][:10])
    # todo/'s blocks are those of the file written over: another ID's
    other = su.newid()
    plant(q, ids["other_id"], sealed("other_id", sid=other),
          m["other_id"])
    # the name without the data: zeros, last written before this boot
    plant(q, ids["zeros"], bytes(300), m["zeros"], mtime=before_boot)
    # bytes that do not decode, but written in this boot: not a power
    # loss, so kept (and logged), not delivered, not dropped
    plant(q, ids["garbage_now"], b"SMSEAL1" + bytes(200),
          m["garbage_now"])
    # sealed in this boot: nothing can be torn; not checked (the message
    # differs from its seal on purpose, to see that no CRC is taken)
    plant(q, ids["this_boot"], sealed("this_boot", boot=qu.boot_id(),
                                      sealed_body=m["whole"]),
          m["this_boot"])
    # an older version's todo/ file, without a seal
    plant(q, ids["unsealed"], env(ids["unsealed"],
                                  size=len(m["unsealed"])), m["unsealed"])
    # sealed in an earlier boot, mess/ID never made it
    plant(q, ids["no_mess"], sealed("no_mess"), None)
    # mess/ID cannot be read (here: a directory of the size the seal
    # names): undecided, so kept for later, neither delivered nor dropped
    os.mkdir(os.path.join(q, "mess", ids["unreadable"]))
    dsize = os.stat(os.path.join(q, "mess", ids["unreadable"])).st_size
    plant(q, ids["unreadable"], sealed("unreadable",
                                       sealed_body=b"x" * dsize), None)

    # the tools read sealed and unsealed todo/ files alike
    mq = subprocess.run([prog("sandmail-mailq"), "-c", conf],
                       capture_output=True, text=True, timeout=30)
    for k in ("whole", "unsealed"):
        assert f"{ids[k]} {len(m[k])} " in mq.stdout, (k, mq.stdout)
    assert mq.stdout.count("\tnew\talice@test.example") >= 3, mq.stdout
    d = subprocess.run([prog("sandmail-queue"), "-c", conf, "-d",
                        os.path.join(su.qdir(conf), "todo", ids["whole"])],
                       capture_output=True, text=True, timeout=30)
    assert d.returncode == 0, d.stderr
    assert "sender: s@remote.example" in d.stdout
    assert "rcpt: alice@test.example" in d.stdout

    s = su.Send(procs, conf).start()
    want = {ids[k] for k in ("whole", "this_boot", "unsealed")}
    wait_for(lambda: {j["qid"] for j in s.local_done()} >= want,
             what="the whole ones delivered")
    kept = sorted([ids["garbage_now"], ids["unreadable"]])
    wait_for(lambda: su.queued(conf, "todo") == kept,
             what="only the kept ones left in todo/")
    got = [j["qid"] for j in s.local_done()]
    assert sorted(got) == sorted(want), got
    log = s.logtext().decode()
    for k in ("changed", "short", "other_id", "zeros", "no_mess"):
        i = ids[k]
        assert f"id={i} op=torn" in log, (k, log)
        assert i not in su.queued(conf, "mess"), k
        assert i not in su.queued(conf, "info"), k
    for k in ("whole", "this_boot", "unsealed", "garbage_now",
              "unreadable"):
        assert f"id={ids[k]} op=torn" not in log, k
    assert (f'id={ids["garbage_now"]} op="read todo" '
            'err="malformed envelope"') in log, log
    assert ids["garbage_now"] in su.queued(conf, "mess")
    assert f'id={ids["unreadable"]} op="read mess"' in log, log
    s.kill()
