"""A commit waits for sandmail's own files only (doc/design.md, section 4):
with queue_sync fsync (the default) sandmail-queue and sandmail-send
fdatasync the files they wrote and fsync the directories whose names
changed, and never call syncfs(2), which would also wait for every dirty
page another process left on the file system.  queue_sync syncfs keeps
its one syncfs per barrier.  The system calls are seen with strace."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import sendutil as su
from conftest import prog, wait_for
from queueutil import QClient, envelope, qinit, write_conf

TRACE = ["strace", "-f", "-y", "-qq", "-e",
         "trace=syncfs,fsync,fdatasync,sync_file_range,io_submit"]
AIO = {"IOCB_CMD_FDSYNC": "fdatasync", "IOCB_CMD_FSYNC": "fsync"}


def calls(path):
    """(name, path of the fd) for every traced sync that was made: the
    calls that returned 0, and the fsyncs and fdatasyncs submitted
    together through io_submit (lib/syncv.c), in their order."""
    out = []
    with open(path) as f:
        for line in f:
            if "io_submit(" in line:
                out += [(AIO[op], p) for op, p in re.findall(
                    r"aio_lio_opcode=(IOCB_CMD_F\w*SYNC), "
                    r"aio_fildes=\d+<([^>]*)>", line)]
                continue
            m = re.search(r"(\w+)\((\d+)<([^>]*)>.*\)\s+=\s+(-?\d+)", line)
            if m and m.group(4) == "0":
                out.append((m.group(1), m.group(3)))
    return out


def barriers(path):
    """The barriers that were made, in order, each a list of (name, path):
    the syncs submitted together in one io_submit are one barrier (they
    share one journal commit and its disk flush), a sync made alone is
    one of its own (sync_file_range only starts writeback: not one)."""
    out = []
    with open(path) as f:
        for line in f:
            if "io_submit(" in line:
                out.append([(AIO[op], p) for op, p in re.findall(
                    r"aio_lio_opcode=(IOCB_CMD_F\w*SYNC), "
                    r"aio_fildes=\d+<([^>]*)>", line)])
                continue
            m = re.search(r"(\w*sync\w*)\((\d+)<([^>]*)>.*\)\s+=\s+0",
                          line)
            if m and m.group(1) != "sync_file_range":
                out.append([(m.group(1), m.group(3))])
    return out


def queue_commit(tmp_path, sync, trace_out=None):
    """One message through a traced one-shot sandmail-queue; returns its
    ID and the calls."""
    kw = {} if sync is None else {"queue_sync": sync}
    conf = write_conf(tmp_path, **kw)
    qinit(conf)
    out = os.path.join(str(tmp_path), "trace")
    a, b = socket.socketpair()
    # LeakSanitizer cannot run under ptrace (the ASan build's tests)
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(
        x for x in (env.get("ASAN_OPTIONS", ""), "detect_leaks=0") if x)
    p = subprocess.Popen(TRACE + ["-o", out, prog("sandmail-queue"),
                                  "-c", conf],
                         stdin=b.fileno(), stdout=b.fileno(),
                         stderr=subprocess.DEVNULL, close_fds=True, env=env)
    b.close()
    c = QClient(a, p)
    t, v = c.message(b"Subject: x\n\nbody\n", envelope())
    assert t == b"K", v
    c.close()
    assert p.wait(timeout=30) == 0
    if trace_out is not None:
        trace_out.append(out)
    return v.decode(), os.path.join(str(tmp_path), "queue"), calls(out)


@pytest.mark.parametrize("sync", [None, "fsync"])
def test_queue_syncs_its_files(tmp_path, sync):
    mid, q, cs = queue_commit(tmp_path, sync)
    assert [c for c in cs if c[0] == "syncfs"] == []
    # the envelope is synced after its rename (its descriptor kept open)
    assert ("fdatasync", f"{q}/mess/{mid}") in cs
    assert ("fdatasync", f"{q}/todo/{mid}") in cs
    assert ("fsync", f"{q}/mess") in cs
    assert ("fsync", f"{q}/todo") in cs


def test_queue_commit_is_one_barrier(tmp_path):
    """A commit is one barrier: the files' fdatasyncs and the fsyncs of
    mess/ and todo/ submitted together after the rename, so they share
    one journal commit and one disk flush (two barriers, data then
    names, cost two; doc/design.md, "The commit").  A change that adds a
    barrier to the commit fails here."""
    tr = []
    mid, q, cs = queue_commit(tmp_path, None, tr)
    bs = barriers(tr[0])
    assert len(bs) == 1, bs
    assert sorted(bs[0]) == sorted([("fdatasync", f"{q}/mess/{mid}"),
                                    ("fdatasync", f"{q}/todo/{mid}"),
                                    ("fsync", f"{q}/mess"),
                                    ("fsync", f"{q}/todo")]), bs


def test_queue_syncfs_kept(tmp_path):
    mid, q, cs = queue_commit(tmp_path, "syncfs")
    assert [c for c in cs if c[0] == "syncfs"] == [("syncfs", q)]
    assert ("fdatasync", f"{q}/mess/{mid}") not in cs


def children(pid):
    out = []
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/children") as f:
            out += [int(x) for x in f.read().split()]
    return out


def traced_send(procs, tmp_path, lpolicy, **conf):
    conf = su.setup(tmp_path, su.TABLES, **conf)
    out = os.path.join(str(tmp_path), "trace")
    s = su.Send(procs, conf, lpolicy=lpolicy)
    s.wrap = TRACE + ["-o", out]
    s.start()
    return conf, s, out


def stop(s):
    """SIGTERM to send itself (strace -o blocks it), then strace ends."""
    for pid in children(s.p.pid):
        os.kill(pid, signal.SIGTERM)
    s.p.wait(timeout=60)


def test_send_syncs_its_files(procs, tmp_path):
    """A split, a mark (alice delivered, bob deferred), and the end of a
    message: each made durable by its own files and directories."""
    tries = {}

    def lpol(j):
        tries[j["rcpt"]] = tries.get(j["rcpt"], 0) + 1
        if j["rcpt"] == "bob@test.example" and tries[j["rcpt"]] < 2:
            return ("Z", "4.2.2 mailbox full")
        return ("K", "delivered")
    conf, s, out = traced_send(procs, tmp_path, lpol)
    q = su.qdir(conf)
    mid = su.inject(conf, "x@remote.example",
                    ["alice@test.example", "bob@test.example"])
    wait_for(lambda: all(not su.queued(conf, d) for d in
                         ("todo", "mess", "info")), timeout=30,
             what="delivered")
    assert tries["bob@test.example"] == 2
    # the last barrier (the end's) is made within a window
    wait_for(lambda: b"event=end" in s.logtext(), what="end")
    time.sleep(0.2)
    stop(s)
    cs = calls(out)
    assert [c for c in cs if c[0] == "syncfs"] == []
    # the split (no bounce) syncs nothing in tmp/: its info/ID is made
    # durable with info/ by the barrier after which todo/ID goes
    assert [c for c in cs if c[0] == "fdatasync" and
            c[1].startswith(f"{q}/tmp/")] == [], cs
    # alice's mark, in place in info/ID
    assert ("fdatasync", f"{q}/info/{mid}") in cs
    for d in ("info", "todo", "mess"):
        assert ("fsync", f"{q}/{d}") in cs


def test_send_split_has_no_barrier_of_its_own(procs, tmp_path):
    """A message delivered at once costs send no barrier but the names'
    one: the split is not synced apart (pre_finish), its info/ID is
    fdatasynced only in a barrier that also fsyncs info/ (data and name
    together, before todo/ID goes), and the end's removals share that
    kind of barrier.  A change that syncs the split apart again (one more
    journal commit and disk flush per message) fails here."""
    conf, s, out = traced_send(procs, tmp_path, None)
    q = su.qdir(conf)
    # the start's barrier (info/, todo/, mess/) is not the message's
    wait_for(lambda: os.path.exists(out) and
             len(barriers(out)) >= 3, what="start barrier")
    start = len(barriers(out))
    mid = su.inject(conf, "x@remote.example", ["alice@test.example"])
    wait_for(lambda: b"event=end" in s.logtext(), what="end")
    wait_for(lambda: any(("fsync", f"{q}/mess") in b
                         for b in barriers(out)[start:]),
             what="the end's barrier")
    stop(s)
    bs = barriers(out)[start:]
    assert bs, bs
    for b in bs:
        # no file synced on its own, nothing of tmp/
        assert any(c[0] == "fsync" for c in b), bs
        assert not any(c[1].startswith(f"{q}/tmp/") for c in b), bs
        if ("fdatasync", f"{q}/info/{mid}") in b:
            assert ("fsync", f"{q}/info") in b, bs
    # at most the names' windows a slow delivery can span: the split's
    # (its info/ID with info/), the one its todo/ID's removal opens, and
    # the end's; at one message at a time usually one for all
    assert len(bs) <= 3, bs


def test_send_split_syncs_mess_before_todo_goes(procs, tmp_path):
    """The queue renames todo/ID before its barrier (qwrite.c), so send
    may split a message whose mess/ID is not yet durable (its client not
    yet answered).  The barrier after which todo/ID goes must make mess/ID
    and its name durable too: once todo/ID (and its seal) is gone, a power
    loss must not leave a durable info/ID over a short or missing mess/ID
    that send would deliver.  The delivery is deferred so that mess/ID
    stays."""
    conf, s, out = traced_send(procs, tmp_path, lambda j: ("Z", "4.2.2 later"))
    q = su.qdir(conf)
    wait_for(lambda: os.path.exists(out) and
             len(barriers(out)) >= 3, what="start barrier")
    start = len(barriers(out))
    mid = su.inject(conf, "x@remote.example", ["alice@test.example"])
    wait_for(lambda: b"event=new" in s.logtext() and
             mid not in su.queued(conf, "todo"), what="todo/ID gone")
    stop(s)
    assert mid in su.queued(conf, "mess")
    split = [b for b in barriers(out)[start:]
             if ("fdatasync", f"{q}/info/{mid}") in b and
             ("fsync", f"{q}/info") in b]
    assert split, barriers(out)[start:]
    assert ("fdatasync", f"{q}/mess/{mid}") in split[0], split[0]
    assert ("fsync", f"{q}/mess") in split[0], split[0]


def test_send_syncfs_kept(procs, tmp_path):
    conf, s, out = traced_send(procs, tmp_path, None, queue_sync="syncfs")
    su.inject(conf, "x@remote.example", ["alice@test.example"])
    wait_for(lambda: b"event=end" in s.logtext(), what="end")
    time.sleep(0.2)
    stop(s)
    cs = calls(out)
    assert ("syncfs", su.qdir(conf)) in cs
    assert [c for c in cs if c[0] == "fdatasync" and "/info/" in c[1]] == []


def test_queue_data_written_before_the_barrier(tmp_path):
    """The files' data are written out and waited for (sync_file_range,
    no cache flush) before the barrier's syncs are submitted together
    (lib/syncv.c): an fdatasync that still had data to write reached its
    journal commit after the commit's flush had gone, or after the commit
    itself, and made a disk cache flush of its own (jbd2, xfs), so the
    commit cost more flushes than one.  A change that submits the syncs
    with the data still on its way fails here."""
    tr = []
    mid, q, _ = queue_commit(tmp_path, None, tr)
    waited, submitted = set(), False
    with open(tr[0]) as f:
        for line in f:
            m = re.search(r"sync_file_range\(\d+<([^>]*)>, 0, 0, "
                          r"([A-Z_|]+)\)\s+=\s+0", line)
            if m and "WAIT_AFTER" in m.group(2) and \
                    "WAIT_BEFORE" in m.group(2) and not submitted:
                waited.add(m.group(1))
            if "io_submit(" in line:
                submitted = True
    assert submitted
    assert {f"{q}/mess/{mid}", f"{q}/todo/{mid}"} <= waited, waited


def test_queue_says_committed_after_its_barrier(tmp_path):
    """After its barrier the queue writes a C record for each message of
    the batch into lock/trigger, before the T (protocols.md, "The
    trigger"): send then knows mess/ID is durable and does not sync it
    again at its split."""
    conf = write_conf(tmp_path)
    qinit(conf)
    q = os.path.join(str(tmp_path), "queue")
    r = os.open(os.path.join(q, "lock", "trigger"),
                os.O_RDONLY | os.O_NONBLOCK)
    try:
        a, b = socket.socketpair()
        p = subprocess.Popen([prog("sandmail-queue"), "-c", conf],
                             stdin=b.fileno(), stdout=b.fileno(),
                             stderr=subprocess.DEVNULL, close_fds=True)
        b.close()
        c = QClient(a, p)
        t, v = c.message(b"Subject: x\n\nbody\n", envelope())
        assert t == b"K", v
        c.close()
        assert p.wait(timeout=30) == 0
        got = os.read(r, 4096)
    finally:
        os.close(r)
    assert got == b"C" + bytes([len(v)]) + v + b"T", got


def trigger_pending(conf):
    """bytes written to lock/trigger that send has not read yet"""
    import fcntl
    import termios
    fd = os.open(os.path.join(su.qdir(conf), "lock", "trigger"),
                 os.O_WRONLY | os.O_NONBLOCK)
    try:
        n = bytearray(4)
        fcntl.ioctl(fd, termios.FIONREAD, n)
        return int.from_bytes(n, "little")
    finally:
        os.close(fd)


def inject_committed(conf, mid, said):
    """A message as sandmail-queue commits it, the trigger's C record
    (said) or not before the T.  The C goes before the files: send may
    find todo/ID by a scan of its own before it reads the trigger, and
    then it must already know the record (the queue's order, files then
    C, leaves send that race, which only costs it the syncs)."""
    q = su.qdir(conf)
    body = b"Received: from test\nSubject: x\n\nbody\n"
    if said:
        su.poke(conf, b"C" + bytes([len(mid)]) + mid.encode())
        wait_for(lambda: not trigger_pending(conf), what="C read")
    su._put(q, "mess", mid, body)
    su._put(q, "todo", mid, su.envelope("x@remote.example",
                                        ["alice@test.example"],
                                        size=len(body)))
    su.poke(conf, b"T")


@pytest.mark.parametrize("said", [True, False])
def test_send_split_skips_mess_the_queue_made_durable(procs, tmp_path, said):
    """The queue's C record (its barrier has returned, so mess/ID and
    mess/ are durable) spares the split's barrier the fdatasync of mess/ID
    and the fsync of mess/: on a journaled file system an fdatasync of a
    file already committed still makes a disk cache flush.  Without the
    record (send split before the queue's barrier ended, or the record was
    lost) both stay, as test_send_split_syncs_mess_before_todo_goes
    requires.  The delivery is deferred so that mess/ID stays."""
    conf, s, out = traced_send(procs, tmp_path, lambda j: ("Z", "4.2.2 later"))
    q = su.qdir(conf)
    wait_for(lambda: os.path.exists(out) and
             len(barriers(out)) >= 3, what="start barrier")
    start = len(barriers(out))
    mid = su.newid()
    inject_committed(conf, mid, said)
    wait_for(lambda: b"event=new" in s.logtext() and
             mid not in su.queued(conf, "todo"), what="todo/ID gone")
    stop(s)
    split = [b for b in barriers(out)[start:]
             if ("fdatasync", f"{q}/info/{mid}") in b and
             ("fsync", f"{q}/info") in b]
    assert split, barriers(out)[start:]
    assert (("fdatasync", f"{q}/mess/{mid}") in split[0]) == (not said), \
        split[0]
    assert (("fsync", f"{q}/mess") in split[0]) == (not said), split[0]
