"""Smart-host credentials live where they are needed (issue 20, item 4):
in relay_auth.cdb, which only sandmail-send maps.  The root smtpd
listener and every session it starts map routes.cdb (for relaying to
routed domains) but never relay_auth.cdb, so a compromised session has
no password to steal from its own memory."""
import os
import re

import pytest

from conftest import Procs
import smtpdutil

SECRET = b"PW-zq81-not-in-smtpd"


@pytest.fixture
def procs():
    ps = Procs()
    yield ps
    ps.stop_all()


def memory_has(pid, needle):
    """needle in any readable mapping of pid (read through /proc as
    root); the names of the files pid maps."""
    found, files = False, set()
    with open(f"/proc/{pid}/maps") as maps, \
            open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            f = line.split()
            if len(f) >= 6:
                files.add(f[5])
            if "r" not in f[1]:
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if hi - lo > 1 << 30:
                continue        # ASan's shadow: reserved, not ours
            if scan(mem, lo, hi, needle):
                found = True
    return found, files


def scan(mem, lo, hi, needle, chunk=1 << 20):
    """needle in [lo, hi) of mem, read a chunk at a time (chunks overlap
    by len(needle), so no match is cut in two)."""
    tail = b""
    while lo < hi:
        try:
            mem.seek(lo)
            data = mem.read(min(chunk, hi - lo))
        except (OSError, OverflowError, ValueError):
            return False        # [vvar] and the like
        if not data:
            return False
        if needle in tail + data:
            return True
        tail = data[-len(needle):]
        lo += len(data)
    return False


def test_smtpd_holds_no_relay_password(procs, tmp_path):
    s = smtpdutil.Smtpd(procs, tmp_path, tables={
        "routes": "routed.test relay.test:587\n",
        "relay_auth": "relay.test:587 user:" + SECRET.decode() + "\n",
    })
    c = s.client()
    assert c.greeting[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@client.test>")[0] == 250
    c.cmd("RCPT TO:<x@routed.test>")   # routes looked up, either way
    pids = [s.proc.pid] + smtpdutil.children(s.proc.pid)
    assert len(pids) >= 2             # the listener and the session
    tables = os.path.join(s.dir, "")
    seen_routes = False
    for pid in pids:
        has, files = memory_has(pid, SECRET)
        assert not has, f"smtpd pid {pid} holds the relay password"
        assert not any(re.search(r"relay_auth", f) for f in files), pid
        # the control: the scan does find what smtpd does map
        hop, _ = memory_has(pid, b"relay.test:587")
        seen_routes = seen_routes or hop
        assert tables + "routes.cdb" in files, pid
    assert seen_routes
    c.close()
