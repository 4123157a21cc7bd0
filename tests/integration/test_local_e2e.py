"""Local delivery through the whole back end: sandmail-start runs the
real sandmail-send and sandmail-lspawn/sandmail-local (fake rspawn and
resolve from sendutil, nothing leaves the machine).  Messages are put in
the queue as sandmail-queue commits them; the tests read the maildirs:
system users, extensions, aliases, virtual users, unknown users and the
loop check bouncing to a local sender."""
import os
import shutil
import stat
import sys

import pytest

import localutil as lu
import sendutil as su
from conftest import prog, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.geteuid() == 0


def fake(d, kind):
    path = os.path.join(d, f"fake-{kind}")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec {sys.executable} {HERE}/sendutil.py "
                f"{kind} {d}/{kind}.rec \"$@\"\n")
    os.chmod(path, stat.S_IRWXU)
    return path


@pytest.fixture
def system(procs):
    d = lu.make_dir("sandmail-local-e2e-")
    uid, gid = lu.test_ids()
    homes = {}
    for u in ("alice", "bob"):
        homes[u] = os.path.join(d, "home", u)
        os.makedirs(homes[u])
        lu.own_dir(homes[u])
    os.chmod(os.path.join(d, "home"), 0o755)
    vmail = os.path.join(d, "vmail")
    os.mkdir(vmail)
    vuid = 65534 if ROOT else uid
    if ROOT:
        os.chown(vmail, 65534, 65534)
    tables = {
        "domains": "test.example local\nvirt.example virtual\n",
        "localusers": "".join(f"{u} {uid}:{gid}:{h}\n"
                              for u, h in homes.items()),
        "virtual": f"carol@virt.example {vmail}/virt.example/carol/\n",
        "aliases": "team@test.example alice, bob\n"
                   "postmaster@test.example alice\n",
    }
    os.makedirs(os.path.join(d, "etc"))
    conf = su.setup(d, tables, tables_dir=os.path.join(d, "etc"),
                    bindir=os.path.dirname(prog("sandmail-lspawn")),
                    prog_rspawn=fake(d, "rspawn"),
                    prog_resolve=fake(d, "resolve"),
                    local_uid_max=65534)
    log = open(os.path.join(d, "start.log"), "wb")
    p = procs.start([prog("sandmail-start"), "-c", conf], stderr=log)

    class S:
        pass
    s = S()
    s.dir, s.conf, s.proc, s.vmail, s.vuid = d, conf, p, vmail, vuid
    s.maildir = {u: os.path.join(h, "Maildir") for u, h in homes.items()}
    s.log = os.path.join(d, "start.log")
    yield s
    procs.stop(p)
    log.close()
    shutil.rmtree(d, ignore_errors=True)


def mails(md, n, what):
    def got():
        files = lu.read_new(md)
        return files if len(files) >= n else None
    return wait_for(got, timeout=30, what=what)


def test_users_aliases_extensions_virtual(system):
    s = system
    body = (b"Received: from test\nFrom: sender@remote.example\n"
            b"Subject: caf\xc3\xa9\nMessage-ID: <e2e@test>\n\n"
            b"line\n.\n..\nno newline at the end")
    su.inject(s.conf, "sender@remote.example",
              ["alice@test.example", "Bob-news@test.example",
               "carol@virt.example"], body=body)
    a = mails(s.maildir["alice"], 1, "alice's mail")
    b = mails(s.maildir["bob"], 1, "bob's mail")
    carol = os.path.join(s.vmail, "virt.example", "carol")
    c = mails(carol, 1, "carol's mail")
    for got, rcpt in ((a[0], b"alice@test.example"),
                      (b[0], b"Bob-news@test.example"),
                      (c[0], b"carol@virt.example")):
        assert got.startswith(b"Return-Path: <sender@remote.example>\n"
                              b"Delivered-To: "), got[:200]
        assert got.endswith(b"\n" + body)
    # byte for byte, apart from the two lines
    assert a[0] == lu.expected(body, "sender@remote.example",
                               "alice@test.example")
    st = os.stat(carol)
    assert st.st_uid == s.vuid and st.st_mode & 0o777 == 0o700
    # an alias to two users
    mid2 = su.inject(s.conf, "sender@remote.example", ["team@test.example"])
    a = mails(s.maildir["alice"], 2, "team mail for alice")
    b = mails(s.maildir["bob"], 2, "team mail for bob")
    assert any(mid2.encode() in m for m in a)
    assert any(mid2.encode() in m for m in b)


def test_unknown_user_and_loop_bounce_to_local_sender(system):
    s = system
    su.inject(s.conf, "alice@test.example", ["nosuchuser@test.example"])
    got = mails(s.maildir["alice"], 1, "a bounce for the unknown user")
    assert b"nosuchuser@test.example" in got[0]
    assert b"Return-Path: <>" in got[0]
    # a message that already went through bob's mailbox: a loop, bounced
    body = (b"Received: from test\nDelivered-To: bob@test.example\n"
            b"Subject: looping\n\nx\n")
    su.inject(s.conf, "alice@test.example", ["bob@test.example"], body=body)
    got = mails(s.maildir["alice"], 2, "a bounce for the loop")
    assert any(b"loop" in m.lower() and b"bob@test.example" in m
               for m in got)
    assert lu.read_new(s.maildir["bob"]) == []
