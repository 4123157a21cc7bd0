"""Helpers for the MTA-STS tests: a test CA made with openssl, an HTTPS
policy server of our own (python's http.server over ssl) whose
behaviour per domain a test sets, and a client of sandmail-sts's socket
protocol (doc/protocols.md, "sts")."""
import http.server
import os
import select
import socket
import ssl
import struct
import subprocess
import threading
import time

from conftest import prog

MODES = {0: "none", 1: "testing", 2: "enforce"}


def make_ca(tmp, name="sandmail sts test CA"):
    """A CA (key, cert) in tmp; returns (cafile, cakey)."""
    key, ca = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", ca, "-days", "2",
                    "-subj", f"/CN={name}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return ca, key


def make_cert(tmp, ca, cakey, stem, names):
    """A certificate for names (the first is the CN) signed by ca;
    returns (cert, key)."""
    key, csr = os.path.join(tmp, stem + ".key"), os.path.join(tmp, stem + ".csr")
    cert, ext = os.path.join(tmp, stem + ".pem"), os.path.join(tmp, stem + ".ext")
    q = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", csr, "-subj",
                    f"/CN={names[0]}"], **q)
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join(f"DNS:{n}" for n in names)
                + "\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca,
                    "-CAkey", cakey, "-CAcreateserial", "-out", cert,
                    "-days", "2", "-extfile", ext], **q)
    return cert, key


def policy(mode, mx, max_age=86400):
    return ("version: STSv1\r\nmode: %s\r\n%smax_age: %d\r\n" % (
        mode, "".join(f"mx: {m}\r\n" for m in mx), max_age)).encode()


class PolicyServer:
    """HTTPS on 127.0.0.1:port.  self.behave[label] (the label of
    mta-sts.LABEL.test) is one of: bytes (the
    policy, served as text/plain), "slow" (nothing for a minute),
    "huge" (16 MB of text/plain), "redirect" (301 to another policy
    host), "garbage" (200 text/plain of noise), "html" (a policy as
    text/html), "404".  self.requests lists (host, path) asked for;
    self.posts (host, path, content type, body) of each POST (a TLS
    report, RFC 8460 3), answered self.post_status."""

    def __init__(self, port, cert, key):
        self.behave = {}
        self.requests = []
        self.posts = []
        self.post_status = 201
        self.stop = threading.Event()
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                host = (self.headers.get("Host") or "").split(":")[0]
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(n, 1 << 20))
                srv.posts.append((host, self.path,
                                  self.headers.get("Content-Type"), body))
                self.send_response(srv.post_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0]
                srv.requests.append((host, self.path))
                # "mta-sts.good.test" -> "good"
                dom = host[len("mta-sts."):-len(".test")] if (
                    host.startswith("mta-sts.") and host.endswith(".test")
                ) else None
                b = srv.behave.get(dom, "404")
                if self.path != "/.well-known/mta-sts.txt":
                    b = "404"
                if b == "slow":
                    srv.stop.wait(60)
                    return
                if b == "redirect":
                    self.send_response(301)
                    self.send_header("Location", "https://mta-sts.good.test:"
                                     f"{port}/.well-known/mta-sts.txt")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if b == "404":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if b == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    line = b"mx: mx.example.org\r\n" * 1000
                    try:
                        for _ in range(16 * 1024 * 1024 // len(line)):
                            self.wfile.write(line)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                ctype = "text/plain"
                if b == "garbage":
                    body = os.urandom(3000)
                elif b == "html":
                    body, ctype = srv.behave.get("html-body", b""), "text/html"
                else:
                    body = b
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = S(("127.0.0.1", port), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.t = threading.Thread(target=self.httpd.serve_forever,
                                  daemon=True)
        self.t.start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _str(b):
    return struct.pack(">I", len(b)) + b


class StsClient:
    """sandmail-sts on one end of a socket pair, as sandmail-start runs
    it for send."""

    def __init__(self, procs, conf, log):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX,
                                              socket.SOCK_STREAM)
        self.log = open(log, "ab")
        self.p = procs.start([prog("sandmail-sts"), "-c", conf],
                             stdin=theirs, stdout=subprocess.DEVNULL,
                             stderr=self.log)
        theirs.close()
        self.procs = procs
        self.qid = 0

    buf = b""

    def record(self, timeout=60):
        """The next record's payload."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                n, = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    p, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return p
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError("sandmail-sts did not answer")
            b = self.sock.recv(65536)
            if not b:
                raise EOFError("sandmail-sts closed its socket")
            self.buf += b

    def ask(self, domain, timeout=60):
        """(mode, [mx...], why) for domain."""
        self.qid += 1
        pay = b"Q" + struct.pack(">I", self.qid) + _str(domain.encode())
        self.sock.sendall(struct.pack(">I", len(pay)) + pay)
        return self.decode(self.record(timeout))

    def tell(self, domain, ok, rtype="", mx=""):
        """One session's outcome, as send tells it (no answer)."""
        pay = (b"R" + _str(domain.encode()) + bytes([1 if ok else 0]) +
               _str(rtype.encode()) + _str(mx.encode()))
        self.sock.sendall(struct.pack(">I", len(pay)) + pay)

    def mail(self, timeout=60):
        """(rcpt, message bytes) of the next report sts hands over."""
        p = self.record(timeout)
        assert p[0:1] == b"M", p[:1]
        n, = struct.unpack(">I", p[1:5])
        rcpt = p[5:5 + n].decode()
        m, = struct.unpack(">I", p[5 + n:9 + n])
        assert len(p) == 9 + n + m
        return rcpt, p[9 + n:]

    def eof(self, timeout=30):
        """Close our end, as send does when it stops; sts exits."""
        self.sock.close()
        self.p.wait(timeout)
        self.log.close()

    def decode(self, p):
        assert p[0:1] == b"A"
        qid, = struct.unpack(">I", p[1:5])
        assert qid == self.qid
        o = 5

        def s():
            nonlocal o
            n, = struct.unpack(">I", p[o:o + 4])
            v = p[o + 4:o + 4 + n].decode()
            o += 4 + n
            return v
        s()                             # the domain
        mode = MODES[p[o]]
        o += 1
        n, = struct.unpack(">I", p[o:o + 4])
        o += 4
        mx = [s() for _ in range(n)]
        why = s()
        assert o == len(p)
        return mode, mx, why

    def close(self):
        self.sock.close()
        self.procs.stop(self.p)
        self.log.close()
