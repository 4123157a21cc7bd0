"""Helpers for the remote tests: the RJOB encoder and RRES decoder
(doc/protocols.md, "remote"), sandmail-rspawn on a SOCK_SEQPACKET pair,
and a small scriptable SMTP server of our own."""
import os
import socket
import socketserver
import ssl
import struct
import subprocess
import threading

from conftest import free_port, prog
from dnsutil import Cursor

ENV_SMTPUTF8, ENV_8BITMIME = 0x01, 0x02


def _u8(n):
    return bytes([n])


def _u32(n):
    return struct.pack(">I", n)


def _u64(n):
    return struct.pack(">Q", n)


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return _u32(len(s)) + s


def encode_rjob(jid, rcpts, hosts, sender="from@sender.test", qid="Q1",
                envid="", ret=0, flags=0, size=0, tls="", auth_user="",
                auth_pass="", proto=0, dkim=""):
    """rcpts: list of addr or (addr, orcpt, notify); hosts: list of
    (name, [addrs]) or (name, [addrs], port) or (name, [addrs], port,
    dane, [tlsa text]) (enum job_dane: "N", "S", "U", "B") or that and
    mx (enum job_mx: "I" insecure, the default, "S" secure, "R" a
    route) or that and tlsa_name (the CNAME-expanded name the records
    came from, "" the default); proto 1: LMTP."""
    b = b"R" + _u32(jid) + _str(qid) + _str(sender) + _str(envid)
    b += _u8(ret) + _u32(flags) + _u64(size) + _str(tls)
    b += _str(auth_user) + _str(auth_pass) + _u32(len(rcpts))
    for r in rcpts:
        if isinstance(r, str):
            r = (r, "", 0)
        b += _str(r[0]) + _str(r[1]) + _u8(r[2])
    b += _u32(len(hosts))
    for i, h in enumerate(hosts):
        name, addrs = h[0], h[1]
        port = h[2] if len(h) > 2 else 0
        dane, tlsa = (h[3], h[4]) if len(h) > 4 else ("N", [])
        b += _str(name) + _u32(10 * (i + 1)) + _u32(port) + _u32(len(addrs))
        for a in addrs:
            b += _str(a)
        b += dane.encode() + _u32(len(tlsa))
        for t in tlsa:
            b += _str(t)
        b += (h[5] if len(h) > 5 else "I").encode()
        b += _str(h[6] if len(h) > 6 else "")
    return b + _str(dkim) + _u8(proto)


def decode_rres(b):
    c = Cursor(b)
    if c.u8() != ord("r"):
        raise ValueError("not an RRES")
    r = {"id": c.u32(), "mta": c.str(), "rcpts": []}
    r["port"] = c.u32()
    for _ in range(c.u32()):
        r["rcpts"].append((chr(c.u8()), c.str()))
    r["tlsfail"] = c.str()
    c.end()
    return r


def write_conf(tmp, port, extra=""):
    path = os.path.join(tmp, "sandmail.conf")
    with open(path, "w") as f:
        f.write(f"""hostname client.sandmail.test
mx_port {port}
user_remote nobody
empty_dir {os.path.join(tmp, 'empty')}
remote_timeout_connect 5
remote_timeout_greeting 5
remote_timeout_command 5
remote_timeout_data_init 5
remote_timeout_data_block 5
remote_timeout_data_done 5
remote_reuse_time 3
""")
        f.write(extra)
    return path


class Rspawn:
    """sandmail-rspawn with its fd 0 on a SOCK_SEQPACKET socket pair."""

    def __init__(self, procs, conf, tmp):
        self.tmp = tmp
        self.sock, child = socket.socketpair(socket.AF_UNIX,
                                             socket.SOCK_SEQPACKET)
        self.errpath = os.path.join(tmp, "rspawn.log")
        self.err = open(self.errpath, "w")
        env = dict(os.environ, SANDMAIL_CONF=conf)
        self.p = procs.start([prog("sandmail-rspawn")], stdin=child,
                             stdout=subprocess.DEVNULL, stderr=self.err,
                             env=env)
        child.close()
        self.sock.settimeout(60)     # a deadlock fails, it does not hang
        self.n = 0

    def send(self, msg, rcpts, hosts, jid=None, **kw):
        """Queue a job; msg is bytes (LF line ends, as in the queue)."""
        self.n += 1
        jid = jid or self.n
        path = os.path.join(self.tmp, f"msg{jid}")
        with open(path, "wb") as f:
            f.write(msg)
        kw.setdefault("size", len(msg))
        payload = encode_rjob(jid, rcpts, hosts, **kw)
        fd = os.open(path, os.O_RDONLY)
        try:
            socket.send_fds(self.sock, [payload], [fd])
        finally:
            os.close(fd)
        return jid

    def recv(self, timeout=60):
        self.sock.settimeout(timeout)
        b = self.sock.recv(70000)
        if not b:
            raise EOFError("rspawn closed its socket")
        return decode_rres(b)

    def deliver(self, msg, rcpts, hosts, **kw):
        jid = self.send(msg, rcpts, hosts, **kw)
        r = self.recv()
        assert r["id"] == jid
        return r

    def log(self):
        with open(self.errpath) as f:
            return f.read()

    def close(self):
        self.sock.shutdown(socket.SHUT_WR)
        rc = self.p.wait(30)
        self.sock.close()
        self.err.close()
        return rc


