"""The product as installed (issue 18): `make install`, the installed
scripts/setup, separate users and groups, the runit services under
runsvdir (installed.py).  Mail end to end through every door, each
service reloaded and restarted with mail still flowing."""
import os
import poplib
import smtplib
import time

import pytest

from conftest import proc_status, wait_for

MSG = ("From: {frm}\r\nTo: {to}\r\nSubject: {subj}\r\n\r\n"
       "installed layout test {subj}\r\n")


def body(subj, frm="carol@example.org", to="x"):
    return MSG.format(frm=frm, to=to, subj=subj)


def send25(inst, rcpt, subj, sender="carol@example.org"):
    with inst.smtp() as c:
        c.sendmail(sender, [rcpt], body(subj, sender, rcpt))


def test_port25_to_system_user(installed):
    """Items 1 and 2: the queue service runs (started as root by runit
    through the set-uid binary), and send can read what it wrote."""
    send25(installed, "alice@localhost", "p25-system")
    m = installed.wait_mail(installed.maildir("alice"), "p25-system")
    assert b"Delivered-To: alice@localhost" in m
    st = os.stat(installed.path(installed.maildir("alice") + "new"))
    assert st.st_uid == installed.ids["alice"][0]


def test_port25_to_virtual_user(installed):
    send25(installed, "info@virt.test", "p25-virtual")
    md = installed.vmaildir("info@virt.test")
    installed.wait_mail(md, "p25-virtual")
    st = os.stat(installed.path(md + "new"))
    assert st.st_uid == installed.ids["vmail"][0]


def test_path_alias(installed):
    """Item 4: a /path alias is delivered as user_alias (nobody, above
    local_uid_max)."""
    send25(installed, "archive@localhost", "path-alias")
    md = "/var/spool/archive/Maildir/"
    installed.wait_mail(md, "path-alias")
    st = os.stat(installed.path(md + "new"))
    assert st.st_uid == installed.ids["nobody"][0]


def test_submission_starttls_auth_relays_by_mx(installed):
    with installed.smtp("submission") as c:
        c.starttls(context=installed.tls_context())
        c.login("alice", installed.users["alice"])
        c.sendmail("alice@localhost", ["rcpt@dest.test"],
                   body("relayed", "alice@localhost", "rcpt@dest.test"))

    def arrived():
        for t in installed.mx.done():
            if b"relayed" in t.data:
                return t
        return None
    from conftest import wait_for
    t = wait_for(arrived, timeout=30, what="the relayed message at the MX")
    assert t.rcpts == ["rcpt@dest.test"] or "rcpt@dest.test" in str(t.rcpts)


def test_smtps_auth(installed):
    import smtplib as s
    with s.SMTP_SSL("127.0.0.1", installed.port["smtps"], timeout=30,
                    context=installed.tls_context()) as c:
        c.login("alice", installed.users["alice"])
        c.sendmail("alice@localhost", ["alice@localhost"],
                   body("smtps-self", "alice@localhost", "alice@localhost"))
    installed.wait_mail(installed.maildir("alice"), "smtps-self")


def test_bounce_reaches_the_sender(installed):
    send25(installed, "nobody@bounce.test", "to-bounce",
           sender="alice@localhost")
    m = installed.wait_mail(installed.maildir("alice"),
                            "no such user here")
    assert b"multipart/report" in m


def test_pop3_login_and_retrieve(installed):
    send25(installed, "bob@localhost", "for-pop3")
    installed.wait_mail(installed.maildir("bob"), "for-pop3")
    p = poplib.POP3("127.0.0.1", installed.port["pop3"], timeout=30)
    try:
        p.stls(context=installed.tls_context())
        p.user("bob")
        p.pass_(installed.users["bob"])
        n, _ = p.stat()
        got = [b"\n".join(p.retr(i + 1)[1]) for i in range(n)]
        assert any(b"for-pop3" in g for g in got)
    finally:
        p.quit()
    p = poplib.POP3_SSL("127.0.0.1", installed.port["pop3s"], timeout=30,
                        context=installed.tls_context())
    try:
        p.user("bob")
        p.pass_(installed.users["bob"])
        assert p.stat()[0] >= 1
    finally:
        p.quit()


