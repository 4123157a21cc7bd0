"""send's same-boot recovery in the installed layout (installed.py): the
queue service (user_queue) seals todo/ID with this boot's id, send
(user_send) reads the seal, mess/ID and its own boot id under its
confinement.  A message split into info/ID (its delivery deferred by
the test MX) gets, with sandmail-start down, a todo/ID beside it as a
kill of send between the split and its barrier leaves one: sealed in
this boot, it must be taken as whole ("split kept": todo/ID removed,
info/ID's recipient still the one tried), not split again, which would
deliver the todo/ID's recipient too; an unsealed one is split again."""
import json
import os

from conftest import wait_for
from queueutil import boot_id, seal
from sendutil import envelope
from test_installed import send25

Q = "/var/spool/sandmail"


def queued(inst, rcpt):
    r = inst.run([inst.sbin("sandmail-queuectl"), "list", "-j"])
    out = r.stdout.decode()
    for m in map(json.loads, out.splitlines()):
        if any(x["address"] == rcpt for x in m["recipients"]):
            return m
    return None


def put_todo(inst, qid, data):
    """todo/ID as the queue makes it: user_queue, the send group, 0640"""
    mess = os.stat(inst.path(f"{Q}/mess/{qid}"))
    p = inst.path(f"{Q}/todo/{qid}")
    with open(p, "wb") as f:
        f.write(data)
    os.chown(p, mess.st_uid, mess.st_gid)
    os.chmod(p, 0o640)


def test_same_boot_split_is_kept(installed):
    inst = installed
    mx = inst.mx
    orig = mx.rcpt
    # recov*@dest.test: deferred, so their messages stay split in info/
    mx.rcpt = lambda a: "451 4.3.0 not yet" if "recov" in a else orig(a)
    up = True
    try:
        send25(inst, "recov1@dest.test", "inst-recov-kept",
               sender="alice@localhost")
        send25(inst, "recov2@dest.test", "inst-recov-again",
               sender="alice@localhost")
        ms = {}
        for r in ("recov1@dest.test", "recov2@dest.test"):
            ms[r] = wait_for(
                lambda r=r: (m := queued(inst, r)) and
                m["state"] == "deferred" and m, timeout=60,
                what=f"{r} deferred")
        r = inst.sv("down", "sandmail-start")
        assert r.returncode == 0, r.stdout + r.stderr
        up = False
        kept, again = (ms[r]["queue_id"] for r in sorted(ms))
        for qid in (kept, again):
            assert os.path.exists(inst.path(f"{Q}/info/{qid}"))
            assert not os.path.exists(inst.path(f"{Q}/todo/{qid}"))
        with open(inst.path(f"{Q}/mess/{kept}"), "rb") as f:
            body = f.read()
        other = envelope("alice@localhost", ["recov-extra@dest.test"])
        put_todo(inst, kept, seal(other, kept, boot_id(), body))
        put_todo(inst, again, other)        # no seal: split again
        log0 = len(inst.log("sandmail-start"))
        r = inst.sv("up", "sandmail-start")
        assert r.returncode == 0, r.stdout + r.stderr
        up = True
        inst.wait_up("sandmail-start")

        def logged():
            lg = inst.log("sandmail-start")[log0:]
            return (f'id={kept} state="split kept' in lg and
                    f"id={again}" in lg and "split again" in lg) and lg
        try:
            lg = wait_for(logged, timeout=60, what="send's recovery lines")
        except TimeoutError as e:
            raise AssertionError(f"{e}\n{inst.logs(tail=60)}")
        assert not os.path.exists(inst.path(f"{Q}/todo/{kept}")), lg
        # the other one is split anew from todo/ID, which then goes
        wait_for(lambda: not os.path.exists(inst.path(f"{Q}/todo/{again}")),
                 timeout=60, what="the new split")
        m = queued(inst, "recov1@dest.test")
        assert m and m["queue_id"] == kept, m
        assert [x["address"] for x in m["recipients"]] == \
            ["recov1@dest.test"], m
        m = wait_for(lambda: queued(inst, "recov-extra@dest.test"),
                     timeout=60, what="the split again")
        assert m["queue_id"] == again, m
    finally:
        mx.rcpt = orig
        if not up:
            inst.sv("up", "sandmail-start")
        inst.wait_up("sandmail-start")
        # let them go: the MX takes them now
        inst.run([inst.sbin("sandmail-flush")], check=False)
