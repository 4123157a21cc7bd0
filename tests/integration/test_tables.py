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
    compile_into(tdir, "domains",
                 t["domains"] + "newvirt.example virtual\n")
    compile_into(tdir, "virtual",
                 t["virtual"] + "info@newvirt.example /var/vmail/info/\n")
    time.sleep(BOUND + 0.2)
    su.inject(conf, "a@remote.example",
              ["x2@remote.example", "zed+ext@test.example",
               "info@newvirt.example"])
    assert port_for(s, "x2@remote.example") == 2526
    wait_for(lambda: empty(conf), what="queue empty")
    loc = {j["rcpt"]: j for j in s.local_done()}
    assert "zed+ext@test.example" in loc, s.logtext()
    assert loc["zed+ext@test.example"]["dest"] == "/home/zed/Maildir/"
    assert loc["zed+ext@test.example"]["uid"] == 1005
    assert loc["info@newvirt.example"]["dest"] == "/var/vmail/info/"
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


# ---- one recipient decision for smtpd and send (lib/rcpt.c) ----

HOST = "mx.test.example"
VMAIL = 65534 if os.geteuid() == 0 else os.getuid()
ALIAS_UID = 65534 if os.geteuid() == 0 else os.getuid()
RCPT_TABLES = {
    "domains": "test.example local\nalias.example local\n"
               "virt.example virtual\nvirt2.example virtual\n",
    "localusers": "alice 1001:1001:/home/alice\nbob 1002:1002:/home/bob\n",
    "aliases": "abuse alice\npostmaster alice\n"
               "@alias.example bob@test.example\n"
               "archive@test.example /var/mail/archive/\n"
               "prog@test.example |/usr/bin/printf a,b\n"
               "fwd@test.example someone@remote.example\n",
    "virtual": "carol@virt.example /var/vmail/carol/\n"
               "@virt2.example /var/vmail/all/\n",
    "moved": "gone@test.example new@elsewhere.example\n",
    "routes": "routed.example [127.0.0.1]:2600\n",
    "relayclients": "",
}
ALICE = ("local", "/home/alice/Maildir/", 1001)
# address, RCPT's code, what send does with it: ("local", dest, uid),
# ("remote", domain) or ("fail", status)
CASES = [
    ("alice@test.example", 250, ALICE),
    ("alice+ext@test.example", 250, ALICE),
    ("alice-ext@test.example", 250, ALICE),
    ("ALICE@Test.Example", 250, ALICE),
    ("abuse@test.example", 250, ALICE),             # a bare alias
    ("abuse@localhost", 250, ALICE),                # issue 18 item 7
    ("Abuse+x@LOCALHOST", 250, ALICE),
    ("abuse@" + HOST, 250, ALICE),
    ("anyone@alias.example", 250, ("local", "/home/bob/Maildir/", 1002)),
    ("archive@test.example", 250, ("local", "/var/mail/archive/",
                                   ALIAS_UID)),
    # a |command takes the rest of the value, commas included
    ("prog@test.example", 250, ("local", "|/usr/bin/printf a,b",
                                ALIAS_UID)),
    ("fwd@test.example", 250, ("remote", "remote.example")),
    ("carol@virt.example", 250, ("local", "/var/vmail/carol/", VMAIL)),
    ("Carol+x@VIRT.example", 250, ("local", "/var/vmail/carol/", VMAIL)),
    ("who@virt2.example", 250, ("local", "/var/vmail/all/", VMAIL)),
    ("postmaster@test.example", 250, ALICE),
    ("PostMaster@virt.example", 250, ALICE),
    ("x@routed.example", 250, ("remote", "routed.example")),
    ("gone@test.example", 551, ("fail", "5.1.6")),
    ("nosuch@test.example", 550, ("fail", "5.1.1")),
    ("dave@virt.example", 550, ("fail", "5.1.1")),
    ('"a%b"@test.example', 550, ("fail", "5.1.1")),
    # not ours: relaying is smtpd's decision (a local sendmail may)
    ("x@remote.example", 554, ("remote", "remote.example")),
]


