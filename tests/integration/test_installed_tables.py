"""Issue 18, items 5-7, in the installed layout: a table edited and
recompiled with sandmail-cdb is used by every program that decides with
it (smtpd's RCPT, send's split and routing, lspawn's own lookup, the
auth service's passwords) without a restart, and `sv hup` of
sandmail-start never loses a table that send maps as sandmails."""
import smtplib
import time

from conftest import wait_for

MSG = ("From: carol@example.org\r\nTo: {to}\r\nSubject: {subj}\r\n\r\n"
       "table edit test {subj}\r\n")


def add(inst, table, text):
    with open(inst.path(f"/etc/sandmail/{table}"), "a") as f:
        f.write(text)


def accepted(inst, rcpt, subj):
    """RCPT and DATA on port 25 for rcpt; False while smtpd says 550."""
    with inst.smtp() as c:
        c.ehlo("client.test")
        c.mail("carol@example.org")
        code, _ = c.rcpt(rcpt)
        if code != 250:
            c.rset()
            return False
        code, _ = c.data(MSG.format(to=rcpt, subj=subj))
        assert code == 250
        return True


def at_mx(inst, needle):
    """The transaction at the test MX holding needle.  The waits for it
    allow a first attempt that times out connecting (30 s, under a
    loaded CI) and its retry: what is tested is where the mail goes."""
    for t in inst.mx.done():
        if needle.encode() in t.data:
            return t
    return None


def test_table_edit_reaches_every_program(installed):
    inst = installed
    add(inst, "aliases", "abuse: alice\n")            # a bare local part
    add(inst, "domains", "virt2.test virtual\n")
    add(inst, "virtual", "sales@virt2.test /var/spool/vhosts/virt2/sales/\n")
    add(inst, "routes", f"routed.test [127.0.0.2]:{inst.mx_port}\n")
    inst.run([inst.sbin("sandmail-cdb"), "-d", "/etc/sandmail", "all"])
    # routes.cdb keeps the group that lets send (not smtpd) read it
    inst.run(["test", "-r", "/etc/sandmail/routes.cdb"], user="sandmails")
    r = inst.run(["test", "-r", "/etc/sandmail/routes.cdb"],
                 user="sandmaild", check=False)
    assert r.returncode != 0

    # smtpd accepts each within its bound, send and lspawn deliver each
    # where the new tables say (the new route: the next test)
    wait_for(lambda: accepted(inst, "abuse@localhost", "bare-alias"),
             timeout=10, what="smtpd accepting abuse@localhost")
    wait_for(lambda: accepted(inst, "sales@virt2.test", "new-virtual"),
             timeout=10, what="smtpd accepting sales@virt2.test")
    inst.wait_mail(inst.maildir("alice"), "bare-alias")
    inst.wait_mail("/var/spool/vhosts/virt2/sales/", "new-virtual")

    # a new password in users: the next AUTH uses it
    inst.run([inst.sbin("sandmail-passwd"), "bob"],
             input=b"a new secret\n")

    def logs_in():
        with inst.smtp("submission") as c:
            c.starttls(context=inst.tls_context())
            try:
                c.login("bob", "a new secret")
            except smtplib.SMTPAuthenticationError:
                return False
            return True
    wait_for(logs_in, timeout=10, what="bob's new password")
    inst.users["bob"] = "a new secret"


def test_new_route_reaches_the_mx(installed):
    """routed.test has no DNS: only the routes entry the previous test
    compiled can take it to 127.0.0.2.

    A timeout fails with the stall report (installed.py): issue 18's
    "rspawn stall" was the test MX blocked in accept(), mended in
    remoteutil.py; the report says where, should another cause remain.
    """
    inst = installed
    assert accepted(inst, "someone@routed.test", "new-route")
    try:
        wait_for(lambda: at_mx(inst, "new-route"), timeout=90,
                 what="the routed message at 127.0.0.2")
    except TimeoutError:
        raise AssertionError("no delivery in time (issue 18 stall?)\n" +
                     inst.stall_report())


def test_hup_of_start_keeps_the_tables(installed):
    """Item 5: after `sv hup sandmail-start` send still routes by the
    root:sandmails 0640 routes.cdb (before: Permission denied, and mail
    for a routed domain went by MX), and a table send cannot open is
    kept, with an error logged on each HUP."""
    inst = installed
    add(inst, "routes", f"hup.test [127.0.0.2]:{inst.mx_port}\n")
    inst.run([inst.sbin("sandmail-cdb"), "-d", "/etc/sandmail", "routes"])
    before = inst.log("sandmail-start")
    for _ in range(2):
        r = inst.sv("hup", "sandmail-start")
        assert r.returncode == 0, r.stdout + r.stderr
    time.sleep(0.5)
    new = inst.log("sandmail-start")[len(before):]
    assert "Permission denied" not in new, new
    assert accepted(inst, "x@hup.test", "after-hup")
    wait_for(lambda: at_mx(inst, "after-hup"), timeout=90,
             what="mail routed after two HUPs")

    # a routes.cdb send cannot read: kept, and said on each HUP
    inst.run(["chmod", "0600", "/etc/sandmail/routes.cdb"])
    try:
        before = inst.log("sandmail-start")
        # one HUP at a time: two sent at once may arrive as one (a
        # signal pending twice is delivered once), and one reload
        # error is then all there is to see
        for n in (1, 2):
            inst.sv("hup", "sandmail-start")
            wait_for(lambda: inst.log("sandmail-start")[len(before):]
                     .count("op=reload") >= n, timeout=10,
                     what=f"a reload error on HUP {n}")
        assert accepted(inst, "y@hup.test", "kept-table")
        wait_for(lambda: at_mx(inst, "kept-table"), timeout=90,
                 what="mail routed by the kept table")
    finally:
        inst.run(["chmod", "0640", "/etc/sandmail/routes.cdb"])
