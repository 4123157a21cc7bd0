"""lib/milter.c, the milter protocol client, against a real milter
(python3-milter, tests/integration/testmilter.py) through the test tool
sandmail-milterc: every stage, the verdicts, a custom reply, header
changes, and milters that hang or crash.  smtpd wires it in:
test_smtpd_milter.py."""
import os
import subprocess
import sys

import pytest

from conftest import free_port, prog, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


@pytest.fixture
def milter(procs, tmp_path):
    port = free_port()
    log = open(tmp_path / "milter.log", "w")
    procs.start(["/usr/bin/python3", os.path.join(HERE, "testmilter.py"),
                 str(port)], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, timeout=30)
    return port, tmp_path / "milter.log"


def run(port, sender, rcpts, msg, t=5):
    r = subprocess.run([prog("sandmail-milterc"), "-t", str(t),
                        f"127.0.0.1:{port}", "127.0.0.9", "client.test",
                        sender] + rcpts, input=msg.encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r
    return r.stdout.decode().splitlines()


MSG = "Subject: hello\nFrom: a@b.test\n\nline one\nline two\n"


def test_accept_with_header_changes(milter):
    port, log = milter
    out = run(port, "s@remote.test", ["alice@example.test"], MSG)
    assert out[0].startswith("open ok")
    # connect was negotiated without a reply (noreply): continue at once
    assert out[1:5] == ["connect continue", "helo continue",
                        "mail continue", "rcpt continue"], out
    assert "eom accept" in out
    assert "mod h X-Milter-Test: passed" in out
    assert "mod i X-First: yes" in out
    assert "mod m Subject: changed" in out
    text = open(log).read()
    # the macros milters read, as sent
    assert "connect client.test ('127.0.0.9', 25001) 127.0.0.9 mx.test" \
        in text, text
    assert "mail <s@remote.test> s@remote.test TESTID" in text
    assert "rcpt <alice@example.test> alice@example.test" in text
    # the body, CRLF line ends: 2 lines
    assert "body 20 2" in text


def test_rcpt_reject_with_reply_and_tempfail(milter):
    port, _ = milter
    out = run(port, "s@remote.test", ["reject@example.test",
                                      "tempfail@example.test",
                                      "alice@example.test"], MSG)
    assert "rcpt reply 550 5.7.1 no such luck here" in out, out
    assert "rcpt tempfail" in out
    assert "eom accept" in out      # one recipient was left


def test_discard_and_gtube(milter):
    port, _ = milter
    out = run(port, "s@remote.test", ["alice@example.test"],
              "Subject: discard\n\nx\n")
    assert "eom discard" in out, out
    out = run(port, "s@remote.test", ["alice@example.test"],
              f"Subject: spam\n\n{GTUBE}\n")
    assert "eom reply 554 5.7.1 GTUBE seen" in out, out
    assert not any(l.startswith("mod ") for l in out)


def test_milter_hangs(milter):
    port, _ = milter
    out = run(port, "hang@remote.test", ["alice@example.test"], MSG, t=1)
    assert out[-1] == "mail fail", out


def test_milter_crashes(milter):
    port, _ = milter
    out = run(port, "crash@remote.test", ["alice@example.test"], MSG)
    assert out[-1] == "mail fail", out
