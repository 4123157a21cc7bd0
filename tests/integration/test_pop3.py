"""sandmail-pop3d with Python's poplib: logins (plain on loopback, STLS,
implicit TLS, AUTH PLAIN), every command, the UPDATE state, snapshots,
a second session, kill -9, and the sandboxes of a session's processes."""
import base64
import os
import poplib
import signal
import socket
import ssl
import threading
import time

import pytest

from conftest import proc_status, wait_for
import pop3util
from pop3util import Pop3Site, connect, crlf  # noqa: F401
import tlsutil

MSG1 = (b"From: a@example.org\nTo: alice@example.org\nSubject: one\n\n"
        b"hello\n.dot line\n..two dots\n.\nlast line without newline")
MSG2 = b"Subject: two\r\n\r\nbody2 line1\r\nline2\r\nline3\r\n"


@pytest.fixture
def make_site(procs):
    made = []

    def make(**kw):
        made.append(Pop3Site(procs, **kw))
        return made[-1]
    yield make
    procs.stop_all()
    for s in made:
        s.cleanup()


@pytest.fixture
def site(make_site):
    s = make_site()
    s.put(MSG1)
    s.put(MSG2, sub="cur", info="S")
    return s


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def one_session(site):
    """The pid of the one session under the listener (the probe that
    wait_port made may take a moment to go away)."""
    def one():
        mon, _ = pop3util.session_pids(site.proc.pid)
        box = [m for m in mon if comm(m) == "sandmail-pop3d"]
        return box[0] if len(box) == 1 else None
    return wait_for(one, what="one session")


def test_commands(site):
    port = site.start()
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    assert p.getwelcome().startswith(b"+OK")
    caps = p.capa()
    for c in ("TOP", "UIDL", "USER", "SASL", "STLS", "RESP-CODES",
              "PIPELINING"):
        assert c in caps
    assert caps["SASL"] == ["PLAIN"]
    p.user("alice")
    p.pass_("secret")
    size1 = len(crlf(MSG1)) + 2     # and the CRLF added at the end
    size2 = len(MSG2)
    assert p.stat() == (2, size1 + size2)
    resp, lines, _ = p.list()
    assert lines == [f"1 {size1}".encode(), f"2 {size2}".encode()]
    assert p.list(2) == f"+OK 2 {size2}".encode()
    resp, uids, _ = p.uidl()
    uid1 = uids[0].split()[1]
    assert uid1.startswith(b"1700000001.") and b":" not in uid1
    resp, lines, octets = p.retr(1)
    # dot-stuffing undone by poplib; bare LF sent as CRLF
    assert b"\r\n".join(lines) + b"\r\n" == crlf(MSG1) + b"\r\n"
    resp, lines, _ = p.top(2, 0)
    assert lines == [b"Subject: two", b""]
    resp, lines, _ = p.top(2, 2)
    assert lines == [b"Subject: two", b"", b"body2 line1", b"line2"]
    with pytest.raises(poplib.error_proto):
        p.retr(3)
    with pytest.raises(poplib.error_proto):
        p.retr(0)
    with pytest.raises(poplib.error_proto):
        p._shortcmd("RETR x")
    with pytest.raises(poplib.error_proto):
        p._shortcmd("BOGUS")
    assert p.noop().startswith(b"+OK")
    assert p.quit().startswith(b"+OK")
    log = site.log()
    assert "event=login user=alice" in log and "event=quit" in log
    assert "secret" not in log


