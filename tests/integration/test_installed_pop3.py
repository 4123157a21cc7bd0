"""sandmail-pop3d's group floor in the installed layout (installed.py),
where the groups are real: scripts/setup's user_vmail (vmail) has a
system group, which the listener's and monitor's filters must still let
it take (local_gid_min 100, Debian's system groups from 100 up), so a
virtual mailbox is served, its messages deleted as vmail; a system user
whose primary group is below local_gid_min (Debian's mail, gid 8) is
refused its mailbox, as lspawn refuses to deliver to it."""
import grp
import poplib

import pytest

from test_installed import send25

CDB_LOCALUSERS = ("-d", "/etc/sandmail", "-p", "-P", "/etc/passwd")


def login(inst, user, password):
    p = poplib.POP3("127.0.0.1", inst.port["pop3"], timeout=30)
    p.stls(context=inst.tls_context())
    p.user(user)
    p.pass_(password)
    return p


def passwd(inst, login_, pw=None):
    if pw is None:
        inst.run([inst.sbin("sandmail-passwd"), "-x", login_], check=False)
    else:
        inst.run([inst.sbin("sandmail-passwd"), login_],
                 input=(pw + "\n").encode())


def test_virtual_mailbox_as_vmail(installed):
    inst = installed
    addr = "info@virt.test"
    passwd(inst, addr, "vsecret")
    try:
        send25(inst, addr, "pop3-virtual")
        md = inst.vmaildir(addr)
        inst.wait_mail(md, "pop3-virtual")
        p = login(inst, addr, "vsecret")
        try:
            n, _ = p.stat()
            got = [b"\n".join(p.retr(i + 1)[1]) for i in range(n)]
            mine = [i + 1 for i, g in enumerate(got) if b"pop3-virtual" in g]
            assert mine, got
            p.dele(mine[0])
        finally:
            p.quit()        # UPDATE: the delete, done as vmail
        assert not any(b"pop3-virtual" in m for m in inst.mail(md))
    finally:
        passwd(inst, addr)


def test_low_group_is_refused(installed):
    inst = installed
    try:
        low = grp.getgrnam("mail").gr_gid      # the host's copy: the same
    except KeyError:
        pytest.fail("no group mail in /etc/group")
    assert low < 100
    inst.run(["useradd", "--create-home", "--home-dir", "/home/dave",
              "--gid", str(low), "--shell", "/bin/sh", "dave"])
    try:
        inst.run([inst.sbin("sandmail-cdb")] + list(CDB_LOCALUSERS))
        passwd(inst, "dave", "dsecret")
        with pytest.raises(poplib.error_proto, match=r"SYS/PERM"):
            login(inst, "dave", "dsecret")
        line = "user=dave reason=\"gid below local_gid_min\""
        logs = inst.wait_log("sandmail-pop3d", line)
        assert line in logs, logs[-2000:]
        # and the others are served as before (a maildir exists once
        # mail came: without one, -ERR [SYS/TEMP])
        send25(inst, "bob@localhost", "pop3-floor")
        inst.wait_mail(inst.maildir("bob"), "pop3-floor")
        p = login(inst, "bob", inst.users["bob"])
        p.quit()
    finally:
        passwd(inst, "dave")
        inst.run(["userdel", "--remove", "dave"], check=False)
        inst.run([inst.sbin("sandmail-cdb")] + list(CDB_LOCALUSERS))
