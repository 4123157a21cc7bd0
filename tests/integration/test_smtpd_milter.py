"""Milters in smtpd (doc/filters.md, "Milters"): the tests' own milter
(python3-milter, testmilter.py) at each stage of real sessions through
smtpd's listener: header changes applied before the queue commits the
message, a custom reply at RCPT, reject and discard at the end of DATA,
and milters that hang, crash or are not there, each meeting its
default action within its time-out."""
import os
import socket
import subprocess

import pytest

from conftest import free_port, prog, wait_port
import smtpdutil
from smtpdutil import Smtpd

HERE = os.path.dirname(os.path.abspath(__file__))
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
MSG = ("From: a@remote.test\r\nSubject: hello\r\nTo: alice@example.test\r\n"
       "\r\nline one\r\n..dot line\r\n")


def start_milter(procs, d):
    port = free_port()
    log = open(os.path.join(str(d), "milter.log"), "w")
    procs.start(["/usr/bin/python3", os.path.join(HERE, "testmilter.py"),
                 str(port)], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, timeout=30)
    return port


def smtpd(procs, d, milter):
    sm = Smtpd(procs, d, listen=False, smtpd_milter=milter)
    sm.start()
    return sm


def to_data(c, sender="s@remote.test", rcpts=("alice@example.test",)):
    assert c.greeting[0] == 220, c.greeting
    assert c.code("EHLO client.test") == 250
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    for r in rcpts:
        assert c.code(f"RCPT TO:<{r}>") == 250
    assert c.code("DATA") == 354


def send(c, msg):
    c.send(msg + ".\r\n")
    return c.reply()


@pytest.fixture
def mport(procs, tmp_path):
    return start_milter(procs, tmp_path)


def test_header_changes_before_commit(procs, tmp_path, mport):
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{mport}")
    c = sm.client()
    to_data(c)
    code, lines = send(c, MSG)
    assert code == 250, lines
    qid = lines[0].split()[-1]
    c.code("QUIT")
    msgs = sm.messages()
    assert list(msgs) == [qid]
    env, text = msgs[qid]
    text = text.decode()
    head, _, body = text.partition("\n\n")
    fields = head.split("\n")
    # ours first, then the client's with the milter's changes: X-First
    # inserted at 1, Subject changed in place, X-Milter-Test at the end
    assert fields[0].startswith("Received: from client.test"), fields
    i = next(k for k, f in enumerate(fields) if f.startswith("From:"))
    assert fields[i:] == ["From: a@remote.test", "X-First: yes",
                          "Subject: changed", "To: alice@example.test",
                          "X-Milter-Test: passed"], fields
    assert body == "line one\n.dot line\n"
    assert env["size"] == len(text.encode())
    log = open(tmp_path / "milter.log").read()
    # the macros milters read, and the body as CRLF lines
    assert "connect [127.0.0.1] ('127.0.0.1'," in log, log
    assert f"mail <s@remote.test> s@remote.test" in log
    assert "rcpt <alice@example.test> alice@example.test" in log
    assert "body 21 2" in log


def test_fields_added_to_a_text_without_any(procs, tmp_path, mport):
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{mport}")
    c = sm.client()
    to_data(c)
    assert send(c, "hello\r\nworld\r\n")[0] == 250
    text = list(sm.messages().values())[0][1].decode()
    head, sep, body = text.partition("\n\n")
    assert head.split("\n")[-3:] == ["X-Milter-Test: passed", "X-First: yes",
                                     "Subject: changed"], text
    assert body == "hello\nworld\n", text


def test_body_envelope_and_delete(procs, tmp_path, mport):
    """A replaced body, a deleted field, a new sender, a recipient added
    and one deleted: all in what the queue commits."""
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{mport}")
    c = sm.client()
    to_data(c)
    code, lines = send(c, "Subject: rewrite\r\nX-Remove: me\r\n"
                       "X-Keep: me\r\n\r\nold body\r\n")
    assert code == 250, lines
    env, text = list(sm.messages().values())[0]
    text = text.decode()
    assert "X-Remove" not in text and "\nX-Keep: me\n" in text, text
    assert text.endswith("\n\nnew body\nsecond line\n"), text
    assert env["sender"] == "changed@remote.test"
    assert [r[0] for r in env["rcpts"]] == ["bob@example.test"]
    assert env["size"] == len(text.encode())