def test_raw_wire_stuffing(site):
    """On the wire: a stored '.' line is sent as '..', bare LF as CRLF."""
    port = site.start()
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"USER alice\r\nPASS secret\r\nRETR 1\r\nQUIT\r\n")
    assert f.readline().startswith(b"+OK")
    assert f.readline().startswith(b"+OK Logged in")
    assert f.readline().startswith(b"+OK")
    body = b""
    while True:
        line = f.readline()
        assert line.endswith(b"\r\n")
        if line == b".\r\n":
            break
        body += line
    assert b"\r\n..dot line\r\n...two dots\r\n..\r\n" in body
    assert body.endswith(b"last line without newline\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert f.readline().startswith(b"+OK")
    s.close()


def test_bad_logins(site):
    port = site.start()
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    p.user("alice")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.pass_("wrong")
    p.user("nosuchuser")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.pass_("secret")
    with pytest.raises(poplib.error_proto):
        p.pass_("secret")       # PASS without USER
    p.user("alice")
    # the third failure of the connection: told, then disconnected
    with pytest.raises(poplib.error_proto, match="Too many"):
        p.pass_("wrong")
    with pytest.raises((poplib.error_proto, OSError)):
        p.noop()
    p.close()
    # a new connection starts counting anew
    connect(port).quit()
    log = site.log()
    assert "failures=3" in log and "auth_disconnect" in log


def test_auth_plain(site):
    port = site.start()
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    ir = base64.b64encode(b"\0alice\0secret").decode()
    assert p._shortcmd(f"AUTH PLAIN {ir}").startswith(b"+OK Logged in")
    assert p.stat()[0] == 2
    p.quit()
    # without an initial response: the "+ " continuation
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    p._putcmd("AUTH PLAIN")
    assert p._getline()[0].startswith(b"+")
    assert p._shortcmd(ir).startswith(b"+OK Logged in")
    p.quit()
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    with pytest.raises(poplib.error_proto):
        p._shortcmd("AUTH PLAIN !!!!")
    with pytest.raises(poplib.error_proto):
        p._shortcmd("AUTH CRAM-MD5")
    bad = base64.b64encode(b"bob\0alice\0secret").decode()
    with pytest.raises(poplib.error_proto):
        p._shortcmd(f"AUTH PLAIN {bad}")
    p.quit()


def test_no_plaintext_login_without_tls(make_site):
    s = make_site(plain_loopback=False)
    s.put(MSG1)
    port = s.start()
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
    with pytest.raises(poplib.error_proto, match="STLS"):
        p.user("alice")
    with pytest.raises(poplib.error_proto):
        p._shortcmd("AUTH PLAIN " +
                    base64.b64encode(b"\0alice\0secret").decode())
    p.stls(tlsutil.client_context(s.cert))
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 1
    assert p.sock.version() in ("TLSv1.2", "TLSv1.3")
    p.quit()
    assert "event=tls" in s.log()


def test_stls_pipelined_bytes_discarded(site):
    """Commands sent in the clear after STLS are not run inside TLS."""
    port = site.start()
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    raw.recv(100)
    raw.sendall(b"STLS\r\nUSER alice\r\nPASS secret\r\n")
    line = b""
    while not line.endswith(b"\r\n"):
        line += raw.recv(1)
    assert line.startswith(b"+OK")
    ctx = tlsutil.client_context(site.cert)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    f = s.makefile("rb")
    s.sendall(b"STAT\r\nQUIT\r\n")
    # had the injected USER/PASS been run, STAT would answer +OK
    assert f.readline().startswith(b"-ERR")
    assert f.readline().startswith(b"+OK")
    s.close()
    assert "tls_injection" in site.log()


def test_implicit_tls(site):
    port = site.start(implicit=True)
    p = poplib.POP3_SSL("127.0.0.1", port, timeout=20,
                        context=tlsutil.client_context(site.cert))
    assert "STLS" not in p.capa()
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 2
    resp, lines, _ = p.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == MSG2
    p.quit()
    # a client that speaks only TLS 1.1 is refused
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    with pytest.raises((ssl.SSLError, OSError)):
        tlsutil.old_tls_context().wrap_socket(raw).recv(10)
    raw.close()
    wait_for(lambda: "tls_fail" in site.log(), what="tls_fail logged")


def test_dele_rset_update(site):
    port = site.start()
    uids = dict(x.split()[::-1] for x in connect(port).uidl()[1])
    # DELE then a dropped connection: nothing deleted
    p = connect(port)
    p.dele(1)
    p.dele(2)
    assert p.stat() == (0, 0)
    with pytest.raises(poplib.error_proto):
        p.dele(1)       # already deleted
    p.close()           # no QUIT
    wait_for(lambda: "event=disconnect" in site.log(), what="disconnect")
    # RSET undeletes
    p = connect(port)
    assert p.stat()[0] == 2
    p.dele(1)
    p.rset()
    assert p.stat()[0] == 2
    p.dele(1)
    p.quit()
    # only now is it gone; message 2 keeps its UIDL
    p = connect(port)
    assert p.stat()[0] == 1
    assert p.uidl()[1][0].split()[1] in uids
    p.quit()
    files = site.files()
    assert files["new"] == []
    assert len(files["cur"]) == 1


def test_seen_moves_to_cur(site):
    base = site.put(b"Subject: three\n\nx\n")
    port = site.start()
    p = connect(port)
    uidl = sorted(p.uidl()[1])
    p.retr(1)
    p.quit()
    files = site.files()
    assert files["new"] == []
    # retrieved: ":2,S"; only listed: ":2,"
    assert any(n.endswith(":2,S") and n.startswith("1700000001.")
               for n in files["cur"])
    assert f"{base}:2," in files["cur"]
    # UIDLs are the base names, the same after the move
    p = connect(port)
    assert sorted(p.uidl()[1]) == uidl
    p.quit()


def test_snapshot_at_login(site):
    port = site.start()
    p = connect(port)
    assert p.stat()[0] == 2
    site.put(b"Subject: late\n\nlate\n")
    assert p.stat()[0] == 2
    assert len(p.list()[1]) == 2
    p.quit()
    # still in new/: the next session sees it
    assert len(site.files()["new"]) == 1
    p = connect(port)
    assert p.stat()[0] == 3
    p.quit()


def test_second_session_refused(site):
    port = site.start()
    p = connect(port)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        connect(port)
    p.quit()
    connect(port).quit()


def test_kill9_deletes_nothing(site):
    port = site.start()
    p = connect(port)
    p.dele(1)
    p.dele(2)
    box = one_session(site)
    os.kill(box, signal.SIGKILL)
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        p.quit()
    p.close()
    files = site.files()
    assert len(files["new"]) == 1 and len(files["cur"]) == 1
    # the lock went with the process
    p = connect(port)
    assert p.stat()[0] == 2
    p.quit()


def test_processes_sandboxed(site):
    port = site.start()
    p = connect(port)
    box = one_session(site)
    login = [c for c in pop3util.children(box)
             if comm(c) == "sandmail-pop3d"]
    assert len(login) == 1
    st = proc_status(box)
    assert st["Seccomp"] == "2"
    uid, gid = pop3util.owner_ids()
    assert st["Uid"].split()[:3] == [str(uid)] * 3
    st = proc_status(login[0])
    assert st["Seccomp"] == "2"
    if os.geteuid() == 0:
        assert st["Uid"].split()[0] == "65534"      # nobody
    p.quit()


def test_virtual_and_unknown_mailbox(make_site):
    s = make_site(users={"alice": "secret", "v@example.org": "vpw",
                         "nobox": "pw"})
    vmd = os.path.join(s.dir, "vmail", "v")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(vmd, sub))
    pop3util.chown_tree(os.path.join(s.dir, "vmail"))
    with open(os.path.join(s.dir, "virtual"), "w") as f:
        f.write(f"v@example.org {vmd}/\n")
    # localusers maps only alice (rewritten without the others)
    uid, gid = pop3util.owner_ids()
    with open(os.path.join(s.dir, "localusers"), "w") as f:
        f.write(f"alice {uid}:{gid}:{s.dir}/home/alice\n")
    with open(s.conf, "a") as f:
        if os.geteuid() == 0:
            f.write("user_vmail nobody\n")
    import subprocess
    from conftest import prog
    subprocess.run([prog("sandmail-cdb"), "-d", s.dir, "virtual",
                    "localusers"], check=True, capture_output=True)
    with open(os.path.join(vmd, "new", "1.M1P1.v"), "wb") as f:
        f.write(b"Subject: v\n\nvirtual\n")
    pop3util.chown_tree(os.path.join(s.dir, "vmail"))
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(os.path.join(s.dir, "vmail")):
            for n in dirs + files:
                os.chown(os.path.join(root, n), 65534, 65534)
        os.chown(os.path.join(s.dir, "vmail"), 65534, 65534)
    port = s.start()
    p = connect(port, "v@example.org", "vpw")
    assert p.stat()[0] == 1
    p.quit()
    # a good password without a mailbox: a temporary error
    with pytest.raises(poplib.error_proto, match=r"SYS/TEMP"):
        connect(port, "nobox", "pw")
    assert "event=no_mailbox" in s.log()


