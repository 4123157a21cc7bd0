"""Helpers for the queue tests: a queue directory, the queue service, and a
client speaking the record protocol of doc/protocols.md ("queue")."""
import os
import socket
import struct
import subprocess
import time

from conftest import prog, wait_for

GREETING = b"sandmail-queue 1"


def write_conf(d, **kw):
    """sandmail.conf in d with queue d/queue; returns its path."""
    conf = {"queue": "queue", "hostname": "test.example"}
    if os.geteuid() == 0:
        conf["user_queue"] = "nobody"
        conf["user_send"] = "nobody"
        conf["user_smtpd"] = "nobody"
        conf["user_auth"] = "nobody"
        conf["user_srs"] = "nobody"
    conf.update({k: str(v) for k, v in kw.items()})
    path = os.path.join(str(d), "sandmail.conf")
    with open(path, "w") as f:
        for k, v in conf.items():
            f.write(f"{k} {v}\n")
    return path


def qinit(conf):
    subprocess.run([prog("sandmail-queue"), "-i", "-c", conf], check=True,
                   stderr=subprocess.DEVNULL)


def queue_dir(conf):
    return os.path.join(os.path.dirname(conf), "queue")


def sock_path(conf):
    return os.path.join(queue_dir(conf), "lock", "queue.sock")


def start_service(procs, conf, log=None):
    """Start sandmail-queue -s and wait until it accepts."""
    if os.path.exists(sock_path(conf)):
        os.unlink(sock_path(conf))
    p = procs.start([prog("sandmail-queue"), "-s", "-c", conf],
                    stderr=log if log is not None else subprocess.DEVNULL)

    def up():
        if p.poll() is not None:
            raise RuntimeError(f"sandmail-queue -s exited {p.returncode}")
        try:
            c = QClient.connect(conf)
            c.close()
            return True
        except OSError:
            return False
    wait_for(up, what="queue socket")
    return p


def auth_sock(conf):
    """The auth service's socket: auth_socket, or QUEUE/lock/auth.sock."""
    with open(conf) as f:
        for ln in f:
            k, _, v = ln.strip().partition(" ")
            if k == "auth_socket":
                return os.path.join(os.path.dirname(conf), v.strip())
    return os.path.join(queue_dir(conf), "lock", "auth.sock")


