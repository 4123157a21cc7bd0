"""Filters on UNIX sockets in the installed layout (installed.py): the
installed port-25 listener runs as user_smtpd (sandmaild), so a milter's
or a policy server's socket must let that user connect, as
doc/filters.md tells the admin to arrange.  Here the peers are real ones
(Debian's clamd and clamav-milter, postgrey) or the tests' own policy
server, run as root inside the namespace with their sockets where the
installed setup's users resolve (/var/spool/filters in the namespace),
the socket's group the one of user_smtpd:

  - clamav-milter, MilterSocketGroup sandmaild, mode 660: a clean
    message is delivered with its X-Virus-Status, an infected one
    refused at the end of DATA; with the socket 600 (root's alone) the
    listener cannot connect and the message is deferred, never taken
    unscanned;
  - postgrey on a UNIX socket (--socketmode 0660, chgrp sandmaild):
    greylisted, then passed and delivered with its X-Greylist header;
  - smtpd_policy_eom: a policy server of the test's own on a UNIX
    socket, asked again at END-OF-MESSAGE, refuses one message there
    and lets the other through."""
import os
import shutil
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from conftest import Procs, wait_for
from test_filter import PolicyServer
from test_milter_clamav import MARK, SIG

CONF = "/etc/sandmail/sandmail.conf"
DIR = "/var/spool/filters"          # in the namespace


def nsrun(inst, procs, argv, log):
    """argv as root in the installed namespace, in the background."""
    return procs.start(["nsenter", "-t", str(inst.ns.pid), "-m", "--"] +
                       argv, stdout=log, stderr=subprocess.STDOUT)


def smtpd_gid(inst):
    return inst.ids["sandmaild"][1]


@pytest.fixture(scope="module")
def filters(installed):
    """clamd and clamav-milter in the namespace, their sockets under DIR;
    relayclients without loopback (relay clients skip the policy
    checks), restored with sandmail.conf at the end."""
    inst = installed
    for p in ("clamd", "clamav-milter", "postgrey"):
        if shutil.which(p) is None:
            pytest.fail(f"{p} is not installed (scripts/deps)")
    procs = Procs()
    host = inst.path(DIR)
    os.makedirs(host, exist_ok=True)
    os.chown(host, 0, smtpd_gid(inst))
    os.chmod(host, 0o750)           # user_smtpd's group may look in
    db = os.path.join(host, "db")
    os.makedirs(db, exist_ok=True)
    import binascii
    with open(os.path.join(db, "sandmail.ndb"), "w") as f:
        f.write(f"{SIG}:0:*:{binascii.hexlify(MARK.encode()).decode()}\n")
    d = DIR
    with open(os.path.join(host, "clamd.conf"), "w") as f:
        f.write(f"LocalSocket {d}/clamd.sock\nDatabaseDirectory {d}/db\n"
                f"Foreground yes\nLogFile {d}/clamd.log\n"
                f"TemporaryDirectory {d}\nPidFile {d}/clamd.pid\n")
    # as doc/filters.md says: the group of user_smtpd, mode 660
    with open(os.path.join(host, "milter.conf"), "w") as f:
        f.write(f"MilterSocket unix:{d}/milter.sock\nMilterSocketMode 660\n"
                f"MilterSocketGroup sandmaild\n"
                f"ClamdSocket unix:{d}/clamd.sock\n"
                f"Foreground yes\nOnInfected Reject\n"
                f"OnClean Accept\nAddHeader Replace\nLogInfected Full\n"
                f"LogFile {d}/milter.log\nPidFile {d}/milter.pid\n"
                f"TemporaryDirectory {d}\nRejectMsg Virus found: %v\n")
    out = open(os.path.join(host, "out.log"), "w")
    with inst.outside_site() as saved:
        try:
            nsrun(inst, procs, ["clamd", "-c", f"{d}/clamd.conf"], out)
            wait_for(lambda: os.path.exists(os.path.join(host, "clamd.sock")),
                     timeout=120, what="clamd's socket")
            nsrun(inst, procs, ["clamav-milter", "-c", f"{d}/milter.conf"],
                  out)
            wait_for(lambda: os.path.exists(os.path.join(host, "milter.sock")),
                     timeout=60, what="clamav-milter's socket")
            yield {"host": host, "procs": procs, "saved": saved, "out": out}
        finally:
            procs.stop_all()
            out.close()
            shutil.rmtree(host, ignore_errors=True)


