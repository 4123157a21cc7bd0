"""smtpd's filters (doc/filters.md): policy delegation with the real
postgrey and with policy servers of our own that misbehave, and DNS
blocklists/allowlists served by a real dnsmasq."""
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port, prog, wait_port
import dnsutil
from smtpdutil import Client, Smtpd

RCPT = "RCPT TO:<alice@example.test>"


def add_conf(sm, text):
    with open(sm.conf, "a") as f:
        f.write(text)


def session_to_rcpt(port, host="127.0.0.1", src=None, rcpt=RCPT):
    c = client_from(port, host, src)
    assert c.greeting[0] == 220, c.greeting
    assert c.code("EHLO client.test") == 250
    assert c.code("MAIL FROM:<sender@remote.test>") == 250
    return c, c.cmd(rcpt)


def client_from(port, host="127.0.0.1", src=None):
    """Client, from the loopback source address src when given."""
    c = Client.__new__(Client)
    c.s = socket.create_connection((host, port), timeout=20,
                                   source_address=(src, 0) if src else None)
    c.buf = b""
    c.greeting = c.reply()
    return c


# --- policy delegation: postgrey ---------------------------------------

def start_postgrey(procs, d):
    if shutil.which("postgrey") is None:
        pytest.fail("postgrey is not installed (scripts/deps)")
    db = os.path.join(str(d), "postgrey")
    os.makedirs(db)
    empty = os.path.join(str(d), "empty_list")
    open(empty, "w").close()
    port = free_port()
    log = open(os.path.join(str(d), "postgrey.log"), "w")
    procs.start(["postgrey", f"--inet=127.0.0.1:{port}", "--delay=1",
                 f"--dbdir={db}", "--user=root", "--group=root",
                 f"--whitelist-clients={empty}",
                 f"--whitelist-recipients={empty}",
                 "--pidfile=" + os.path.join(str(d), "postgrey.pid")],
                stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, timeout=30)
    return port


def test_postgrey_greylists_then_passes(procs, tmp_path):
    pport = start_postgrey(procs, tmp_path)
    sm = Smtpd(procs, tmp_path, listen=False,
               smtpd_policy_service=f"inet:127.0.0.1:{pport}")
    sm.start()
    c, (code, lines) = session_to_rcpt(sm.port)
    assert code == 450, lines
    assert lines[0].startswith("450 4.7.1 <alice@example.test>: Recipient "
                               "address rejected: Greylisted"), lines
    c.code("QUIT")
    # the retry, after postgrey's delay: try until it passes (postgrey
    # says when, not our clock); a bounded number of tries
    for _ in range(60):
        time.sleep(0.5)
        c, (code, lines) = session_to_rcpt(sm.port)
        if code != 450:
            break
        c.code("QUIT")
    assert code == 250, lines
    assert c.code("DATA") == 354
    assert c.code("Subject: t\r\n\r\nhi\r\n.") == 250
    c.code("QUIT")
    assert sm.count() == 1
    # postgrey's PREPEND of the pass after a delay: in the message, after
    # our Received: line
    (_, text), = sm.messages().values()
    head = text.split(b"\n\n", 1)[0].split(b"\n")
    assert head[0].startswith(b"Received: "), head
    assert any(l.startswith(b"X-Greylist: delayed ") for l in head), head


# --- policy delegation: servers that misbehave -------------------------

class PolicyServer:
    """A policy server on loopback: answer(request_text) -> bytes to send,
    or None to hang, or b"" to close."""

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        self.stop = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop.is_set():
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            self.conns.append(s)
            threading.Thread(target=self.serve, args=(s,),
                             daemon=True).start()

    def serve(self, s):
        buf = b""
        while True:
            try:
                k = s.recv(4096)
            except OSError:
                return
            if not k:
                return
            buf += k
            while b"\n\n" in buf:
                req, _, buf = buf.partition(b"\n\n")
                self.requests.append(req.decode())
                a = self.answer(req.decode())
                if a is None:
                    continue        # hang: never answer
                if a == b"":
                    s.close()
                    return
                s.sendall(a)

    def close(self):
        self.stop.set()
        self.ls.close()
        for s in self.conns:
            s.close()


