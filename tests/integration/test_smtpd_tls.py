"""smtpd with TLS and AUTH: STARTTLS (RFC 3207), implicit TLS (RFC 8314),
submission mode (RFC 6409) and AUTH PLAIN/LOGIN (RFC 4954) checked by a
real sandmail-auth against a users table made by sandmail-passwd.

One sandmail-smtpd listens on three ports: smtp (STARTTLS, AUTH after
it), submission (AUTH required before MAIL) and smtps (TLS from the first
byte).  Clients are Python's ssl + smtplib, raw sockets and swaks."""
import base64
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

import queueutil
import smtpdutil
import tlsutil
from conftest import (free_port, need, prog, proc_status, wait_for,
                      wait_port)

PASSWORD = "s3cret pass!"
SENDERS = "alice alice@example.test,@alice.test\n"


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


class TlsSmtpd:
    """A queue service and one smtpd listening as smtp, submission and
    smtps, with a self-signed certificate and a user alice."""

    def __init__(self, procs, d, listen=True, **conf):
        self.dir = str(d)
        self.cert, self.key = tlsutil.make_cert(self.dir)
        kw = {"tls_cert": self.cert, "tls_key": self.key,
              "bindir": os.path.dirname(prog("sandmail-auth")),
              "auth_fail_delay": "10ms", "auth_max_failures": 3,
              "smtpd_auth": "yes",
              "passwd_opslimit": 1, "passwd_memlimit": "64k"}
        if os.geteuid() == 0:
            kw["user_auth"] = "nobody"
        kw.update(conf)
        self.s = smtpdutil.Smtpd(procs, d, tables={"senders": SENDERS},
                                 listen=False, **kw)
        self.conf = self.s.conf
        r = subprocess.run([prog("sandmail-passwd"), "-c", self.conf,
                            "alice"], input=(PASSWORD + "\n").encode(),
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        self.ctx = tlsutil.client_context(self.cert)
        if not listen:
            return
        self.smtp, self.sub, self.smtps = free_port(), free_port(), free_port()
        # -m sets the mode of -l without one; /MODE sets one listener's
        with open(self.s.log, "ab") as lg:
            self.proc = procs.start(
                [prog("sandmail-smtpd"), "-c", self.conf, "-m", "submission",
                 "-l", f"127.0.0.1:{self.sub}",
                 "-l", f"127.0.0.1:{self.smtp}/smtp",
                 "-l", f"127.0.0.1:{self.smtps}/smtps"], stderr=lg)
        for p in (self.smtp, self.sub, self.smtps):
            wait_port(p)
        # the probes' sessions end first, so a test's children are its own
        smtpdutil.wait_idle(self.proc.pid, self.s.log)

    def logtext(self):
        return self.s.logtext()

    def starttls(self, port):
        c = smtplib.SMTP("127.0.0.1", port, timeout=20)
        c.ehlo("client.test")
        assert c.has_extn("starttls")
        c.starttls(context=self.ctx)
        c.ehlo("client.test")
        return c

    def login(self, c, mech="PLAIN", password=PASSWORD):
        c.user, c.password = "alice", password
        mfn = {"PLAIN": c.auth_plain, "LOGIN": c.auth_login}[mech]
        return c.auth(mech, mfn, initial_response_ok=(mech == "PLAIN"))


@pytest.fixture
def srv(procs, tmp_path):
    return TlsSmtpd(procs, tmp_path)


class Raw(smtpdutil.Client):
    """The raw client, switched to TLS on demand."""

    def tls(self, ctx):
        assert self.buf == b""
        self.s = ctx.wrap_socket(self.s, server_hostname="localhost")


def test_starttls_offered_auth_only_inside(srv):
    c = smtplib.SMTP("127.0.0.1", srv.smtp, timeout=20)
    c.ehlo("client.test")
    assert c.has_extn("starttls")
    assert not c.has_extn("auth")
    c.starttls(context=srv.ctx)
    c.ehlo("client.test")
    assert not c.has_extn("starttls")
    assert c.has_extn("auth")
    assert set(c.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
    ver = c.sock.version()
    assert ver in ("TLSv1.2", "TLSv1.3")
    # STARTTLS a second time is a bad sequence
    assert c.docmd("STARTTLS")[0] == 503
    c.quit()


def test_help_follows_tls_and_auth(srv):
    """HELP names STARTTLS while it is offered and TLS is not on, AUTH
    only where it is offered and not yet done."""
    from test_smtpd import help_words
    c = Raw(srv.smtp)
    assert c.code("EHLO client.test") == 250
    words = help_words(c)
    assert "STARTTLS" in words and "AUTH" not in words
    assert c.code("STARTTLS") == 220
    c.tls(srv.ctx)
    assert c.code("EHLO client.test") == 250
    words = help_words(c)
    assert "STARTTLS" not in words and "AUTH" in words
    c.close()
    c = srv.starttls(srv.sub)
    srv.login(c)
    code, text = c.docmd("HELP")
    assert code == 214 and b"AUTH" not in text and b"STARTTLS" not in text
    assert b"ETRN" in text                   # authenticated: may relay
    c.quit()


def test_received_utf8smtpsa(srv):
    c = srv.starttls(srv.sub)
    srv.login(c)
    c.sendmail("alice@example.test", ["alice@example.test"],
               "Subject: \u00e9\r\n\r\nhi\r\n".encode(),
               mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    c.quit()
    (env, body), = srv.s.messages().values()
    assert b"with UTF8SMTPSA\n\t(version=" in body
    assert env["proto"] == "UTF8SMTPSA"


def test_smtp_mode_no_auth_by_default(procs, tmp_path):
    """Without smtpd_auth yes, port 25's mode offers no AUTH even inside
    TLS and spawns no sandmail-auth; submission still does."""
    t = TlsSmtpd(procs, tmp_path, smtpd_auth="no")
    c = t.starttls(t.smtp)
    assert not c.has_extn("auth")
    assert c.docmd("AUTH", "PLAIN " + b64("\0alice\0" + PASSWORD))[0] == 502
    kids = smtpdutil.children(t.proc.pid)
    assert kids and all(smtpdutil.children(k) == [] for k in kids)
    c.quit()
    c = t.starttls(t.sub)
    assert c.has_extn("auth")
    c.quit()


def test_session_sandboxed_during_tls(srv):
    c = srv.starttls(srv.smtp)
    kids = smtpdutil.children(srv.proc.pid)
    assert kids, "no session child"
    for k in kids:
        st = proc_status(k)
        assert st["Seccomp"] == "2", (k, st.get("Name"))
    assert c.noop()[0] == 250          # the filter let TLS go on
    c.quit()


def test_tls11_refused(srv):
    old = tlsutil.old_tls_context()
    r = Raw(srv.smtp)
    assert r.code("EHLO client.test") == 250
    assert r.code("STARTTLS") == 220
    with pytest.raises((ssl.SSLError, ConnectionError)):
        old.wrap_socket(r.s, server_hostname="localhost")
    r.close()
    # and on the implicit TLS port
    s = socket.create_connection(("127.0.0.1", srv.smtps), timeout=20)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        old.wrap_socket(s, server_hostname="localhost")
    s.close()
    wait_for(lambda: srv.logtext().count("event=tls_fail") >= 2)


def test_auth_refused_before_tls(srv):
    r = Raw(srv.smtp)
    assert r.code("EHLO client.test") == 250
    assert r.code("AUTH PLAIN " + b64("\0alice\0" + PASSWORD)) == 538
    r.close()
    r = Raw(srv.sub)
    code, lines = r.cmd("EHLO client.test")
    assert not any("AUTH" in ln for ln in lines)
    assert r.code("AUTH LOGIN") == 538
    assert r.code("MAIL FROM:<alice@example.test>") == 530
    r.close()
    assert "auth before tls" in srv.logtext()


def test_plain_auth_on_loopback_when_allowed(procs, tmp_path):
    t = TlsSmtpd(procs, tmp_path, smtpd_auth_plaintext_loopback="yes")
    r = Raw(t.smtp)
    code, lines = r.cmd("EHLO client.test")
    assert any("AUTH PLAIN LOGIN" in ln for ln in lines)
    assert r.code("AUTH PLAIN " + b64("\0alice\0" + PASSWORD)) == 235
    assert r.code("MAIL FROM:<x@example.org>") == 250
    assert r.code("RCPT TO:<someone@elsewhere.test>") == 250   # relays
    assert r.code("DATA") == 354
    assert r.code("Subject: lo\r\n\r\nhi\r\n.") == 250
    r.close()
    (env, body), = t.s.messages().values()
    assert env["proto"] == "ESMTPA" and env["auth"] == "alice"
    first = body.split(b"\n\n")[0]
    assert b" with ESMTPA id " in first and b"version=" not in first


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_auth_good_and_bad(srv, mech):
    c = srv.starttls(srv.smtp)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        srv.login(c, mech, "Bad-Pw-7q")
    assert e.value.smtp_code == 535
    code, text = srv.login(c, mech)
    assert code == 235, text
    assert c.docmd("AUTH", "PLAIN")[0] == 503     # already authenticated
    c.quit()
    log = srv.logtext()
    assert f"event=auth ip=127.0.0.1 mech={mech} user=alice" in log
    assert PASSWORD not in log and "Bad-Pw-7q" not in log


def test_auth_protocol_errors(srv):
    r = Raw(srv.smtp)
    r.cmd("EHLO client.test")
    r.cmd("STARTTLS")
    r.tls(srv.ctx)
    r.cmd("EHLO client.test")
    assert r.code("AUTH PLAIN") == 334
    assert r.code("*") == 501                       # cancelled
    assert r.code("AUTH PLAIN not-base64!") == 501
    assert r.cmd("AUTH PLAIN")[0] == 334
    code, lines = r.cmd("%%%")
    assert code == 501 and "5.5.2" in lines[0]
    assert r.code("AUTH CRAM-MD5") == 504
    code, lines = r.cmd("AUTH LOGIN")
    assert code == 334 and lines[0] == "334 VXNlcm5hbWU6"
    code, lines = r.cmd(b64("alice"))
    assert code == 334 and lines[0] == "334 UGFzc3dvcmQ6"
    assert r.code(b64(PASSWORD)) == 235
    r.close()


def test_auth_login_initial_response(srv):
    r = Raw(srv.smtps, greet=False)
    r.tls(srv.ctx)
    assert r.reply()[0] == 220
    r.cmd("EHLO client.test")
    code, lines = r.cmd("AUTH LOGIN " + b64("alice"))
    assert lines[0] == "334 UGFzc3dvcmQ6"
    assert r.code(b64(PASSWORD)) == 235
    r.close()


def test_too_many_failures_disconnect(srv):
    r = Raw(srv.smtp)
    r.cmd("EHLO client.test")
    r.cmd("STARTTLS")
    r.tls(srv.ctx)
    r.cmd("EHLO client.test")
    codes = []
    for _ in range(5):
        code = r.code("AUTH PLAIN " + b64("\0alice\0nope"))
        codes.append(code)
        if code == 421:
            break
    assert codes[-1] == 421 and codes[:-1] and set(codes[:-1]) == {535}
    assert r.closed()


def test_pipelined_after_starttls_discarded(srv):
    r = Raw(srv.smtp)
    assert r.code("EHLO client.test") == 250
    r.send(b"STARTTLS\r\nRSET\r\n")     # one write: RSET was never encrypted
    code, lines = r.reply()
    assert code == 220
    assert r.buf == b""                  # nothing answered in plain text
    r.tls(srv.ctx)
    # the session starts over: the first answer inside TLS is MAIL's
    # "bad sequence" (no EHLO yet), never an RSET's 250
    code, lines = r.cmd("MAIL FROM:<a@example.test>")
    assert code == 503, lines
    code, lines = r.cmd("EHLO client.test")
    assert code == 250 and lines[0].startswith("250-test.example")
    r.close()
    wait_for(lambda: "bytes pipelined before the tls handshake" in
             srv.logtext())
    assert "discarded=6" in srv.logtext()


def test_state_reset_after_starttls(srv):
    r = Raw(srv.smtp)
    r.cmd("EHLO client.test")
    assert r.code("MAIL FROM:<a@example.test>") == 250
    assert r.code("STARTTLS") == 503                # not in a transaction
    assert r.code("RSET") == 250
    assert r.code("STARTTLS") == 220
    r.tls(srv.ctx)
    assert r.code("RCPT TO:<alice@example.test>") == 503
    r.close()


def test_submission_requires_auth(srv):
    c = srv.starttls(srv.sub)
    code, text = c.docmd("MAIL FROM:<alice@example.test>")
    assert code == 530 and b"5.7.0" in text
    srv.login(c)
    assert c.docmd("MAIL FROM:<alice@example.test>")[0] == 250
    assert c.docmd("RCPT TO:<someone@elsewhere.test>")[0] == 250
    c.quit()


def test_relay_only_after_auth(srv):
    c = srv.starttls(srv.smtp)
    assert c.docmd("MAIL FROM:<x@example.org>")[0] == 250
    assert c.docmd("RCPT TO:<someone@elsewhere.test>")[0] == 554
    c.rset()
    srv.login(c)
    c.sendmail("x@example.org", ["someone@elsewhere.test"],
               b"Subject: relayed\r\n\r\nhi\r\n")
    c.quit()
    msgs = list(srv.s.messages().values())
    assert len(msgs) == 1
    env, body = msgs[0]
    assert env["auth"] == "alice"
    assert env["proto"] == "ESMTPSA"


def test_sender_restriction(srv):
    c = srv.starttls(srv.sub)
    srv.login(c)
    code, text = c.docmd("MAIL FROM:<bob@example.test>")
    assert code == 553 and b"5.7.1" in text
    assert c.docmd("MAIL FROM:<Alice@Example.Test>")[0] == 250
    c.rset()
    assert c.docmd("MAIL FROM:<anything@alice.test>")[0] == 250
    c.rset()
    assert c.docmd("MAIL FROM:<>")[0] == 553
    c.quit()
    # on the smtp port the restriction is off unless configured
    c = srv.starttls(srv.smtp)
    srv.login(c)
    assert c.docmd("MAIL FROM:<bob@example.test>")[0] == 250
    c.quit()


def test_sender_restriction_configured_on_smtp(procs, tmp_path):
    t = TlsSmtpd(procs, tmp_path, smtpd_sender_restrict="yes")
    c = t.starttls(t.smtp)
    assert c.docmd("MAIL FROM:<bob@example.test>")[0] == 250  # no AUTH
    c.rset()
    t.login(c)
    assert c.docmd("MAIL FROM:<bob@example.test>")[0] == 553
    c.quit()


def test_mail_auth_parameter_ignored(srv):
    c = srv.starttls(srv.sub)
    srv.login(c)
    assert c.docmd("MAIL FROM:<alice@example.test> AUTH=<>")[0] == 250
    c.rset()
    assert c.docmd("MAIL FROM:<alice@example.test> "
                   "AUTH=alice+40example.test")[0] == 250
    c.rset()
    assert c.docmd("MAIL FROM:<alice@example.test> AUTH=")[0] == 501
    c.quit()


def test_implicit_tls_and_received(srv):
    c = smtplib.SMTP_SSL("127.0.0.1", srv.smtps, timeout=20,
                         context=srv.ctx)
    c.ehlo("client.test")
    assert not c.has_extn("starttls")
    assert c.has_extn("auth")
    ver, cipher = c.sock.version(), c.sock.cipher()[0]
    assert c.docmd("MAIL FROM:<alice@example.test>")[0] == 530
    c.rset()
    srv.login(c, "LOGIN")
    c.sendmail("alice@example.test", ["alice@example.test"],
               b"Subject: implicit\r\n\r\nhi\r\n")
    c.quit()
    (env, body), = srv.s.messages().values()
    first = body.split(b"\n\n")[0].decode()
    assert "with ESMTPSA" in first
    assert f"(version={ver} cipher={cipher})" in first
    assert env["auth"] == "alice"


def test_received_starttls_no_auth(srv):
    c = srv.starttls(srv.smtp)
    ver, cipher = c.sock.version(), c.sock.cipher()[0]
    c.sendmail("x@example.org", ["alice@example.test"],
               b"Subject: s\r\n\r\nhi\r\n")
    c.quit()
    (env, body), = srv.s.messages().values()
    assert b"with ESMTPS\n\t(version=%s cipher=%s) id " % (
        ver.encode(), cipher.encode()) in body
    assert env["auth"] == ""


def peer_cert(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def test_renewed_certificate_without_restart(srv, tmp_path):
    before = peer_cert(srv.smtps)
    new = tmp_path / "new"
    new.mkdir()
    cert, key = tlsutil.make_cert(str(new))
    # replace both files by rename, key first (as certbot's deploy would)
    shutil.copy(key, srv.key + ".tmp")
    os.rename(srv.key + ".tmp", srv.key)
    shutil.copy(cert, srv.cert + ".tmp")
    os.rename(srv.cert + ".tmp", srv.cert)
    after = peer_cert(srv.smtps)
    assert after != before
    with open(cert) as f:
        assert after == ssl.PEM_cert_to_DER_cert(f.read())
    assert srv.proc.poll() is None
    wait_for(lambda: "why=certificate" in srv.logtext())
    # STARTTLS on the other port uses the new one too
    c = smtplib.SMTP("127.0.0.1", srv.smtp, timeout=20)
    c.starttls(context=tlsutil.client_context(cert))
    c.quit()


def test_bad_new_certificate_keeps_old(srv):
    before = peer_cert(srv.smtps)
    with open(srv.cert + ".tmp", "w") as f:
        f.write("not a certificate\n")
    os.rename(srv.cert + ".tmp", srv.cert)
    assert peer_cert(srv.smtps) == before
    assert "keeping=\"old certificate\"" in srv.logtext()


def test_session_limit_421_inside_tls(procs, tmp_path):
    t = TlsSmtpd(procs, tmp_path, smtpd_session_limit=1)
    r = Raw(t.smtp)
    r.cmd("EHLO client.test")
    r.cmd("STARTTLS")
    r.tls(t.ctx)
    # say nothing: the limit ends the session with a 421 sent over TLS
    code, lines = r.reply()
    assert code == 421 and "Session time limit" in lines[0]
    assert r.closed()
    wait_for(lambda: 'reason="session limit"' in t.logtext())
    # implicit TLS: the same, never a plain-text 421
    r = Raw(t.smtps, greet=False)
    r.tls(t.ctx)
    assert r.reply()[0] == 220
    code, lines = r.reply()
    assert code == 421 and "Session time limit" in lines[0]
    assert r.closed()


@pytest.mark.parametrize("mode", ["smtps", "submission"])
def test_tcpserver_modes(procs, tmp_path, mode):
    """Under tcpserver: -m sets the mode of fd 0/1; the context and
    sandmail-auth are made per connection, before the sandbox."""
    need("tcpserver", "ucspi-tcp")
    t = TlsSmtpd(procs, tmp_path, listen=False)
    port = free_port()
    with open(t.s.log, "ab") as lg:
        ts = procs.start(["tcpserver", "-q", "-H", "-R", "-l", "localhost",
                          "127.0.0.1", str(port), prog("sandmail-smtpd"),
                          "-c", t.conf, "-m", mode], stderr=lg)
    wait_port(port)
    smtpdutil.wait_idle(ts.pid, t.s.log)
    if mode == "smtps":
        c = smtplib.SMTP_SSL("127.0.0.1", port, timeout=20, context=t.ctx)
        c.ehlo("client.test")
    else:
        c = t.starttls(port)
    kid = wait_for(lambda: smtpdutil.children(ts.pid))[0]
    assert proc_status(kid)["Seccomp"] == "2"
    assert c.docmd("MAIL FROM:<alice@example.test>")[0] == 530
    t.login(c)
    c.sendmail("alice@example.test", ["someone@elsewhere.test"],
               b"Subject: ucspi\r\n\r\nhi\r\n")
    c.quit()
    (env, body), = t.s.messages().values()
    assert env["proto"] == "ESMTPSA" and env["auth"] == "alice"


def test_swaks_submission(srv):
    need("swaks")
    base = ["swaks", "--server", f"127.0.0.1:{srv.sub}", "--tls",
            "--from", "alice@example.test", "--to", "someone@example.org",
            "--timeout", "20", "--helo", "client.test"]
    r = subprocess.run(base + ["--auth", "PLAIN", "--auth-user", "alice",
                               "--auth-password", PASSWORD],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout.decode()[-2000:]
    assert b"235 2.7.0" in r.stdout
    r = subprocess.run(base + ["--auth", "LOGIN", "--auth-user", "alice",
                               "--auth-password", "wrong"],
                       capture_output=True, timeout=60)
    assert r.returncode != 0 and b"535 5.7.8" in r.stdout
    r = subprocess.run(base, capture_output=True, timeout=60)  # no AUTH
    assert r.returncode != 0 and b"530 5.7.0" in r.stdout
    assert len(srv.s.messages()) == 1


def test_auth_unavailable_is_temporary(procs, tmp_path):
    """No sandmail-auth service on its socket: AUTH answers 454, never
    235."""
    t = TlsSmtpd(procs, tmp_path)
    procs.stop(t.s.auth)
    os.unlink(queueutil.auth_sock(t.conf))
    c = t.starttls(t.sub)
    assert c.has_extn("auth")
    code, text = c.docmd("AUTH", "PLAIN " + b64("\0alice\0" + PASSWORD))
    assert code == 454 and b"4.7.0" in text
    assert c.docmd("MAIL FROM:<alice@example.test>")[0] == 530
    c.quit()