def test_under_tcpserver(site, procs):
    """One connection per exec on fd 0/1, the address from TCPREMOTEIP
    (loopback: plain logins allowed by the site's configuration)."""
    import shutil
    from conftest import free_port, need, prog, wait_port
    need("tcpserver", "ucspi-tcp")
    tcpserver = shutil.which("tcpserver")
    port = free_port()
    site.start_auth()
    log = open(site.logpath, "ab")
    procs.start([tcpserver, "-q", "-H", "-R", "127.0.0.1", str(port),
                 prog("sandmail-pop3d"), "-c", site.conf], stderr=log)
    log.close()
    wait_port(port)
    p = connect(port)
    assert p.stat()[0] == 2
    assert retr_bytes_ok(p)
    p.quit()
    assert "event=connect ip=127.0.0.1" in site.log()
    # STLS on fd 0/1 (TLS reads and writes the socket through fd 0)
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    p.stls(tlsutil.client_context(site.cert))
    p.user("alice")
    p.pass_("secret")
    assert retr_bytes_ok(p)
    p.quit()


def retr_bytes_ok(p):
    resp, lines, _ = p.retr(2)
    return b"\r\n".join(lines) + b"\r\n" == MSG2


def trickle(s, data, pause):
    """Send data a byte at a time, pause seconds apart, until the server
    closes; returns (bytes sent, what the server said meanwhile)."""
    got = []
    done = threading.Event()

    def reader():
        try:
            while True:
                k = s.recv(4096)
                if not k:
                    break
                got.append(k)
        except OSError:
            pass
        done.set()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    sent = 0
    for i in range(len(data)):
        if done.is_set():
            break
        try:
            s.send(data[i:i + 1])
        except OSError:
            break
        sent += 1
        time.sleep(pause)
    t.join(30)
    return sent, b"".join(got)


