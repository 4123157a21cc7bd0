"""sandmail-passwd and sandmail-auth, run as real programs.

sandmail-passwd sets passwords from stdin into the text users table and
compiles users.cdb; sandmail-auth is then driven over a socket pair with
the records of doc/protocols.md ("auth"), the way smtpd and pop3d do.
"""
import os
import socket
import struct
import subprocess

import pytest

from conftest import prog, proc_status

PASSWORD = "c0rrect horse\u00e9"


def write_conf(d, extra=""):
    conf = os.path.join(d, "sandmail.conf")
    with open(conf, "w") as f:
        f.write("tables .\n"
                "auth_fail_delay 20ms\n"
                "auth_max_failures 3\n"
                # cheap hashes: the tests check logic, not cost
                "passwd_opslimit 1\n"
                "passwd_memlimit 64k\n")
        if os.geteuid() == 0:
            f.write("user_auth nobody\n")
        f.write(extra)
    return conf


def set_password(conf, login, password, *args):
    return subprocess.run([prog("sandmail-passwd"), "-c", conf, *args, login],
                          input=(password + "\n").encode(),
                          capture_output=True, timeout=30)


@pytest.fixture
def authdir(tmp_path):
    d = str(tmp_path)
    conf = write_conf(d)
    r = set_password(conf, "alice", PASSWORD)
    assert r.returncode == 0, r.stderr
    return d, conf


def rec(payload):
    return struct.pack(">I", len(payload)) + payload


