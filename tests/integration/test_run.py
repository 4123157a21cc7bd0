"""make run (scripts/run): a first-time user's whole system in a temp dir.
Mail goes in with smtplib, swaks and the sendmail command, lands in the
invoking user's maildir under run/, is read back with poplib, and Ctrl-C
(SIGINT) stops every process with exit 0."""
import os
import poplib
import shutil
import signal
import smtplib
import ssl
import subprocess
from email.message import EmailMessage

import pytest

from conftest import ROOT, prog, wait_for, wait_port
from runutil import (RunSystem, describe, find_mail, mailbox_user, pids_with,
                     scratch, wait_gone)


@pytest.fixture
def tmp_path():
    d = scratch()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def system(tmp_path):
    s = RunSystem(tmp_path)
    s.start()
    try:
        s.wait_ready()
        yield s
    finally:
        s.cleanup()


def test_run_mail_in_and_out(system):
    s = system
    user = mailbox_user()
    port = s.ports["smtp"]
    out = s.output()
    # it says where things are and how to try it
    assert f"swaks --server 127.0.0.1:{port} --to {user}@localhost" in out
    assert s.maildir in out and s.conf in out
    for t in ("domains", "localusers", "relayclients"):
        assert os.path.exists(os.path.join(s.dir, "etc", t + ".cdb")), t
    assert os.path.exists(os.path.join(s.dir, "etc", "cert.pem"))

    # smtplib
    m = EmailMessage()
    m["From"] = "tester@example.org"
    m["To"] = f"{user}@localhost"
    m["Subject"] = "via smtplib"
    m.set_content("first body line\n.leading dot\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.send_message(m)
    got = find_mail(s.maildir, b"Subject: via smtplib")
    assert b".leading dot" in got
    assert b"Delivered-To: " in got

    # swaks
    if shutil.which("swaks"):
        r = subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{port}", "--to",
             f"{user}@localhost", "--header", "Subject: via swaks",
             "--body", "swaks body"],
            capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        find_mail(s.maildir, b"Subject: via swaks")

    # the sendmail command, as PHP's mail() calls it
    r = subprocess.run(
        [prog("sandmail-inject"), "-C", s.conf, "-t", "-i"],
        input=(f"To: {user}@localhost\nBcc: {user}@localhost\n"
               "Subject: via sendmail -t\n\nline one\n.\nafter dot\n"
               ).encode(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = find_mail(s.maildir, b"Subject: via sendmail -t")
    assert b"\nBcc:" not in got and b"Message-ID: <" in got
    assert b"\n.\nafter dot\n" in got      # -i: the dot did not end it

    # submission: STARTTLS then AUTH; relaying only after it.  The
    # remote copy goes to make run's local route (nothing leaves).
    ctx = ssl.create_default_context(
        cafile=os.path.join(s.dir, "etc", "cert.pem"))
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30) as c:
        c.ehlo()
        c.starttls(context=ctx)
        c.ehlo()
        code, _ = c.mail(f"{user}@localhost")
        assert code == 530                  # no AUTH yet
        c.rset()
        c.login(user, s.password())
        c.sendmail(f"{user}@localhost",
                   [f"{user}@localhost", "someone@example.org"],
                   "Subject: via submission\n\nx\n")
    find_mail(s.maildir, b"Subject: via submission")
    # smtps: TLS from the first byte
    with smtplib.SMTP_SSL("127.0.0.1", s.ports["smtps"], context=ctx,
                          timeout=30) as c:
        c.login(user, s.password())
        c.sendmail(f"{user}@localhost", [f"{user}@localhost"],
                   "Subject: via smtps\n\nx\n")
    find_mail(s.maildir, b"Subject: via smtps")
    # the swaks line make run prints for submission
    if shutil.which("swaks"):
        r = subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{s.ports['submission']}",
             "--tls", "--auth", "PLAIN", "--auth-user", user,
             "--auth-password", s.password(), "--to", f"{user}@localhost",
             "--header", "Subject: via swaks submission"],
            capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        find_mail(s.maildir, b"Subject: via swaks submission")

    # POP3: the same messages, read back
    if os.path.exists(prog("sandmail-pop3d")):
        wait_port(s.ports["pop3"])
        p = poplib.POP3("127.0.0.1", s.ports["pop3"], timeout=30)
        p.user(user)
        p.pass_(s.password())
        count, _ = p.stat()
        assert count >= 2
        bodies = [b"\n".join(p.retr(i)[1]) for i in range(1, count + 1)]
        assert any(b"Subject: via smtplib" in b for b in bodies)
        p.quit()
        # and over implicit TLS, with the self-signed certificate
        wait_port(s.ports["pop3s"])
        p = poplib.POP3_SSL("127.0.0.1", s.ports["pop3s"], context=ctx,
                            timeout=30)
        p.user(user)
        p.pass_(s.password())
        assert p.stat()[0] == count
        p.quit()

    # Ctrl-C: everything stops, exit 0
    assert s.stop(signal.SIGINT) == 0, s.output()
    assert wait_gone(s.dir) == [], "processes left after Ctrl-C"
    assert "event=stopped" in s.output()