def policy_smtpd(procs, tmp_path, srv, **kw):
    sm = Smtpd(procs, tmp_path, listen=False,
               smtpd_policy_service=f"inet:127.0.0.1:{srv.port}",
               smtpd_policy_timeout=1, **kw)
    sm.start()
    return sm


@pytest.mark.parametrize("answer,want", [
    (b"action=DUNNO\n\n", "250 2.1.5"),
    (b"action=OK\n\n", "250 2.1.5"),
    (b"action=REJECT go away\n\n",
     "554 5.7.1 <alice@example.test>: Recipient address rejected: go away"),
    (b"action=550 5.7.0 no thanks\n\n",
     "550 5.7.0 <alice@example.test>: Recipient address rejected: no "
     "thanks"),
    (b"action=421 later\n\n",
     "421 4.7.1 <alice@example.test>: Recipient address rejected: later"),
    (b"action=DEFER_IF_PERMIT wait\n\n",
     "450 4.7.1 <alice@example.test>: Recipient address rejected: wait"),
    (b"action=HOLD quarantine me\n\n", "250 2.1.5"),
    (b"action=PREPEND X-Policy: seen\n\n", "250 2.1.5"),
    (b"foo=bar\naction=dunno\n\n", "250 2.1.5"),
])
def test_policy_actions(procs, tmp_path, answer, want):
    srv = PolicyServer(lambda req: answer)
    try:
        sm = policy_smtpd(procs, tmp_path, srv)
        c, (code, lines) = session_to_rcpt(sm.port)
        assert lines[0].startswith(want), lines
        req = srv.requests[-1]
        assert "request=smtpd_access_policy" in req
        assert "protocol_state=RCPT" in req
        assert "client_address=127.0.0.1" in req
        assert "sender=sender@remote.test" in req
        assert "recipient=alice@example.test" in req
        assert "helo_name=client.test" in req
        c.code("QUIT")
    finally:
        srv.close()


@pytest.mark.parametrize("mode", ["hang", "close", "garbage", "extra"])
@pytest.mark.parametrize("failure", ["tempfail", "dunno"])
def test_policy_failure_modes(procs, tmp_path, mode, failure):
    answers = {"hang": None, "close": b"",
               "garbage": b"this is not a policy answer\n\n",
               "extra": b"action=DUNNO\n\naction=DUNNO\n\n"}
    srv = PolicyServer(lambda req: answers[mode])
    try:
        sm = policy_smtpd(procs, tmp_path, srv,
                          smtpd_policy_failure=failure)
        c, (code, lines) = session_to_rcpt(sm.port)
        if mode == "extra" and code == 250:
            # the extra bytes came after the first answer was read: they
            # are found at the next request, which takes the failure mode
            code, lines = c.cmd("RCPT TO:<bob@example.test>")
        want = "451 4.3.5" if failure == "tempfail" else "250 2.1.5"
        assert lines[0].startswith(want), lines
        # the session goes on, and later recipients get the same
        code, lines = c.cmd("RCPT TO:<info@example.test>")
        assert lines[0].startswith(want), lines
        assert c.code("QUIT") == 221
        assert "event=policy" in sm.logtext()
    finally:
        srv.close()


def test_policy_cache_and_relay_clients(procs, tmp_path):
    srv = PolicyServer(lambda req: b"action=DUNNO\n\n")
    try:
        sm = policy_smtpd(procs, tmp_path, srv, smtpd_max_use=100)
        for _ in range(2):
            c, (code, lines) = session_to_rcpt(sm.port)
            assert code == 250, lines
            c.code("QUIT")
        # the same question within smtpd_policy_cache: asked once, if the
        # second session ran in the same worker; at most twice otherwise
        assert 1 <= len(srv.requests) <= 2
    finally:
        srv.close()


def test_policy_service_down(procs, tmp_path):
    """Nothing listens: the failure mode, at once."""
    port = free_port()
    sm = Smtpd(procs, tmp_path, listen=False,
               smtpd_policy_service=f"inet:127.0.0.1:{port}")
    sm.start()
    c, (code, lines) = session_to_rcpt(sm.port)
    assert lines[0].startswith("451 4.3.5"), lines
    c.code("QUIT")


# --- DNS blocklists ----------------------------------------------------

def v6_name(zone):
    return ".".join(["1"] + ["0"] * 31) + "." + zone


