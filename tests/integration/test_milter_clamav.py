"""ClamAV through clamav-milter (doc/filters.md, "clamav-milter"):
Debian's clamd and clamav-milter started by the test, with no download
at all: the signature database is one .ndb signature of the test's own
in a scratch DatabaseDirectory, clamd listens on a UNIX socket in the
test's directory with a configuration of its own, clamav-milter on
another.  A message carrying the signature is refused at the end of DATA
(OnInfected Reject) or taken and put on hold (OnInfected Quarantine);
a clean one is queued with clamav-milter's X-Virus-Status header."""
import binascii
import os
import shutil
import subprocess

import pytest

import smtpdutil
from smtpdutil import Smtpd

# not a real virus: a string only our scratch database knows
MARK = "SANDMAIL-CLAMAV-TEST-SIGNATURE-7f3a"
SIG = "Sandmail.Test.Signature"
HOLD = 32           # the envelope's hold flag (queue/envelope.h)


def start_clamav(procs, d, on_infected):
    """clamd and clamav-milter in d/clamav; the milter socket's path."""
    for p in ("clamd", "clamav-milter"):
        if shutil.which(p) is None:
            pytest.fail(f"{p} is not installed (scripts/deps)")
    d = os.path.join(str(d), "clamav")
    db = os.path.join(d, "db")
    os.makedirs(db)
    # Name:TargetType:Offset:HexSignature; type 0 = any file, which
    # includes the decoded parts of a mail message
    with open(os.path.join(db, "sandmail.ndb"), "w") as f:
        f.write(f"{SIG}:0:*:{binascii.hexlify(MARK.encode()).decode()}\n")
    csock = os.path.join(d, "clamd.sock")
    with open(os.path.join(d, "clamd.conf"), "w") as f:
        f.write(f"LocalSocket {csock}\nDatabaseDirectory {db}\n"
                f"Foreground yes\nLogFile {d}/clamd.log\n"
                f"TemporaryDirectory {d}\nPidFile {d}/clamd.pid\n")
    msock = os.path.join(d, "milter.sock")
    with open(os.path.join(d, "milter.conf"), "w") as f:
        # the smtpd listener connects as user_smtpd, not root
        f.write(f"MilterSocket unix:{msock}\nMilterSocketMode 666\n"
                f"ClamdSocket unix:{csock}\n"
                f"Foreground yes\nOnInfected {on_infected}\n"
                f"OnClean Accept\nAddHeader Replace\nLogInfected Full\n"
                f"LogFile {d}/milter.log\nPidFile {d}/milter.pid\n"
                f"TemporaryDirectory {d}\nRejectMsg Virus found: %v\n")
    out = open(os.path.join(d, "out.log"), "w")
    procs.start(["clamd", "-c", os.path.join(d, "clamd.conf")], stdout=out,
                stderr=subprocess.STDOUT)
    smtpdutil.settle(lambda: os.path.exists(csock), timeout=120)
    procs.start(["clamav-milter", "-c", os.path.join(d, "milter.conf")],
                stdout=out, stderr=subprocess.STDOUT)
    smtpdutil.settle(lambda: os.path.exists(msock), timeout=60)
    return msock, d


def session(sm, subject, body):
    c = sm.client()
    assert c.code("EHLO client.test") == 250
    assert c.code("MAIL FROM:<s@remote.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send(f"From: s@remote.test\r\nTo: alice@example.test\r\n"
           f"Subject: {subject}\r\n\r\n{body}\r\n.\r\n")
    got = c.reply()
    c.code("QUIT")
    c.close()
    return got


def clean_and_infected(procs, tmp_path, on_infected):
    sock, d = start_clamav(procs, tmp_path, on_infected)
    sm = Smtpd(procs, tmp_path, listen=False,
               smtpd_milter=f"unix:{sock} timeout=60")
    sm.start()
    code, lines = session(sm, "clean", "nothing to see\r\n")
    assert code == 250, lines
    infected = session(sm, "infected", f"look: {MARK}\r\n")
    msgs = {}
    for qid, (env, text) in sm.messages().items():
        text = text.decode()
        subj = text.split("\nSubject: ", 1)[1].split("\n", 1)[0]
        msgs[subj] = (qid, env, text)
    qid, env, text = msgs["clean"]
    head = text.partition("\n\n")[0]
    assert "\nX-Virus-Status: Clean" in head, head
    assert "\nX-Virus-Scanned: clamav-milter " in head, head
    assert not env["flags"] & HOLD
    return sm, infected, msgs, d


def test_clamav_rejects_infected(procs, tmp_path):
    sm, (code, lines), msgs, d = clean_and_infected(procs, tmp_path,
                                                    "Reject")
    # RejectMsg: its smfi_setreply, the reply sandmail gives
    # (clamd names signatures of local databases NAME.UNOFFICIAL)
    assert lines == [f"550 5.7.1 Virus found: {SIG}.UNOFFICIAL"], lines
    assert sorted(msgs) == ["clean"]        # nothing else queued
    assert os.listdir(sm.qdir("tmp")) == []
    # clamd may log after it answered
    smtpdutil.settle(lambda: f"{SIG}.UNOFFICIAL FOUND" in
                     open(os.path.join(d, "clamd.log")).read(), timeout=30)


def test_clamav_quarantines_infected(procs, tmp_path):
    sm, (code, lines), msgs, d = clean_and_infected(procs, tmp_path,
                                                    "Quarantine")
    assert code == 250, lines
    assert sorted(msgs) == ["clean", "infected"]
    qid, env, text = msgs["infected"]
    assert lines[0].split()[-1] == qid, lines
    assert env["flags"] & HOLD, env
    assert f"event=quarantine id={qid}" in sm.logtext()