def test_reused_worker_connects_again(procs, tmp_path, mport):
    """A port-25 worker serves the next sessions: each gets its own
    milter connections from the listener, and ends them with QUIT."""
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{mport}")
    pids = set()
    for k in range(3):
        c = sm.client()
        to_data(c)
        assert send(c, MSG)[0] == 250
        assert c.code("QUIT") == 221
        c.close()
    for line in sm.logtext().splitlines():
        if "event=connect " in line:
            pids.add(line.split(" pid=")[1].split()[0])
    assert len(sm.messages()) == 3
    for _, text in sm.messages().values():
        assert b"\nX-Milter-Test: passed\n" in text
    assert len(pids) < 3, pids      # a worker served more than one
    # each session its own connection: a connect stage before each MAIL.
    # The start's wait for the port is a session too, whose connect
    # stage reaches the milter or not as the client's close races it
    lines = open(tmp_path / "milter.log").read().splitlines()
    stages = [ln.split(" ", 1)[0] for ln in lines
              if ln.startswith(("connect ", "mail "))]
    pairs = sum(1 for a, b in zip(stages, stages[1:])
                if (a, b) == ("connect", "mail"))
    assert pairs == 3 and stages.count("mail") == 3, lines


def test_rcpt_custom_reply_and_tempfail(procs, tmp_path, mport):
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{mport}")
    c = sm.client()
    c.code("EHLO client.test")
    assert c.code("MAIL FROM:<s@remote.test>") == 250
    assert c.cmd("RCPT TO:<reject@routed.test>") == \
        (550, ["550 5.7.1 no such luck here"])
    assert c.cmd("RCPT TO:<tempfail@routed.test>")[0] == 451
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    code, _ = send(c, MSG)
    assert code == 250
    env = list(sm.messages().values())[0][0]
    assert [r[0] for r in env["rcpts"]] == ["alice@example.test"]


def test_gtube_rejected_and_discard(procs, tmp_path, mport):
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{mport}")
    c = sm.client()
    to_data(c)
    assert send(c, f"Subject: spam\r\n\r\n{GTUBE}\r\n") == \
        (554, ["554 5.7.1 GTUBE seen"])
    # the same session goes on: a discarded message hears 250
    assert c.code("MAIL FROM:<s@remote.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    code, lines = send(c, "Subject: discard\r\n\r\nx\r\n")
    assert code == 250, lines
    c.code("QUIT")
    assert sm.count() == 0
    assert os.listdir(sm.qdir("tmp")) == []
    assert "event=discarded" in sm.logtext()


def test_bdat_goes_through_the_milter(procs, tmp_path, mport):
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{mport}")
    c = sm.client()
    c.code("EHLO client.test")
    assert c.code("MAIL FROM:<s@remote.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    m = "Subject: bdat\r\n\r\nbody\r\n"
    c.send(f"BDAT {len(m)} LAST\r\n{m}")
    assert c.reply()[0] == 250
    text = list(sm.messages().values())[0][1].decode()
    assert "\nX-Milter-Test: passed\n" in text
    assert "\nSubject: changed\n" in text


def test_under_tcpserver(procs, tmp_path, mport):
    """Under tcpserver the connections are made before the sandbox."""
    sm = Smtpd(procs, tmp_path, listen=False,
               smtpd_milter=f"inet:127.0.0.1:{mport}")
    port = free_port()
    with open(sm.log, "ab") as lg:
        ts = procs.start(["tcpserver", "-q", "-H", "-R", "-l", "localhost",
                          "127.0.0.1", str(port), prog("sandmail-smtpd"),
                          "-c", sm.conf], stderr=lg)
    wait_port(port)
    smtpdutil.wait_idle(ts.pid, sm.log)
    c = smtpdutil.Client(port)
    to_data(c)
    assert send(c, MSG)[0] == 250
    c.code("QUIT")
    text = list(sm.messages().values())[0][1].decode()
    assert "\nX-Milter-Test: passed\n" in text
    assert "connect [127.0.0.1]" in open(tmp_path / "milter.log").read()


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]      # bound, never listening


@pytest.mark.parametrize("action,code", [("tempfail", 451),
                                         ("reject", 550),
                                         ("accept", 250)])
def test_hanging_milter_meets_default_action(procs, tmp_path, mport, action,
                                             code):
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{mport} "
               f"default_action={action} timeout=2")
    c = sm.client()
    c.code("EHLO client.test")
    # hang@ makes the milter sleep in MAIL: our time-out, then the action
    got = c.cmd("MAIL FROM:<hang@remote.test>")
    assert got[0] == code, got
    if code != 250:
        assert c.code("QUIT") == 221
        return
    # accept: the milter is left out, mail flows
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    assert send(c, MSG)[0] == 250
    assert sm.count() == 1
    assert "event=failure" in sm.logtext()