def start_auth(procs, conf, log=None):
    """Start sandmail-auth -s (the one authentication service) and wait
    until it accepts."""
    path = auth_sock(conf)
    p = procs.start([prog("sandmail-auth"), "-s", "-c", conf],
                    stderr=log if log is not None else subprocess.DEVNULL)

    def up():
        if p.poll() is not None:
            raise RuntimeError(f"sandmail-auth -s exited {p.returncode}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()
    wait_for(up, what="auth socket")
    return p


def u32(n):
    return struct.pack(">I", n)


def pstr(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def envelope(sender="a@example.org", rcpts=("b@example.org",),
             client="127.0.0.1", flags=0, arrival=0, size=0):
    """An envelope as lib/env.c encodes it."""
    out = b"SMENV1" + pstr(sender) + pstr("") + pstr("") + pstr(client)
    out += pstr("helo.example") + pstr("ESMTP")
    out += struct.pack(">QQIB", arrival, size, flags, 0)
    out += u32(len(rcpts))
    for r in rcpts:
        out += pstr(r) + pstr("") + b"\0"
    return out


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC = _crc_table()


def crc32c(b, crc=0):
    c = crc ^ 0xFFFFFFFF
    for x in b:
        c = _CRC[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


SEAL_MAGIC = b"SMSEAL1"
SEAL_LEN = 7 + 1 + 32 + 16 + 8 + 4 + 4 + 4


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return bytes.fromhex(f.read().strip().replace("-", ""))


def seal(env, mid, boot, body):
    """A todo/ file as lib/seal.c makes it: the header, then env."""
    h = SEAL_MAGIC + bytes([len(mid)]) + mid.encode().ljust(32, b"\0")
    h += boot + struct.pack(">QII", len(body), crc32c(body), len(env))
    return h + struct.pack(">I", crc32c(env, crc32c(h))) + env


def unseal(b):
    """(seal dict or None for an unsealed file, envelope bytes); raises
    on a seal that does not check."""
    if not b.startswith(SEAL_MAGIC):
        return None, b
    h, env = b[:SEAL_LEN], b[SEAL_LEN:]
    n = h[7]
    size, crc, elen, own = struct.unpack(">QIII", h[7 + 33 + 16:])
    if (len(h) != SEAL_LEN or elen != len(env) or not 0 < n <= 32 or
            own != crc32c(env, crc32c(h[:-4]))):
        raise ValueError("torn seal")
    return {"id": h[8:8 + n].decode(), "boot": h[40:56], "size": size,
            "crc": crc}, env


def decode_envelope(b):
    """Parse an SMENV1 envelope into a dict (raises on anything malformed);
    a todo/ file's seal, if any, is checked and its fields put in
    e["seal"]."""
    sl, b = unseal(b)
    assert b[:6] == b"SMENV1", "magic"
    i = 6

    def s():
        nonlocal i
        (n,) = struct.unpack_from(">I", b, i)
        i += 4
        v = b[i:i + n]
        if len(v) != n:
            raise ValueError("short string")
        i += n
        return v.decode("utf-8", "replace")
    e = {k: s() for k in ("sender", "envid", "auth", "client", "helo",
                          "proto")}
    e["arrival"], e["size"], e["flags"], e["ret"], n = struct.unpack_from(
        ">QQIBI", b, i)
    i += 8 + 8 + 4 + 1 + 4
    e["rcpts"] = []
    for _ in range(n):
        a = s()
        o = s()
        notify = b[i]
        i += 1
        e["rcpts"].append((a, o, notify))
    if i != len(b):
        raise ValueError("trailing bytes")
    e["seal"] = sl
    return e


class QError(Exception):
    pass


class QClient:
    """The client side of the queue protocol over a stream socket."""

    def __init__(self, sock, proc=None):
        self.s = sock
        self.proc = proc
        self.s.settimeout(30)
        t, v = self.read()
        if t != b"V" or v != GREETING:
            raise QError(f"bad greeting {t!r} {v!r}")

    @classmethod
    def connect(cls, conf):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sock_path(conf))
        return cls(s)

    @classmethod
    def spawn(cls, conf, stderr=subprocess.DEVNULL):
        a, b = socket.socketpair()
        p = subprocess.Popen([prog("sandmail-queue"), "-c", conf],
                             stdin=b.fileno(), stdout=b.fileno(),
                             stderr=stderr, close_fds=True)
        b.close()
        return cls(a, p)

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            k = self.s.recv(n - len(out))
            if not k:
                raise EOFError("queue closed")
            out += k
        return out

    def read(self):
        """One record: (type byte, str field); a Z or X has a second
        str, its RFC 3463 status code, kept in self.status."""
        (n,) = struct.unpack(">I", self.recv_exact(4))
        p = self.recv_exact(n)
        t = p[:1]
        (k,) = struct.unpack_from(">I", p, 1)
        v = p[5:5 + k]
        end = 5 + k
        self.status = None
        if t in (b"Z", b"X"):
            (m,) = struct.unpack_from(">I", p, end)
            self.status = p[end + 4:end + 4 + m]
            end += 4 + m
        if end != len(p):
            raise QError("bad record")
        return t, v

    def send(self, payload):
        self.s.sendall(u32(len(payload)) + payload)

    def begin(self):
        self.send(b"M")
        return self.read()

    def data(self, b, chunk=65536):
        for i in range(0, len(b), chunk):
            self.send(b"D" + b[i:i + chunk])

    def end(self, env):
        self.send(b"E" + env)
        return self.read()

    def message(self, body, env=None):
        """A whole message; returns (type, text) of the final answer."""
        t, v = self.begin()
        if t != b"I":
            return t, v
        self.data(body)
        return self.end(env if env is not None else envelope())

    def flush(self, domain=""):
        self.send(b"F" + pstr(domain))
        return self.read()

    def close(self):
        try:
            self.s.close()
        finally:
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()    # never leave a queue behind
                    self.proc.wait()
                    raise


def listing(conf, sub):
    return sorted(os.listdir(os.path.join(queue_dir(conf), sub)))


def check_consistent(conf, acked=()):
    """Every todo/ID has a complete mess/ID and an envelope that decodes,
    with the size matching, sealed with its ID and its message's size and
    CRC32C; every acked ID is in todo/.  Returns the decoded envelopes by
    ID."""
    q = queue_dir(conf)
    todo = listing(conf, "todo")
    out = {}
    for i in todo:
        with open(os.path.join(q, "todo", i), "rb") as f:
            e = decode_envelope(f.read())
        with open(os.path.join(q, "mess", i), "rb") as f:
            body = f.read()
        assert len(body) == e["size"], (i, len(body), e["size"])
        sl = e["seal"]
        assert sl is not None, f"{i}: todo/ not sealed"
        assert (sl["id"], sl["size"], sl["crc"]) == (i, len(body),
                                                    crc32c(body)), (i, sl)
        out[i] = e
    for i in acked:
        assert i in out, f"acknowledged {i} is not in todo/"
    return out


def now():
    return time.monotonic()
