"""sandmail-smtpd in listener mode against the real queue service: the
commands, their reply codes, ESMTP parameters and recipient policy."""
import smtplib

import pytest

from conftest import Procs
import smtpdutil


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    ps = Procs()
    s = smtpdutil.Smtpd(ps, tmp_path_factory.mktemp("smtpd"),
                        max_message_size="64k", max_recipients=100)
    yield s
    ps.stop_all()


def hello(srv, ehlo=True):
    c = srv.client()
    assert c.greeting[0] == 220
    assert c.cmd("EHLO client.test" if ehlo else "HELO client.test")[0] \
        == 250
    return c


def test_greeting_and_ehlo(srv):
    c = srv.client()
    assert c.greeting == (220, ["220 test.example ESMTP sandmail"])
    code, lines = c.cmd("EHLO client.test")
    assert code == 250
    kws = [ln[4:] for ln in lines[1:]]
    for k in ("PIPELINING", "SIZE 65536", "8BITMIME", "ENHANCEDSTATUSCODES",
              "DSN", "SMTPUTF8", "CHUNKING", "HELP"):
        assert k in kws
    assert "ETRN" not in kws    # not a relay client
    assert lines[-1].startswith("250 ") and lines[0].startswith("250-")
    assert c.cmd("HELO client.test") == (250, ["250 test.example"])
    assert c.cmd("QUIT")[0] == 221
    assert c.closed()


@pytest.mark.parametrize("cmd,want", [
    ("FOO", "500 5.5.2"),
    ("MAIL FROM:<a@b.test>", "503 5.5.1"),
    ("RCPT TO:<alice@example.test>", "503 5.5.1"),
    ("DATA", "503 5.5.1"),
    ("HELO", "501 5.5.4"),
    ("EHLO", "501 5.5.4"),
    ("NOOP", "250 2.0.0"),
    ("RSET", "250 2.0.0"),
    ("VRFY alice", "252 2.5.2"),
    ("EXPN list@example.test", "502 5.5.1"),
    ("TURN", "502 5.5.1"),
    ("SEND FROM:<a@b.test>", "502 5.5.1"),
    ("SOML FROM:<a@b.test>", "502 5.5.1"),
    ("SAML FROM:<a@b.test>", "502 5.5.1"),
    ("HELP", "214 2.0.0"),
    ("ETRN example.test", "503 5.5.1"),
])
def test_before_helo(srv, cmd, want):
    c = srv.client()
    code, lines = c.cmd(cmd)
    assert lines[-1].startswith(want), lines


@pytest.mark.parametrize("mail,want", [
    ("MAIL FROM:<a@b.test>", "250 2.1.0"),
    ("MAIL FROM:<>", "250 2.1.0"),
    ("mail from: <a@b.test>", "250 2.1.0"),
    ("MAIL FROM:<a@b.test> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=x+2By",
     "250 2.1.0"),
    ("MAIL FROM:<a@b.test> BODY=7BIT", "250 2.1.0"),
    ("MAIL FROM:<a@b.test> FOO=bar", "555 5.5.4"),
    ("MAIL FROM:<a@b.test> BODY=BINARYMIME", "501 5.5.4"),
    ("MAIL FROM:<a@b.test> SIZE=10 SIZE=10", "501 5.5.4"),
    ("MAIL FROM:<a@b.test> SIZE=x", "501 5.5.4"),
    ("MAIL FROM:<a@b.test> RET=ALL", "501 5.5.4"),
    ("MAIL FROM:<a@b.test> ENVID=a=b", "501 5.5.4"),
    ("MAIL FROM:<a@b.test> ENVID=+2b", "501 5.5.4"),
    ("MAIL FROM:<a@b.test> SMTPUTF8=yes", "501 5.5.4"),
    ("MAIL FROM:<a@b.test> SIZE=65537", "552 5.3.4"),
    ("MAIL FROM:<a@b.test> SIZE=99999999999999999999", "552 5.3.4"),
    ("MAIL FROM:a@b.test", "501 5.1.7"),
    ("MAIL FROM:<a@b.test", "501 5.1.7"),
    ("MAIL TO:<a@b.test>", "501 5.1.7"),
    ("MAIL FROM:<\u00e9@b.test>", "553 5.6.7"),
    ("MAIL FROM:<\u00e9@b.test> SMTPUTF8", "250 2.1.0"),
])
def test_mail(srv, mail, want):
    c = hello(srv)
    code, lines = c.cmd(mail)
    assert lines[-1].startswith(want), lines