def test_crashing_milter_tempfails_then_next_session(procs, tmp_path, mport):
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{mport} timeout=5")
    c = sm.client()
    c.code("EHLO client.test")
    assert c.cmd("MAIL FROM:<crash@remote.test>")[0] == 451
    # dead for the rest of the session: every MAIL is deferred
    assert c.cmd("MAIL FROM:<s@remote.test>")[0] == 451
    c.code("QUIT")
    assert sm.count() == 0


def test_absent_milter(procs, tmp_path):
    s, port = dead_port()
    try:
        sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{port}")
        c = sm.client()
        assert c.greeting[0] == 421, c.greeting
        assert c.closed()
        (tmp_path / "b").mkdir()
        sm2 = Smtpd(procs, tmp_path / "b", listen=False,
                    smtpd_milter=f"inet:127.0.0.1:{port} "
                    "default_action=accept")
        sm2.start()
        c = sm2.client()
        to_data(c)
        assert send(c, MSG)[0] == 250
        assert sm2.count() == 1
    finally:
        s.close()


# --- rspamd, in its milter mode (the proxy worker scanning itself) -----

RSPAMD_CONF = """\
.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "info"; }
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:PORT";
    milter = yes;
    upstream "local" { default = yes; self_scan = yes; }
    timeout = 120s;
    count = 1;
    reject_message = "Spam message rejected";
}
"""


def start_rspamd(procs, d, nameserver="127.0.0.1:1",
                 headers=("x-spamd-result", "x-rspamd-queue-id"),
                 local=None):
    """rspamd with a configuration of its own in d: the Debian defaults
    (modules, GTUBE), our headers, no network (a dead name server, or
    the test's own); local: more local.d files, {name: text}."""
    import shutil
    if shutil.which("rspamd") is None:
        pytest.fail("rspamd is not installed (scripts/deps)")
    d = os.path.join(str(d), "rspamd")
    for sub in ("local.d", "db", "run", "log"):
        os.makedirs(os.path.join(d, sub))
    port = free_port()
    with open(os.path.join(d, "rspamd.conf"), "w") as f:
        f.write(RSPAMD_CONF.replace("PORT", str(port)))
    with open(os.path.join(d, "local.d", "milter_headers.conf"), "w") as f:
        f.write("use = [%s];\n" % ", ".join(f'"{h}"' for h in headers) +
                "skip_local = false;\nskip_authenticated = false;\n")
    with open(os.path.join(d, "local.d", "options.inc"), "w") as f:
        f.write("local_addrs = [];\n"
                f'dns {{ nameserver = ["{nameserver}"]; timeout = 5s; '
                "retransmits = 2; }\n")
    for name, text in (local or {}).items():
        with open(os.path.join(d, "local.d", name), "w") as f:
            f.write(text)
    out = open(os.path.join(d, "out.log"), "w")
    procs.start(["rspamd", "-f", "-i", "-u", "root", "-g", "root", "-c",
                 os.path.join(d, "rspamd.conf"),
                 "--var", f"LOCAL_CONFDIR={d}", "--var", f"DBDIR={d}/db",
                 "--var", f"RUNDIR={d}/run", "--var", f"LOGDIR={d}/log"],
                stdout=out, stderr=subprocess.STDOUT)
    wait_port(port, timeout=180)      # it loads its rules first
    return port


