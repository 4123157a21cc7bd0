"""sandmail-queue: the record protocol over the service socket and over a
spawned process, limits, bad input, flush, kill -9 and a full disk."""
import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import Procs, need, proc_status, prog, tmpfs_at, wait_for
from queueutil import (QClient, QError, check_consistent, envelope, listing,
                       pstr, qinit, queue_dir, start_service, u32, write_conf)


@pytest.fixture
def conf(tmp_path):
    c = write_conf(tmp_path, max_message_size="100k", max_recipients=5,
                   queue_timeout=30)
    qinit(c)
    return c


@pytest.fixture
def svc(conf, procs):
    return start_service(procs, conf)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One service for the many small cases (each checks its own ID)."""
    c = write_conf(tmp_path_factory.mktemp("shared"), max_message_size="100k",
                   max_recipients=5, queue_timeout=30)
    qinit(c)
    ps = Procs()
    start_service(ps, c)
    yield c
    ps.stop_all()


def empty(conf, subs=("tmp", "mess", "todo")):
    return all(not listing(conf, s) for s in subs)


def gone(conf, qid):
    """Nothing of message qid is in tmp/, mess/ or todo/."""
    qid = qid.decode() if isinstance(qid, bytes) else qid
    return all(qid not in n for s in ("tmp", "mess", "todo")
               for n in listing(conf, s))


def test_layout_idempotent(conf):
    q = queue_dir(conf)
    qinit(conf)
    for d in ("tmp", "mess", "todo", "info", "local", "remote", "bounce",
              "hold", "lock"):
        assert os.path.isdir(os.path.join(q, d))
    st = os.stat(os.path.join(q, "lock", "trigger"))
    import stat
    assert stat.S_ISFIFO(st.st_mode)
    assert st.st_mode & 0o7777 in (0o620, 0o600)


def test_service_is_sandboxed(conf, svc):
    st = proc_status(svc.pid)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    if os.geteuid() == 0:
        import pwd
        uid = str(pwd.getpwnam("nobody").pw_uid)
        assert st["Uid"].split() == [uid] * 4


def test_one_message_socket(conf, svc):
    body = b"Received: from x\nSubject: hi\n\nhello\n"
    c = QClient.connect(conf)
    t, qid = c.begin()
    assert t == b"I" and qid
    c.data(body)
    env = envelope(sender="s@example.org",
                   rcpts=("r1@example.org", "r2@example.net"))
    assert c.end(env) == (b"K", qid)
    c.close()
    envs = check_consistent(conf, [qid.decode()])
    e = envs[qid.decode()]
    assert e["sender"] == "s@example.org"
    assert [r[0] for r in e["rcpts"]] == ["r1@example.org", "r2@example.net"]
    assert e["size"] == len(body)
    assert e["arrival"] > 0
    with open(os.path.join(queue_dir(conf), "mess", qid.decode()), "rb") as f:
        assert f.read() == body
    assert listing(conf, "tmp") == []
    # the admin's dump tool decodes the same envelope
    out = subprocess.run([prog("sandmail-queue"), "-c", conf, "-d",
                          qid.decode()], capture_output=True, check=True)
    text = out.stdout.decode()
    assert "sender: s@example.org" in text
    assert "rcpt: r2@example.net" in text
    assert f"size: {len(body)}" in text


def test_several_messages_one_connection(conf, svc):
    c = QClient.connect(conf)
    ids = []
    for i in range(5):
        t, v = c.message(b"Subject: %d\n\nx\n" % i)
        assert t == b"K"
        ids.append(v.decode())
    c.close()
    assert len(set(ids)) == 5
    assert len(check_consistent(conf, ids)) == 5


def test_spawned(conf):
    c = QClient.spawn(conf)
    t, v = c.message(b"Subject: spawned\n\nbody\n" * 1000)
    assert t == b"K"
    t2, v2 = c.message(b"second\n")
    assert t2 == b"K" and v2 != v
    c.close()
    assert c.proc.returncode == 0
    check_consistent(conf, [v.decode(), v2.decode()])


def test_spawned_eof_mid_message(conf):
    c = QClient.spawn(conf)
    t, v = c.begin()
    assert t == b"I"
    c.data(b"partial data\n" * 100)
    c.s.shutdown(socket.SHUT_WR)
    c.s.close()
    assert c.proc.wait(timeout=30) == 0
    assert empty(conf)


def test_many_concurrent_clients(conf, svc):
    acked, errors = [], []
    lock = threading.Lock()

    def client(n):
        try:
            c = QClient.connect(conf)
            for i in range(5):
                body = (b"Subject: %d/%d\n\n" % (n, i)) + os.urandom(
                    random.randrange(0, 20000)).hex().encode()
                t, v = c.message(body)
                assert t == b"K", (t, v)
                with lock:
                    acked.append(v.decode())
            c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(repr(e))
    th = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in th:
        t.start()
    for t in th:
        t.join(60)
    assert errors == []
    assert len(acked) == 100 and len(set(acked)) == 100
    assert len(check_consistent(conf, acked)) == 100
    assert listing(conf, "tmp") == []


def test_size_limit(conf, svc):
    c = QClient.connect(conf)
    t, v = c.message(b"x" * (100 * 1024 + 1))
    assert t == b"X" and b"too big" in v
    # exactly at the limit is fine, and the connection goes on
    t, v = c.message(b"y" * (100 * 1024))
    assert t == b"K"
    c.close()
    assert listing(conf, "todo") == [v.decode()]
    assert listing(conf, "mess") == [v.decode()]
    assert listing(conf, "tmp") == []


@pytest.mark.parametrize("rcpts,ok", [
    ((), False),
    (tuple(f"r{i}@example.org" for i in range(5)), True),
    (tuple(f"r{i}@example.org" for i in range(6)), False),
    (("no-at-sign",), False),
    (("a@b@example.org",), False),
    (("postmaster",), True),
    (('"quoted local"@example.org',), True),
    (("bad\r\n@example.org",), False),
])
def test_recipients(shared, rcpts, ok):
    c = QClient.connect(shared)
    t, qid = c.begin()
    c.data(b"m\n")
    t, v = c.end(envelope(rcpts=rcpts))
    c.close()
    assert (t == b"K") == ok, (t, v)
    if not ok:
        assert t == b"X"
        assert gone(shared, qid)


@pytest.mark.parametrize("sender,ok", [
    ("", True), ("a@example.org", True), ("a@", False), ("<a@b>", False),
    ("a" * 65 + "@example.org", False),
    ("\u00e9@example.org", False),
])
def test_sender(shared, sender, ok):
    c = QClient.connect(shared)
    t, v = c.message(b"m\n", envelope(sender=sender))
    c.close()
    assert (t == b"K") == ok, (t, v)


def test_utf8_needs_smtputf8(shared):
    c = QClient.connect(shared)
    rc = ("\u00e9l\u00e8ve@example.org",)
    assert c.message(b"m\n", envelope(rcpts=rc))[0] == b"X"
    assert c.message(b"m\n", envelope(rcpts=rc, flags=1))[0] == b"K"
    c.close()


def test_abort(conf, svc):
    c = QClient.connect(conf)
    t, v = c.begin()
    c.data(b"to be forgotten\n")
    c.send(b"A")
    t, v2 = c.message(b"kept\n")
    assert t == b"K"
    c.close()
    assert listing(conf, "todo") == [v2.decode()]
    assert listing(conf, "mess") == [v2.decode()]
    wait_for(lambda: listing(conf, "tmp") == [], what="tmp/ empty")


def test_eof_mid_message(conf, svc):
    c = QClient.connect(conf)
    t, v = c.begin()
    assert t == b"I"
    c.data(b"half a message\n" * 1000)
    # cut inside a D record, too
    c.s.sendall(u32(100) + b"Dshort")
    c.s.close()
    wait_for(lambda: empty(conf), what="nothing left behind")
    # the service lives on
    c = QClient.connect(conf)
    assert c.message(b"after\n")[0] == b"K"
    c.close()


def test_eof_after_e(conf, svc):
    """E sent and the client gone at once: the message is committed or not,
    but never half-written."""
    c = QClient.connect(conf)
    c.begin()
    c.data(b"x\n")
    c.send(b"E" + envelope())
    c.s.close()
    time.sleep(0.2)
    c = QClient.connect(conf)
    assert c.message(b"sync\n")[0] == b"K"
    c.close()
    envs = check_consistent(conf)
    assert len(envs) in (1, 2)


def test_half_close_after_e_gets_k(shared):
    """A client may shut down its writing side after E: it still gets K."""
    c = QClient.connect(shared)
    t, qid = c.begin()
    c.data(b"m\n")
    c.send(b"E" + envelope())
    c.s.shutdown(socket.SHUT_WR)
    assert c.read() == (b"K", qid)
    c.close()
    check_consistent(shared, [qid.decode()])


def raw(conf, data):
    """Send raw bytes after the greeting; return the answer record or
    None when the queue just closed."""
    c = QClient.connect(conf)
    c.s.sendall(data)
    try:
        r = c.read()
    except (EOFError, ConnectionResetError):
        r = None
    try:
        tail = c.s.recv(1)
    except ConnectionResetError:
        tail = b""
    c.close()
    return r, tail


@pytest.mark.parametrize("data", [
    u32(1) + b"Q",                          # unknown type
    u32(0),                                 # empty record
    u32(5) + b"Dabcd",                      # D outside a message
    u32(1) + b"E",                          # E outside a message
    u32(1) + b"A",                          # A outside a message
    u32(2) + b"MM",                         # M with a field
    u32(1) + b"M" + u32(1) + b"M",          # M inside a message
    u32(0x7fffffff) + b"D",                 # a record far over the limit
    u32(1) + b"M" + u32(65538) + b"D" + b"x" * 65537,   # D over 64 KiB
    u32(1) + b"F",                          # F without its field
    u32(4 + 1 + 300) + b"F" + pstr(b"a" * 300),          # domain too long
    u32(1 + 4 + 3) + b"F" + pstr(b"a\0b"),  # NUL in the domain
], ids=["unknown", "empty", "D-idle", "E-idle", "A-idle", "M-field",
        "M-in-msg", "huge", "D-over-64k", "F-short", "F-long", "F-nul"])
def test_bad_records(shared, data):
    r, tail = raw(shared, data)
    if data.startswith(u32(1) + b"M"):
        # the message was begun: I first, then the error; and it is gone
        assert r[0] == b"I"
        wait_for(lambda: gone(shared, r[1]), what="nothing left behind")
    else:
        assert r is not None and r[0] == b"Z", r
    c = QClient.connect(shared)
    assert c.message(b"still here\n")[0] == b"K"
    c.close()


@pytest.mark.parametrize("env", [
    b"",
    b"SMENV2",
    envelope()[:-3],
    envelope() + b"x",
    b"SMENV1" + pstr("a\0b@example.org") + envelope()[10 + 13:],
], ids=["empty", "magic", "short", "trailing", "nul"])
def test_bad_envelope(shared, env):
    c = QClient.connect(shared)
    t, qid = c.begin()
    c.data(b"m\n")
    t, v = c.end(env)
    assert t == b"X", (t, v)
    assert gone(shared, qid)
    t, v = c.message(b"ok\n")
    assert t == b"K"
    c.close()
    check_consistent(shared, [v.decode()])


def test_flush_writes_trigger(conf, svc):
    fifo = os.path.join(queue_dir(conf), "lock", "trigger")
    c = QClient.connect(conf)
    # nobody reads the FIFO: the request cannot be delivered
    assert c.flush("example.org")[0] == b"Z"
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert c.flush("example.org") == (b"K", b"")
        assert c.flush("") == (b"K", b"")
        got = os.read(fd, 1000)
        assert got == b"F\x0bexample.orgF\x00"
        # a new message pokes the trigger with T, after the C record
        # that says its barrier has returned (protocols.md)
        t, mid = c.message(b"m\n")
        assert t == b"K"
        assert os.read(fd, 1000) == b"C" + bytes([len(mid)]) + mid + b"T"
    finally:
        os.close(fd)
        c.close()


def test_stale_socket_replaced(conf, procs):
    p = start_service(procs, conf)
    # a second service must refuse while the first one serves
    r = subprocess.run([prog("sandmail-queue"), "-s", "-c", conf],
                       capture_output=True, timeout=30)
    assert r.returncode == 111
    assert b"another" in r.stderr
    p.kill()
    p.wait()
    assert os.path.exists(os.path.join(queue_dir(conf), "lock",
                                       "queue.sock"))
    # the dead one's socket is stale: a new service replaces it
    start_service(procs, conf)
    c = QClient.connect(conf)
    assert c.message(b"m\n")[0] == b"K"
    c.close()
    st = os.stat(os.path.join(queue_dir(conf), "lock", "queue.sock"))
    assert st.st_mode & 0o777 == 0o660


@pytest.mark.parametrize("sync", ["syncfs", "fsync"])
def test_kill9_while_writing(tmp_path, procs, sync):
    """20 clients write while the service is killed -9 at random moments:
    every K'd message is complete in mess/ and todo/ with an envelope that
    decodes; a message that got Z or X is not in todo/."""
    conf = write_conf(tmp_path, queue_sync=sync, queue_timeout=30)
    qinit(conf)
    start_service(procs, conf)
    acked, refused, unanswered = set(), set(), set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        rnd = random.Random(n)
        while not stop.is_set():
            try:
                c = QClient.connect(conf)
            except OSError:
                time.sleep(0.01)
                continue
            try:
                while not stop.is_set():
                    qid = None
                    t, v = c.begin()
                    if t != b"I":
                        continue
                    qid = v.decode()
                    c.data(os.urandom(rnd.randrange(1, 30000)))
                    t, v = c.end(envelope())
                    with lock:
                        (acked if t == b"K" else refused).add(qid)
                    qid = None
            except (OSError, EOFError, QError):
                if qid is not None:
                    with lock:
                        unanswered.add(qid)
            finally:
                c.s.close()
    th = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in th:
        t.start()
    rnd = random.Random(4)
    try:
        for _ in range(4):
            time.sleep(rnd.uniform(0.1, 0.5))
            for p in procs.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            start_service(procs, conf)
        # the last service runs until some message got through it
        n = len(acked)
        wait_for(lambda: len(acked) > n, timeout=30, what="an ack")
    finally:
        stop.set()
        for t in th:
            t.join(60)
    assert acked, "no message was acknowledged at all"
    envs = check_consistent(conf, acked)
    in_todo = set(envs)
    assert not (in_todo & refused)
    # committed but unanswered (killed between commit and K): possible
    # duplicates on a retry, never losses; nothing else may be in todo/
    assert in_todo <= acked | unanswered
    print(f"kill -9: {len(acked)} acknowledged, "
          f"{len(in_todo - acked)} committed without an answer")


def have_root_mount():
    return os.geteuid() == 0


def test_disk_full(tmp_path, procs):
    conf = write_conf(tmp_path, max_message_size="1m", queue_timeout=30,
                      queue_reuse="yes")
    q = queue_dir(conf)
    with tmpfs_at(q, "2m", procs):
        qinit(conf)
        p = start_service(procs, conf)
        c = QClient.connect(conf)
        body = os.urandom(150 * 1024)
        answers = []
        for _ in range(40):
            t, v = c.message(body)
            answers.append(t)
            if t == b"Z":
                break
        assert b"Z" in answers, answers
        # the status says the file system is full (smtpd: 452 4.3.1)
        assert c.status == b"4.3.1" and v.startswith(b"queue: "), \
            (c.status, v)
        assert b"X" not in answers
        acked_n = answers.count(b"K")
        assert acked_n >= 1
        # nothing half-written: tmp/ empty, mess/ and todo/ pair up
        assert listing(conf, "tmp") == []
        assert listing(conf, "mess") == listing(conf, "todo")
        envs = check_consistent(conf)
        assert len(envs) == acked_n
        # more tries while full: still Z, still clean
        for _ in range(3):
            assert c.message(body)[0] == b"Z"
        assert listing(conf, "tmp") == []
        # space returns: mail flows again on the same connection
        for i in list(envs)[:3]:
            os.unlink(os.path.join(q, "todo", i))
            os.unlink(os.path.join(q, "mess", i))
        assert c.message(body)[0] == b"K"
        # the queue drained as send drains it, its files retired for
        # reuse (tmp/re.m.*, doc/design.md), holding the space: a
        # message bigger than what is left makes the queue unlink them
        for i in listing(conf, "todo"):
            os.unlink(os.path.join(q, "todo", i))
            os.rename(os.path.join(q, "mess", i),
                      os.path.join(q, "tmp", "re.m." + i))
        assert len(listing(conf, "tmp")) >= 8
        t, v = c.message(os.urandom(600 * 1024))
        assert t == b"K", v
        assert not [n for n in listing(conf, "tmp") if n.startswith("re.")]
        c.close()
        check_consistent(conf)
        procs.stop(p)


def test_setuid_distrusts_caller():
    """Installed set-uid, the queue reads neither -c nor $SANDMAIL_CONF
    (only the compiled-in path) and runs only the plain mode."""
    import pwd
    import shutil
    import tempfile
    if os.geteuid() != 0:
        pytest.skip("making a set-uid copy needs root")
    if os.path.exists("/etc/sandmail/sandmail.conf"):
        pytest.skip("/etc/sandmail/sandmail.conf exists here")
    d = tempfile.mkdtemp(prefix="qsetuid-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        nobody = pwd.getpwnam("nobody")
        b = os.path.join(d, "sandmail-queue")
        shutil.copy(prog("sandmail-queue"), b)
        os.chown(b, nobody.pw_uid, nobody.pw_gid)
        os.chmod(b, 0o4755)
        conf = write_conf(d)
        os.chmod(conf, 0o644)
        r = subprocess.run([b, "-c", conf], env={"SANDMAIL_CONF": conf},
                           user="daemon", stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        assert r.returncode == 111, r
        assert b"/etc/sandmail/sandmail.conf" in r.stderr
        assert b"-c ignored" in r.stderr
        r = subprocess.run([b, "-s"], user="daemon",
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        assert r.returncode == 100, r
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_setuid_run_by_root_takes_back_root(tmp_path):
    """Issue 18, item 1: the supervisor starts the installed (set-uid,
    set-gid) queue as root; run by root it takes back root's ids and runs
    every mode, here -i and -d, instead of refusing."""
    import pwd
    import shutil
    import tempfile
    if os.geteuid() != 0:
        pytest.skip("making a set-uid copy needs root")
    d = tempfile.mkdtemp(prefix="qsetuid-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        nobody = pwd.getpwnam("nobody")
        b = os.path.join(d, "sandmail-queue")
        shutil.copy(prog("sandmail-queue"), b)
        os.chown(b, nobody.pw_uid, nobody.pw_gid)
        os.chmod(b, 0o6755)
        conf = write_conf(tmp_path)
        r = subprocess.run([b, "-i", "-c", conf], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r
        assert b"only the plain mode" not in r.stderr
        q = os.path.join(str(tmp_path), "queue")
        assert os.path.isdir(os.path.join(q, "todo"))
        r = subprocess.run([b, "-d", "NOSUCHID", "-c", conf],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        assert b"only the plain mode" not in r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def forged_envelope(rcpt="b@example.org"):
    """What a local user might claim: authenticated as admin, from a
    remote client, over ESMTPSA, and one of sandmail's own reports
    (ENV_BOUNCE, 4) with the null sender."""
    out = b"SMENV1" + pstr("") + pstr("") + pstr("admin") + \
        pstr("192.0.2.1") + pstr("mx.forged.example") + pstr("ESMTPSA")
    out += struct.pack(">QQIB", 0, 0, 4 | 2, 0) + u32(1)
    return out + pstr(rcpt) + pstr("") + b"\0"


def test_setuid_local_caller_is_attributed():
    """Issue 20, item 5: run set-uid by a local user (as sendmail does
    when it cannot reach the service's socket), the queue names the
    caller's uid in a Received: line ahead of the caller's bytes and
    drops the caller's claims of authentication, client, HELO,
    protocol and the bounce flag.  The installed binary reads only
    /etc/sandmail/sandmail.conf, so that file is put in a private mount
    namespace (an overlay on /etc); the host's /etc is not touched."""
    import pwd
    import shutil
    import tempfile
    from queueutil import decode_envelope
    if os.geteuid() != 0:
        pytest.skip("a set-uid copy and a mount namespace need root")
    need("unshare", "util-linux")
    need("setpriv", "util-linux")
    if os.path.exists("/etc/sandmail"):
        pytest.skip("/etc/sandmail exists here")
    d = tempfile.mkdtemp(prefix="qsetuid-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        nobody = pwd.getpwnam("nobody")
        caller = pwd.getpwnam("daemon").pw_uid
        b = os.path.join(d, "sandmail-queue")
        shutil.copy(prog("sandmail-queue"), b)
        os.chown(b, nobody.pw_uid, nobody.pw_gid)
        os.chmod(b, 0o6711)
        conf = write_conf(d, queue=os.path.join(d, "queue"))
        os.chmod(conf, 0o644)
        qinit(conf)
        for sub in ("up", "work"):
            os.mkdir(os.path.join(d, sub))
        script = (f"mount -t overlay overlay -o lowerdir=/etc,"
                  f"upperdir={d}/up,workdir={d}/work /etc && "
                  f"mkdir /etc/sandmail && "
                  f"cp {conf} /etc/sandmail/sandmail.conf && "
                  f"exec setpriv --reuid={caller} --regid={caller} "
                  f"--clear-groups {b}")
        a, s = socket.socketpair()
        p = subprocess.Popen(["unshare", "-m", "--propagation", "private",
                              "sh", "-c", script], stdin=s.fileno(),
                             stdout=s.fileno(), close_fds=True)
        s.close()
        c = QClient(a, p)
        t, v = c.message(b"Received: from forged\nSubject: local\n\nhi\n",
                         forged_envelope())
        c.close()
        assert (t, p.returncode) == (b"K", 0), (t, v, p.returncode)
        mid = v.decode()
        with open(os.path.join(d, "queue", "mess", mid), "rb") as f:
            body = f.read()
        first, rest = body.split(b"\n", 1)
        assert first.startswith(
            b"Received: (sandmail-queue invoked by uid %d); " % caller), body
        assert rest == b"Received: from forged\nSubject: local\n\nhi\n"
        e = check_consistent(conf, [mid])[mid]
        assert (e["sender"], e["auth"], e["client"], e["helo"],
                e["proto"]) == ("", "", "", "", "local"), e
        assert e["flags"] == 2, e       # 8BITMIME stays; ENV_BOUNCE not

        # root (the supervisor, setup) is trusted: its envelope is kept
        c = QClient.spawn(conf)
        t, v = c.message(b"Subject: root\n\nhi\n", forged_envelope())
        c.close()
        assert t == b"K", v
        rid = v.decode()
        with open(os.path.join(d, "queue", "mess", rid), "rb") as f:
            assert f.read() == b"Subject: root\n\nhi\n"
        e = check_consistent(conf, [rid])[rid]
        assert (e["auth"], e["client"], e["helo"], e["proto"],
                e["flags"]) == ("admin", "192.0.2.1", "mx.forged.example",
                                "ESMTPSA", 6), e
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_idle_client_dropped(tmp_path, procs):
    """A client silent for queue_timeout is dropped with its message."""
    conf = write_conf(tmp_path, queue_timeout="1s")
    qinit(conf)
    start_service(procs, conf)
    c = QClient.connect(conf)
    t, qid = c.begin()
    assert t == b"I"
    c.data(b"and then nothing\n")

    def closed():
        try:
            return c.s.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True
    c.s.settimeout(0.2)
    wait_for(closed, timeout=30, what="the queue to hang up")
    wait_for(lambda: gone(conf, qid), what="the message removed")
    c.s.close()


def reuse_on(conf):
    """queue_reuse yes (the default is auto: test_reuse_auto) in conf"""
    with open(conf, "a") as f:
        f.write("queue_reuse yes\n")


def test_reuses_retired_files_safely(conf, procs):
    """tmp/re.* (files sandmail-send retired) are written again instead of
    new ones, but only a plain file of the queue's uid with one link: a
    symlink or a hard link planted there is removed, never written
    through, and what it points at is untouched.  A retired message
    (re.m.*) is taken for a message and a retired envelope (re.t.*) for an
    envelope; both are written over and cut to the new length, so nothing
    of the longer old content is left behind."""
    reuse_on(conf)
    q = queue_dir(conf)
    outside = os.path.join(os.path.dirname(q), "victim")
    with open(outside, "wb") as f:
        f.write(b"precious\n")
    os.symlink(outside, os.path.join(q, "tmp", "re.a"))
    linked = os.path.join(q, "tmp", "linked")
    with open(linked, "wb") as f:
        f.write(b"also precious\n")
    os.link(linked, os.path.join(q, "tmp", "re.b"))
    stale = b"old content of a finished message " * 200
    good = {}
    for name in ("re.t.d", "re.m.c"):
        p = os.path.join(q, "tmp", name)
        with open(p, "wb") as f:
            f.write(stale)
        good[name] = p
    if os.geteuid() == 0:		# the service runs as nobody
        for p in list(good.values()) + [linked]:
            os.chown(p, 65534, 65534)
        os.lchown(os.path.join(q, "tmp", "re.a"), 65534, 65534)
    ino = {name: os.stat(p).st_ino for name, p in good.items()}
    start_service(procs, conf)
    body = b"Received: from x\nSubject: reuse\n\nhello\n"
    ids = []
    for _ in range(2):
        c = QClient.connect(conf)
        t, qid = c.message(body)
        c.close()
        assert t == b"K", qid
        ids.append(qid.decode())
    check_consistent(conf, ids)
    for i in ids:
        with open(os.path.join(q, "mess", i), "rb") as f:
            assert f.read() == body		# written over, then cut
        with open(os.path.join(q, "todo", i), "rb") as f:
            assert b"old content" not in f.read()
    with open(outside, "rb") as f:
        assert f.read() == b"precious\n"
    with open(linked, "rb") as f:
        assert f.read() == b"also precious\n"
    assert os.stat(linked).st_nlink == 1
    left = listing(conf, "tmp")
    assert not {"re.a", "re.b", "re.m.c", "re.t.d"} & set(left), left
    # each kind went where it fits: the first message took both
    assert os.stat(os.path.join(q, "mess", ids[0])).st_ino == ino["re.m.c"]
    assert os.stat(os.path.join(q, "todo", ids[0])).st_ino == ino["re.t.d"]


def test_too_many_retired_files(conf, procs):
    """More retired files than the service keeps (128): the rest are
    unlinked when it lists tmp/ (inside its sandbox), and it goes on."""
    reuse_on(conf)
    q = queue_dir(conf)
    for i in range(300):
        p = os.path.join(q, "tmp", f"re.m.{i:022d}")
        with open(p, "wb") as f:
            f.write(b"old\n")
        if os.geteuid() == 0:
            os.chown(p, 65534, 65534)
    svc = start_service(procs, conf)
    ids = []
    for _ in range(3):
        c = QClient.connect(conf)
        t, qid = c.message(b"Subject: x\n\nbody\n")
        c.close()
        assert t == b"K", qid
        ids.append(qid.decode())
    check_consistent(conf, ids)
    assert svc.poll() is None
    left = [n for n in listing(conf, "tmp") if n.startswith("re.")]
    # at most 128 kept when listed, and 6 of those written again
    assert len(left) <= 128 - 6, len(left)


@pytest.mark.parametrize("mkfs,setting,reused", [
    (["-O", "^has_journal"], None, True),    # auto: ext4 without a journal
    ([], None, False),                       # auto: journaled ext4
    (["-O", "^has_journal"], "no", False),   # no wins over the probe
    ([], "yes", True),                       # yes wins over the probe
])
def test_reuse_auto(tmp_path, procs, mkfs, setting, reused):
    """queue_reuse auto (the default) reuses retired files on an ext4
    without a journal, where each new file costs a scan of the recently
    deleted ones, and not on a journaled one, where reuse costs flushes
    (sandmail.conf(5)).  Each case is a loop-mounted ext4 of its own with
    the queue on it: a planted retired file (tmp/re.m.*) is the next
    message's mess/ID exactly when reuse is on."""
    if os.geteuid() != 0:
        pytest.skip("mounts a loop file system: needs root")
    img, mnt = tmp_path / "fs.img", tmp_path / "fs"
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", *mkfs, str(img)], check=True)
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop", str(img), str(mnt)], check=True)
    try:
        kw = {"queue_reuse": setting} if setting else {}
        c = write_conf(mnt, max_message_size="100k", **kw)
        qinit(c)
        p = os.path.join(queue_dir(c), "tmp", "re.m.planted")
        with open(p, "wb") as f:
            f.write(b"old\n")
        os.chown(p, 65534, 65534)
        ino = os.stat(p).st_ino
        start_service(procs, c)
        cl = QClient.connect(c)
        t, qid = cl.message(b"Subject: x\n\nbody\n")
        cl.close()
        assert t == b"K", qid
        check_consistent(c, [qid.decode()])
        got = os.stat(os.path.join(queue_dir(c), "mess", qid.decode()))
        assert (got.st_ino == ino) == reused, (got.st_ino, ino)
    finally:
        procs.stop_all()
        subprocess.run(["umount", "-l", str(mnt)])
