"""sandmail-rspawn speaking LMTP (RFC 2033) to an LMTP server of the test's
own, on a UNIX socket (opened by rspawn's connector) or TCP: LHLO, one
reply per accepted recipient after the data mapped to that recipient,
a connection lost half way through those replies, connection reuse, and
the connector's refusal of any socket sandmail.conf does not list."""
import os
import shutil
import socket
import tempfile
import threading

import pytest

from remoteutil import Rspawn, write_conf

MSG = b"From: a@sender.test\nTo: b@lmtp.test\nSubject: hi\n\nbody\n"


class LMTPServer(threading.Thread):
    """after_data(rcpts) -> the replies to send after the data (a list of
    lines; fewer than the recipients: close the connection after them);
    rcpt(addr) -> the reply to RCPT."""

    def __init__(self, sock, after_data=None, rcpt=None):
        super().__init__(daemon=True)
        self.sock = sock
        self.after_data = after_data or (
            lambda rs: [f"250 2.0.0 <{r}> Saved" for r in rs])
        self.rcpt = rcpt or (lambda a: "250 2.1.5 OK")
        self.conns = 0
        self.commands = []
        self.bodies = []
        self.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self.session, args=(c,),
                             daemon=True).start()

    def session(self, c):
        f = c.makefile("rwb", buffering=0)

        def say(line):
            f.write(line.encode() + b"\r\n")
        say("220 lmtp.test LMTP ready")
        rcpts = []
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode().rstrip("\r\n")
                self.commands.append(cmd)
                verb = cmd.split(" ")[0].upper()
                if verb == "LHLO":
                    say("250-lmtp.test")
                    say("250-PIPELINING")
                    say("250-ENHANCEDSTATUSCODES")
                    say("250 8BITMIME")
                elif verb == "MAIL":
                    rcpts = []
                    say("250 2.1.0 OK")
                elif verb == "RCPT":
                    addr = cmd.split("<", 1)[1].split(">", 1)[0]
                    r = self.rcpt(addr)
                    if r.startswith("2"):
                        rcpts.append(addr)
                    say(r)
                elif verb == "DATA":
                    if not rcpts:
                        say("503 5.5.1 No valid recipients")
                        continue
                    say("354 go ahead")
                    body = b""
                    while True:
                        ln = f.readline()
                        if ln in (b".\r\n", b""):
                            break
                        body += ln
                    self.bodies.append(body)
                    replies = self.after_data(rcpts)
                    for r in replies:
                        say(r)
                    if len(replies) < len(rcpts):
                        c.close()
                        return
                elif verb == "RSET":
                    rcpts = []
                    say("250 2.0.0 OK")
                elif verb == "QUIT":
                    say("221 2.0.0 bye")
                    c.close()
                    return
                else:
                    say("500 5.5.1 what")
        except OSError:
            return

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def env(procs, tmp_path):
    class Env:
        pass
    e = Env()
    e.tmp = str(tmp_path)
    # rspawn's connector runs as nobody: the socket must be reachable
    e.sdir = tempfile.mkdtemp(prefix="sandmail-lmtp-", dir="/tmp")
    os.chmod(e.sdir, 0o711)
    e.path = os.path.join(e.sdir, "lmtp")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(e.path)
    os.chmod(e.path, 0o666)
    s.listen(16)
    e.lsock = s
    e.srv = None
    e.r = None

    def start(extra=None, **kw):
        e.srv = LMTPServer(e.lsock, **kw)
        conf = write_conf(e.tmp, 25, f"lmtp_socket {e.path}\n"
                          if extra is None else extra)
        e.r = Rspawn(procs, conf, e.tmp)
        return e.r
    e.start = start
    yield e
    if e.r is not None:
        rc = e.r.close()
        assert rc == 0, e.r.log()
    e.lsock.close()
    shutil.rmtree(e.sdir, ignore_errors=True)


def unix(e):
    return [("localhost", ["unix:" + e.path])]


def statuses(res):
    return [s for s, _ in res["rcpts"]]


