"""SRS (lib/srs.c): a message forwarded by an alias to another domain
leaves with its sender rewritten, in postsrsd's format; bounces to such
addresses come back in on port 25 and go to the original sender; forged
and stale ones are refused at RCPT: the form and age by the session, the
hash by sandmail-srs, the service that holds the secret for smtpd (a
session never does).  postsrsd (Debian's, the de-facto format) is the
peer: it takes back what we make, and we take back what it makes, with
the same secret and domain."""
import os
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import wait_for
from conftest import free_port, wait_port
from smtpdutil import Smtpd

SECRET = b"s3cret-for-the-test\n"
POSTSRSD = "/usr/sbin/postsrsd"
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def stamp(days_ago=0):
    t = (int(time.time()) // 86400 - days_ago) % 1024
    return B32[t >> 5 & 31] + B32[t & 31]


@pytest.fixture
def srs_system(procs, tmp_path):
    from e2eutil import running_system
    secret = os.path.join(str(tmp_path), "srs.secret")
    with open(secret, "wb") as f:
        f.write(SECRET)
    os.chmod(secret, 0o600)
    with running_system(procs, tmp_path, conf={
            "srs_domain": "example.test", "srs_secret": secret,
            "srs_max_age": "10d",
            "srs_exclude": "excl.test, other.excl.test"},
            tables={"aliases": "fwd@example.test b@dest.test\n"
                               "local@example.test alice@example.test\n",
                    "relayclients": ""}) as s:
        s.secret = secret
        yield s


@pytest.fixture
def postsrsd(procs, srs_system):
    from conftest import need
    need(POSTSRSD, "postsrsd")
    fwd, rev = free_port(), free_port()
    procs.start([POSTSRSD, f"-s{srs_system.secret}", "-dexample.test",
                 "-l127.0.0.1", "-4", f"-f{fwd}", f"-r{rev}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(fwd)
    wait_port(rev)

    def ask(port, addr):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(f"get {addr}\n".encode())
            return c.recv(1000).decode().strip()
    return (lambda a: ask(fwd, a)), (lambda a: ask(rev, a))


def srs_ready(s):
    """sandmail-start runs sandmail-srs, smtpd's check service: wait for
    it (its socket) before the first SRS recipient"""
    wait_for(lambda: "prog=srs event=ready" in
             open(s.start_log, "rb").read().decode(), timeout=30,
             what="sandmail-srs ready")


def sender_of(t):
    return t.mail.split()[1][len("FROM:<"):].split(">")[0]


def test_forward_is_rewritten_and_postsrsd_takes_it_back(srs_system,
                                                         postsrsd):
    from remoteutil import SMTPServer
    s = srs_system
    _, reverse = postsrsd
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        for frm in ("John.Doe@Sender.test", "a@excl.test",
                    "a@example.test", "<>"):
            with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
                c.sendmail(frm, ["fwd@example.test"],
                           f"From: {frm}\r\nSubject: s\r\n\r\nx\r\n")
        done = wait_for(lambda: len(mx.done()) >= 4 and mx.done(),
                        timeout=60, what="deliveries")
        got = sorted(sender_of(t) for t in done)
        srs = [g for g in got if g.startswith("SRS0=")]
        assert len(srs) == 1
        assert srs[0][5:].split("=", 1)[1] == (
            stamp() + "=Sender.test=John.Doe@example.test")
        # excluded, our own domain and the null sender: as they were
        assert sorted(g for g in got if not g.startswith("SRS0=")) == [
            "", "a@example.test", "a@excl.test"]
        # postsrsd, given our secret, reverses what we made
        assert reverse(srs[0]) == "200 John.Doe@Sender.test"
    finally:
        mx.close()


def test_bounces_come_back_and_forgeries_do_not(srs_system, postsrsd):
    from remoteutil import SMTPServer
    s = srs_system
    srs_ready(s)
    forward, _ = postsrsd
    good = forward("Orig@dest.test")
    assert good.startswith("200 SRS0=")
    good = good[4:]
    local = good.split("@")[0]
    h = local[5:9]
    forged = local.replace(h, "AAAA" if h != "AAAA" else "BBBB")
    stale = f"SRS0={h}={stamp(11)}=dest.test=Orig"
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
            c.ehlo("bouncer.test")
            assert c.mail("<>")[0] == 250
            # malformed and stale ones: refused by the session; a
            # forged hash, of the right form and age, by sandmail-srs
            # (the session holds no secret): all at RCPT, none taken
            # for sandmail-send to drop later
            for bad in (stale + "@example.test",
                        "SRS0=xx=" + stamp() + "=dest.test=Orig@example.test",
                        "SRS0=AAAA=" + stamp() + "=dest.test=@example.test",
                        forged + "@example.test"):
                code, text = c.rcpt(bad)
                assert (code, text[:5]) == (550, b"5.1.1"), bad
            assert c.rcpt(good)[0] == 250
            c.data(b"Subject: bounce\r\n\r\nyour mail failed\r\n")
        t = wait_for(lambda: mx.done(), timeout=60, what="the bounce")[0]
        assert t.mail.startswith("MAIL FROM:<>")
        assert [r.split()[1] for r in t.rcpts] == ["TO:<Orig@dest.test>"]
    finally:
        mx.close()
    log = open(s.start_log, "rb").read().decode()
    assert "prog=srs event=srs" in log and "result=bad-hash" in log
    assert "result=ok" in log


def test_srs_check_service_down_is_a_temporary_failure(procs, tmp_path):
    """No sandmail-srs to ask (it is not running): an SRS recipient of
    the right form and age gets 451, neither 250 (a forgery would pass)
    nor 550 (a real bounce would be lost); others are not affected."""
    s = Smtpd(procs, tmp_path, srs_domain="example.test")
    t = int(time.time()) // 86400 % 1024
    st = B32[t >> 5 & 31] + B32[t & 31]
    c = s.client()
    assert c.code("EHLO bouncer.test") == 250
    assert c.code("MAIL FROM:<>") == 250
    code, lines = c.cmd(f"RCPT TO:<SRS0=AbCd={st}=dest.test=Orig@"
                        "example.test>")
    assert code == 451 and lines[0].startswith("451 4."), lines
    # a stale one needs no service to be refused
    old = (int(time.time()) // 86400 - 30) % 1024
    code, _ = c.cmd(f"RCPT TO:<SRS0=AbCd={B32[old >> 5 & 31]}"
                    f"{B32[old & 31]}=dest.test=Orig@example.test>")
    assert code == 550
    assert c.code("RCPT TO:<alice@example.test>") == 250
    c.close()
    assert "srs connect" in s.logtext()


def test_forgeries_refused_under_tcpserver(srs_system, postsrsd):
    """Under tcpserver (one session on fd 0/1, no listener to broker),
    the session opens sandmail-srs's socket before its sandbox: the same
    answers as under the listener."""
    from conftest import prog
    s = srs_system
    srs_ready(s)
    forward, _ = postsrsd
    good = forward("Orig@dest.test")[4:]
    local = good.split("@")[0]
    h = local[5:9]
    forged = local.replace(h, "AAAA" if h != "AAAA" else "BBBB")
    p = subprocess.Popen([prog("sandmail-smtpd"), "-c", s.conf],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env=dict(os.environ, TCPREMOTEIP="127.0.0.1",
                                  TCPLOCALIP="127.0.0.1"))

    def reply():
        while True:
            ln = p.stdout.readline().decode()
            if ln[3:4] != "-":
                return ln[:3]

    def cmd(c):
        p.stdin.write(c.encode() + b"\r\n")
        p.stdin.flush()
        return reply()
    try:
        assert reply() == "220"
        assert cmd("EHLO bouncer.test") == "250"
        assert cmd("MAIL FROM:<>") == "250"
        assert cmd(f"RCPT TO:<{forged}@example.test>") == "550"
        assert cmd(f"RCPT TO:<{good}>") == "250"
        assert cmd("QUIT") == "221"
    finally:
        p.stdin.close()
        p.stdout.close()
        p.wait(timeout=30)