@pytest.fixture
def rsystem(procs, tdir):
    """The real queue service, smtpd listener and send (fake lspawn,
    rspawn and resolve) on one queue and one set of tables."""
    import queueutil
    import smtpdutil
    from conftest import free_port, wait_port
    d = tempfile.mkdtemp(prefix="sandmail-rcpt.")
    os.chmod(d, 0o755)
    kw = {"user_smtpd": "nobody"} if os.geteuid() == 0 else {}
    conf = su.setup(d, RCPT_TABLES, tdir, hostname=HOST, greet_delay_ms=0,
                    smtpd_timeout=20, **kw)
    qlog = open(os.path.join(d, "queue.log"), "wb")
    queueutil.start_service(procs, conf, qlog)
    s = su.Send(procs, conf).start()
    port = free_port()
    slog = open(os.path.join(d, "smtpd.log"), "wb")
    procs.start([prog("sandmail-smtpd"), "-c", conf, "-l",
                 f"127.0.0.1:{port}"], stderr=slog)
    wait_port(port)

    class R:
        pass
    r = R()
    r.conf, r.send, r.port, r.dir = conf, s, port, d
    r.client = lambda: smtpdutil.Client(port)
    yield r
    qlog.close()
    slog.close()
    shutil.rmtree(d, ignore_errors=True)


def outcome(s, qid):
    """What send did with message qid: a list of ("local", dest, uid),
    ("remote", domain) and ("fail", status)."""
    out = [("local", j["dest"], j["uid"]) for j in s.ljobs()
           if j["qid"] == qid]
    out += [("remote", r[0].split("@")[1].lower()) for j in s.rjobs()
            if j["qid"] == qid for r in j["rcpts"]]
    for ln in s.logtext().decode("utf-8", "replace").splitlines():
        if "event=rcpt_fail" in ln and f"id={qid} " in ln:
            why = ln.split("why=")[1].strip('"')
            out.append(("fail", why.split()[0]))
    return out


def test_rcpt_verdict_matches_delivery(rsystem):
    """For every kind of address, RCPT's verdict and what send does with
    the same address agree: accepted means delivered where the tables
    say; refused as unknown or moved means send fails it the same way
    (checked by queueing it directly, as sendmail does)."""
    r = rsystem
    got = []
    for i, (addr, code, want) in enumerate(CASES):
        c = r.client()
        c.code("EHLO client.test")
        assert c.code("MAIL FROM:<s@remote.example>") == 250
        rc, lines = c.cmd(f"RCPT TO:<{addr}>")
        qid = None
        if rc in (250, 251):
            assert c.code("DATA") == 354
            dc, dl = c.cmd(f"Subject: case {i}\r\n\r\n{addr}\r\n.")
            assert dc == 250, dl
            qid = dl[-1].split()[-1]
        c.cmd("QUIT")
        if qid is None:
            qid = su.inject(r.conf, "s@remote.example", [addr])
        wait_for(lambda: outcome(r.send, qid), what=f"outcome of {addr}")
        got.append((addr, rc, outcome(r.send, qid)[0]))
    want = [(a, code, w) for a, code, w in CASES]
    assert got == want


def test_smtpd_hup_never_loses_a_table(procs, tmp_path):
    """smtpd's listener (root, so no mode keeps it out): a relayclients.cdb
    replaced by a file that is no CDB is never mapped; the old one stays
    through every HUP, each logging an error, until a good one comes."""
    import smtpdutil
    srv = smtpdutil.Smtpd(procs, tmp_path,
                          tables={"relayclients": "127.0.0.1 relay\n"})

    def relay_ok():
        c = srv.client()
        c.code("EHLO client.test")
        c.code("MAIL FROM:<a@b.test>")
        code = c.code("RCPT TO:<x@foreign.test>")
        c.close()
        return code == 250

    def errors():
        return srv.logtext().count("event=error op=reload")
    assert relay_ok()
    path = os.path.join(srv.dir, "relayclients.cdb")
    with open(path + ".new", "wb") as f:
        f.write(b"not a cdb")
    os.rename(path + ".new", path)
    wait_for(lambda: errors() >= 1, what="the error of the changed file")
    for i in range(2):
        n = errors()
        os.kill(srv.proc.pid, signal.SIGHUP)
        wait_for(lambda: errors() > n, what=f"error at HUP {i + 1}")
        assert relay_ok()
    with open(os.path.join(srv.dir, "relayclients"), "w") as f:
        f.write("10.0.0.0/8 relay\n")
    subprocess.run([prog("sandmail-cdb"), "-d", srv.dir, "relayclients"],
                   check=True)
    wait_for(lambda: not relay_ok(), what="the good table mapped")