@pytest.mark.parametrize("logged_in", [False, True])
def test_trickled_command_is_cut(make_site, logged_in):
    """pop3_timeout bounds one whole command line, before login (the login
    process) and after (the mailbox process): a byte a second never
    makes a 40-byte line in 3 s.  RFC 1939 3: closed without a reply."""
    site = make_site(extra="pop3_timeout 3\n")
    site.put(MSG2)
    port = site.start()
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    if logged_in:
        s.sendall(b"USER alice\r\nPASS secret\r\n")
        assert f.readline().startswith(b"+OK")
        assert f.readline().startswith(b"+OK Logged in")
    line = b"LIST 1" + b" " * 32 + b"\r\n" if logged_in else \
        b"USER alice-who-types-rather-slowly-xyz\r\n"
    assert len(line) == 40
    sent, got = trickle(s, line, 1)
    assert sent < len(line), got
    assert got == b""
    wait_for(lambda: "event=timeout" in site.log(), what="the timeout")
    s.close()


def test_slow_but_steady_commands(make_site):
    """Each line in two halves a second apart, longer in all than
    pop3_timeout: every command is answered."""
    site = make_site(extra="pop3_timeout 3\n")
    site.put(MSG2)
    port = site.start()
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    for cmd in (b"USER alice\r\n", b"PASS secret\r\n", b"STAT\r\n",
                b"NOOP\r\n"):
        s.sendall(cmd[:3])
        time.sleep(1)
        s.sendall(cmd[3:])
        assert f.readline().startswith(b"+OK"), cmd
    s.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"+OK")
    s.close()


