"""Helpers for the send tests: a queue directory with tables, messages
written into it the way sandmail-queue writes them, and FAKE peers for
sandmail-send (lspawn and rspawn over SOCK_SEQPACKET with SCM_RIGHTS,
resolve over a stream socket), run as threads in the test process."""
import os
import secrets
import signal
import socket
import struct
import subprocess
import threading
import time

from conftest import prog, wait_for
import queueutil

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def u32(n):
    return struct.pack(">I", n)


def pstr(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


class Cur:
    """Reads the fields of lib/rec.h."""

    def __init__(self, b):
        self.b, self.i = b, 0

    def u8(self):
        self.i += 1
        return self.b[self.i - 1]

    def u32(self):
        self.i += 4
        return struct.unpack(">I", self.b[self.i - 4:self.i])[0]

    def u64(self):
        self.i += 8
        return struct.unpack(">Q", self.b[self.i - 8:self.i])[0]

    def s(self):
        n = self.u32()
        self.i += n
        return self.b[self.i - n:self.i].decode("utf-8", "replace")

    def end(self):
        assert self.i == len(self.b), "record not consumed exactly"


def setup(tmp, tables=None, tables_dir=None, **conf):
    """A conf, a queue (sandmail-queue -i) and compiled tables in tmp
    (or in tables_dir, which send can read again after dropping root)."""
    tmp = str(tmp)
    os.makedirs(tmp, exist_ok=True)
    c = {"queue": "queue", "hostname": "mx.test.example",
         "retry_first": "1", "retry_max": "2", "term_wait": "5"}
    if tables_dir is not None:
        c["tables"] = tables_dir
    if os.geteuid() == 0:
        for k in ("user_queue", "user_send", "user_vmail", "user_alias"):
            c[k] = "nobody"
    c.update({k: str(v) for k, v in conf.items()})
    path = os.path.join(tmp, "sandmail.conf")
    with open(path, "w") as f:
        for k, v in c.items():
            f.write(f"{k} {v}\n")
    subprocess.run([prog("sandmail-queue"), "-i", "-c", path], check=True)
    td = tables_dir or tmp
    for name, text in (tables or {}).items():
        with open(os.path.join(td, name), "w") as f:
            f.write(text)
        subprocess.run([prog("sandmail-cdb"), "-d", td, name], check=True)
        os.chmod(os.path.join(td, name + ".cdb"), 0o644)
    return path


def qdir(conf):
    return os.path.join(os.path.dirname(conf), "queue")


def newid():
    return "".join(secrets.choice(B62) for _ in range(22))


def envelope(sender, rcpts, envid="", ret=0, flags=0, arrival=None,
             size=0):
    """rcpts: addresses or (addr, notify, orcpt) tuples."""
    if arrival is None:
        arrival = int(time.time())
    out = b"SMENV1" + pstr(sender) + pstr(envid) + pstr("") + pstr(
        "127.0.0.1") + pstr("helo.example") + pstr("ESMTP")
    out += struct.pack(">QQIB", arrival, size, flags, ret) + u32(len(rcpts))
    for r in rcpts:
        if isinstance(r, str):
            r = (r, 0, "")
        out += pstr(r[0]) + pstr(r[2]) + bytes([r[1]])
    return out


def _put(q, d, mid, data):
    t = os.path.join(q, "tmp", mid + "." + d)
    with open(t, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(t, os.path.join(q, d, mid))


def poke(conf, data=b"T"):
    try:
        fd = os.open(os.path.join(qdir(conf), "lock", "trigger"),
                     os.O_WRONLY | os.O_NONBLOCK)
    except OSError:		# ENXIO: send is not running; it scans at start
        return
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def inject(conf, sender, rcpts, body=None, **kw):
    """A message as sandmail-queue commits it: mess/ID, then todo/ID."""
    q = qdir(conf)
    mid = newid()
    if body is None:
        body = (f"Received: from test\nFrom: {sender}\nTo: x\n"
                f"Subject: test {mid}\nMessage-ID: <{mid}@test>\n\n"
                f"body of {mid}\n").encode()
    _put(q, "mess", mid, body)
    _put(q, "todo", mid, envelope(sender, rcpts, size=len(body), **kw))
    poke(conf)
    return mid


def rcpt_record(addr, state="P", kind=0, dest="", domain="", uid=0,
                gid=0, orcpt="", notify=0, sender="", nxt=0, err=""):
    """One recipient record (doc/design.md): kind 0 for the first
    version's local/ and remote/ files, b"L"/b"R" in info/ID."""
    e = err.encode()
    fixed = state.encode() + bytes([kind[0] if kind else 0]) + \
        struct.pack(">QH", nxt, len(e)) + e + b"\0" * (200 - len(e))
    pay = pstr(addr) + pstr(orcpt) + bytes([notify]) + pstr(dest) + \
        struct.pack(">II", uid, gid) + pstr(domain) + pstr(sender)
    return fixed + u32(len(pay)) + pay


def local_rec(addr, state="P", first=False, **kw):
    """A local recipient's record (uid and maildir as TABLES give)."""
    user = addr.split("@")[0]
    uid = {"alice": 1001, "bob": 1002, "eve": 1004}.get(user, 1001)
    return rcpt_record(addr, state, b"" if first else b"L",
                       dest=f"/home/{user}/Maildir/", uid=uid, gid=uid, **kw)


def remote_rec(addr, state="P", first=False, **kw):
    return rcpt_record(addr, state, b"" if first else b"R",
                       domain=addr.split("@")[1].lower(), **kw)


def info_file(sender, records, **kw):
    """info/ID as send writes it: the envelope and every record."""
    e = envelope(sender, [], **kw)
    return b"SMINFO2\n" + u32(len(e)) + e + b"".join(records)


def rcpt_file(records):
    """local/ID or remote/ID of the first version (SMRCPT1)."""
    return b"SMRCPT1\n" + b"".join(records)


def put(conf, d, mid, data):
    """A file of the queue written by hand (a state after a crash),
    owned by send's user (nobody, as setup() makes it) when root."""
    _put(qdir(conf), d, mid, data)
    if os.geteuid() == 0:
        os.chown(os.path.join(qdir(conf), d, mid), 65534, 65534)


def states(conf, mid):
    """The state bytes of info/ID's records, in order."""
    with open(os.path.join(qdir(conf), "info", mid), "rb") as f:
        b = f.read()
    assert b[:8] == b"SMINFO2\n"
    off = 12 + struct.unpack(">I", b[8:12])[0]
    out = ""
    while off < len(b):
        out += chr(b[off])
        off += 212 + struct.unpack(">I", b[off + 212:off + 216])[0] + 4
    return out


def flush(conf, domain=""):
    d = domain.encode()
    poke(conf, b"F" + bytes([len(d)]) + d)


def decode_env(b):
    b = queueutil.unseal(b)[1]
    assert b[:6] == b"SMENV1"
    c = Cur(b[6:])
    e = {"sender": c.s(), "envid": c.s(), "auth": c.s(), "client": c.s(),
         "helo": c.s(), "proto": c.s(), "arrival": c.u64(),
         "size": c.u64(), "flags": c.u32(), "ret": c.u8()}
    e["rcpts"] = [(c.s(), c.s(), c.u8()) for _ in range(c.u32())]
    c.end()
    return e


def queued(conf, d):
    return sorted(os.listdir(os.path.join(qdir(conf), d)))


# names of retired files in tmp/, kept to be written again (not
# leftovers): tmp/rm.* and tmp/re.* (the queue's), tmp/fs.* (send's)
POOL = ("rm.", "re.", "fs.")


def leftovers(conf, d="tmp"):
    """d's files but the retired ones kept for reuse."""
    return [n for n in queued(conf, d) if not n.startswith(POOL)]


class Peer(threading.Thread):
    """A fake helper on one end of a socket pair."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.lock = threading.Lock()
        self.jobs = []
        self.stop = False

    def close(self):
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class FakeLspawn(Peer):
    """Answers LJOBs.  policy(job) -> (status, text); job is a dict with
    the LJOB fields and 'data' (the message read from the passed fd)."""

    def __init__(self, sock, policy=None):
        super().__init__(sock)
        self.policy = policy or (lambda j: ("K", "delivered"))

    def run(self):
        while not self.stop:
            try:
                msg, fds, _, _ = socket.recv_fds(self.sock, 65536, 1)
            except OSError:
                return
            if not msg:
                return
            c = Cur(msg)
            assert c.u8() == ord("L")
            j = {"id": c.u32(), "qid": c.s(), "sender": c.s(),
                 "rcpt": c.s(), "dest": c.s(), "uid": c.u32(),
                 "gid": c.u32()}
            c.end()
            assert len(fds) == 1
            with os.fdopen(fds[0], "rb") as f:
                j["data"] = f.read()
            ans = self.policy(j)
            if ans is None:		# never answer this one
                j["status"] = None
                with self.lock:
                    self.jobs.append(j)
                continue
            st, text = ans
            j["status"] = st
            with self.lock:
                self.jobs.append(j)
            try:
                self.sock.send(b"l" + u32(j["id"]) + st.encode() +
                               pstr(text))
            except OSError:
                return

    def delivered(self):
        with self.lock:
            return [j for j in self.jobs if j["status"] == "K"]


class FakeRspawn(Peer):
    """Answers RJOBs.  policy(job, rcpt) -> (status, text)."""

    def __init__(self, sock, policy=None, mta="mx1.remote.example"):
        super().__init__(sock)
        self.policy = policy or (lambda j, r: ("K", "250 2.0.0 ok"))
        self.mta = mta

    def run(self):
        while not self.stop:
            try:
                msg, fds, _, _ = socket.recv_fds(self.sock, 65536, 1)
            except OSError:
                return
            if not msg:
                return
            c = Cur(msg)
            assert c.u8() == ord("R")
            j = {"id": c.u32(), "qid": c.s(), "sender": c.s(),
                 "envid": c.s(), "ret": c.u8(), "flags": c.u32(),
                 "size": c.u64(), "tls": c.s(), "auth_user": c.s(),
                 "auth_pass": c.s()}
            j["rcpts"] = [(c.s(), c.s(), c.u8()) for _ in range(c.u32())]
            hosts = []
            for _ in range(c.u32()):
                h = {"name": c.s(), "pref": c.u32(), "port": c.u32()}
                h["addrs"] = [c.s() for _ in range(c.u32())]
                h["dane"] = chr(c.u8())
                h["tlsa"] = [c.s() for _ in range(c.u32())]
                h["mx"] = chr(c.u8())
                h["tlsa_name"] = c.s()
                hosts.append(h)
            j["hosts"] = hosts
            j["dkim"] = c.s()	# DKIM-Signature fields, or ""
            j["proto"] = c.u8()
            c.end()
            assert len(fds) == 1
            with os.fdopen(fds[0], "rb") as f:
                j["data"] = f.read()
            res = [self.policy(j, r[0]) for r in j["rcpts"]]
            if None in res:		# never answer this job
                j["results"] = [("", "")] * len(res)
                with self.lock:
                    self.jobs.append(j)
                continue
            j["results"] = res
            with self.lock:
                self.jobs.append(j)
            out = b"r" + u32(j["id"]) + pstr(self.mta) + u32(0) + \
                u32(len(res))
            for st, text in res:
                out += st.encode() + pstr(text)
            out += pstr("")     # tlsfail: no MTA-STS testing here
            try:
                self.sock.send(out)
            except OSError:
                return

    def delivered(self):
        """(qid, rcpt) pairs delivered."""
        with self.lock:
            return [(j["qid"], r[0]) for j in self.jobs
                    for r, res in zip(j["rcpts"], j["results"])
                    if res[0] == "K"]


class FakeResolve(Peer):
    """Answers RQRY with one host per domain: answers[domain] ->
    (status, text, [(name, pref, port, [addrs])]), each host with
    optionally dane, [tlsa], mx (enum job_mx, "I" when not given),
    tlsa_name (where the records were found, "" when not given)."""

    def __init__(self, sock, answers=None):
        super().__init__(sock)
        self.answers = answers or {}
        self.asked = []

    def _read(self, n):
        b = b""
        while len(b) < n:
            k = self.sock.recv(n - len(b))
            if not k:
                raise EOFError
            b += k
        return b

    def run(self):
        while not self.stop:
            try:
                n = struct.unpack(">I", self._read(4))[0]
                msg = self._read(n)
            except (OSError, EOFError):
                return
            c = Cur(msg)
            assert c.u8() == ord("Q")
            qid, dom = c.u32(), c.s()
            c.end()
            with self.lock:
                self.asked.append(dom)
            st, text, hosts = self.answers.get(dom, (
                "K", "", [("mx." + dom, 10, 0, ["127.0.0.1"])]))
            out = b"q" + u32(qid) + st.encode() + pstr(text) + u32(len(hosts))
            for h in hosts:
                name, pref, port, addrs = h[:4]
                dane, tlsa = h[4:6] if len(h) > 4 else ("N", [])
                out += pstr(name) + u32(pref) + u32(port) + u32(len(addrs))
                for a in addrs:
                    out += pstr(a)
                out += dane.encode() + u32(len(tlsa))
                for t in tlsa:
                    out += pstr(t)
                out += (h[6] if len(h) > 6 else "I").encode()
                out += pstr(h[7] if len(h) > 7 else "")
            try:
                self.sock.sendall(u32(len(out)) + out)
            except OSError:
                return


class Send:
    """sandmail-send with fake peers; restartable (kill -9 and again)."""

    def __init__(self, procs, conf, lpolicy=None, rpolicy=None,
                 answers=None):
        self.procs, self.conf = procs, conf
        self.lpolicy, self.rpolicy, self.answers = lpolicy, rpolicy, answers
        self.lspawn, self.rspawn, self.resolve = [], [], []
        self.p = None
        self.wrap = []          # e.g. ["strace", "-c", "-o", FILE]
        self.log = os.path.join(os.path.dirname(conf), "send.log")

    def start(self):
        la, lb = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ra, rb = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        da, db = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        lp = FakeLspawn(la, self.lpolicy)
        rp = FakeRspawn(ra, self.rpolicy)
        dp = FakeResolve(da, self.answers)
        for t in (lp, rp, dp):
            t.start()
        self.lspawn.append(lp)
        self.rspawn.append(rp)
        self.resolve.append(dp)
        fds = [lb.fileno(), rb.fileno(), db.fileno()]
        with open(self.log, "ab") as log:
            self.p = self.procs.start(
                self.wrap + [prog("sandmail-send"), "-c", self.conf,
                 "-L", str(fds[0]), "-R", str(fds[1]), "-D", str(fds[2])],
                pass_fds=fds, stderr=log)
        for s in (lb, rb, db):
            s.close()
        wait_for(lambda: b"event=recovered" in self.logtext() or
                 self.p.poll() is not None, timeout=30, what="send start")
        assert self.p.poll() is None, self.logtext()
        return self

    def logtext(self):
        with open(self.log, "rb") as f:
            return f.read()

    def kill(self, sig=signal.SIGKILL):
        self.procs.stop(self.p, sig)
        for t in self.lspawn[-1:] + self.rspawn[-1:] + self.resolve[-1:]:
            t.close()

    def local_done(self):
        return [j for lp in self.lspawn for j in lp.delivered()]

    def remote_done(self):
        return [d for rp in self.rspawn for d in rp.delivered()]

    def ljobs(self):
        return [j for lp in self.lspawn for j in lp.jobs]

    def rjobs(self):
        return [j for rp in self.rspawn for j in rp.jobs]


def bounces(conf):
    """Envelopes and bodies of the reports send queued (sender <>)."""
    out = []
    q = qdir(conf)
    for d in ("todo",):
        for mid in queued(conf, d):
            with open(os.path.join(q, d, mid), "rb") as f:
                e = decode_env(f.read())
            if e["sender"] == "":
                with open(os.path.join(q, "mess", mid), "rb") as f:
                    e["body"] = f.read().decode("utf-8", "replace")
                e["id"] = mid
                out.append(e)
    return out


def parse_dsn(body):
    """The parts of a multipart/report: (headers dict, [parts])."""
    head, _, rest = body.partition("\n\n")
    hdrs = {}
    for line in head.replace("\n\t", " ").split("\n"):
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    bd = hdrs["content-type"].split('boundary="')[1].split('"')[0]
    parts = rest.split("--" + bd)
    return hdrs, [p.strip("\n") for p in parts[1:-1]], parts[-1]


def status_groups(part):
    """message/delivery-status part -> [per-message dict, per-rcpt...]"""
    body = part.partition("\n\n")[2]
    groups = []
    for g in body.strip("\n").split("\n\n"):
        d = {}
        for line in g.split("\n"):
            k, _, v = line.partition(":")
            d[k.strip()] = v.strip()
        groups.append(d)
    return groups


def reports(send):
    """Reports send made (sender <>), as delivered to the fake peers:
    [(rcpt, body)]."""
    out = []
    for j in send.ljobs():
        if j["sender"] == "" and j["status"] == "K":
            out.append((j["rcpt"], j["data"].decode("utf-8", "replace")))
    for j in send.rjobs():
        if j["sender"] == "":
            for r, res in zip(j["rcpts"], j["results"]):
                if res[0] == "K":
                    out.append((r[0], j["data"].decode("utf-8", "replace")))
    return out


TABLES = {
    "domains": "test.example local\nvirt.example virtual\n",
    "localusers": "alice 1001:1001:/home/alice\nbob 1002:1002:/home/bob\n"
                  "postmaster 1003:1003:/home/pm\neve 1004:1004:/home/eve\n",
    "virtual": "carol@virt.example /var/vmail/virt.example/carol\n",
    "aliases": "team@test.example alice, bob\n"
               "all@test.example team, dave@remote.example\n"
               "loop1@test.example loop2\nloop2@test.example loop1\n"
               "eve@test.example eve, bob\n"
               "prog@test.example |/usr/bin/true\n"
               "d1@test.example d2\nd2@test.example d3\nd3@test.example d4\n"
               "d4@test.example d5\nd5@test.example d6\nd6@test.example d7\n"
               "d7@test.example d8\nd8@test.example d9\nd9@test.example d10\n"
               "d10@test.example d11\nd11@test.example d12\n"
               "d12@test.example alice\n"
               "list@test.example alice, nosuch, ext@remote.example\n"
               "owner-list@test.example bob\n",
}


def fake_main(argv):
    """Run as a program (for sandmail-start's prog_* settings):
    sendutil.py lspawn|rspawn|resolve RECORD [-c conf]: the fake on fd 0,
    every job appended to RECORD as a line "qid rcpt status"."""
    kind, record = argv[1], argv[2]
    typ = socket.SOCK_STREAM if kind == "resolve" else socket.SOCK_SEQPACKET
    sock = socket.socket(socket.AF_UNIX, typ, fileno=os.dup(0))
    peer = {"lspawn": FakeLspawn, "rspawn": FakeRspawn,
            "resolve": FakeResolve}[kind](sock)
    with open(record, "a") as f:
        f.write(f"start {kind} {os.getpid()}\n")
    peer.start()
    last = 0
    while peer.is_alive():
        peer.join(0.05)
        with peer.lock:
            new = peer.jobs[last:]
            last = len(peer.jobs)
        with open(record, "a") as f:
            for j in new:
                if kind == "lspawn":
                    f.write(f"{j['qid']} {j['rcpt']} {j['status']}\n")
                elif kind == "rspawn":
                    for r, res in zip(j["rcpts"], j["results"]):
                        f.write(f"{j['qid']} {r[0]} {res[0]}\n")


if __name__ == "__main__":
    import sys
    fake_main(sys.argv)