def test_run_stop_and_cont_keeps_every_process(system):
    """`sv pause` and `sv cont` (s6-svc -p, -c; a terminal's ^Z and fg)
    stop and continue the daemons: a poll or read a stop interrupted is
    resumed by restart_syscall(2), which every sandbox must allow, or the
    process dies of SIGSYS mid-session and takes its pipes with it."""
    s = system
    user = mailbox_user()
    ctx = ssl.create_default_context(
        cafile=os.path.join(s.dir, "etc", "cert.pem"))
    # one delivery first, so lspawn has a maildir worker waiting too
    with smtplib.SMTP("127.0.0.1", s.ports["smtp"], timeout=30) as c:
        c.sendmail("a@example.org", [f"{user}@localhost"],
                   "Subject: before the stop\n\nx\n")
    find_mail(s.maildir, b"Subject: before the stop")
    # sessions waiting in the middle: plain, TLS with AUTH, POP3
    plain = smtplib.SMTP("127.0.0.1", s.ports["smtp"], timeout=30)
    plain.ehlo()
    sub = smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30)
    sub.ehlo()
    sub.starttls(context=ctx)
    sub.ehlo()
    sub.login(user, s.password())
    pop = None
    if os.path.exists(prog("sandmail-pop3d")):
        wait_port(s.ports["pop3"])
        pop = poplib.POP3("127.0.0.1", s.ports["pop3"], timeout=30)
        pop.user(user)
        pop.pass_(s.password())
    pids = pids_with(s.dir)
    assert len(pids) >= 5, [describe(p) for p in pids]
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    wait_for(lambda: all(describe(p).split()[1] == "T" for p in pids),
             what="every process stopped")
    for p in pids:
        os.kill(p, signal.SIGCONT)
    # the sessions go on where they were
    plain.sendmail("a@example.org", [f"{user}@localhost"],
                   "Subject: plain after the stop\n\nx\n")
    sub.sendmail(f"{user}@localhost", [f"{user}@localhost"],
                 "Subject: submission after the stop\n\nx\n")
    find_mail(s.maildir, b"Subject: plain after the stop")
    find_mail(s.maildir, b"Subject: submission after the stop")
    if pop is not None:
        assert pop.stat()[0] >= 1
    gone = [p for p in pids if describe(p).endswith("(gone)")]
    assert gone == [], s.output()
    assert "signal 31" not in s.output()
    plain.quit()
    sub.quit()
    if pop is not None:
        pop.quit()


def test_run_again_keeps_state(tmp_path):
    """A second start reuses run/: the certificate and password stay,
    mail delivered before is still there, SIGTERM stops it too."""
    s = RunSystem(tmp_path)
    try:
        s.start()
        s.wait_ready()
        with open(os.path.join(s.dir, "etc", "cert.pem"), "rb") as f:
            cert = f.read()
        pw = s.password()
        with smtplib.SMTP("127.0.0.1", s.ports["smtp"], timeout=30) as c:
            c.sendmail("a@example.org", [f"{mailbox_user()}@localhost"],
                       "Subject: kept\n\nx\n")
        find_mail(s.maildir, b"Subject: kept")
        assert s.stop(signal.SIGTERM) == 0
        assert wait_gone(s.dir) == []

        s2 = RunSystem(tmp_path)
        s2.start()
        s2.wait_ready()
        with open(os.path.join(s.dir, "etc", "cert.pem"), "rb") as f:
            assert f.read() == cert
        assert s2.password() == pw
        find_mail(s2.maildir, b"Subject: kept", timeout=1)
        assert s2.stop(signal.SIGINT) == 0
        assert wait_gone(s.dir) == []
    finally:
        s.cleanup()