def test_per_recipient_replies_after_data(env):
    replies = {"a@lmtp.test": "250 2.0.0 <a@lmtp.test> Saved",
               "b@lmtp.test": "452 4.2.2 <b@lmtp.test> Mailbox is full",
               "c@lmtp.test": "552 5.2.2 <c@lmtp.test> Quota exceeded"}
    r = env.start(after_data=lambda rs: [replies[x] for x in rs])
    res = r.deliver(MSG, list(replies), unix(env), proto=1)
    assert statuses(res) == ["K", "Z", "X"], res
    for (st, text), want in zip(res["rcpts"], replies.values()):
        assert want in text, (text, want)
    assert res["mta"] == "unix:" + env.path
    assert env.srv.commands[0].startswith("LHLO "), env.srv.commands
    assert not any(c.startswith(("EHLO", "HELO"))
                   for c in env.srv.commands)
    assert env.srv.conns == 1 and len(env.srv.bodies) == 1


def test_rcpt_refused_and_rest_delivered(env):
    r = env.start(rcpt=lambda a: "550 5.1.1 <%s> User doesn't exist" % a
                  if a.startswith("x") else "451 4.3.0 try later"
                  if a.startswith("t") else "250 2.1.5 OK")
    res = r.deliver(MSG, ["x@lmtp.test", "t@lmtp.test", "a@lmtp.test"],
                    unix(env), proto=1)
    assert statuses(res) == ["X", "Z", "K"], res
    assert "User doesn't exist" in res["rcpts"][0][1]
    assert "451 4.3.0" in res["rcpts"][1][1]


def test_connection_lost_among_the_replies(env):
    # the first recipient's reply arrives, then the server is gone: the
    # first is delivered, the second deferred (never lost)
    r = env.start(after_data=lambda rs: [f"250 2.0.0 <{rs[0]}> Saved"])
    res = r.deliver(MSG, ["a@lmtp.test", "b@lmtp.test"], unix(env),
                    proto=1)
    assert statuses(res) == ["K", "Z"], res
    assert "4.4.2" in res["rcpts"][1][1]


def test_connection_reused(env):
    r = env.start()
    for i in range(3):
        res = r.deliver(MSG, [f"u{i}@lmtp.test"], unix(env), proto=1)
        assert statuses(res) == ["K"], res
    assert env.srv.conns == 1, env.srv.commands
    assert len(env.srv.bodies) == 3


def test_lmtp_over_tcp(env, procs):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    t.listen(4)
    port = t.getsockname()[1]
    srv = LMTPServer(t)
    try:
        r = env.start()
        res = r.deliver(MSG, ["a@lmtp.test", "b@lmtp.test"],
                        [("127.0.0.1", ["127.0.0.1"], port)], proto=1)
        assert statuses(res) == ["K", "K"], res
        assert srv.commands[0].startswith("LHLO ")
    finally:
        srv.close()


def test_connector_refuses_unlisted_socket(env):
    # a socket that exists and accepts, but is not an lmtp_socket: what a
    # worker (or a job) names is not enough to reach it
    other = os.path.join(env.sdir, "other")
    o = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    o.bind(other)
    os.chmod(other, 0o666)
    o.listen(4)
    try:
        r = env.start()
        res = r.deliver(MSG, ["a@lmtp.test"],
                        [("localhost", ["unix:" + other])], proto=1)
        assert statuses(res) == ["Z"], res
        assert "not an lmtp_socket" in res["rcpts"][0][1], res
        # the answer came after the refusal: nobody connected before it
        o.setblocking(False)
        with pytest.raises(BlockingIOError):
            o.accept()
        assert env.srv.conns == 0
    finally:
        o.close()


def test_no_lmtp_socket_configured(env):
    r = env.start(extra="")
    res = r.deliver(MSG, ["a@lmtp.test"], unix(env), proto=1)
    assert statuses(res) == ["Z"], res
    assert "no lmtp_socket" in res["rcpts"][0][1], res
