"""sandmail-check against the live installed layout (installed.py): it
passes as setup made it, and each permission of the design broken in
turn (then put back) is named by a FAIL line."""
import os

import pytest

Q = "/var/spool/sandmail"
ETC = "/etc/sandmail"


def check(inst):
    # a test before may have restarted a listener (runsv starts it again
    # within a second); sandmail-check looks once
    from conftest import wait_port
    for p in inst.port.values():
        wait_port(p, timeout=30)
    ports = " ".join(str(p) for p in inst.port.values())
    return inst.run([inst.sbin("sandmail-check"), "--ports", ports],
                    check=False)


def test_check_passes_on_the_installation(installed):
    r = check(installed)
    out = r.stdout.decode()
    assert r.returncode == 0, out
    assert "FAIL" not in out
    assert "set-uid and set-gid sandmailq:sandmailq 6711" in out
    assert "sandmaild can write /var/spool/sandmail/lock/queue.sock" in out
    assert "sandmails can read /etc/sandmail/routes.cdb" in out
    assert "sandmails can read /etc/sandmail/relay_auth.cdb" in out
    assert "sandmaild cannot read /etc/sandmail/relay_auth.cdb" in out


def _uid(inst, user):
    return inst.ids[user][0]


def _gid(inst, user):
    return inst.ids[user][1]


# (what is broken, namespace path, how: ("mode", m) | ("owner", user) |
#  ("group", user's group), what the FAIL line says)
BREAKS = [
    ("mess/ lost its set-gid bit", Q + "/mess", ("mode", 0o770),
     "mess: mode 770, want 2770"),
    ("tmp/ of group root", Q + "/tmp", ("group", "root"),
     "tmp: group root, want sandmails"),
    ("todo/ owned by root", Q + "/todo", ("owner", "root"),
     "todo: owner root, want sandmailq"),
    ("info/ open to all", Q + "/info", ("mode", 0o755),
     "info: mode 755, want 700"),
    ("lock/ writable by all", Q + "/lock", ("mode", 0o777),
     "lock: mode 777, want 771"),
    ("trigger of the wrong group", Q + "/lock/trigger",
     ("group", "sandmails"), "trigger: group sandmails, want sandmailq"),
    ("trigger writable by all", Q + "/lock/trigger", ("mode", 0o622),
     "trigger: mode 622, want 620"),
    ("queue.sock open to all", Q + "/lock/queue.sock", ("mode", 0o666),
     "queue.sock: mode 666, want 660"),
    ("the queue directory closed", Q, ("mode", 0o700),
     "sandmaild cannot write /var/spool/sandmail/lock/queue.sock"),
    ("routes.cdb of group root", ETC + "/routes.cdb", ("group", "root"),
     "routes.cdb: group root, want sandmails"),
    ("relay_auth.cdb readable by all", ETC + "/relay_auth.cdb",
     ("mode", 0o644), "relay_auth.cdb: mode 644, want 640"),
    ("relay_auth text readable by all", ETC + "/relay_auth", ("mode", 0o644),
     "relay_auth: readable by others"),
    ("users.cdb readable by all", ETC + "/users.cdb", ("mode", 0o644),
     "users.cdb: mode 644, want 640"),
    ("the TLS key readable by all", ETC + "/tls/key.pem", ("mode", 0o644),
     "key.pem: mode 644"),
    ("users text readable by all", ETC + "/users", ("mode", 0o644),
     "users: readable by others"),
    ("domains.cdb unreadable", ETC + "/domains.cdb", ("mode", 0o600),
     "domains.cdb: mode 600, want 644"),
    ("sandmail-queue without set-gid", "SBIN/sandmail-queue",
     ("mode", 0o4711), "sandmail-queue: mode 4711, want 6711"),
    ("sandmail-queue owned by root", "SBIN/sandmail-queue",
     ("owner", "root"), "sandmail-queue: set-uid root, want sandmailq"),
    ("another program set-uid", "SBIN/sandmail-smtpd", ("mode", 0o4755),
     "sandmail-smtpd: set-uid or set-gid"),
]


@pytest.mark.parametrize("what,path,how,says", BREAKS,
                         ids=[b[0] for b in BREAKS])
def test_check_names_each_broken_permission(installed, what, path, how,
                                            says):
    if path.startswith("SBIN/"):
        host = installed.sbin(path[5:])
    else:
        host = installed.path(path)
    st = os.stat(host)
    try:
        kind, v = how
        if kind == "mode":
            os.chmod(host, v)
        elif kind == "owner":
            os.chown(host, 0 if v == "root" else _uid(installed, v), -1)
            os.chmod(host, st.st_mode & 0o7777)  # chown clears set-uid
        else:
            os.chown(host, -1, 0 if v == "root" else _gid(installed, v))
        r = check(installed)
        out = r.stdout.decode()
        assert r.returncode == 1, out
        fails = [x for x in out.splitlines() if x.startswith("FAIL")]
        assert any(says in x for x in fails), "\n".join(fails) or out
    finally:
        os.chown(host, st.st_uid, st.st_gid)
        os.chmod(host, st.st_mode & 0o7777)


def test_reinstall_keeps_the_setuid_queue(installed):
    """make install again (an upgrade) as root on the set-up machine:
    sandmail-queue stays set-uid and set-gid sandmailq."""
    from installed import make_env, make_install_argv
    r = installed.run(make_install_argv(installed.prefix), timeout=300,
                      env=make_env())
    assert b"set-uid and set-gid sandmailq" in r.stdout, r.stdout
    st = os.stat(installed.sbin("sandmail-queue"))
    assert st.st_mode & 0o7777 == 0o6711
    assert (st.st_uid, st.st_gid) == tuple(installed.ids["sandmailq"])


def test_check_passes_again_after_the_breaks(installed):
    r = check(installed)
    assert r.returncode == 0, r.stdout.decode()