def dnsbl_smtpd(procs, tmp_path, zones, threshold=1):
    recs = ["--address=/2.0.0.127.bl.test/127.0.0.2",
            "--address=/3.0.0.127.bl.test/127.0.0.10",
            "--address=/4.0.0.127.bl.test/127.0.0.2",
            "--address=/4.0.0.127.wl.test/127.0.0.5",
            "--address=/5.0.0.127.bl.test/127.0.0.2",
            "--address=/5.0.0.127.bl2.test/127.0.0.3",
            "--address=/6.0.0.127.bl.test/10.0.0.1",
            f"--address=/{v6_name('bl.test')}/127.0.0.2",
            "--txt-record=2.0.0.127.bl.test,Listed: see http://bl.test/2"]
    dport = dnsutil.start_dnsmasq(procs, str(tmp_path), recs)
    sm = Smtpd(procs, tmp_path, listen=False,
               smtpd_dnsbl_nameserver=f"127.0.0.1:{dport}",
               smtpd_dnsbl_threshold=threshold)
    add_conf(sm, "".join(zones))
    return sm


def greeting_from(port, src, host="127.0.0.1"):
    c = client_from(port, host, src)
    g = c.greeting
    c.close()
    return g


def test_dnsbl_listed_unlisted_allowlisted(procs, tmp_path):
    sm = dnsbl_smtpd(procs, tmp_path, [
        "smtpd_dnsbl bl.test=127.0.0.2,127.0.0.3\n",
        "smtpd_dnswl wl.test\n"])
    sm.start()
    # listed with a counted value
    code, lines = greeting_from(sm.port, "127.0.0.2")
    assert code == 554, lines
    # with the list's TXT text
    assert lines[0] == ("554 5.7.1 Service unavailable; client "
                        "[127.0.0.2] blocked using bl.test; Listed: see "
                        "http://bl.test/2"), lines
    # not listed (NXDOMAIN)
    assert greeting_from(sm.port, "127.0.0.1")[0] == 220
    # listed, but with a value the zone's filter leaves out
    assert greeting_from(sm.port, "127.0.0.3")[0] == 220
    # listed and allowlisted: the allowlist wins
    assert greeting_from(sm.port, "127.0.0.4")[0] == 220
    # an answer outside 127/8 never counts
    assert greeting_from(sm.port, "127.0.0.6")[0] == 220
    log = sm.logtext()
    assert "reason=dnsbl" in log
    assert "allowlisted=wl.test" in log


def test_dnsbl_threshold_and_weights(procs, tmp_path):
    sm = dnsbl_smtpd(procs, tmp_path, [
        "smtpd_dnsbl bl.test\n", "smtpd_dnsbl bl2.test\n"], threshold=2)
    sm.start()
    assert greeting_from(sm.port, "127.0.0.2")[0] == 220   # 1 < 2
    code, lines = greeting_from(sm.port, "127.0.0.5")      # 1 + 1
    assert code == 554, lines
    # no TXT record: the zone alone
    assert lines[0].endswith("[127.0.0.5] blocked using bl.test"), lines
    os.makedirs(tmp_path / "w")
    sm2 = dnsbl_smtpd(procs, tmp_path / "w", [
        "smtpd_dnsbl bl.test*2\n"], threshold=2)
    sm2.start()
    assert greeting_from(sm2.port, "127.0.0.2")[0] == 554  # weight 2


def test_dnsbl_ipv6_client(procs, tmp_path):
    sm = dnsbl_smtpd(procs, tmp_path, ["smtpd_dnsbl bl.test\n"])
    sm.port = free_port()
    with open(sm.log, "ab") as lg:
        procs.start([prog("sandmail-smtpd"), "-c", sm.conf,
                     "-l", f"[::1]:{sm.port}"], stderr=lg)
    wait_port(sm.port, host="::1")
    code, lines = greeting_from(sm.port, None, host="::1")
    assert code == 554, lines
    assert "client [::1] blocked using bl.test" in lines[0]