def test_mail_params_after_helo_refused(srv):
    c = hello(srv, ehlo=False)
    assert c.cmd("MAIL FROM:<a@b.test> SIZE=10")[1][0].startswith(
        "555 5.5.4")
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("MAIL FROM:<a@b.test>") == 503    # nested MAIL


@pytest.mark.parametrize("rcpt,want", [
    ("RCPT TO:<alice@example.test>", "250 2.1.5"),
    ("RCPT TO:<ALICE@Example.TEST>", "250 2.1.5"),
    ("RCPT TO:<alice-ext@example.test>", "250 2.1.5"),
    ("RCPT TO:<alice+ext@example.test>", "250 2.1.5"),
    ("RCPT TO:<postmaster@example.test>", "250 2.1.5"),
    ("RCPT TO:<Postmaster>", "250 2.1.5"),
    ("RCPT TO:<info@example.test>", "250 2.1.5"),
    ("RCPT TO:<fwd@example.test>", "250 2.1.5"),
    ("RCPT TO:<carol@virt.test>", "250 2.1.5"),
    ("RCPT TO:<x@routed.test>", "250 2.1.5"),
    ("RCPT TO:<x@a.sub.routed.test>", "250 2.1.5"),
    ("RCPT TO:<nobody@example.test>", "550 5.1.1"),
    ("RCPT TO:<alice@virt.test>", "550 5.1.1"),
    ("RCPT TO:<gone@example.test>",
     "551 5.1.6 User not local; please try <new@elsewhere.test>"),
    ("RCPT TO:<x@foreign.test>", "554 5.7.1"),
    ("RCPT TO:<x@[127.0.0.1]>", "554 5.7.1"),
    ("RCPT TO:<>", "501 5.1.3"),
    ("RCPT TO:<alice@example.test> NOTIFY=NEVER", "250 2.1.5"),
    ("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE,DELAY",
     "250 2.1.5"),
    ("RCPT TO:<alice@example.test> NOTIFY=NEVER,SUCCESS", "501 5.5.4"),
    ("RCPT TO:<alice@example.test> NOTIFY=", "501 5.5.4"),
    ("RCPT TO:<alice@example.test> ORCPT=rfc822;alice+40example.test",
     "250 2.1.5"),
    ("RCPT TO:<alice@example.test> ORCPT=rfc822", "501 5.5.4"),
    ("RCPT TO:<alice@example.test> ORCPT=;x", "501 5.5.4"),
    ("RCPT TO:<alice@example.test> ORCPT=rfc822;a+zz", "501 5.5.4"),
    ("RCPT TO:<alice@example.test> BAR", "555 5.5.4"),
    ("RCPT TO:<\u00e9@example.test>", "553 5.6.7"),
])
def test_rcpt(srv, rcpt, want):
    c = hello(srv)
    assert c.code("MAIL FROM:<a@b.test>") == 250
    code, lines = c.cmd(rcpt)
    assert lines[-1].startswith(want), lines


def test_rcpt_before_mail_and_data_without_rcpt(srv):
    c = hello(srv)
    assert c.cmd("RCPT TO:<alice@example.test>")[1][0].startswith(
        "503 5.5.1")
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<nobody@example.test>") == 550
    assert c.cmd("DATA")[1][0].startswith("554 5.5.1")
    assert c.code("RSET") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 503


def test_long_command_line(srv):
    c = hello(srv)
    code, lines = c.cmd("NOOP " + "x" * 1100)
    assert lines[0].startswith("500 5.5.6")
    c.send("MAIL FROM:<" + "y" * (1 << 20) + "@b.test>\r\n")  # 1 MB line
    assert c.reply()[1][0].startswith("500 5.5.6")
    assert c.code("NOOP") == 250   # still in step