def configure(inst, filters, **kw):
    """sandmail.conf as the fixture found it plus kw; smtpd restarted."""
    with open(inst.path(CONF), "w") as f:
        f.write(filters["saved"])
    inst.conf(**kw)
    inst.restart("sandmail-smtpd", "smtp")


def message(subj, body, rcpt="alice@localhost"):
    return (f"From: carol@example.org\r\nTo: {rcpt}\r\n"
            f"Subject: {subj}\r\n\r\n{body}\r\n")


def send(inst, subj, body, rcpt="alice@localhost"):
    with inst.smtp() as c:
        c.sendmail("carol@example.org", [rcpt], message(subj, body, rcpt))


def test_clamav_milter_on_a_unix_socket(installed, filters):
    inst = installed
    sock = os.path.join(filters["host"], "milter.sock")
    st = os.stat(sock)
    assert st.st_gid == smtpd_gid(inst), st
    configure(inst, filters,
              smtpd_milter=f"unix:{DIR}/milter.sock timeout=60")
    send(inst, "clamav clean", "inst-clamav-clean")
    m = inst.wait_mail(inst.maildir("alice"), "inst-clamav-clean")
    head = m.partition(b"\n\n")[0]
    assert b"\nX-Virus-Status: Clean" in head, head
    assert b"\nX-Virus-Scanned: clamav-milter " in head, head
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(inst, "clamav infected", f"inst-clamav-bad {MARK}")
    assert e.value.smtp_code == 550, e.value
    assert b"Virus found: " + SIG.encode() in e.value.smtp_error
    # root's alone: the listener (user_smtpd) cannot connect; the
    # default action (tempfail) defers, nothing passes unscanned
    os.chmod(sock, 0o600)
    try:
        with pytest.raises(smtplib.SMTPResponseException) as e:
            send(inst, "clamav unreachable", "inst-clamav-noperm")
        assert e.value.smtp_code in (421, 451), e.value
        lg = inst.wait_log("sandmail-smtpd", "Permission denied")
        assert "Permission denied" in lg, lg[-2000:]
    finally:
        os.chmod(sock, 0o660)
    assert not any(b"inst-clamav-bad" in x or b"inst-clamav-noperm" in x
                   for x in inst.mail(inst.maildir("alice")))


def test_postgrey_on_a_unix_socket(installed, filters):
    inst = installed
    d = filters["host"]
    os.makedirs(os.path.join(d, "postgrey"), exist_ok=True)
    open(os.path.join(d, "empty_list"), "w").close()
    nsrun(inst, filters["procs"], [
        "postgrey", f"--unix={DIR}/postgrey.sock", "--socketmode=0660",
        "--delay=1", f"--dbdir={DIR}/postgrey", "--user=root",
        "--group=sandmaild", f"--whitelist-clients={DIR}/empty_list",
        f"--whitelist-recipients={DIR}/empty_list",
        f"--pidfile={DIR}/postgrey.pid"], filters["out"])
    sock = os.path.join(d, "postgrey.sock")
    wait_for(lambda: os.path.exists(sock), timeout=30,
             what="postgrey's socket")
    # postgrey makes it root's: the admin gives it user_smtpd's group
    os.chown(sock, 0, smtpd_gid(inst))
    configure(inst, filters,
              smtpd_policy_service=f"unix:{DIR}/postgrey.sock")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        send(inst, "grey", "inst-greylisted")
    (code, text), = e.value.recipients.values()
    assert code == 450 and b"Greylisted" in text, e.value.recipients
    # after postgrey's delay it passes (postgrey says when: bounded tries)
    for _ in range(60):
        time.sleep(0.5)
        try:
            send(inst, "grey", "inst-greylisted")
            break
        except smtplib.SMTPRecipientsRefused:
            continue
    m = inst.wait_mail(inst.maildir("alice"), "inst-greylisted")
    assert b"\nX-Greylist: delayed " in m.partition(b"\n\n")[0], m[:600]


class UnixPolicy(PolicyServer):
    """test_filter.PolicyServer on a UNIX socket: root's, group gid,
    mode 660."""

    def __init__(self, answer, path, gid):
        self.answer = answer
        self.requests = []
        self.ls = socket.socket(socket.AF_UNIX)
        self.ls.bind(path)
        os.chown(path, 0, gid)
        os.chmod(path, 0o660)
        self.ls.listen(16)
        self.conns = []
        self.stop = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()


