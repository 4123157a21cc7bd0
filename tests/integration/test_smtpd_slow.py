"""sandmail-smtpd and slow clients (RFC 5321 4.5.3.2): smtpd_timeout is
the time to receive one whole command line, however its bytes are spread;
the message text must keep up smtpd_min_data_rate after a grace of
smtpd_data_timeout.  A client that trickles a byte at a time is cut with
421 long before its line or its text is done; one that is slow but steady
gets through.  Short settings here (3 s, 100 bytes/s); every trickle below
would take many times longer than the rule allows, so the outcome does not
hang on the machine's speed."""
import os
import threading
import time

import pytest

from conftest import Procs, wait_for
import smtpdutil


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    ps = Procs()
    s = smtpdutil.Smtpd(ps, tmp_path_factory.mktemp("smtpd-slow"),
                        smtpd_timeout=3, smtpd_data_timeout=3,
                        smtpd_min_data_rate=100)
    yield s
    ps.stop_all()


class Trickle:
    """Sends pieces one after another with a pause between them, until the
    server answers (a reader thread watches) or all are sent."""

    def __init__(self, c, skip250=False):
        self.c = c
        self.skip250 = skip250       # BDAT: each chunk's 250 is not it
        self.reply = None
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        try:
            r = self.c.reply()
            while self.skip250 and r[0] == 250:
                r = self.c.reply()
            self.reply = r
        except (EOFError, OSError) as e:
            self.reply = (0, [repr(e)])

    def run(self, pieces, pause):
        sent = 0
        for p in pieces:
            if self.reply is not None:
                break
            try:
                self.c.send(p)
            except OSError:
                break
            sent += 1
            time.sleep(pause)
        self.t.join(60)
        return sent


def test_trickled_command_line_is_cut(srv):
    """A byte a second: each read comes well within smtpd_timeout, the
    line (40 bytes: 40 s) never does."""
    c = srv.client()
    line = b"HELO a-rather-slow-client.example.test\r\n"
    assert len(line) == 40
    t = Trickle(c)
    sent = t.run([line[i:i + 1] for i in range(len(line))], 1)
    code, lines = t.reply
    assert code == 421, lines
    assert lines[0].startswith("421 4.4.2 test.example Timeout"), lines
    assert "command line" in lines[0]
    assert sent < len(line)          # cut before the line was complete
    assert c.closed()
    wait_for(lambda: 'reason="slow command"' in srv.logtext(),
             what="the disconnect line")


def test_slow_but_steady_commands_get_through(srv):
    """Each line in two halves a second apart, a session longer than
    smtpd_timeout: nothing is cut."""
    c = srv.client()
    for cmd in (b"EHLO steady.example\r\n", b"MAIL FROM:<a@b.test>\r\n",
                b"RCPT TO:<alice@example.test>\r\n", b"NOOP\r\n"):
        h = len(cmd) // 2
        c.send(cmd[:h])
        time.sleep(1)
        c.send(cmd[h:])
        assert c.reply()[0] == 250
    assert c.code("QUIT") == 221


def test_slow_but_steady_data_gets_through(srv):
    """About 250 bytes/s, above the 100 of the rule, for longer than
    smtpd_data_timeout: the message is accepted."""
    before = srv.count()
    c = srv.client()
    assert c.code("EHLO steady.example") == 250
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send(b"Subject: steady\r\n\r\n")
    for i in range(25):
        c.send(b"%02d " % i + b"x" * 45 + b"\r\n")
        time.sleep(0.2)
    c.send(b".\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    assert srv.count() == before + 1
    assert c.code("QUIT") == 221


def xact(srv):
    c = srv.client()
    assert c.code("EHLO client.test") == 250
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    return c


def test_trickled_data_is_cut(srv):
    """After the 354, a byte every 0.1 s in short lines (10 bytes/s): no
    silence is long, every line is quick, the text is too slow."""
    before = srv.count()
    c = xact(srv)
    assert c.code("DATA") == 354
    body = b"Subject: drip\r\n\r\n" + b"drip\r\n" * 50 + b".\r\n"
    t = Trickle(c)
    sent = t.run([body[i:i + 1] for i in range(len(body))], 0.1)
    code, lines = t.reply
    assert code == 421, lines
    assert lines[0] == ("421 4.4.2 test.example Timeout: message data too "
                        "slow, closing")
    assert sent < len(body)
    assert c.closed()
    wait_for(lambda: 'reason="data too slow"' in srv.logtext(),
             what="the disconnect line")
    wait_for(lambda: srv.count() == before and
             os.listdir(srv.qdir("tmp")) == [], what="no message")


def test_trickled_bdat_chunks_are_cut(srv):
    """Tiny BDAT chunks, each command at once, 0.5 s apart (18 bytes/s):
    the rule runs from the first BDAT to LAST, BDAT lines included."""
    before = srv.count()
    c = xact(srv)
    t = Trickle(c, skip250=True)
    sent = t.run([b"BDAT 1\r\nx"] * 60, 0.5)
    code, lines = t.reply
    assert code == 421, lines
    assert "message data too slow" in lines[0]
    assert sent < 60
    assert c.closed()
    assert srv.count() == before