def test_nul_and_cr_in_command(srv):
    c = hello(srv)
    c.send(b"NOOP \x00\r\n")
    assert c.reply()[1][0].startswith("500 5.5.2")
    c.send(b"NOOP a\rb\r\n")
    assert c.reply()[1][0].startswith("500 5.5.2")
    assert c.code("NOOP") == 250


def test_too_many_errors(srv):
    c = hello(srv)
    for _ in range(9):
        assert c.code("BOGUS") == 500
    code, lines = c.cmd("BOGUS")
    assert code == 500
    assert c.reply()[1][0].startswith("421 4.7.0")
    assert c.closed()


def test_max_recipients_10000(srv):
    c = hello(srv)
    n = 10000
    batch = "MAIL FROM:<a@b.test>\r\n" + "".join(
        f"RCPT TO:<alice-{i}@example.test>\r\n" for i in range(n))
    c.send(batch)
    assert c.reply()[0] == 250
    codes = [c.reply()[1][0][:9] for _ in range(n)]
    assert codes[:100] == ["250 2.1.5"] * 100
    assert set(codes[100:]) == {"452 4.5.3"}
    before = srv.count()
    c.send("DATA\r\n")
    assert c.reply()[0] == 354
    c.send("Subject: many\r\n\r\nhi\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250
    qid = lines[0].split()[-1]
    assert srv.count() == before + 1
    env, body = srv.messages()[qid]
    assert len(env["rcpts"]) == 100
    assert b"\tfor <" not in body     # several recipients: none named


def test_vrfy_expn_etrn_not_for_strangers(srv):
    c = hello(srv)
    assert c.cmd("VRFY alice")[1][0].startswith("252 2.5.2")
    assert c.cmd("VRFY")[1][0].startswith("501 5.5.4")
    assert c.cmd("EXPN list@example.test")[1][0].startswith("502 5.5.1")
    assert c.cmd("ETRN example.test")[1][0].startswith("458 ")
    assert c.cmd("ETRN")[1][0].startswith("501 5.5.4")


def test_smtplib_message_and_envelope(srv):
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=20) as s:
        s.ehlo("client.test")
        s.mail("sender@b.test", ["RET=FULL", "ENVID=env+2Bid"])
        assert s.rcpt("alice@example.test",
                      ["NOTIFY=SUCCESS,FAILURE",
                       "ORCPT=rfc822;alice+40example.test"])[0] == 250
        assert s.rcpt("bob@example.test", ["NOTIFY=NEVER"])[0] == 250
        code, msg = s.data(b"Subject: t\r\nX: 1\r\n\r\nbody line\r\n"
                           b".leading dot\r\n")
    assert code == 250
    assert msg.startswith(b"2.0.0 Ok: queued as ")
    qid = msg.split()[-1].decode()
    env, body = srv.messages()[qid]
    assert env["sender"] == "sender@b.test"
    assert env["envid"] == "env+2Bid" and env["ret"] == 1
    assert env["helo"] == "client.test" and env["proto"] == "ESMTP"
    assert env["client"] == "127.0.0.1"
    assert env["rcpts"] == [
        ("alice@example.test", "rfc822;alice+40example.test", 3),
        ("bob@example.test", "", 8)]
    head, _, rest = body.partition(b"\n\t")
    assert head == b"Received: from client.test (rDNS unknown [127.0.0.1])"
    assert f"with ESMTP id {qid}".encode() in body
    assert body.endswith(b"Subject: t\nX: 1\n\nbody line\n.leading dot\n")
    assert b"\r" not in body
    log = srv.logtext()
    assert f"event=accept id={qid} from=sender@b.test nrcpt=2" in log