def test_rspamd_rejects_gtube_and_adds_headers(procs, tmp_path):
    rport = start_rspamd(procs, tmp_path)
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{rport} timeout=60")
    c = sm.client()
    to_data(c)
    code, lines = send(c, "From: a@remote.test\r\nTo: alice@example.test\r\n"
                       f"Subject: spam\r\n\r\n{GTUBE}\r\n")
    assert lines == ["554 5.7.1 Gtube pattern"], lines
    assert c.code("MAIL FROM:<s@remote.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    code, lines = send(c, MSG)
    assert code == 250, lines
    c.code("QUIT")
    msgs = sm.messages()
    assert len(msgs) == 1
    text = list(msgs.values())[0][1].decode()
    head = text.partition("\n\n")[0]
    assert "\nX-Spamd-Result: default: False [" in head, head
    assert "\nX-Rspamd-Queue-Id: " in head, head
    assert text.endswith("\n\nline one\n.dot line\n")


# --- SpamAssassin through spamass-milter (spamd on loopback) ----------

SA_CF = """required_score 5.0
use_bayes 0
skip_rbl_checks 1
use_razor2 0
use_pyzor 0
lock_method flock
"""


def start_spamass(procs, d, site, argv):
    """spamd (the Debian rules as shipped: no update, no network test) on
    a loopback port with a site configuration of its own in site, and
    spamass-milter on a UNIX socket in d asking it through spamc; argv:
    spamass-milter's own options.  The socket's path.  spamd's children
    run as nobody (it refuses root): site must be readable by all, which
    pytest's scratch directories are not."""
    import glob
    import shutil
    for p in ("spamd", "spamc", "spamass-milter"):
        if shutil.which(p) is None:
            pytest.fail(f"{p} is not installed (scripts/deps)")
    d = os.path.join(str(d), "spamassassin")
    os.chmod(site, 0o755)
    for pre in glob.glob("/etc/spamassassin/*.pre"):
        shutil.copy(pre, site)      # the plugins Debian loads
    with open(os.path.join(site, "local.cf"), "w") as f:
        f.write(SA_CF)
    os.makedirs(os.path.join(d, "home"))
    os.makedirs(os.path.join(site, "home"))
    port = free_port()
    log = open(os.path.join(d, "spamd.log"), "w")
    procs.start(["spamd", f"--listen=127.0.0.1:{port}",
                 "--configpath=/usr/share/spamassassin",
                 f"--siteconfigpath={site}", "--nouser-config", "--local",
                 "--syslog=stderr", "--username=nobody",
                 f"--helper-home-dir={site}/home", "--max-children=2",
                 f"--pidfile={d}/spamd.pid"],
                stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, timeout=60)
    # the smtpd listener connects as user_smtpd (nobody here), no more
    # root: the socket lies where all may search, writable by all, as a
    # site makes its milter's socket reachable for its smtpd user
    sock = os.path.join(site, "milter.sock")
    mlog = open(os.path.join(d, "milter.log"), "w")
    procs.start(["spamass-milter", "-p", sock, "-P", f"{d}/milter.pid"] +
                argv + ["--", "-d", "127.0.0.1", "-p", str(port)],
                stdout=mlog, stderr=subprocess.STDOUT)
    smtpdutil.settle(lambda: os.path.exists(sock), timeout=30)
    os.chmod(sock, 0o666)
    return sock


@pytest.mark.parametrize("mode", ["reject", "tag"])
def test_spamassassin_gtube(procs, tmp_path, mode):
    """GTUBE: refused at the end of DATA (-r 15) or kept, marked as spam
    in its headers (no -r); a clean message is kept, marked clean."""
    import shutil
    import tempfile
    site = tempfile.mkdtemp(prefix="sandmail-sa-")
    try:
        spamassassin_gtube(procs, tmp_path, site, mode)
    finally:
        procs.stop_all()        # spamd, before its configuration goes
        shutil.rmtree(site, ignore_errors=True)


def spamassassin_gtube(procs, tmp_path, site, mode):
    sock = start_spamass(procs, tmp_path, site,
                         ["-r", "15"] if mode == "reject" else [])
    sm = smtpd(procs, tmp_path, f"unix:{sock} timeout=60")
    c = sm.client()
    to_data(c)
    code, lines = send(c, "From: a@remote.test\r\nTo: alice@example.test\r\n"
                       f"Subject: spam\r\n\r\n{GTUBE}\r\n")
    if mode == "reject":
        assert code == 550 and "SpamAssassin" in lines[0], lines
    else:
        assert code == 250, lines
    assert c.code("MAIL FROM:<s@remote.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    code, lines = send(c, MSG)
    assert code == 250, lines
    c.code("QUIT")
    heads = {}
    for _, text in sm.messages().values():
        head = text.decode().partition("\n\n")[0]
        heads["spam" if "\nSubject: spam" in head or
              "Subject: *****SPAM*****" in head else "clean"] = head
    assert sorted(heads) == (["clean"] if mode == "reject"
                             else ["clean", "spam"]), heads
    assert "\nX-Spam-Status: No, " in heads["clean"], heads["clean"]
    assert "\nX-Spam-Checker-Version: SpamAssassin" in heads["clean"]
    if mode == "tag":
        assert "\nX-Spam-Flag: YES" in heads["spam"], heads["spam"]
        assert "GTUBE" in heads["spam"], heads["spam"]


# --- OpenDKIM as a signing milter, checked with dkimpy -----------------

def start_opendkim(procs, d):
    import shutil
    if shutil.which("opendkim") is None or \
            shutil.which("opendkim-genkey") is None:
        pytest.fail("opendkim is not installed (scripts/deps)")
    d = os.path.join(str(d), "opendkim")
    os.makedirs(d)
    subprocess.run(["opendkim-genkey", "-D", d, "-d", "example.test", "-s",
                    "sel", "-b", "2048"], check=True)
    port = free_port()
    conf = os.path.join(d, "opendkim.conf")
    with open(conf, "w") as f:
        f.write(f"Mode sv\nDomain example.test\nSelector sel\n"
                f"KeyFile {d}/sel.private\nRequireSafeKeys false\n"
                f"Socket inet:{port}@127.0.0.1\nBackground false\n"
                f"Canonicalization relaxed/relaxed\nSyslog false\n"
                f"InternalHosts 127.0.0.1\nPidFile {d}/pid\n")
    out = open(os.path.join(d, "out.log"), "w")
    procs.start(["opendkim", "-f", "-x", conf], stdout=out,
                stderr=subprocess.STDOUT)
    wait_port(port, timeout=30)
    with open(os.path.join(d, "sel.txt")) as f:
        txt = "".join(p for p in f.read().split('"')[1::2])
    return port, txt.encode()


def test_opendkim_signs_and_dkimpy_verifies(procs, tmp_path):
    import dkim
    dport, record = start_opendkim(procs, tmp_path)
    sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{dport}")
    c = sm.client()
    to_data(c, sender="bob@example.test")
    code, lines = send(c, "From: Bob <bob@example.test>\r\n"
                       "To: alice@example.test\r\nSubject: signed\r\n"
                       "Date: Mon, 7 Dec 2026 05:00:00 +0000\r\n"
                       "Message-ID: <x1@example.test>\r\n\r\n"
                       "Hello,\r\n  spaced   line\r\n\r\n")
    assert code == 250, lines
    c.code("QUIT")
    text = list(sm.messages().values())[0][1]
    assert b"\nDKIM-Signature: " in text, text
    # as it will go out: CRLF lines
    wire = text.replace(b"\n", b"\r\n")

    def dns(name, timeout=5):
        assert name == b"sel._domainkey.example.test.", name
        return record
    assert dkim.verify(wire, dnsfunc=dns), text
    # and a changed body fails, so the check means something
    assert not dkim.verify(wire.replace(b"Hello", b"Jello"), dnsfunc=dns)


@pytest.mark.parametrize("value", [
    "inet:127.0.0.1", "127.0.0.1:8891", "unix:relative/path",
    "inet:127.0.0.1:8891 default_action=dunno",
    "inet:127.0.0.1:8891 timeout=0", "inet:127.0.0.1:8891 timeout=5s",
    "inet:127.0.0.1:8891 colour=blue"])
def test_bad_milter_setting_stops_smtpd(procs, tmp_path, value):
    sm = Smtpd(procs, tmp_path, listen=False, smtpd_milter=value)
    r = subprocess.run([prog("sandmail-smtpd"), "-c", sm.conf, "-l",
                        f"127.0.0.1:{free_port()}"], capture_output=True,
                       timeout=30)
    assert r.returncode == 111, r
    assert b"smtpd_milter" in r.stderr, r.stderr


# --- a quarantine before the end of the message -----------------------

class RawMilter:
    """A milter of raw packets on loopback: it asks for the quarantine
    action and answers MAIL with a quarantine packet ('q'), which the
    protocol allows at end of message only (libmilter's smfi_quarantine
    refuses elsewhere, so python3-milter cannot send it)."""

    def __init__(self, at=b"M"):
        import threading
        self.at = at            # the stage answered with 'q'
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        import threading
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,),
                             daemon=True).start()

    @staticmethod
    def pkt(cmd, data=b""):
        import struct
        return struct.pack(">I", len(data) + 1) + cmd + data

    def serve(self, s):
        import struct
        buf = b""
        with s:
            while True:
                while len(buf) < 4 or len(buf) < 4 + \
                        struct.unpack(">I", buf[:4])[0]:
                    k = s.recv(65536)
                    if not k:
                        return
                    buf += k
                n = struct.unpack(">I", buf[:4])[0]
                cmd, buf = buf[4:5], buf[4 + n:]
                if cmd == b"O":         # version 6, quarantine, all steps
                    s.sendall(self.pkt(b"O", struct.pack(">III", 6, 0x20,
                                                         0)))
                elif cmd == self.at == b"M":
                    s.sendall(self.pkt(b"q", b"held at MAIL\0"))
                elif cmd == b"E":
                    s.sendall((self.pkt(b"q", b"held at the end\0")
                               if self.at == b"E" else b"") +
                              self.pkt(b"a"))
                elif cmd in b"CHMRTLNB":
                    s.sendall(self.pkt(b"c"))
                # D (macros), A (abort), Q (quit): no answer

    def close(self):
        self.ls.close()


