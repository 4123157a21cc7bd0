"""Helpers for the smtpd tests: a configuration with tables, the real
queue service, sandmail-smtpd in listener mode or under tcpserver, and a
raw SMTP client that reads replies exactly as sent."""
import os
import socket
import subprocess
import time

from conftest import free_port, prog, wait_for, wait_port
import queueutil

TABLES = {
    "domains": "example.test local\nvirt.test virtual\n",
    "localusers": "alice 1000:1000:/home/alice\nbob 1001:1001:/home/bob\n",
    "virtual": "carol@virt.test /var/vmail/carol/\n",
    "aliases": ("info@example.test alice@example.test\n"
                "fwd@example.test someone@elsewhere.test\n"
                "list@example.test alice@example.test, bob@example.test\n"
                "abuse alice\n"),
    "moved": "gone@example.test new@elsewhere.test\n",
    "routes": "routed.test 127.0.0.1:1\n.sub.routed.test 127.0.0.1:1\n",
    "relayclients": "",
}


class Smtpd:
    """A queue service and an smtpd listener in a temp dir."""

    def __init__(self, procs, d, tables=None, listen=True, **conf):
        self.procs = procs
        self.dir = str(d)
        kw = {"max_recipients": 100, "smtpd_timeout": 20,
              "smtpd_data_timeout": 20, "greet_delay_ms": 0}
        kw.update(conf)
        self.conf = queueutil.write_conf(d, **kw)
        t = dict(TABLES)
        t.update(tables or {})
        for name, text in t.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        subprocess.run([prog("sandmail-cdb"), "-d", self.dir] + list(t),
                       check=True)
        queueutil.qinit(self.conf)
        self.qlog = open(os.path.join(self.dir, "queue.log"), "wb")
        self.queue = queueutil.start_service(procs, self.conf, self.qlog)
        self.alog = open(os.path.join(self.dir, "auth.log"), "wb")
        self.auth = queueutil.start_auth(procs, self.conf, self.alog)
        self.log = os.path.join(self.dir, "smtpd.log")
        self.port = None
        if listen:
            self.start()

    def start(self, extra=()):
        self.port = free_port()
        with open(self.log, "ab") as lg:
            self.proc = self.procs.start(
                [prog("sandmail-smtpd"), "-c", self.conf, "-l",
                 f"127.0.0.1:{self.port}"] + list(extra), stderr=lg)
        wait_port(self.port)
        return self.proc

    def logtext(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def authlog(self):
        with open(os.path.join(self.dir, "auth.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def qdir(self, sub=""):
        return os.path.join(self.dir, "queue", sub)

    def messages(self):
        """{id: (envelope dict, message bytes)} of what is in todo/."""
        out = {}
        for i, e in queueutil.check_consistent(self.conf).items():
            with open(os.path.join(self.qdir("mess"), i), "rb") as f:
                out[i] = (e, f.read())
        return out

    def count(self):
        return len(os.listdir(self.qdir("todo")))

    def client(self, **kw):
        return Client(self.port, **kw)


class Client:
    """A raw SMTP client: bytes out, replies (code, [lines]) in."""

    def __init__(self, port, host="127.0.0.1", timeout=20, greet=True):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, b):
        if isinstance(b, str):
            b = b.encode()
        self.s.sendall(b)

    def line(self):
        while b"\r\n" not in self.buf:
            k = self.s.recv(65536)
            if not k:
                raise EOFError(f"closed; have {self.buf!r}")
            self.buf += k
        ln, _, self.buf = self.buf.partition(b"\r\n")
        return ln.decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return int(ln[:3]), lines

    def cmd(self, c):
        self.send(c + "\r\n")
        return self.reply()

    def code(self, c):
        return self.cmd(c)[0]

    def closed(self):
        """True when the server has closed (EOF after any pending bytes)."""
        try:
            while True:
                k = self.s.recv(65536)
                if not k:
                    return True
                self.buf += k
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.s.close()


def children(pid):
    """Direct child pids of pid."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(p))
    return out


def wait_idle(server_pid, logpath, lost=0):
    """Wait until every session begun (the wait_port() probe's) has ended.
    A reusable worker (port 25) stays as an idle child of server_pid and
    may serve the next session; under tcpserver, or for submission, the
    session's process is gone too.  lost: sessions killed (no disconnect
    line)."""
    def idle():
        with open(logpath, "rb") as f:
            t = f.read()
        began = t.count(b"event=connect ")
        return began and t.count(b"event=disconnect ") + lost >= began and \
            all(worker_idle(p) for p in children(server_pid))
    wait_for(idle, what="the probe session to end")


SYS_PPOLL = "271"       # x86_64: a worker waiting for its next connection


def worker_idle(pid):
    """pid is an smtpd worker waiting for the listener (blocked in ppoll;
    sessions wait in poll(2)), or gone."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split()[0] == SYS_PPOLL
    except (OSError, IndexError):
        return True


def settle(pred, timeout=10):
    return wait_for(pred, timeout=timeout)


def now():
    return time.monotonic()