@pytest.mark.parametrize("gid", [0, 42])
def test_gid_0_mailbox_refused(make_site, gid):
    """A localusers entry with gid 0 is not served: the mailbox process
    would run in root's group (issue: pop3d accepted gid 0); nor one
    below local_gid_min (42: Debian's shadow), as lspawn delivers to
    none."""
    s = make_site()
    uid, _ = pop3util.owner_ids()
    with open(os.path.join(s.dir, "localusers"), "w") as f:
        f.write(f"alice {uid}:{gid}:{s.dir}/home/alice\n")
    import subprocess
    from conftest import prog
    subprocess.run([prog("sandmail-cdb"), "-d", s.dir, "localusers"],
                   check=True, capture_output=True)
    port = s.start()
    with pytest.raises(poplib.error_proto, match=r"SYS/PERM"):
        connect(port)
    why = "gid 0" if gid == 0 else "gid below local_gid_min"
    assert f"reason=\"{why}\"" in s.log()


@pytest.mark.skipif(os.geteuid() != 0, reason="the monitor's identity "
                    "changes only when started as root")
def test_monitor_keeps_only_setid_caps(site):
    """Before login the monitor is user_pop3d with CAP_SETUID and
    CAP_SETGID only (not root); after login the mailbox process holds no
    capability and is confined to the maildir by Landlock."""
    port = site.start()
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    box = one_session(site)
    # the login process greets while the monitor (its parent) may still
    # be changing its identity: wait for the change, then look
    wait_for(lambda: proc_status(box)["Uid"].split() != ["0"] * 4,
             what="the monitor's uid change")
    st = proc_status(box)
    assert st["Uid"].split() == ["65534"] * 4
    assert int(st["CapEff"], 16) == (1 << 6) | (1 << 7)
    assert int(st["CapBnd"], 16) == (1 << 6) | (1 << 7)
    p.quit()
    p = connect(port)
    box = one_session(site)
    st = proc_status(box)
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    p.quit()


def _greet(port, src):
    s = socket.socket()
    s.settimeout(20)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(512)
        if not b:
            break
        line += b
    return s, line


def test_limits_hold_across_listeners(make_site):
    """Two pop3d listener processes of one host (pop3 and pop3s run so
    under the supervisor) share their counts per client address (/32,
    /64) and network (/24, /48) in pop3_limits_file, as smtpd's do: one
    address or network gets no more places by connecting to the other
    listener.  Before, each listener counted alone."""
    site = make_site(extra="pop3_max_per_ip 1\npop3_max_per_net 2\n")
    p1 = site.start()
    first = site.proc
    p2 = site.start()
    assert site.proc.pid != first.pid
    # from 127.0.1.0/24: wait_port's probes (127.0.0.1) may still count
    a, line = _greet(p1, "127.0.1.1")
    assert line.startswith(b"+OK"), line
    b, line = _greet(p2, "127.0.1.1")
    assert line.startswith(b"-ERR [SYS/TEMP] too many"), line
    b.close()
    c, line = _greet(p2, "127.0.1.2")
    assert line.startswith(b"+OK"), line
    d, line = _greet(p1, "127.0.1.3")           # the /24 has two already
    assert line.startswith(b"-ERR [SYS/TEMP] too many"), line
    d.close()
    # the listener logs a refusal just after the client has its -ERR
    wait_for(lambda: "reason=pop3_max_per_ip" in site.log() and
             "reason=pop3_max_per_net" in site.log(), what="the refusals")
    # a session that ended frees its place for every listener
    a.close()

    def again():
        s, ln = _greet(p2, "127.0.1.1")
        s.close()
        return ln.startswith(b"+OK")
    wait_for(again, what="the ended session's place")
    c.close()