def field(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack(">I", len(s)) + s


class Auth:
    """A sandmail-auth child on a socket pair, as auth_spawn makes it."""

    def __init__(self, conf, stderr):
        self.sock, theirs = socket.socketpair()
        self.p = subprocess.Popen([prog("sandmail-auth"), "-c", conf],
                                  stdin=theirs, stdout=theirs, stderr=stderr)
        theirs.close()
        self.sock.settimeout(20)

    def read(self):
        h = self.sock.recv(4, socket.MSG_WAITALL)
        if len(h) < 4:
            return None
        n = struct.unpack(">I", h)[0]
        return self.sock.recv(n, socket.MSG_WAITALL)

    def check(self, login, password, service="pop3", client="127.0.0.1"):
        try:
            self.sock.sendall(rec(b"A" + field(service) + field(login) +
                                  field(password) + field(client)))
            a = self.read()
        except (ConnectionResetError, BrokenPipeError):
            a = None
        if a is None:
            return None, None
        n = struct.unpack(">I", a[1:5])[0]
        assert len(a) == 5 + n
        return chr(a[0]), a[5:].decode()

    def close(self):
        self.sock.close()
        try:
            return self.p.wait(10)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()


def test_passwd_from_stdin(authdir):
    d, conf = authdir
    with open(os.path.join(d, "users")) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1
    login, h = lines[0].split(" ")
    assert login == "alice" and h.startswith("$argon2id$v=19$m=64,t=1,")
    assert PASSWORD not in open(os.path.join(d, "users")).read()
    assert os.path.getsize(os.path.join(d, "users.cdb")) > 0
    # a second user is added, the first replaced in place, comments kept
    with open(os.path.join(d, "users"), "a") as f:
        f.write("# a comment\n")
    assert set_password(conf, "bob", "b").returncode == 0
    assert set_password(conf, "alice", "new").returncode == 0
    with open(os.path.join(d, "users")) as f:
        lines = f.read().splitlines()
    assert [ln.split(" ")[0] for ln in lines] == ["alice", "#", "bob"]
    assert lines[0] != f"alice {h}"
    # -x removes; removing a missing login fails
    assert set_password(conf, "bob", "", "-x").returncode == 0
    r = set_password(conf, "bob", "", "-x")
    assert r.returncode == 100
    assert "bob" not in open(os.path.join(d, "users")).read()


def test_passwd_refuses(authdir):
    d, conf = authdir
    # the password is never an argument
    r = subprocess.run([prog("sandmail-passwd"), "-c", conf, "alice", "pw"],
                       capture_output=True, input=b"x\n", timeout=30)
    assert r.returncode == 100
    for login in ("a b", "a:b", "#x", ""):
        assert set_password(conf, login, "x").returncode == 100
    assert set_password(conf, "carol", "").returncode == 100
    # -d names the directory, no configuration needed
    r = subprocess.run([prog("sandmail-passwd"), "-d", d, "dave"],
                       input=b"pw\n", capture_output=True, timeout=60,
                       env={"SANDMAIL_CONF": "/nonexistent/conf"})
    assert r.returncode == 0, r.stderr
    assert "dave $argon2id$" in open(os.path.join(d, "users")).read()


def test_auth_checks(authdir, tmp_path):
    d, conf = authdir
    log = open(tmp_path / "auth.log", "w+")
    a = Auth(conf, log)
    try:
        v = a.read()
        assert v == b"V" + field("sandmail-auth 1")
        # sandboxed before it reads a byte of ours
        assert proc_status(a.p.pid)["Seccomp"] == "2"
        assert a.check("alice", PASSWORD) == ("K", "alice")
        assert a.check("ALICE", PASSWORD) == ("K", "alice")
        st, _ = a.check("alice", "wrong")
        assert st == "X"
        st, _ = a.check("mallory", PASSWORD)
        assert st == "X"
        assert proc_status(a.p.pid)["Seccomp"] == "2"
        # the third failure of the connection: disconnect, and it exits
        st, _ = a.check("alice", "wrong again")
        assert st == "D"
        assert a.check("alice", PASSWORD) == (None, None)
    finally:
        rc = a.close()
    assert rc == 0
    log.seek(0)
    text = log.read()
    assert "event=auth_ok" in text
    assert "failures=1" in text and "failures=3" in text
    assert "event=auth_disconnect" in text
    assert "wrong" not in text.replace("wrong password", "")
    assert PASSWORD not in text


def test_auth_garbage_exits(authdir, tmp_path):
    d, conf = authdir
    a = Auth(conf, subprocess.DEVNULL)
    try:
        a.read()
        a.sock.sendall(rec(b"Z" + field("x")))
        assert a.read() is None
    finally:
        rc = a.close()
    assert rc == 111


def test_auth_no_table(tmp_path):
    """No users.cdb: an empty table, every login unknown."""
    conf = write_conf(str(tmp_path))
    a = Auth(conf, subprocess.DEVNULL)
    try:
        a.read()
        st, _ = a.check("alice", PASSWORD)
        assert st == "X"
    finally:
        a.close()


def test_auth_delay_is_waited(authdir, tmp_path):
    """The failure answer comes after auth_fail_delay: with a delay far
    longer than the test's patience, no answer has come while waiting."""
    d, _ = authdir
    conf = write_conf(d, "auth_fail_delay 600\n")
    a = Auth(conf, subprocess.DEVNULL)
    try:
        a.read()
        a.sock.sendall(rec(b"A" + field("pop3") + field("alice") +
                           field("bad") + field("")))
        a.sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            a.sock.recv(1)
    finally:
        a.p.kill()
        a.close()


def test_passwd_from_tty_without_echo(authdir):
    """On a terminal the password is asked twice and never echoed."""
    import os as _os
    import select
    d, conf = authdir
    master, slave = _os.openpty()
    p = subprocess.Popen([prog("sandmail-passwd"), "-c", conf, "tty"],
                         stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True)
    _os.close(slave)
    seen = b""

    def read_until(word):
        nonlocal seen
        while word not in seen:
            r, _, _ = select.select([master], [], [], 20)
            assert r, f"no {word!r} from sandmail-passwd: {seen!r}"
            try:
                seen += _os.read(master, 1024)
            except OSError:
                break
    try:
        read_until(b"password: ")
        _os.write(master, b"tty-secret\n")
        read_until(b"Again: ")
        _os.write(master, b"tty-secret\n")
        assert p.wait(30) == 0
        try:
            while True:
                r, _, _ = select.select([master], [], [], 0.2)
                if not r:
                    break
                chunk = _os.read(master, 1024)
                if not chunk:
                    break
                seen += chunk
        except OSError:
            pass
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        _os.close(master)
    assert b"tty-secret" not in seen
    assert "tty $argon2id$" in open(os.path.join(d, "users")).read()