def test_smtputf8_and_8bitmime(srv):
    c = hello(srv)
    assert c.code("MAIL FROM:<\u00e9t\u00e9@b.test> SMTPUTF8 "
                  "BODY=8BITMIME") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send("Subject: \u00e9\r\n\r\n\u00e9\r\n.\r\n".encode())
    code, lines = c.reply()
    assert code == 250
    env, body = srv.messages()[lines[0].split()[-1]]
    assert env["flags"] & 3 == 3
    assert "Subject: \u00e9\n".encode() in body
    # RFC 6531 3.7.3: the trace names the SMTPUTF8 transaction
    assert b"(sandmail) with UTF8SMTP id " in body
    assert env["proto"] == "UTF8SMTP"
    # a later transaction without SMTPUTF8 is plain ESMTP again
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send(b"Subject: a\r\n\r\na\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250
    env, body = srv.messages()[lines[0].split()[-1]]
    assert b"(sandmail) with ESMTP id " in body and env["proto"] == "ESMTP"


def help_words(c):
    code, lines = c.cmd("HELP")
    assert code == 214 and lines[-1] == "214 2.0.0 See RFC 5321", lines
    return " ".join(ln[10:] for ln in lines[:-1]).split()


def test_help_lists_what_this_session_may_use(srv):
    """Port 25, no AUTH offered, no certificate, not a relay client:
    HELP names neither AUTH nor STARTTLS, ETRN nor EXPN (each would be
    refused), nor the obsolete verbs."""
    c = hello(srv)
    words = help_words(c)
    assert words[0] == "Commands:"
    for w in ("HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
              "NOOP", "QUIT", "HELP", "VRFY"):
        assert w in words, words
    for w in ("AUTH", "STARTTLS", "ETRN", "EXPN", "TURN", "SEND"):
        assert w not in words, words


def test_helo_sanitized_in_received(srv):
    c = srv.client()
    assert c.code("EHLO evil\x01name(x)") == 250
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send("Subject: x\r\n\r\nx\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250
    env, body = srv.messages()[lines[0].split()[-1]]
    first = body.split(b"\n")[0]
    assert first == b"Received: from evil?name?x? (rDNS unknown [127.0.0.1])"


def test_pipelined_transaction_in_one_write(srv):
    c = hello(srv)
    before = srv.count()
    c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\n"
           "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
           "DATA\r\nSubject: p\r\n\r\none\r\n.\r\n"
           "MAIL FROM:<c@d.test>\r\nRCPT TO:<bob@example.test>\r\n"
           "DATA\r\nSubject: q\r\n\r\ntwo\r\n.\r\nNOOP\r\nQUIT\r\n")
    got = [c.reply()[1][0][:3] for _ in range(11)]
    assert got == ["250", "250", "550", "250", "354", "250",
                   "250", "250", "354", "250", "250"]
    assert c.reply()[0] == 221
    assert c.closed()
    assert srv.count() == before + 2


def test_hop_count(srv):
    def send(nrecv):
        c = hello(srv)
        assert c.code("MAIL FROM:<a@b.test>") == 250
        assert c.code("RCPT TO:<alice@example.test>") == 250
        assert c.code("DATA") == 354
        c.send("".join(f"Received: from h{i}\r\n" for i in range(nrecv)) +
               "Subject: loop\r\n\r\nbody\r\nReceived: not a header\r\n"
               ".\r\n")
        return c.reply()[1][0]
    before = srv.count()
    assert send(101).startswith("554 5.4.6")
    assert srv.count() == before
    assert send(100).startswith("250 2.0.0")


def test_size_limit_counted_on_bytes(srv):
    c = hello(srv)
    before = srv.count()
    assert c.code("MAIL FROM:<a@b.test> SIZE=100") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    line = "x" * 998 + "\r\n"
    c.send("Subject: big\r\n\r\n" + line * 70 + ".\r\n")
    assert c.reply()[1][0].startswith("552 5.3.4")
    assert c.code("NOOP") == 250
    assert srv.count() == before


def test_long_data_line_accepted(srv):
    c = hello(srv)
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send("Subject: l\r\n\r\n" + "y" * 60000 + "\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250
    env, body = srv.messages()[lines[0].split()[-1]]
    assert body.endswith(b"\n\n" + b"y" * 60000 + b"\n")


def test_early_talker(tmp_path, procs):
    # a greet delay makes "before the greeting" certain, not a race
    s = smtpdutil.Smtpd(procs, tmp_path, greet_delay_ms=10000)
    c = s.client(greet=False)
    c.send("EHLO early.test\r\n")
    code, lines = c.reply()
    assert lines[0].startswith("554 5.5.0")
    assert c.closed()
