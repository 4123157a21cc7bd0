"""sandmail-smtpd: the message text.  DATA and BDAT against the real queue
service: SMTP smuggling never yields two messages, NUL and bare line ends
are refused, a client that leaves or goes silent leaves nothing behind."""
import os
import socket

import pytest

from conftest import Procs, wait_for
import smtpdutil


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    ps = Procs()
    s = smtpdutil.Smtpd(ps, tmp_path_factory.mktemp("smtpd-data"),
                        smtpd_timeout=3, smtpd_data_timeout=3)
    yield s
    ps.stop_all()


def xact(srv, bdat=False):
    c = srv.client()
    assert c.code("EHLO client.test") == 250
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    if not bdat:
        assert c.code("DATA") == 354
    return c


SMUGGLE = [b"\n.\n", b"\r.\r\n", b"\n.\r\n", b"\r\n.\n"]


@pytest.mark.parametrize("sep", SMUGGLE, ids=["lf.lf", "cr.crlf",
                                              "lf.crlf", "crlf.lf"])
def test_smuggling_never_two_messages(srv, sep):
    before = srv.count()
    c = xact(srv)
    # The smuggler's payload: an end of data the way some server might
    # read it, then a whole second transaction.
    c.send(b"Subject: one\r\n\r\nfirst" + sep +
           b"MAIL FROM:<evil@b.test>\r\nRCPT TO:<bob@example.test>\r\n"
           b"DATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")
    code, lines = c.reply()
    assert lines[0].startswith("550 5.6.11"), lines
    # the next reply answers our next command, not smuggled ones
    assert c.cmd("NOOP") == (250, ["250 2.0.0 Ok"])
    assert srv.count() == before
    assert "bare CR or LF" in srv.logtext()


@pytest.mark.parametrize("body", [
    b"Subject: x\r\n\r\nbare\nlf\r\n", b"Subject: x\r\n\r\nbare\rcr\r\n",
    b"Subject: x\r\n\r\nend cr\r\r\n", b"Subject: x\n\r\nfirst line\r\n"])
def test_bare_line_ends_refused(srv, body):
    before = srv.count()
    c = xact(srv)
    c.send(body + b".\r\n")
    assert c.reply()[1][0].startswith("550 5.6.11")
    assert srv.count() == before


def test_nul_refused(srv):
    before = srv.count()
    c = xact(srv)
    c.send(b"Subject: nul\r\n\r\na\x00b\r\n.\r\n")
    assert c.reply()[1][0].startswith("554 5.6.0")
    assert c.code("NOOP") == 250
    assert srv.count() == before


def test_dot_stuffing_and_crlf(srv):
    c = xact(srv)
    c.send(b"Subject: dots\r\n\r\n..\r\n...x\r\n.y\r\nz.\r\n\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250
    env, body = srv.messages()[lines[0].split()[-1]]
    assert body.endswith(b"Subject: dots\n\n.\n..x\ny\nz.\n\n")


def test_empty_message(srv):
    c = xact(srv)
    c.send(b".\r\n")
    code, lines = c.reply()
    assert code == 250
    env, body = srv.messages()[lines[0].split()[-1]]
    assert body.startswith(b"Received: ") and body.count(b"\n") == 3


def test_bdat_chunks(srv):
    c = xact(srv, bdat=True)
    part1 = b"Subject: chunked\r\n\r\nline one\r\n.not stuffed\r"
    part2 = b"\nline two\r\n"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert c.reply()[1][0].startswith("250 2.0.0")
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, lines = c.reply()
    assert code == 250 and "queued as" in lines[0]
    env, body = srv.messages()[lines[0].split()[-1]]
    assert body.endswith(b"Subject: chunked\n\nline one\n.not stuffed\n"
                         b"line two\n")
    assert c.code("NOOP") == 250


def test_bdat_pipelined_with_next_transaction(srv):
    c = srv.client()
    assert c.code("EHLO client.test") == 250
    m = b"Subject: b\r\n\r\nhi\r\n"
    c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\n"
           b"BDAT %d LAST\r\n" % len(m) + m +
           b"MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\n"
           b"BDAT 0 LAST\r\nQUIT\r\n")
    got = [c.reply()[1][0][:3] for _ in range(7)]
    assert got == ["250"] * 6 + ["221"]


def test_bdat_refused_chunk_is_still_read(srv):
    c = srv.client()
    assert c.code("EHLO client.test") == 250
    # no MAIL: 503, and the chunk (which looks like commands) is eaten
    evil = b"MAIL FROM:<e@b.test>\r\nRCPT TO:<bob@example.test>\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(evil) + evil)
    assert c.reply()[1][0].startswith("503 5.5.1")
    assert c.code("NOOP") == 250
    assert c.code("RCPT TO:<bob@example.test>") == 503


def test_bdat_bare_lf_refused(srv):
    before = srv.count()
    c = xact(srv, bdat=True)
    m = b"Subject: x\n\nbare\n"
    c.send(b"BDAT %d LAST\r\n" % len(m) + m)
    assert c.reply()[1][0].startswith("550 5.6.11")
    assert srv.count() == before


def test_bdat_then_data_is_bad_sequence(srv):
    c = xact(srv, bdat=True)
    c.send(b"BDAT 3\r\nabc")
    assert c.reply()[0] == 250
    assert c.cmd("DATA")[1][0].startswith("503 5.5.1")
    assert c.cmd("MAIL FROM:<a@b.test>")[1][0].startswith("503 5.5.1")
    assert c.code("RSET") == 250
    assert c.code("MAIL FROM:<a@b.test>") == 250


def test_bdat_bad_syntax_closes(srv):
    c = xact(srv, bdat=True)
    assert c.cmd("BDAT x")[1][0].startswith("501 5.5.4")
    assert c.closed()


def queue_empty_of_partials(srv):
    return os.listdir(srv.qdir("tmp")) == []


def test_disconnect_mid_data_leaves_nothing(srv):
    before = srv.count()
    c = xact(srv)
    c.send(b"Subject: cut\r\n\r\n" + b"z" * 100000 + b"\r\nmore")
    c.s.shutdown(socket.SHUT_RDWR)
    c.close()
    wait_for(lambda: "reason=\"eof in data\"" in srv.logtext(),
             what="the session to end")
    wait_for(lambda: queue_empty_of_partials(srv), what="tmp/ empty")
    assert srv.count() == before
    assert sorted(os.listdir(srv.qdir("mess"))) == sorted(srv.messages())


def test_silent_client_timed_out(srv):
    c = srv.client()
    assert c.code("EHLO client.test") == 250
    code, lines = c.reply()        # we say nothing; the server gives up
    assert lines[0].startswith("421 4.4.2")
    assert c.closed()


def test_silent_in_data_timed_out(srv):
    before = srv.count()
    c = xact(srv)
    c.send(b"Subject: slow\r\n\r\npartial")
    code, lines = c.reply()
    assert lines[0].startswith("421 4.4.2")
    assert c.closed()
    wait_for(lambda: queue_empty_of_partials(srv), what="tmp/ empty")
    assert srv.count() == before


def test_rset_during_bdat_drops_the_message(srv):
    before = srv.count()
    c = xact(srv, bdat=True)
    c.send(b"BDAT 12\r\nSubject: x\r\n")
    assert c.reply()[0] == 250
    assert c.code("RSET") == 250
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("QUIT") == 221
    wait_for(lambda: queue_empty_of_partials(srv), what="tmp/ empty")
    assert srv.count() == before
