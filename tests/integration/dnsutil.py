"""Helpers for the resolve tests: a dnsmasq on a loopback port serving
test zones, and a client of sandmail-resolve's pipe protocol
(doc/protocols.md, "resolve")."""
import os
import select
import shutil
import socket
import struct
import subprocess
import time

from conftest import prog, free_port


def udp_free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host right now."""
    for _ in range(50):
        p = free_port(host)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((host, p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port")


def start_dnsmasq(procs, tmp, records, port=None, tcp_fork=False):
    """Start dnsmasq on 127.0.0.1:port answering for .test only.

    records: extra dnsmasq options, e.g. ["--mx-host=a.test,mx.a.test,10"].
    tcp_fork: serve each TCP connection in a child (--keep-in-foreground
    rather than --no-daemon, which serves TCP inline: a client that keeps
    a TCP connection open, as rspamd does, stops all answers).
    Returns the port."""
    if shutil.which("dnsmasq") is None:
        raise RuntimeError("dnsmasq is not installed (scripts/deps)")
    port = port or udp_free_port()
    log = open(os.path.join(tmp, "dnsmasq.log"), "w")
    argv = ["dnsmasq", "--keep-in-foreground" if tcp_fork else
            "--no-daemon", f"--port={port}",
            "--listen-address=127.0.0.1", "--bind-interfaces",
            "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            "--log-facility=-", "--local=/test/", "--user=root",
            "--pid-file=" + os.path.join(tmp, "dnsmasq.pid")] + records
    procs.start(argv, stdout=log, stderr=subprocess.STDOUT)
    # wait until it answers a query
    q = query_packet(0x1234, "probe.test", 1)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", port))
                s.recvfrom(512)
                return port
            except OSError:
                time.sleep(0.05)
    raise TimeoutError("dnsmasq did not answer")


def query_packet(qid, name, qtype):
    hdr = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q = b"".join(bytes([len(x)]) + x.encode() for x in name.split("."))
    return hdr + q + b"\0" + struct.pack(">HH", qtype, 1)


def write_conf(tmp, nameservers, extra=""):
    path = os.path.join(tmp, "sandmail.conf")
    with open(path, "w") as f:
        for ns in nameservers:
            f.write(f"nameserver {ns}\n")
        f.write("user_resolve nobody\n")
        f.write(f"empty_dir {os.path.join(tmp, 'empty')}\n")
        f.write(extra)
    return path


def _u32(n):
    return struct.pack(">I", n)


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return _u32(len(s)) + s


class Cursor:
    def __init__(self, b):
        self.b, self.o = b, 0

    def u8(self):
        v = self.b[self.o]
        self.o += 1
        return v

    def u32(self):
        v = struct.unpack_from(">I", self.b, self.o)[0]
        self.o += 4
        return v

    def str(self):
        n = self.u32()
        v = self.b[self.o:self.o + n]
        if len(v) != n:
            raise ValueError("short string")
        self.o += n
        return v.decode("utf-8", "replace")

    def end(self):
        if self.o != len(self.b):
            raise ValueError("extra bytes")


def decode_hosts(c):
    hosts = []
    for _ in range(c.u32()):
        name, pref, port, naddr = c.str(), c.u32(), c.u32(), c.u32()
        h = {"name": name, "pref": pref, "port": port,
             "addrs": [c.str() for _ in range(naddr)]}
        h["dane"] = chr(c.u8())        # enum job_dane: N S U B
        h["tlsa"] = [c.str() for _ in range(c.u32())]
        h["mx"] = chr(c.u8())          # enum job_mx: I S (R: send's)
        h["tlsa_name"] = c.str()       # the expanded name, or ""
        hosts.append(h)
    return hosts


class Resolver:
    """sandmail-resolve on a pipe pair."""

    def __init__(self, procs, conf, build_prog=None):
        env = dict(os.environ, SANDMAIL_CONF=conf)
        self.p = procs.start([build_prog or prog("sandmail-resolve")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        self.buf = b""
        self.next_id = 1

    def send(self, domain, qid=None):
        if qid is None:
            qid, self.next_id = self.next_id, self.next_id + 1
        payload = b"Q" + _u32(qid) + _str(domain)
        self.p.stdin.write(_u32(len(payload)) + payload)
        self.p.stdin.flush()
        return qid

    def recv(self, timeout=30):
        end = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    rec, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return self.decode(rec)
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from sandmail-resolve")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError("sandmail-resolve closed its output")
                self.buf += chunk

    @staticmethod
    def decode(rec):
        c = Cursor(rec)
        if c.u8() != ord("q"):
            raise ValueError("not a RANS")
        a = {"id": c.u32(), "status": chr(c.u8()), "text": c.str()}
        a["hosts"] = decode_hosts(c)
        c.end()
        return a

    def ask(self, domain):
        qid = self.send(domain)
        a = self.recv()
        assert a["id"] == qid
        return a

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(30)
        err = self.p.stderr.read().decode("utf-8", "replace")
        return rc, err


class FakeDNS:
    """A UDP name server on 127.0.0.1 whose answers a test writes:
    handler(query_bytes) -> list of packets to send back (maybe none)."""

    def __init__(self, handler):
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.queries = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                q, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries.append((q, addr))
            for pkt in self.handler(q):
                self.sock.sendto(pkt, addr)

    def close(self):
        self.stop = True
        self.t.join(2)
        self.sock.close()


def answer_packet(q, qid=None, rcode=0, answers=(), flags=0x8180, qname=None,
                  soa_min=None):
    """A response to query q: answers are (type, rdata) for the question's
    name, pointed to by compression."""
    oid = struct.unpack(">H", q[:2])[0]
    # the question: up to the end of QTYPE/QCLASS
    o = 12
    while q[o]:
        o += 1 + q[o]
    question = q[12:o + 5]
    if qname is not None:
        question = b"".join(bytes([len(x)]) + x.encode()
                            for x in qname.split(".")) + b"\0" + q[o + 1:o + 5]
    hdr = struct.pack(">HHHHHH", oid if qid is None else qid,
                      flags | rcode, 1, len(answers),
                      0 if soa_min is None else 1, 0)
    body = b""
    for t, rdata in answers:
        body += b"\xc0\x0c" + struct.pack(">HHIH", t, 1, 300, len(rdata)) + rdata
    if soa_min is not None:
        rdata = b"\x02ns\xc0\x0c\x0ahostmaster\xc0\x0c" + struct.pack(
            ">IIIII", 1, 3600, 600, 86400, soa_min)
        body += b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, 3600, len(rdata)) + rdata
    return hdr + question + body