def test_dnsbl_nameserver_silent(procs, tmp_path):
    """A name server that never answers: not listed, after the time-out."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        sm = Smtpd(procs, tmp_path, listen=False,
                   smtpd_dnsbl_nameserver="127.0.0.1:%d" %
                   silent.getsockname()[1], smtpd_dnsbl_timeout=1)
        add_conf(sm, "smtpd_dnsbl bl.test\n")
        sm.start()
        assert greeting_from(sm.port, "127.0.0.2")[0] == 220
        assert "lookups timed out" in sm.logtext()
    finally:
        silent.close()


# --- containment ---------------------------------------------------------

def inet_sockets():
    """{inode: (proto, local port, remote port)} of every inet socket."""
    out = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/net/{proto}") as f:
            for line in f.readlines()[1:]:
                x = line.split()
                out[int(x[9])] = (proto[:3], int(x[1].split(":")[1], 16),
                                  int(x[2].split(":")[1], 16))
    return out


def test_session_holds_only_its_peers(procs, tmp_path):
    """A session with both filters holds, besides its client, one stream
    to the policy server and one UDP socket connected to the name server
    (both opened before the filter), and is under seccomp: it can make no
    other socket, nor point these elsewhere (doc/design.md)."""
    from smtpdutil import children
    srv = PolicyServer(lambda req: b"action=DUNNO\n\n")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    dport = silent.getsockname()[1]
    try:
        sm = Smtpd(procs, tmp_path, listen=False,
                   smtpd_policy_service=f"inet:127.0.0.1:{srv.port}",
                   smtpd_dnsbl_nameserver=f"127.0.0.1:{dport}",
                   smtpd_dnsbl_timeout=1, smtpd_max_use=1)
        add_conf(sm, "smtpd_dnsbl bl.test\n")
        sm.start()
        c, (code, lines) = session_to_rcpt(sm.port)
        assert code == 250, lines
        mine = c.s.getsockname()[1]
        socks = inet_sockets()
        workers = []
        for pid in children(sm.proc.pid):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            peers = set()
            for fd in fds:
                try:
                    t = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if t.startswith("socket:["):
                    ino = int(t[8:-1])
                    if ino in socks:
                        peers.add((socks[ino][0], socks[ino][2]))
            if ("tcp", mine) in peers:
                workers.append((pid, peers))
        assert len(workers) == 1, workers
        pid, peers = workers[0]
        assert peers == {("tcp", mine), ("tcp", srv.port),
                         ("udp", dport)}, peers
        with open(f"/proc/{pid}/status") as f:
            st = f.read()
        assert "Seccomp:\t2" in st and "NoNewPrivs:\t1" in st, st
        c.code("QUIT")
    finally:
        silent.close()
        srv.close()


def test_policy_prepend_once_per_message(procs, tmp_path):
    srv = PolicyServer(lambda req: b"action=PREPEND X-Policy: seen\n\n"
                       if "recipient=alice" in req or "recipient=bob" in req
                       else b"action=PREPEND not a header\n\n")
    try:
        sm = policy_smtpd(procs, tmp_path, srv)
        c, (code, lines) = session_to_rcpt(sm.port)
        assert code == 250, lines
        assert c.code("RCPT TO:<bob@example.test>") == 250
        assert c.code("RCPT TO:<info@example.test>") == 250
        assert c.code("DATA") == 354
        assert c.code("Subject: t\r\n\r\nhi\r\n.") == 250
        # the next message of the session has none
        assert c.code("MAIL FROM:<s@remote.test>") == 250
        assert c.code("RCPT TO:<carol@virt.test>") == 250
        assert c.code("DATA") == 354
        assert c.code("Subject: u\r\n\r\nhi\r\n.") == 250
        c.code("QUIT")
        texts = sorted(t for _, t in sm.messages().values())
        assert len(texts) == 2
        one = [t for t in texts if b"Subject: t" in t][0]
        two = [t for t in texts if b"Subject: u" in t][0]
        assert one.count(b"\nX-Policy: seen\n") == 1, one
        assert b"X-Policy" not in two and b"not a header" not in one
        assert "applied=no" in sm.logtext()     # the bad one, logged
    finally:
        srv.close()


def test_policy_hold_once_per_message(procs, tmp_path):
    """HOLD quarantines the message of its transaction only (the held
    path end to end: test_installed_milter.py)."""
    srv = PolicyServer(lambda req: b"action=HOLD look at it\n\n"
                       if "recipient=alice" in req else b"action=DUNNO\n\n")
    try:
        sm = policy_smtpd(procs, tmp_path, srv)
        c, (code, lines) = session_to_rcpt(sm.port)
        assert code == 250, lines
        assert c.code("DATA") == 354
        code, lines = c.cmd("Subject: t\r\n\r\nhi\r\n.")
        assert code == 250, lines
        one = lines[0].split()[-1]
        assert c.code("MAIL FROM:<s@remote.test>") == 250
        assert c.code("RCPT TO:<carol@virt.test>") == 250
        assert c.code("DATA") == 354
        code, lines = c.cmd("Subject: u\r\n\r\nhi\r\n.")
        assert code == 250, lines
        two = lines[0].split()[-1]
        c.code("QUIT")
        log = sm.logtext()
        assert (f'event=quarantine id={one} by=policy '
                'reason="look at it"') in log, log
        assert f"event=quarantine id={two}" not in log, log
    finally:
        srv.close()


# --- iprev (smtpd_iprev): Authentication-Results ------------------------

def test_iprev_in_authentication_results(procs, tmp_path):
    recs = ["--local=/127.in-addr.arpa/",
            "--ptr-record=1.0.0.127.in-addr.arpa,client.test",
            "--host-record=client.test,127.0.0.1",
            "--ptr-record=2.0.0.127.in-addr.arpa,liar.test",
            "--host-record=liar.test,127.0.0.9"]
    dport = dnsutil.start_dnsmasq(procs, str(tmp_path), recs)
    sm = Smtpd(procs, tmp_path, listen=False, smtpd_iprev="yes",
               smtpd_dnsbl_nameserver=f"127.0.0.1:{dport}")
    sm.start()
    got = {}
    for src in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        c, (code, lines) = session_to_rcpt(sm.port, src=src)
        assert code == 250, lines
        assert c.code("DATA") == 354
        c.send(f"Subject: {src}\r\n\r\nx\r\n.\r\n")
        assert c.reply()[0] == 250
        c.code("QUIT")
    for _, text in sm.messages().values():
        text = text.decode()
        ar = text.split("\nAuthentication-Results: ", 1)[1]
        ar = ar.split("\nSubject: ")[0]
        got[text.split("\nSubject: ")[1].split("\n")[0]] = ar
    assert got["127.0.0.1"] == ("test.example;\n\tiprev=pass "
                                "policy.iprev=127.0.0.1 (client.test)"), got
    assert got["127.0.0.2"] == ("test.example;\n\tiprev=fail "
                                "policy.iprev=127.0.0.2"), got
    assert got["127.0.0.3"] == ("test.example;\n\tiprev=fail "
                                "policy.iprev=127.0.0.3"), got
    assert "event=iprev ip=127.0.0.1 result=pass name=client.test" in \
        sm.logtext()


# --- policy at END-OF-MESSAGE (smtpd_policy_eom) ----------------------

def eom_answer(req):
    """RCPT: DUNNO; END-OF-MESSAGE: by the subject's size class"""
    if "protocol_state=END-OF-MESSAGE" not in req:
        return b"action=DUNNO\n\n"
    size = int(req.split("\nsize=")[1].split("\n")[0])
    return {0: b"action=DUNNO\n\n", 1: b"action=HOLD big one\n\n",
            2: b"action=REJECT too big\n\n",
            3: b"action=DEFER later\n\n"}[min(size // 1000, 3)]


def eom_message(c, pad, rcpts=("alice@example.test",)):
    assert c.code("MAIL FROM:<sender@remote.test>") == 250
    for r in rcpts:
        assert c.code(f"RCPT TO:<{r}>") == 250
    assert c.code("DATA") == 354
    c.send(f"Subject: t\r\n\r\n{'x' * pad}\r\n.\r\n")
    return c.reply()


def test_policy_at_end_of_message(procs, tmp_path):
    """smtpd_policy_eom: asked again with protocol_state=END-OF-MESSAGE
    and the text's size, before the commit: HOLD quarantines the message
    (Postfix's HOLD in smtpd_end_of_data_restrictions), REJECT and DEFER
    refuse it and nothing stays in the queue."""
    srv = PolicyServer(eom_answer)
    try:
        sm = policy_smtpd(procs, tmp_path, srv, smtpd_policy_eom="yes")
        c = client_from(sm.port)
        assert c.code("EHLO client.test") == 250
        code, lines = eom_message(c, 10)
        assert code == 250, lines
        plain = lines[0].split()[-1]
        code, lines = eom_message(c, 1200)
        assert code == 250, lines
        held = lines[0].split()[-1]
        assert eom_message(c, 2200) == (554, [
            "554 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: too big"])
        assert eom_message(c, 3200, ("alice@example.test",
                                     "bob@example.test")) == (450, [
            "450 4.7.1 <END-OF-MESSAGE>: End-of-data rejected: later"])
        c.code("QUIT")
        msgs = sm.messages()
        assert sorted(msgs) == sorted([plain, held]), msgs
        assert not msgs[plain][0]["flags"] & 32
        assert msgs[held][0]["flags"] & 32          # ENV_HOLD
        assert os.listdir(sm.qdir("tmp")) == []
        log = sm.logtext()
        assert (f'event=quarantine id={held} by=policy '
                'reason="big one"') in log, log
        eoms = [r for r in srv.requests
                if "protocol_state=END-OF-MESSAGE" in r]
        assert len(eoms) == 4, srv.requests
        # the size is the text's; the recipient only when there is one
        size = len(msgs[plain][1])
        first = dict(l.split("=", 1) for l in eoms[0].split("\n"))
        assert first["recipient"] == "alice@example.test", first
        assert first["recipient_count"] == "1"
        assert 0 < int(first["size"]) <= size, (first, size)
        last = dict(l.split("=", 1) for l in eoms[3].split("\n"))
        assert last["recipient"] == "" and last["recipient_count"] == "2"
    finally:
        srv.close()


def test_policy_instance_is_the_transactions(procs, tmp_path):
    """instance= names one message transaction, as Postfix's does: its
    RCPT requests and its END-OF-MESSAGE request carry the same value (a
    policy server ties the end's size and count to the recipients it
    saw by it), and the next transaction another."""
    srv = PolicyServer(eom_answer)
    try:
        sm = policy_smtpd(procs, tmp_path, srv, smtpd_policy_eom="yes",
                          smtpd_policy_cache="0")
        c = client_from(sm.port)
        assert c.code("EHLO client.test") == 250
        rcpts = ("alice@example.test", "bob@example.test")
        assert eom_message(c, 10, rcpts)[0] == 250
        assert eom_message(c, 10, rcpts)[0] == 250
        c.code("QUIT")
        reqs = [dict(l.split("=", 1) for l in r.split("\n") if "=" in l)
                for r in srv.requests]
        assert [r["protocol_state"] for r in reqs] == [
            "RCPT", "RCPT", "END-OF-MESSAGE"] * 2, reqs
        first = {r["instance"] for r in reqs[:3]}
        second = {r["instance"] for r in reqs[3:]}
        assert len(first) == 1 and len(second) == 1, reqs
        assert first != second, reqs
    finally:
        srv.close()


def test_policy_eom_off_by_default(procs, tmp_path):
    srv = PolicyServer(eom_answer)
    try:
        sm = policy_smtpd(procs, tmp_path, srv)
        c = client_from(sm.port)
        assert c.code("EHLO client.test") == 250
        assert eom_message(c, 2200)[0] == 250
        c.code("QUIT")
        assert all("protocol_state=RCPT" in r for r in srv.requests)
    finally:
        srv.close()


@pytest.mark.parametrize("failure,code", [("tempfail", 451), ("dunno", 250)])
def test_policy_eom_failure_mode(procs, tmp_path, failure, code):
    """A policy server that never answers END-OF-MESSAGE: its failure
    mode, 451 4.3.5 and nothing queued, or the message taken."""
    srv = PolicyServer(lambda req: None if "END-OF-MESSAGE" in req
                       else b"action=DUNNO\n\n")
    try:
        sm = policy_smtpd(procs, tmp_path, srv, smtpd_policy_eom="yes",
                          smtpd_policy_failure=failure)
        c = client_from(sm.port)
        assert c.code("EHLO client.test") == 250
        code_, lines = eom_message(c, 10)
        assert code_ == code, lines
        if code == 451:
            assert lines == ["451 4.3.5 <END-OF-MESSAGE>: Server "
                             "configuration problem"], lines
        c.code("QUIT")
        assert sm.count() == (1 if code == 250 else 0)
        assert os.listdir(sm.qdir("tmp")) == []
        assert "event=failure" in sm.logtext()
    finally:
        srv.close()