@pytest.mark.parametrize("action,code", [("tempfail", 451),
                                         ("accept", 250)])
def test_quarantine_at_mail_is_a_protocol_error(procs, tmp_path, action,
                                                code):
    """A quarantine answered to MAIL is not honoured: the milter broke the
    protocol, its default action applies (451, or left out), and a
    message accepted after it is not held."""
    m = RawMilter()
    try:
        sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{m.port} "
                   f"default_action={action} timeout=10")
        c = sm.client()
        c.code("EHLO client.test")
        assert c.cmd("MAIL FROM:<s@remote.test>")[0] == code
        if code == 250:
            assert c.code("RCPT TO:<alice@example.test>") == 250
            assert c.code("DATA") == 354
            assert send(c, MSG)[0] == 250
        c.code("QUIT")
        msgs = sm.messages()
        assert len(msgs) == (1 if code == 250 else 0)
        for env, _ in msgs.values():
            assert not env["flags"] & 32, env
        assert "event=quarantine" not in sm.logtext()
        assert "event=failure" in sm.logtext()
    finally:
        m.close()


def test_raw_quarantine_at_end_holds(procs, tmp_path):
    """The same milter's quarantine at end of message holds it (so the
    refusal above is about the stage)."""
    m = RawMilter(at=b"E")
    try:
        sm = smtpd(procs, tmp_path, f"inet:127.0.0.1:{m.port} timeout=10")
        c = sm.client()
        to_data(c)
        code, lines = send(c, MSG)
        assert code == 250, lines
        c.code("QUIT")
        env = sm.messages()[lines[0].split()[-1]][0]
        assert env["flags"] & 32, env
        assert 'reason="held at the end"' in sm.logtext()
    finally:
        m.close()