class Transaction:
    def __init__(self):
        self.helo = None
        self.mail = None
        self.rcpts = []
        self.data = None
        self.tls = False
        self.auth = None


class SMTPServer:
    """A scriptable SMTP server on host:port.  Knobs (attributes):
    greeting, ehlo (list of keywords or None for 502), rcpt(addr) ->
    reply, mail_reply, data_reply, final_reply, tls_ctx, silent."""

    def __init__(self, host, port, name=None):
        self.host, self.port = host, port
        self.hang_after_data = None     # a threading.Event to wait on
        self.close_after_data = False
        self.name = name or host
        self.greeting = f"220 {self.name} ESMTP test"
        self.ehlo = ["PIPELINING", "8BITMIME", "SIZE 10000000", "DSN",
                     "SMTPUTF8"]
        self.rcpt = lambda addr: "250 2.1.5 ok"
        self.mail_reply = "250 2.1.0 ok"
        self.data_reply = "354 go ahead"
        self.final_reply = "250 2.0.0 queued"
        self.tls_ctx = None
        self.auth_ok = None           # (user, pass) accepted by AUTH
        self.auth_mechs = "PLAIN LOGIN"
        self.silent = False
        self.transactions = []
        self.connections = 0
        self.commands = []
        self.lock = threading.Lock()
        srv = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                srv.session(self)

        class TS(socketserver.ThreadingTCPServer):
            # socketserver listens with a backlog of 5: a burst of
            # connections (send opens up to concurrency_destination, 20,
            # at once) overflows it, and with SYN cookies the kernel then
            # drops the handshake's last ACK and forgets the connection
            # while the client, which waits for the greeting and sends
            # nothing, sits in ESTABLISHED until remote_timeout_greeting
            # (300 s). Real MTAs listen with a backlog of 100 or more.
            request_queue_size = 128
            allow_reuse_address = True
            daemon_threads = True
            address_family = (socket.AF_INET6 if ":" in host
                              else socket.AF_INET)

        self.server = TS((host, port), Handler)
        # socketserver accepts on a blocking socket after poll said
        # readable: a connection reset while it waited in the queue (a
        # killed rspawn worker's) leaves accept() blocked, and the whole
        # server with it.  CI's stall report caught serve_forever there,
        # with a new connection from rspawn unanswered.  Non-blocking, a
        # vanished connection is an OSError that serve_forever ignores.
        self.server.socket.setblocking(False)
        self.t = threading.Thread(target=self.server.serve_forever,
                                  daemon=True)
        self.t.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def done(self):
        with self.lock:
            return [t for t in self.transactions if t.data is not None]

    def session(self, h):
        with self.lock:
            self.connections += 1
        sock = h.connection
        rf, wf = h.rfile, h.wfile
        if self.silent:
            rf.readline()
            return

        def say(line):
            wf.write(line.encode() + b"\r\n")
            wf.flush()

        say(self.greeting)
        if not self.greeting.startswith("220"):
            rf.readline()
            say("221 bye")
            return
        t, tls = Transaction(), False
        while True:
            line = rf.readline(4096)
            if not line:
                return
            cmdline = line.rstrip(b"\r\n").decode("utf-8", "replace")
            with self.lock:
                self.commands.append(cmdline)
            verb = cmdline.split(" ")[0].upper()
            if verb == "EHLO":
                if self.ehlo is None:
                    say("502 5.5.1 no EHLO here")
                    continue
                t.helo = cmdline
                kws = list(self.ehlo)
                if self.tls_ctx is not None and not tls:
                    kws.append("STARTTLS")
                if self.auth_ok is not None and tls:
                    kws.append("AUTH " + self.auth_mechs)
                lines = [self.name] + kws
                for i, k in enumerate(lines):
                    say(("250 " if i == len(lines) - 1 else "250-") + k)
            elif verb == "HELO":
                t.helo = cmdline
                say(f"250 {self.name}")
            elif verb == "STARTTLS" and self.tls_ctx == "broken":
                say("220 2.0.0 go ahead")
                wf.write(b"this is not a TLS record\r\n" * 20)
                wf.flush()
                return
            elif verb == "STARTTLS" and self.tls_ctx is not None:
                say("220 2.0.0 go ahead")
                sock = self.tls_ctx.wrap_socket(sock, server_side=True)
                rf, wf = sock.makefile("rb"), sock.makefile("wb")
                tls = True
                t = Transaction()
            elif verb == "AUTH":
                parts = cmdline.split(" ")
                import base64
                if parts[1].upper() == "PLAIN":
                    raw = base64.b64decode(parts[2])
                    _, u, p = raw.split(b"\0")
                else:
                    say("334 VXNlcm5hbWU6")
                    u = base64.b64decode(rf.readline().strip())
                    say("334 UGFzc3dvcmQ6")
                    p = base64.b64decode(rf.readline().strip())
                ok = (u.decode(), p.decode()) == self.auth_ok
                t.auth = (u.decode(), p.decode())
                say("235 2.7.0 ok" if ok else "535 5.7.8 bad credentials")
            elif verb == "MAIL":
                t.mail, t.tls = cmdline, tls
                say(self.mail_reply)
            elif verb == "RCPT":
                addr = cmdline[cmdline.index("<") + 1:cmdline.index(">")]
                rep = self.rcpt(addr)
                if rep.startswith("2"):
                    t.rcpts.append(cmdline)
                say(rep)
            elif verb == "DATA":
                if t.mail is None or not t.rcpts:
                    say("503 5.5.1 no valid recipients")
                    continue
                say(self.data_reply)
                if not self.data_reply.startswith("354"):
                    continue
                lines = []
                while True:
                    ln = rf.readline()
                    if not ln or ln == b".\r\n":
                        break
                    if ln.startswith(b"."):
                        ln = ln[1:]
                    lines.append(ln)
                t.data = b"".join(lines)
                with self.lock:
                    self.transactions.append(t)
                if self.hang_after_data is not None:
                    self.hang_after_data.wait(30)
                    return
                say(self.final_reply)
                if self.close_after_data:
                    return          # an idle connection the server drops
                t = Transaction()
                t.helo, tls = None, tls
            elif verb == "RSET":
                t = Transaction()
                say("250 2.0.0 ok")
            elif verb == "QUIT":
                say("221 2.0.0 bye")
                return
            elif verb == "NOOP":
                say("250 ok")
            else:
                say("502 5.5.2 what")


