"""Milters in the installed layout (installed.py): the tests' own milter
(python3-milter) behind the installed port-25 service, its listener
making the session's milter connection; header changes reach the
mailbox, a GTUBE message is refused at the end of DATA, a quarantined
one waits on hold (sandmail-queuectl) until released.  A policy
service's HOLD (Postfix access(5): accept, then hold) quarantines the
same way."""
import json
import os
import smtplib
import subprocess
import time

import pytest

from conftest import free_port, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
CONF = "/etc/sandmail/sandmail.conf"


def restart_smtpd(inst):
    inst.restart("sandmail-smtpd", "smtp")


def send(inst, subj, text):
    msg = (f"From: carol@example.org\r\nTo: alice@localhost\r\n"
           f"Subject: {subj}\r\n\r\n{text}\r\n")
    for _ in range(50):
        try:
            with inst.smtp() as c:
                c.sendmail("carol@example.org", ["alice@localhost"], msg)
            return
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            time.sleep(0.1)     # the restarted listener is not up yet
    raise AssertionError("port 25 did not take the message")


def held(inst):
    r = inst.run([inst.sbin("sandmail-queuectl"), "list", "-j"])
    out = r.stdout if isinstance(r.stdout, str) else r.stdout.decode()
    return [m["queue_id"] for m in map(json.loads, out.splitlines())
            if m["held"]]


def quarantine(inst, token="milter-quarantined", subj="quarantine"):
    """The milter's quarantine: accepted (250: on disk), then held by
    send before any delivery; released, it is delivered."""
    send(inst, subj, f"hello {token}")
    for _ in range(300):
        ids = held(inst)
        if ids:
            break
        time.sleep(0.1)
    assert len(ids) == 1, ids
    assert not any(token.encode() in m
                   for m in inst.mail(inst.maildir("alice")))
    # send publishes hold/ID (what queuectl lists), syncs hold/, and only
    # then logs the hold, which svlogd writes in its own time: wait
    line = f"prog=send event=hold id={ids[0]}"
    assert line in inst.wait_log("sandmail-start", line), inst.logs()
    inst.run([inst.sbin("sandmail-queuectl"), "release", ids[0]])
    inst.wait_mail(inst.maildir("alice"), token)
    return ids[0]


def test_installed_milter(installed, procs, tmp_path):
    port = free_port()
    log = open(tmp_path / "milter.log", "w")
    procs.start(["/usr/bin/python3", os.path.join(HERE, "testmilter.py"),
                 str(port)], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, timeout=30)
    path = installed.path(CONF)
    with open(path) as f:
        saved = f.read()
    try:
        installed.conf(smtpd_milter=f"inet:127.0.0.1:{port} timeout=20")
        restart_smtpd(installed)
        # (the milter changes the Subject: the token is in the body)
        send(installed, "x", "hello milter-installed")
        m = installed.wait_mail(installed.maildir("alice"),
                                "milter-installed")
        assert b"\nSubject: changed\n" in m, m
        assert b"\nX-Milter-Test: passed\n" in m, m
        assert b"\nX-First: yes\n" in m
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(installed, "spam", GTUBE)
        assert e.value.smtp_code == 554
        assert b"GTUBE seen" in e.value.smtp_error
        assert "connect [127.0.0.1]" in open(tmp_path / "milter.log").read()
        quarantine(installed)
    finally:
        with open(path, "w") as f:
            f.write(saved)
        restart_smtpd(installed)


def test_installed_policy_hold(installed):
    """action=HOLD from the policy service: the message is accepted, then
    held like a milter's quarantine (hold/, sandmail-queuectl), the
    reason logged; released, it is delivered."""
    from test_filter import PolicyServer
    srv = PolicyServer(lambda req: b"action=HOLD policy wants a look\n\n"
                       if "recipient=alice@localhost" in req
                       else b"action=DUNNO\n\n")
    # relay clients skip the policy service: loopback is not one here
    try:
        with installed.outside_site():
            installed.conf(
                smtpd_policy_service=f"inet:127.0.0.1:{srv.port}")
            restart_smtpd(installed)
            qid = quarantine(installed, "policy-held", "policy")
            assert any("recipient=alice@localhost" in r
                       for r in srv.requests)
            logs = installed.logs(tail=200)
            assert 'action=HOLD text="policy wants a look"' in logs, logs
            assert (f'event=quarantine id={qid} by=policy '
                    'reason="policy wants a look"') in logs, logs
    finally:
        srv.close()
