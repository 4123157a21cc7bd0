"""The runit services of scripts/runit under a real runsvdir: the service
directories are copied into a temp dir with their ./conf rewritten (paths,
loopback ports), mail flows through smtpd (listener and tcpserver
variants) to a maildir, `sv down` stops a service and `sv up` starts it,
and stopping runsvdir leaves no process behind."""
import os
import shutil
import signal
import smtplib
import socket
import subprocess

import pytest

from conftest import BUILD, ROOT, free_port, need, wait_for, wait_port
from runutil import (describe, find_mail, mailbox_user, scratch,
                     system_conf, wait_gone, kill_all)

SRC = os.path.join(ROOT, "scripts", "runit")
SV = shutil.which("sv") or "/usr/bin/sv"


def rewrite(svc_dir, **kw):
    """Set KEY=value lines in a service's ./conf."""
    path = os.path.join(svc_dir, "conf")
    with open(path) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        key = line.split("=", 1)[0]
        if key in kw:
            line = f'{key}="{kw.pop(key)}"'
        out.append(line)
    out += [f'{k}="{v}"' for k, v in kw.items()]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def listening(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def sv(*args):
    return subprocess.run([SV] + list(args), capture_output=True, text=True,
                          timeout=30)


def _dfl():
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def services():
    need("runsvdir", "runit")
    d = scratch("sandmail-runit.")
    conf, maildir = system_conf(d)
    svdir = os.path.join(d, "service")
    os.makedirs(svdir)
    ports = {"smtp": free_port(), "tcpserver": free_port(),
             "pop3": free_port(), "pop3s": free_port(),
             "submission": free_port(), "smtps": free_port()}
    names = ["sandmail-queue", "sandmail-auth", "sandmail-start",
             "sandmail-smtpd",
             "sandmail-smtpd-tcpserver", "sandmail-pop3d",
             "sandmail-submission", "sandmail-smtps"]
    for n in names:
        dst = os.path.join(svdir, n)
        shutil.copytree(os.path.join(SRC, n), dst)
        rewrite(dst, SBIN=BUILD, CONF=conf)
    rewrite(os.path.join(svdir, "sandmail-smtpd"),
            LISTEN=f"127.0.0.1:{ports['smtp']}")
    tcps = os.path.join(svdir, "sandmail-smtpd-tcpserver")
    rewrite(tcps, IP="127.0.0.1", PORT=ports["tcpserver"], MAXCONN=5)
    os.unlink(os.path.join(tcps, "down"))
    rewrite(os.path.join(svdir, "sandmail-pop3d"),
            LISTEN=f"127.0.0.1:{ports['pop3']}")
    rewrite(os.path.join(svdir, "sandmail-submission"),
            LISTEN=f"127.0.0.1:{ports['submission']}")
    rewrite(os.path.join(svdir, "sandmail-smtps"),
            LISTEN=f"127.0.0.1:{ports['smtps']}")
    rsv = subprocess.Popen(["runsvdir", "-P", svdir],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL,
                           start_new_session=True, preexec_fn=_dfl)
    try:
        yield dict(dir=d, svdir=svdir, conf=conf, maildir=maildir,
                   ports=ports, runsvdir=rsv)
    finally:
        if rsv.poll() is None:
            rsv.send_signal(signal.SIGHUP)
            try:
                rsv.wait(30)
            except subprocess.TimeoutExpired:
                rsv.kill()
                rsv.wait()
        left = [describe(p) for p in wait_gone(d, timeout=30)]
        kill_all(d)
        shutil.rmtree(d, ignore_errors=True)
        assert left == [], f"processes left behind: {left}"


def send(port, subject):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.sendmail("runit@example.org", [f"{mailbox_user()}@localhost"],
                   f"Subject: {subject}\n\nbody\n")


def test_runit_services(services):
    s = services
    smtp = s["ports"]["smtp"]
    smtpd = os.path.join(s["svdir"], "sandmail-smtpd")
    wait_port(smtp, timeout=60)
    wait_for(lambda: os.path.exists(
        os.path.join(s["dir"], "queue", "lock", "queue.sock")),
        timeout=60, what="the queue service")

    # mail through the listener to the maildir
    send(smtp, "runit listener")
    find_mail(s["maildir"], b"Subject: runit listener", timeout=60)
    # and through the tcpserver variant
    wait_port(s["ports"]["tcpserver"], timeout=60)
    send(s["ports"]["tcpserver"], "runit tcpserver")
    find_mail(s["maildir"], b"Subject: runit tcpserver", timeout=60)

    # the log service: svlogd with timestamps, our key=value lines
    logf = os.path.join(smtpd, "log", "main", "current")
    got = wait_for(lambda: (lambda t: t if b"event=accept" in t else None)(
        open(logf, "rb").read() if os.path.exists(logf) else b""),
        timeout=30, what="smtpd's log")
    line = [x for x in got.splitlines() if b"event=accept" in x][0]
    assert line.startswith(b"20")          # svlogd -tt: a date first
    assert b"prog=smtpd" in line

    # sv down stops it, sv up brings it back
    r = sv("down", smtpd)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not listening(smtp), timeout=30, what="smtpd down")
    wait_for(lambda: sv("status", smtpd).stdout.startswith("down:"),
             timeout=30, what="sv status down")
    r = sv("up", smtpd)
    assert r.returncode == 0, r.stderr
    wait_port(smtp, timeout=30)
    wait_for(lambda: sv("status", smtpd).stdout.startswith("run:"),
             timeout=30, what="sv status run")
    send(smtp, "after sv up")
    find_mail(s["maildir"], b"Subject: after sv up", timeout=60)

    # submission offers STARTTLS and wants AUTH; smtps speaks TLS at once
    import ssl
    ctx = ssl.create_default_context(
        cafile=os.path.join(s["dir"], "etc", "cert.pem"))
    wait_port(s["ports"]["submission"], timeout=30)
    with smtplib.SMTP("127.0.0.1", s["ports"]["submission"],
                      timeout=30) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        c.starttls(context=ctx)
        c.ehlo()
        assert c.has_extn("auth")
        assert c.mail("a@localhost")[0] == 530
    wait_port(s["ports"]["smtps"], timeout=30)
    with smtplib.SMTP_SSL("127.0.0.1", s["ports"]["smtps"], context=ctx,
                          timeout=30) as c:
        assert c.ehlo()[0] == 250
        assert c.has_extn("auth")

    # POP3 from its service
    if os.path.exists(os.path.join(BUILD, "sandmail-pop3d")):
        wait_port(s["ports"]["pop3"], timeout=30)
        assert sv("status", os.path.join(s["svdir"], "sandmail-pop3d")
                  ).stdout.startswith("run:")


def test_runit_scripts_shape():
    """Every shipped service: an executable run that execs with stderr to
    stdout, and a log/run with svlogd."""
    names = sorted(os.listdir(SRC))
    for want in ("sandmail-smtpd", "sandmail-smtpd-tcpserver",
                 "sandmail-submission", "sandmail-smtps",
                 "sandmail-pop3d", "sandmail-pop3s", "sandmail-queue",
                 "sandmail-auth",
                 "sandmail-start"):
        assert want in names
    for n in names:
        run = os.path.join(SRC, n, "run")
        log = os.path.join(SRC, n, "log", "run")
        assert os.access(run, os.X_OK) and os.access(log, os.X_OK), n
        text = open(run).read()
        assert "exec 2>&1" in text and "\nexec " in text, n
        assert "svlogd -tt" in open(log).read(), n
        r = subprocess.run(["sh", "-n", run])
        assert r.returncode == 0, n