def make_ca(tmp, names):
    """A test CA and a server certificate for names (first is the CN).
    Returns (cafile, certfile, keyfile)."""
    from stsutil import make_ca as ca_only, make_cert
    ca, ca_key = ca_only(tmp, "sandmail test CA")
    cert, key = make_cert(tmp, ca, ca_key, "srv", names)
    return ca, cert, key


def server_tls_ctx(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def start_postfix(base, port, relayhost, extra=""):
    """A private Postfix instance (root only) in base (a directory that
    the postfix user can reach) with smtpd on
    127.0.0.1:port relaying everything to relayhost ("[addr]:port").
    Returns a function that stops it."""
    import re
    import shutil
    etc = os.path.join(base, "etc")
    for d in ("etc", "spool", "data"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    shutil.chown(os.path.join(base, "data"), "postfix")
    os.chmod(base, 0o755)          # postfix's users must reach it
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write(f"""compatibility_level = 3.6
queue_directory = {base}/spool
data_directory = {base}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.sandmail.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = {relayhost}
smtp_host_lookup = native
disable_dns_lookups = yes
alias_maps =
alias_database =
maillog_file = {base}/maillog
maillog_file_prefixes = /tmp, /var
queue_run_delay = 1s
minimal_backoff_time = 1s
{extra}
""")
    with open("/etc/postfix/master.cf") as f:
        master = f.read()
    master = re.sub(r"^smtp\s+inet.*$",
                    f"127.0.0.1:{port} inet n - n - - smtpd", master,
                    flags=re.M)
    if "postlog" not in master:
        master += "postlog unix-dgram n - n - 1 postlogd\n"
    with open(os.path.join(etc, "master.cf"), "w") as f:
        f.write(master)
    q = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["postfix", "-c", etc, "check"], **q)
    subprocess.run(["postfix", "-c", etc, "start"], check=True, **q)

    def stop():
        subprocess.run(["postfix", "-c", etc, "stop"], **q)
    return stop


def children(pid):
    """Pids whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d))
    return out


def common_port(hosts):
    """A port free on every host of hosts (loopback addresses)."""
    for _ in range(50):
        p = free_port(hosts[0])
        ok = True
        for h in hosts[1:]:
            with socket.socket() as s:
                try:
                    s.bind((h, p))
                except OSError:
                    ok = False
        if ok:
            return p
    raise RuntimeError("no common port")
