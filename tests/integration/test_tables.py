"""Tables change safely (doc/design.md 8): sandmail-send maps a table
that sandmail-cdb replaced within TBLSET_EVERY_MS (1 s) without a signal,
and a SIGHUP that cannot open a table keeps the old one, logging an error
at every attempt until it can."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import sendutil as su
from conftest import prog, wait_for

BOUND = 1.0             # lib/tbl.h TBLSET_EVERY_MS


@pytest.fixture
def tdir(request):
    """A table directory send can read again after dropping root."""
    td = tempfile.mkdtemp(prefix="sandmail-tbl.")
    os.chmod(td, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(td, ignore_errors=True))
    return td


def compile_into(td, name, text, mode=0o644):
    """Compile text as table name elsewhere, give it mode, then rename it
    over td/name.cdb in one step (as sandmail-cdb itself does)."""
    work = tempfile.mkdtemp(prefix="sandmail-tblw.", dir=td)
    with open(os.path.join(work, name), "w") as f:
        f.write(text)
    subprocess.run([prog("sandmail-cdb"), "-d", work, name], check=True)
    os.chmod(os.path.join(work, name + ".cdb"), mode)
    with open(os.path.join(td, name), "w") as f:
        f.write(text)
    os.rename(os.path.join(work, name + ".cdb"),
              os.path.join(td, name + ".cdb"))
    shutil.rmtree(work)


def start(procs, tmp_path, td, tables):
    conf = su.setup(tmp_path, tables, td)
    return conf, su.Send(procs, conf).start()


def empty(conf):
    return all(not su.queued(conf, d) for d in
               ("todo", "info", "local", "remote", "bounce", "mess"))


def port_for(s, rcpt):
    """The port of the first host of the remote job for rcpt."""
    def job():
        for j in s.rjobs():
            if any(r[0] == rcpt for r in j["rcpts"]):
                return j
        return None
    return wait_for(job, what=f"remote job for {rcpt}")["hosts"][0]["port"]


def test_send_maps_recompiled_tables_within_the_bound(procs, tmp_path,
                                                      tdir):
    """Issue 18 item 6: no signal, a new localusers entry and a new route
    are used by the next message after the bound."""
    t = dict(su.TABLES, routes="remote.example [127.0.0.1]:2525\n")
    conf, s = start(procs, tmp_path, tdir, t)
    su.inject(conf, "a@remote.example", ["x1@remote.example"])
    assert port_for(s, "x1@remote.example") == 2525
    compile_into(tdir, "routes", "remote.example [127.0.0.1]:2526\n")
    compile_into(tdir, "localusers",
                 t["localusers"] + "zed 1005:1005:/home/zed\n")
    time.sleep(BOUND + 0.2)
    su.inject(conf, "a@remote.example",
              ["x2@remote.example", "zed+ext@test.example"])
    assert port_for(s, "x2@remote.example") == 2526
    wait_for(lambda: empty(conf), what="queue empty")
    zed = [j for j in s.local_done() if j["rcpt"] == "zed+ext@test.example"]
    assert zed and zed[0]["dest"] == "/home/zed/Maildir/", s.logtext()
    assert zed[0]["uid"] == 1005
    assert b"event=reload why=changed" in s.logtext()


def reload_errors(s, td, name):
    path = os.path.join(td, name + ".cdb").encode()
    return [ln for ln in s.logtext().splitlines()
            if b"event=error op=reload" in ln and path in ln]


def test_send_hup_never_loses_a_table(procs, tmp_path, tdir):
    """Issue 18 item 5: the new routes cannot be opened: every HUP logs
    an error and the old smart host stays (no MX lookup); once readable
    (chmod) the new one is mapped."""
    t = dict(su.TABLES, routes="* [127.0.0.1]:2525\n")
    conf, s = start(procs, tmp_path, tdir, t)
    compile_into(tdir, "routes", "* [127.0.0.1]:2526\n", mode=0o000)
    for i in range(3):
        n = len(reload_errors(s, tdir, "routes"))
        s.p.send_signal(signal.SIGHUP)
        wait_for(lambda: len(reload_errors(s, tdir, "routes")) > n,
                 what=f"error at HUP {i + 1}")
    assert b"Permission denied" in reload_errors(s, tdir, "routes")[-1]
    su.inject(conf, "a@remote.example", ["x1@remote.example"])
    assert port_for(s, "x1@remote.example") == 2525
    assert s.resolve[0].asked == []     # not by MX
    # the other tables were mapped again on each HUP
    assert s.logtext().count(b"event=reload why=hup") == 3
    os.chmod(os.path.join(tdir, "routes.cdb"), 0o644)
    wait_for(lambda: b"event=reload why=changed" in s.logtext(),
             what="the fixed table mapped")
    su.inject(conf, "a@remote.example", ["x2@remote.example"])
    assert port_for(s, "x2@remote.example") == 2526
    s.p.send_signal(signal.SIGHUP)
    wait_for(lambda: s.logtext().count(b"event=reload why=hup") == 4,
             what="a clean HUP")
    n = len(reload_errors(s, tdir, "routes"))
    assert n >= 3