def test_run_port_in_use(tmp_path):
    """A busy port is reported and nothing is left running."""
    import socket
    s = RunSystem(tmp_path)
    busy = socket.socket()
    busy.bind(("127.0.0.1", s.ports["smtp"]))
    busy.listen(1)
    try:
        s.start()
        assert s.proc.wait(60) == 1
        assert "in use" in s.output()
        assert wait_gone(s.dir) == []
    finally:
        busy.close()
        s.cleanup()


def test_make_run_target_exists():
    with open(os.path.join(ROOT, "Makefile")) as f:
        mk = f.read()
    assert "scripts/run $(abspath $(B))" in mk


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root to become a plain user")
def test_run_as_plain_user(tmp_path):
    """make run as a plain user (here nobody): single-uid mode, the
    mailbox is that user's, mail lands, Ctrl-C stops it."""
    import pwd
    nb = pwd.getpwnam("nobody")
    become = ["setpriv", f"--reuid={nb.pw_uid}", f"--regid={nb.pw_gid}",
              "--clear-groups"]
    if subprocess.run(become + ["test", "-x", prog("sandmail-smtpd")]
                      ).returncode != 0:
        pytest.skip("nobody cannot reach the build directory")
    os.chown(tmp_path, nb.pw_uid, nb.pw_gid)
    s = RunSystem(tmp_path)
    try:
        s.start(become + [os.path.join(ROOT, "scripts", "run"), s.build])
        s.wait_ready()
        assert "as nobody" in s.output()
        with smtplib.SMTP("127.0.0.1", s.ports["smtp"], timeout=30) as c:
            c.sendmail("a@example.org", ["nobody@localhost"],
                       "Subject: plain user\n\nx\n")
        maildir = os.path.join(s.dir, "home", "nobody", "Maildir")
        find_mail(maildir, b"Subject: plain user")
        for f in os.listdir(os.path.join(maildir, "new")):
            assert os.stat(os.path.join(maildir, "new", f)).st_uid == \
                nb.pw_uid
        assert s.stop(signal.SIGINT) == 0, s.output()
        assert wait_gone(s.dir) == []
    finally:
        s.cleanup()


@pytest.mark.usefixtures("dnsmasq_installed")
def test_run_routes_by_mx(tmp_path, procs):
    """RUN_NAMESERVER: make run routes remote mail by the MX records of a
    loopback dnsmasq.  dest.test has two MX hosts: 127.0.0.3 (preference
    5, nothing listens) and 127.0.0.2 (10, our test server): the message
    goes to the second after the first refuses the connection."""
    from dnsutil import start_dnsmasq
    from remoteutil import SMTPServer
    from remoteutil import common_port

    port = common_port(["127.0.0.2", "127.0.0.3"])
    dns = start_dnsmasq(procs, str(tmp_path), [
        "--mx-host=dest.test,mx0.dest.test,5",
        "--host-record=mx0.dest.test,127.0.0.3",
        "--mx-host=dest.test,mx1.dest.test,10",
        "--host-record=mx1.dest.test,127.0.0.2",
    ])
    mx = SMTPServer("127.0.0.2", port, "mx1.dest.test")
    s = RunSystem(tmp_path)
    s.extra_env = {"RUN_NAMESERVER": f"127.0.0.1:{dns}",
                   "RUN_MX_PORT": str(port)}
    try:
        s.start()
        s.wait_ready()
        out = s.output()
        assert f"by DNS MX records (127.0.0.1:{dns} port {port})" in out
        with open(os.path.join(s.dir, "etc", "routes")) as f:
            assert not any(x.startswith("*") for x in f)
        with smtplib.SMTP("127.0.0.1", s.ports["smtp"], timeout=30) as c:
            c.sendmail("tester@localhost", ["far@dest.test"],
                       b"Subject: via MX\r\n\r\nover the MX\r\n")
        done = wait_for(lambda: mx.done(), timeout=60,
                        what="the MX host to get the message")
        t = done[0]
        assert t.mail.startswith("MAIL FROM:<tester@localhost>")
        assert [x.split()[1] for x in t.rcpts] == ["TO:<far@dest.test>"]
        assert b"Subject: via MX" in t.data and b"over the MX" in t.data
        log = wait_for(lambda: [x for x in s.output().splitlines() if
                                "prog=send event=delivered" in x],
                       timeout=30, what="the delivered line")
        assert "relay=mx1.dest.test[127.0.0.2]" in log[0], log
        assert s.stop() == 0
    finally:
        mx.close()
        s.cleanup()