def test_sendmail_by_unprivileged_user(installed):
    """Items 2 and 3: bob's sendmail cannot reach the queue service's
    socket (group sandmaild), so it runs the set-uid+set-gid queue, which
    must write the trigger: send reads todo/ only when the trigger wakes
    it (or at its start), so the message arriving at all proves it."""
    r = installed.run([installed.sbin("sandmail-inject"), "-f",
                       "bob@localhost", "alice@localhost"], user="bob",
                      input=b"Subject: from-bob-sendmail\n\nhi\n")
    assert r.returncode == 0, r.stderr
    m = installed.wait_mail(installed.maildir("alice"),
                            "from-bob-sendmail")
    assert b"bob" in m
    # issue 20, item 5: the queue names who ran it, whatever the caller
    # wrote; it is the message's first line
    assert m.startswith(b"Received: (sandmail-queue invoked by uid %d); "
                        % installed.ids["bob"][0]) or \
        b"\nReceived: (sandmail-queue invoked by uid %d); " \
        % installed.ids["bob"][0] in m, m


@pytest.mark.parametrize("service,port", [
    ("sandmail-queue", None), ("sandmail-start", None),
    ("sandmail-auth", None),
    ("sandmail-smtpd", "smtp"), ("sandmail-submission", "submission"),
    ("sandmail-smtps", "smtps"), ("sandmail-pop3d", "pop3"),
    ("sandmail-pop3s", "pop3s")])
def test_sv_hup_and_restart(installed, service, port):
    for cmd in ("hup", "restart"):
        installed.wait_up(service, port)
        before = installed.pids(service)[0]
        r = installed.sv(cmd, service)
        assert r.returncode == 0, r.stdout + r.stderr
        installed.wait_up(service, port)
        if cmd == "hup":
            # a reload, not a restart: runsv would start a killed
            # daemon again, but its port was closed meanwhile
            time.sleep(0.5)
            assert installed.pids(service)[0] == before, \
                f"{service} did not survive SIGHUP"
        subj = f"after-{cmd}-{service}"
        for attempt in range(50):
            try:
                send25(installed, "alice@localhost", subj)
                break
            except (smtplib.SMTPException, OSError):
                time.sleep(0.1)     # the queue's socket is back soon
        installed.wait_mail(installed.maildir("alice"), subj)


