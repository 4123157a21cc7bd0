"""No client can exhaust the server (issue 20, items 2 and 3): the
attacks of unauthenticated clients, played on loopback against the real
programs.  Many wrong-password AUTHs from many 127.x.y.z addresses keep
the argon2 work to the one service's workers and an honest client still
logs in; failures are remembered across reconnects (lockout); idle
port-25 connections hold no queue slot, so submission still works; the
connection and message rate limits answer 421 4.7.0 / 450 4.7.1, and the
limits per address hold across separate listener processes."""
import base64
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD, free_port, prog, wait_for, wait_port
import smtpdutil

PASSWORD = "s3cret pass!"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def plain(login, password):
    return "AUTH PLAIN " + b64("\0" + login + "\0" + password)


class Site:
    """A queue, the auth service and smtpd listeners (port 25 mode and
    submission, AUTH allowed in plain text on loopback), user alice."""

    def __init__(self, procs, d, **conf):
        kw = {"smtpd_auth_plaintext_loopback": "yes",
              "auth_fail_delay": "10ms", "auth_fail_delay_max": "50ms",
              "auth_max_failures": 3,
              "passwd_opslimit": 1, "passwd_memlimit": "64k",
              "max_per_ip": 1000, "max_per_net": 1000,
              "max_connections": 2000, "smtpd_sender_restrict": "no"}
        kw.update(conf)
        self.s = smtpdutil.Smtpd(procs, d, listen=False, **kw)
        self.procs = procs
        self.conf = self.s.conf
        r = subprocess.run([prog("sandmail-passwd"), "-c", self.conf,
                            "alice"], input=(PASSWORD + "\n").encode(),
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr

    def listen(self, mode, log="smtpd.log"):
        port = free_port()
        with open(os.path.join(self.s.dir, log), "ab") as lg:
            p = self.procs.start([prog("sandmail-smtpd"), "-c", self.conf,
                                  "-m", mode, "-l", f"127.0.0.1:{port}"],
                                 stderr=lg)
        wait_port(port)
        return p, port


def connect(port, src="127.0.0.1", timeout=30):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    c = smtpdutil.Client.__new__(smtpdutil.Client)
    c.s = s
    c.buf = b""
    c.greeting = None
    return c


def sandmail_procs():
    """{pid: (name, rss KiB)} of every sandmail-* process this test
    started (the machine may run other tests' at the same time)."""
    parent, st_of = {}, {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/status") as f:
                st = dict(ln.split(":", 1) for ln in f if ":" in ln)
        except OSError:
            continue
        parent[int(p)] = int(st.get("PPid", "0").strip() or 0)
        st_of[int(p)] = st
    me = os.getpid()

    def ours(p):
        for _ in range(64):
            if p == me:
                return True
            if p not in parent or p <= 1:
                return False
            p = parent[p]
        return False
    def same_ns(p):
        # the installed layout's system (installed.py) is this process's
        # descendant too, in a mount namespace of its own
        try:
            return os.readlink(f"/proc/{p}/ns/mnt") == mine
        except OSError:
            return False
    mine = os.readlink("/proc/self/ns/mnt")
    out = {}
    for p, st in st_of.items():
        name = st.get("Name", "").strip()
        if name.startswith("sandmail-") and ours(p) and same_ns(p):
            rss = int((st.get("VmRSS", "0 kB").split() or ["0"])[0])
            out[p] = (name, rss)
    return out


class Sampler(threading.Thread):
    """The peak number of sandmail-auth processes and the peak sum of RSS
    of all sandmail processes, while it runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.max_auth = 0
        self.max_rss = 0

    def run(self):
        while not self.stop.is_set():
            ps = sandmail_procs()
            n = sum(1 for name, _ in ps.values() if name == "sandmail-auth")
            self.max_auth = max(self.max_auth, n)
            self.max_rss = max(self.max_rss, sum(r for _, r in ps.values()))
            time.sleep(0.01)


def attacker(port, src, out):
    try:
        c = connect(port, src)
        c.reply()
        c.cmd("EHLO attacker.test")
        out.append(c.cmd(plain("alice", "wrong " + src))[0])
        c.close()
    except OSError as e:
        out.append(str(e))


def test_auth_flood_bounded_and_honest_client_gets_in(procs, tmp_path):
    """120 concurrent wrong-password AUTHs from 120 addresses, each
    argon2id check costing 8 MiB: the argon2 work stays in the service's
    two workers (at most 4 sandmail-auth processes: service, opener, two
    workers; the old design had one per connection) and the memory of all
    sandmail processes stays under a bound far below 120 x 8 MiB, while an
    honest client on submission still gets its 235."""
    site = Site(procs, tmp_path, passwd_memlimit="8m", auth_workers=2,
                auth_max_waiting=1000, auth_max_wait=120,
                auth_lockout=1000, auth_lockout_net=100000,
                auth_global_failures=100000)
    _, sub = site.listen("submission")
    sampler = Sampler()
    sampler.start()
    out = []
    ts = [threading.Thread(target=attacker,
                           args=(sub, f"127.0.{10 + i // 50}.{1 + i % 50}",
                                 out)) for i in range(120)]
    for t in ts:
        t.start()
    try:
        c = connect(sub)
        assert c.reply()[0] == 220
        assert c.code("EHLO honest.test") == 250
        assert c.code(plain("alice", PASSWORD)) == 235
        assert c.code("QUIT") == 221
    finally:
        for t in ts:
            t.join(120)
        sampler.stop.set()
        sampler.join()
    assert len(out) == 120
    assert all(r in (535, 454, 421) for r in out), out
    assert out.count(535) > 0
    assert sampler.max_auth <= 4, sampler.max_auth
    # 120 checks at 8 MiB each would be 960 MiB; two at a time are 16.
    # The rest is 120 small session processes (much larger under ASan).
    bound = (1600 if "build-asan" in BUILD else 400) * 1024
    assert sampler.max_rss < bound, sampler.max_rss


def test_lockout_survives_reconnects(procs, tmp_path):
    """An address that failed auth_lockout times, over several
    connections, is locked out for a while: even the right password is
    refused (421) from it; another network still logs in."""
    site = Site(procs, tmp_path, auth_max_failures=2, auth_lockout=4,
                auth_lockout_net=1000, auth_lockout_time=600)
    _, sub = site.listen("submission")
    bad = "127.0.5.9"
    for _ in range(2):
        c = connect(sub, bad)
        c.reply()
        c.cmd("EHLO guesser.test")
        assert c.code(plain("nobody", "guess")) == 535
        # the connection's second failure closes it
        assert c.code(plain("nobody", "guess2")) == 421
        assert c.closed()
    c = connect(sub, bad)
    c.reply()
    c.cmd("EHLO guesser.test")
    assert c.cmd(plain("alice", PASSWORD))[1][0].startswith("421 4.7.0")
    good = connect(sub, "127.0.6.1")
    good.reply()
    good.cmd("EHLO honest.test")
    assert good.code(plain("alice", PASSWORD)) == 235
    assert "event=auth_locked" in site.s.authlog()


def test_idle_port25_connections_leave_submission_working(procs, tmp_path):
    """300 idle port-25 connections, with a queue that serves at most 20
    clients: sessions take their queue connection at MAIL, so an honest
    submission client is greeted, authenticates and queues its message
    (the old sessions each held a queue connection from before their
    greeting, and new ones got no greeting at all)."""
    site = Site(procs, tmp_path, queue_max_clients=20)
    _, smtp = site.listen("smtp")
    _, sub = site.listen("submission", log="sub.log")
    idle = []
    for i in range(300):
        c = connect(smtp, f"127.0.{20 + i // 200}.{1 + i % 200}")
        idle.append(c)
    for c in idle:
        assert c.reply()[0] == 220
    c = connect(sub)
    assert c.reply()[0] == 220
    assert c.code("EHLO honest.test") == 250
    assert c.code(plain("alice", PASSWORD)) == 235
    assert c.code("MAIL FROM:<alice@example.test>") == 250
    assert c.code("RCPT TO:<bob@example.test>") == 250
    assert c.code("DATA") == 354
    c.send("Subject: through\r\n\r\nhi\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.code("QUIT") == 221
    # a port-25 client too: a queue slot is taken only for the message
    d = idle[0]
    assert d.code("HELO x.test") == 250
    assert d.code("MAIL FROM:<>") == 250
    for c in idle:
        c.close()


def wait_minute_start():
    """Counts are per calendar minute: start well inside one."""
    while time.time() % 60 > 45:
        time.sleep(0.5)


def test_connection_rate_limit(procs, tmp_path):
    wait_minute_start()
    site = Site(procs, tmp_path, smtpd_conn_rate=3)
    _, smtp = site.listen("smtp")
    # wait_port's probe was the first connection of 127.0.0.1
    for _ in range(2):
        c = connect(smtp)
        assert c.reply()[0] == 220
        c.close()
    c = connect(smtp)
    assert c.reply()[1][0].startswith("421 4.7.0")
    # another address is not limited
    c = connect(smtp, "127.0.7.1")
    assert c.reply()[0] == 220
    assert "reason=smtpd_conn_rate" in site.s.logtext()


def test_message_rate_limits(procs, tmp_path):
    wait_minute_start()
    site = Site(procs, tmp_path, smtpd_msg_rate=2, smtpd_msg_rate_user=3)
    _, smtp = site.listen("smtp")
    _, sub = site.listen("submission", log="sub.log")
    c = connect(smtp)
    c.reply()
    c.cmd("EHLO client.test")
    for _ in range(2):
        assert c.code("MAIL FROM:<a@b.test>") == 250
        assert c.code("RSET") == 250
    assert c.cmd("MAIL FROM:<a@b.test>")[1][0].startswith("450 4.7.1")
    # per login: alice from three addresses, three messages, then 450
    codes = []
    for i in range(4):
        a = connect(sub, f"127.0.8.{i + 1}")
        a.reply()
        a.cmd("EHLO client.test")
        assert a.code(plain("alice", PASSWORD)) == 235
        codes.append(a.cmd("MAIL FROM:<alice@example.test>")[1][0][:9])
        a.close()
    assert codes == ["250 2.1.0"] * 3 + ["450 4.7.1"], codes


def test_per_address_limit_across_listeners(procs, tmp_path):
    """max_per_ip counts the connections of all listener processes."""
    site = Site(procs, tmp_path, max_per_ip=2)
    _, p1 = site.listen("smtp")
    _, p2 = site.listen("smtp", log="smtpd2.log")
    src = "127.0.9.9"
    a = connect(p1, src)
    assert a.reply()[0] == 220
    b = connect(p2, src)
    assert b.reply()[0] == 220
    c = connect(p1, src)
    assert c.reply()[1][0].startswith("421 4.7.0")
    # and the count goes down when a session ends
    b.cmd("QUIT")
    b.close()

    def room():
        d = connect(p2, src)
        code = d.reply()[0]
        d.close()
        return code == 220
    wait_for(room, what="the ended session to count no more")


def test_secret_holders_not_dumpable(procs, tmp_path):
    """Processes that hold passwords, hashes or the TLS key (the auth
    service's, a submission session's): no core files, and not dumpable
    (their /proc files belong to root, not to their uid)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the processes must run under another uid")
    site = Site(procs, tmp_path, auth_workers=2)
    listener, sub = site.listen("submission")
    c = connect(sub)
    c.reply()
    c.cmd("EHLO client.test")
    assert c.code(plain("alice", PASSWORD)) == 235
    ps = [p for p, (n, _) in sandmail_procs().items()
          if n == "sandmail-auth"]
    assert len(ps) == 4, ps
    session = smtpdutil.children(listener.pid)
    assert len(session) == 1
    for p in ps + session:
        with open(f"/proc/{p}/limits") as f:
            core = [ln for ln in f if ln.startswith("Max core file size")]
        assert core[0].split()[4] == "0", core
        with open(f"/proc/{p}/status") as f:
            uid = [ln for ln in f if ln.startswith("Uid:")][0].split()[1]
        if uid != "0":
            assert os.stat(f"/proc/{p}/mem").st_uid == 0, p


def _ctl_socket(pid):
    """A descriptor, in this process, of worker pid's socket pair to its
    listener (its one SOCK_SEQPACKET socket), taken with pidfd_getfd(2):
    bytes written on it are exactly what that worker would say."""
    import ctypes
    unix = {}
    with open("/proc/net/unix") as f:
        next(f)
        for ln in f:
            x = ln.split()
            unix[x[6]] = x[4]                   # inode -> type
    fdnum = None
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:[") and unix.get(t[8:-1]) == "0005":
            fdnum = int(fd)
    assert fdnum is not None
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    fd = libc.syscall(438, pidfd, fdnum, 0)     # pidfd_getfd
    os.close(pidfd)
    assert fd >= 0, os.strerror(ctypes.get_errno())
    return fd


def test_worker_claiming_idle_while_serving_still_counts(procs, tmp_path):
    """A compromised port-25 worker says "I" (idle) on its socket pair
    while it goes on serving its client.  Its client still counts
    against max_per_ip (the listener holds the socket and sees it open),
    so a second connection from the same address is refused; and when it
    says "I" again with that client still there, the listener kills it
    and shuts the connection.  Before, the first "I" alone freed the
    place: the second client got its 220 while the first was served."""
    if os.geteuid() != 0:
        pytest.skip("pidfd_getfd of another process's socket needs root")
    s = smtpdutil.Smtpd(procs, tmp_path, max_per_ip=1)
    smtpdutil.wait_idle(s.proc.pid, s.log, 0)
    a = s.client()
    assert a.code("EHLO first.test") == 250
    import re
    worker = int(re.findall(r"event=connect .* pid=(\d+)",
                            s.logtext())[-1])
    ctl = _ctl_socket(worker)
    os.write(ctl, b"I")
    # the first client is still served ...
    assert a.code("NOOP") == 250
    # ... so it still counts: the same address gets no second place
    b = smtpdutil.Client(s.port, greet=False)
    code = b.reply()[0]
    b.close()
    assert code == 421
    assert a.code("NOOP") == 250
    # said again, still serving: killed, its client cut off
    os.write(ctl, b"I")
    os.close(ctl)
    def gone():
        try:
            with open(f"/proc/{worker}/stat") as f:
                return f.read().split()[2] == "Z"
        except (FileNotFoundError, ProcessLookupError):  # reaped meanwhile
            return True
    wait_for(gone, what="the rogue worker killed")
    with pytest.raises((EOFError, OSError, AssertionError)):
        a.code("NOOP")
    assert "said idle while serving" in s.logtext()


def test_unauthenticated_submission_sessions_per_network(procs, tmp_path):
    """On submission, sessions that have not authenticated yet are
    limited per client network (max_unauth_per_net), whatever
    max_per_net allows: a network's guessers get that many processes at
    once, the rest a 421 without a fork; a session that authenticated
    counts no more, so its network gets a place again; another network
    and port 25 are untouched."""
    site = Site(procs, tmp_path, max_unauth_per_net=3)
    _, sub = site.listen("submission")
    _, p25 = site.listen("smtp")
    held = []
    for i in range(3):
        c = connect(sub, f"127.0.7.{i + 1}")
        assert c.reply()[0] == 220
        held.append(c)
    extra = connect(sub, "127.0.7.9")
    code, lines = extra.reply()
    assert code == 421 and "unauthenticated" in lines[0], lines
    extra.close()
    other = connect(sub, "127.0.8.1")           # another /24
    assert other.reply()[0] == 220
    smtp = connect(p25, "127.0.7.10")           # port 25: not limited
    assert smtp.reply()[0] == 220
    held[0].cmd("EHLO honest.test")
    assert held[0].code(plain("alice", PASSWORD)) == 235

    def room():
        d = connect(sub, "127.0.7.11")
        code = d.reply()[0]
        d.close()
        return code == 220
    wait_for(room, what="the authenticated session to count no more")
    wait_for(lambda: "reason=max_unauth_per_net" in site.s.logtext(),
             what="the refusal logged")
    for c in held + [other, smtp]:
        c.close()
