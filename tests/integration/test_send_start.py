"""sandmail-start: starts the four programs with their sockets, and stops
the whole set (exit 111) when one of them dies.  The helpers here are the
FAKE ones of sendutil.py, run as programs through prog_* settings."""
import os
import signal
import stat
import sys

import sendutil as su
from conftest import prog, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))


def fake(tmp, kind):
    path = os.path.join(str(tmp), f"fake-{kind}")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec {sys.executable} {HERE}/sendutil.py "
                f"{kind} {tmp}/{kind}.rec \"$@\"\n")
    os.chmod(path, stat.S_IRWXU)
    return path


def lines(tmp, kind):
    try:
        with open(os.path.join(str(tmp), f"{kind}.rec")) as f:
            return f.read().split("\n")
    except FileNotFoundError:
        return []


def pid_of(tmp, kind):
    for ln in lines(tmp, kind):
        if ln.startswith("start "):
            return int(ln.split()[2])
    return None


def test_start_runs_the_set(procs, tmp_path):
    conf = su.setup(tmp_path, su.TABLES,
                    prog_lspawn=fake(tmp_path, "lspawn"),
                    prog_rspawn=fake(tmp_path, "rspawn"),
                    prog_resolve=fake(tmp_path, "resolve"),
                    prog_send=prog("sandmail-send"))
    log = open(os.path.join(str(tmp_path), "start.log"), "wb")
    p = procs.start([prog("sandmail-start"), "-c", conf], stderr=log)
    wait_for(lambda: all(pid_of(tmp_path, k) for k in
                         ("lspawn", "rspawn", "resolve")), what="helpers")
    mid = su.inject(conf, "s@remote.example",
                    ["alice@test.example", "x@remote.example"])
    wait_for(lambda: f"{mid} alice@test.example K" in lines(tmp_path,
                                                            "lspawn"),
             what="local delivery")
    wait_for(lambda: f"{mid} x@remote.example K" in lines(tmp_path,
                                                          "rspawn"),
             what="remote delivery")
    # send's stdin and stdout are /dev/null, never a peer's socket; its
    # peers are on 3, 4, 5 (they were on 0 and 1 too: the dup2 order)
    kids = []
    for t in os.listdir(f"/proc/{p.pid}/task"):
        with open(f"/proc/{p.pid}/task/{t}/children") as f:
            kids += [int(x) for x in f.read().split()]
    send = [k for k in kids
            if os.readlink(f"/proc/{k}/exe") == prog("sandmail-send")]
    assert len(send) == 1
    fds = {fd: os.readlink(f"/proc/{send[0]}/fd/{fd}") for fd in range(6)}
    assert fds[0] == fds[1] == "/dev/null", fds
    assert all(fds[k].startswith("socket:") for k in (3, 4, 5)), fds
    # one helper dies: the set goes down and start exits 111
    os.kill(pid_of(tmp_path, "rspawn"), signal.SIGKILL)
    assert p.wait(30) == 111
    with open(os.path.join(str(tmp_path), "start.log"), "rb") as f:
        text = f.read()
    assert b"prog=start event=exit prog=sandmail-rspawn" in text
    assert b"prog=start event=exit prog=sandmail-send" in text


def test_start_term_exits_0(procs, tmp_path):
    conf = su.setup(tmp_path, su.TABLES,
                    prog_lspawn=fake(tmp_path, "lspawn"),
                    prog_rspawn=fake(tmp_path, "rspawn"),
                    prog_resolve=fake(tmp_path, "resolve"),
                    prog_send=prog("sandmail-send"))
    p = procs.start([prog("sandmail-start"), "-c", conf],
                    stderr=open(os.path.join(str(tmp_path), "l"), "wb"))
    wait_for(lambda: all(pid_of(tmp_path, k) for k in
                         ("lspawn", "rspawn", "resolve")), what="helpers")
    p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0