def _cmd(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode()
    except OSError:
        return ""


def test_kill9_of_sandmail_start_ends_its_send(installed):
    """Found by the crash test in this layout: sandmail-start killed with
    -9 left its send (and helpers) running, and runsv's new
    sandmail-start ran a second send on the same queue.  send now stops
    when its parent dies."""
    from conftest import alive, wait_for
    installed.wait_up("sandmail-start")
    old = [p for p in installed.pids("sandmail-start")[1:]
           if _cmd(p).endswith("sandmail-send")]
    assert len(old) == 1, old
    os.kill(installed.pids("sandmail-start")[0], 9)
    wait_for(lambda: not alive(old[0]), timeout=30,
             what="the old sandmail-send to stop")
    installed.wait_up("sandmail-start")
    send25(installed, "alice@localhost", "after-kill9-start")
    installed.wait_mail(installed.maildir("alice"), "after-kill9-start")
    sends = [p for p in installed.in_ns()
             if _cmd(p).endswith("sandmail-send")]
    assert len(sends) == 1, sends


def test_installed_smtpd_listeners_hold_no_root(installed):
    """Installed, each smtpd listener (25, submission, smtps) is sandmaild
    once set up, with CAP_DAC_READ_SEARCH alone (bounding set too),
    filtered; it still reaches sandmail-auth's socket (root:sandmaild
    0660) for its sessions: a login on submission and on smtps works."""
    inst = installed
    want = [str(inst.ids["sandmaild"][0])] * 4
    for svc in ("sandmail-smtpd", "sandmail-submission", "sandmail-smtps"):
        inst.wait_up(svc)
        top = inst.pids(svc)[0]
        wait_for(lambda: proc_status(top)["Seccomp"] == "2",
                 what=f"{svc}'s listener filtered")
        st = proc_status(top)
        assert st["Uid"].split() == want, (svc, st["Uid"])
        assert st["Gid"].split() == [str(inst.ids["sandmaild"][1])] * 4
        for k in ("CapEff", "CapPrm", "CapBnd"):
            assert int(st[k], 16) == 1 << 2, (svc, k, st[k])
    sock = os.stat(inst.path("/var/spool/sandmail/lock/auth.sock"))
    assert (sock.st_uid, sock.st_gid) == (0, inst.ids["sandmaild"][1])
    assert sock.st_mode & 0o777 == 0o660
    with inst.smtp("submission") as c:
        c.starttls(context=inst.tls_context())
        c.login("alice", inst.users["alice"])
    c = smtplib.SMTP_SSL("127.0.0.1", inst.port["smtps"],
                         context=inst.tls_context(), timeout=30)
    c.login("alice", inst.users["alice"])
    c.quit()


def test_installed_pop3d_listeners_hold_no_root(installed):
    """Installed, each pop3d listener (110, 995) is sandmaild once set up,
    with CAP_SETUID and CAP_SETGID alone (bounding set too: what its
    connections' monitors need to become a mailbox owner), filtered;
    logins on both still work (test_pop3_login_and_retrieve)."""
    inst = installed
    want = [str(inst.ids["sandmaild"][0])] * 4
    for svc in ("sandmail-pop3d", "sandmail-pop3s"):
        inst.wait_up(svc)
        top = inst.pids(svc)[0]
        wait_for(lambda: proc_status(top)["Seccomp"] == "2",
                 what=f"{svc}'s listener filtered")
        st = proc_status(top)
        assert st["Uid"].split() == want, (svc, st["Uid"])
        for k in ("CapEff", "CapPrm", "CapBnd"):
            assert int(st[k], 16) == 1 << 6 | 1 << 7, (svc, k, st[k])
    test_pop3_login_and_retrieve(installed)


# (here, not in test_contain.py: the installed layout, a session fixture,
# must start after test_exhaust.py counts its own sandmail processes)
def test_installed_auth_service_holds_no_root(installed):
    """Installed, users.cdb is root:sandmaila 0640: every process of the
    auth service, its table opener included, is sandmaila with no
    capability at all, filtered."""
    inst = installed
    inst.wait_up("sandmail-auth")
    want = [str(inst.ids["sandmaila"][0])] * 4

    def filtered():
        ps = [p for p in inst.pids("sandmail-auth")
              if proc_status(p)["Name"] == "sandmail-auth"
              and proc_status(p)["Seccomp"] == "2"]
        # the service, its workers (auth_workers) and the opener
        return ps if len(ps) >= 3 else None
    ps = wait_for(filtered, what="sandmail-auth's processes filtered")
    for p in ps:
        st = proc_status(p)
        assert st["Uid"].split() == want, (p, st["Uid"])
        assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0



def test_srs_forward_and_bounce_back(installed):
    """SRS in the installed layout: setup's srs.secret (root:sandmails
    0640) is read by send and by sandmail-srs (as root, before it becomes
    sandmailh), an alias's forward leaves with an SRS sender, a bounce to
    that address comes back in on port 25 and goes to the original
    sender, and one with a forged hash is refused at RCPT (550 5.1.1) by
    the answer of sandmail-srs, whose socket is root:sandmaild 0660."""
    from conftest import wait_for
    st = os.stat(installed.path("/etc/sandmail/srs.secret"))
    assert st.st_mode & 0o777 == 0o640
    assert st.st_gid == installed.ids["sandmails"][1]
    installed.wait_up("sandmail-start")

    def srsd():
        ps = [p for p in installed.pids("sandmail-start")
              if proc_status(p)["Name"] == "sandmail-srs"
              and proc_status(p)["Seccomp"] == "2"]
        return ps or None
    p = wait_for(srsd, timeout=30, what="sandmail-srs filtered")[0]
    st = proc_status(p)
    uid = installed.run(["id", "-u", "sandmailh"]).stdout.decode().strip()
    assert st["Uid"].split() == [uid] * 4
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    sock = os.stat(installed.path("/var/spool/sandmail/lock/srs.sock"))
    assert (sock.st_uid, sock.st_gid, sock.st_mode & 0o777) == (
        0, installed.ids["sandmaild"][1], 0o660)
    send25(installed, "away@localhost", "srs-forward",
           sender="orig@dest.test")

    def arrived(subj):
        for t in installed.mx.done():
            if subj.encode() in t.data:
                return t
        return None
    t = wait_for(lambda: arrived("srs-forward"), timeout=30,
                 what="the forward at the MX")
    srs = t.mail.split("<", 1)[1].split(">", 1)[0]
    assert srs.startswith("SRS0=") and srs.endswith(
        "=dest.test=orig@mail.test"), t.mail
    h = srs[5:9]
    forged = srs.replace(h, "AAAA" if h != "AAAA" else "BBBB", 1)
    with installed.smtp() as c:
        c.ehlo("bouncer.test")
        assert c.mail("<>")[0] == 250
        code, text = c.rcpt(forged)
        assert (code, text[:5]) == (550, b"5.1.1"), text
    with installed.smtp() as c:
        c.sendmail("", [srs], b"Subject: srs-bounce\r\n\r\nfailed\r\n")
    b = wait_for(lambda: arrived("srs-bounce"), timeout=30,
                 what="the bounce at the original sender's MX")
    assert "orig@dest.test" in str(b.rcpts)