def eom_answer(req):
    if "protocol_state=END-OF-MESSAGE" not in req:
        return b"action=DUNNO\n\n"
    if "recipient=bob@localhost" in req:
        return b"action=REJECT not at the end\n\n"
    return b"action=DUNNO\n\n"


def test_policy_eom_on_a_unix_socket(installed, filters):
    inst = installed
    srv = UnixPolicy(eom_answer, os.path.join(filters["host"], "policy.sock"),
                     smtpd_gid(inst))
    try:
        configure(inst, filters,
                  smtpd_policy_service=f"unix:{DIR}/policy.sock",
                  smtpd_policy_eom="yes")
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(inst, "eom", "inst-eom-refused", rcpt="bob@localhost")
        assert e.value.smtp_code == 554, e.value
        assert b"End-of-data rejected: not at the end" in e.value.smtp_error
        send(inst, "eom", "inst-eom-passed")
        inst.wait_mail(inst.maildir("alice"), "inst-eom-passed")
        states = [r for r in srv.requests
                  if "protocol_state=END-OF-MESSAGE" in r]
        assert any("recipient=bob@localhost" in r for r in states), states
        assert any("recipient=alice@localhost" in r for r in states), states
        assert not any(b"inst-eom-refused" in x
                       for x in inst.mail(inst.maildir("bob")))
    finally:
        srv.close()


def test_check_probes_the_filter_sockets(installed, filters):
    """sandmail-check with a UNIX-socket milter set: the settings are
    valid, and it tries the socket as user_smtpd: fine as set up, a
    FAIL that names it once user_smtpd may not connect."""
    from test_installed_check import check
    inst = installed
    sock = os.path.join(filters["host"], "milter.sock")
    configure(inst, filters,
              smtpd_milter=f"unix:{DIR}/milter.sock timeout=60",
              smtpd_policy_eom="yes")
    r = check(inst)
    out = r.stdout.decode()
    assert r.returncode == 0 and "FAIL" not in out, out
    assert f"ok    sandmaild can write {DIR}/milter.sock" in out, out
    os.chmod(sock, 0o600)
    try:
        r = check(inst)
    finally:
        os.chmod(sock, 0o660)
    out = r.stdout.decode()
    assert r.returncode == 1, out
    assert (f"FAIL  sandmaild cannot write {DIR}/milter.sock, but must"
            in out), out


def test_milter_socket_of_a_group_user_smtpd_was_given(installed, filters):
    """doc/filters.md's other way: the milter's socket keeps its own
    group (Debian's packages make one) and user_smtpd is given that
    group (usermod -aG, a supplementary group, as an admin does for
    Postfix); the listener must be able to connect all the same."""
    inst = installed
    sock = os.path.join(filters["host"], "milter.sock")
    inst.run(["groupadd", "--system", "milterx"])
    try:
        gid = int(inst.run(["getent", "group", "milterx"]).stdout.split(
            b":")[2])
        inst.run(["usermod", "-aG", "milterx", "sandmaild"])
        os.chown(os.path.dirname(sock), 0, gid)
        os.chown(sock, 0, gid)
        configure(inst, filters,
                  smtpd_milter=f"unix:{DIR}/milter.sock timeout=60")
        # the listener (restarted) holds that group, and no other's
        from conftest import proc_status
        top = inst.pids("sandmail-smtpd")[0]
        wait_for(lambda: proc_status(top)["Seccomp"] == "2",
                 what="the listener set up")
        st = proc_status(top)
        assert sorted(map(int, st["Groups"].split())) == sorted(
            {smtpd_gid(inst), gid}), st["Groups"]
        send(inst, "clamav group", "inst-clamav-group")
        m = inst.wait_mail(inst.maildir("alice"), "inst-clamav-group")
        assert b"\nX-Virus-Status: Clean" in m.partition(b"\n\n")[0], m
    finally:
        os.chown(os.path.dirname(sock), 0, smtpd_gid(inst))
        os.chown(sock, 0, smtpd_gid(inst))
        inst.run(["gpasswd", "-d", "sandmaild", "milterx"], check=False)
        inst.run(["groupdel", "milterx"], check=False)
