"""sandmail-smtpd: relay control.  Open-relay probes from a client that
may not relay, and what a relay client may do (relay, ETRN, VRFY, EXPN)."""
import os

import pytest

from conftest import Procs
import smtpdutil


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    ps = Procs()
    s = smtpdutil.Smtpd(ps, tmp_path_factory.mktemp("smtpd-stranger"))
    yield s
    ps.stop_all()


@pytest.fixture(scope="module")
def friend(tmp_path_factory):
    ps = Procs()
    s = smtpdutil.Smtpd(ps, tmp_path_factory.mktemp("smtpd-friend"),
                        tables={"relayclients": "127.0.0.0/8 relay\n"},
                        smtpd_vrfy="yes", smtpd_expn="yes",
                        smtpd_forward_251="yes")
    yield s
    ps.stop_all()


PROBES = [
    # (recipient, expected reply start)
    ("<x@foreign.test>", "554 5.7.1"),
    ("<x%foreign.test@example.test>", "550 5.1.1"),        # percent hack
    ("<foreign.test!x@example.test>", "550 5.1.1"),        # bang path
    ("<\"x@foreign.test\"@example.test>", "550 5.1.1"),    # quoted @
    ("<@example.test:x@foreign.test>", "554 5.7.1"),       # source route
    ("<@example.test,@b.test:x@foreign.test>", "554 5.7.1"),
    ("<x%foreign.test@routed.test>", "554 5.7.1"),
    ("<x@[127.0.0.1]>", "554 5.7.1"),
    ("<x@foreign.test.>", "5"),
    ("<x@example.test.foreign.test>", "554 5.7.1"),
    ("<\"x%foreign.test\"@example.test>", "550 5.1.1"),
    ("<x%foreign.test@virt.test>", "550 5.1.1"),
]


@pytest.mark.parametrize("rcpt,want", PROBES)
def test_open_relay_probes(stranger, rcpt, want):
    before = stranger.count()
    c = stranger.client()
    assert c.code("EHLO probe.test") == 250
    assert c.code("MAIL FROM:<spam@b.test>") == 250
    code, lines = c.cmd(f"RCPT TO:{rcpt}")
    assert lines[0].startswith(want), lines
    assert code >= 500
    # and nothing reaches the queue even if the client carries on
    c.send("DATA\r\n")
    code, lines = c.reply()
    assert code == 554
    assert stranger.count() == before


def test_relay_client_may_relay(friend):
    c = friend.client()
    code, lines = c.cmd("EHLO friend.test")
    assert "250-ETRN" in lines or "250 ETRN" in lines
    assert c.code("MAIL FROM:<me@b.test>") == 250
    assert c.code("RCPT TO:<x@foreign.test>") == 250
    assert c.code("RCPT TO:<x%y@foreign.test>") == 250
    # a local domain's unknown user is still unknown
    assert c.code("RCPT TO:<nobody@example.test>") == 550
    assert c.code("RCPT TO:<x%foreign.test@example.test>") == 550
    assert c.code("DATA") == 354
    c.send("Subject: relayed\r\n\r\nhi\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250
    env, body = friend.messages()[lines[0].split()[-1]]
    assert [r[0] for r in env["rcpts"]] == ["x@foreign.test",
                                            "x%y@foreign.test"]


def test_forward_251_and_moved(friend):
    c = friend.client()
    assert c.code("EHLO friend.test") == 250
    assert c.code("MAIL FROM:<me@b.test>") == 250
    assert c.cmd("RCPT TO:<fwd@example.test>")[1][0] == (
        "251 2.1.5 User not local; will forward to <someone@elsewhere.test>")
    assert c.cmd("RCPT TO:<info@example.test>")[1][0].startswith("250 2.1.5")
    assert c.cmd("RCPT TO:<gone@example.test>")[1][0] == (
        "551 5.1.6 User not local; please try <new@elsewhere.test>")


def test_vrfy_expn_for_relay_clients(friend):
    c = friend.client()
    assert c.code("EHLO friend.test") == 250
    assert c.cmd("VRFY alice")[1][0] == "250 2.1.5 <alice@test.example>" \
        or c.cmd("VRFY <alice@example.test>")[1][0].startswith("250 2.1.5")
    assert c.cmd("VRFY <alice@example.test>")[1][0] == \
        "250 2.1.5 <alice@example.test>"
    assert c.cmd("VRFY <nobody@example.test>")[1][0].startswith("550 5.1.1")
    code, lines = c.cmd("EXPN list@example.test")
    assert lines == ["250-2.1.5 <alice@example.test>",
                     "250 2.1.5 <bob@example.test>"]
    assert c.cmd("EXPN nolist@example.test")[1][0].startswith("550 5.1.1")
    # a bare local part alias, as RCPT resolves it (lib/rcpt.c)
    assert c.cmd("EXPN abuse@example.test")[1] == ["250 2.1.5 <alice>"]
    assert c.cmd("VRFY <abuse@example.test>")[1][0] == \
        "250 2.1.5 <abuse@example.test>"


def test_etrn_for_relay_client(friend):
    c = friend.client()
    assert c.code("EHLO friend.test") == 250
    # nobody reads the trigger FIFO yet (no queue manager): 458
    assert c.cmd("ETRN example.test")[1][0].startswith("458 4.3.0")
    # play the queue manager: read the trigger FIFO
    fd = os.open(friend.qdir("lock/trigger"), os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert c.cmd("ETRN example.test")[1][0].startswith("250 2.0.0")
        assert c.cmd("ETRN @sub.example.test")[1][0].startswith("250 2.0.0")
        assert os.read(fd, 4096) == (b"F\x0cexample.test"
                                     b"F\x10sub.example.test")
    finally:
        os.close(fd)
    assert c.cmd("ETRN #queue")[1][0].startswith("501 5.5.4")
    assert "event=etrn" in friend.logtext()
