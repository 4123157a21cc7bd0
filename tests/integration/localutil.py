"""Helpers for local delivery tests: the LJOB/LRES encoding of
doc/protocols.md ("local"), and a sandmail-lspawn driven directly over a
SOCK_SEQPACKET socket pair, as send drives it.  Reusable by other areas.
"""
import os
import select
import socket
import struct
import subprocess

from conftest import prog

# When the tests run as root, lspawn runs as root and must be given a uid
# in its range; this one needs no passwd entry.
ROOT_TEST_UID = 41234
ROOT_TEST_GID = 41234


def pk_str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack(">I", len(s)) + s


def ljob_encode(job_id, qid, sender, rcpt, dest, uid, gid):
    """u8 'L' u32 id str qid str sender str rcpt str dest u32 uid u32 gid"""
    return (b"L" + struct.pack(">I", job_id) + pk_str(qid) + pk_str(sender)
            + pk_str(rcpt) + pk_str(dest) + struct.pack(">II", uid, gid))


def lres_decode(b):
    """u8 'l' u32 id u8 status str text -> (id, status, text)"""
    if len(b) < 10 or b[0:1] != b"l":
        raise ValueError(f"not an LRES: {b!r}")
    job_id, status, n = struct.unpack(">IcI", b[1:10])
    text = b[10:10 + n]
    if len(text) != n or len(b) != 10 + n:
        raise ValueError(f"bad LRES length: {b!r}")
    return job_id, status.decode(), text.decode("utf-8", "replace")


def test_ids():
    """(uid, gid) deliveries run as: ours, or a fixed one under root."""
    if os.geteuid() == 0:
        return ROOT_TEST_UID, ROOT_TEST_GID
    return os.getuid(), os.getgid()


def own_dir(path):
    """Make path writable by the delivery uid (a no-op when not root)."""
    if os.geteuid() == 0:
        os.chown(path, ROOT_TEST_UID, ROOT_TEST_GID)
        os.chmod(path, 0o700)


def write_conf(d, **keys):
    """Write d/sandmail.conf with bindir and hostname set; returns path.
    These tests drive lspawn alone with jobs of their own (uids, paths),
    so its own lookup of the recipient (local_lookup) is off unless asked
    for."""
    conf = {"bindir": os.path.dirname(prog("sandmail-local")),
            "hostname": "test.example", "local_lookup": "no"}
    conf.update({k: str(v) for k, v in keys.items()})
    path = os.path.join(d, "sandmail.conf")
    with open(path, "w") as f:
        for k, v in conf.items():
            f.write(f"{k} {v}\n")
    return path


class Lspawn:
    """A running sandmail-lspawn with our end of its socket pair."""

    def __init__(self, procs, conf, log=None, wrap=()):
        """wrap: an argv put before lspawn's (e.g. strace and options)"""
        self.sock, theirs = socket.socketpair(socket.AF_UNIX,
                                              socket.SOCK_SEQPACKET)
        self.log = log
        err = open(log, "ab") if log else None
        self.proc = procs.start(list(wrap) +
                                [prog("sandmail-lspawn"), "-c", conf],
                                stdin=theirs, stderr=err)
        theirs.close()
        if err:
            err.close()
        self.next_id = 1
        self.results = {}

    def send(self, msg_path, rcpt, dest, sender="sender@example.org",
             qid="QID1", uid=None, gid=None, fd=None):
        """Send one job; the message file is opened here.  Returns the id."""
        du, dg = test_ids()
        uid = du if uid is None else uid
        gid = dg if gid is None else gid
        job_id = self.next_id
        self.next_id += 1
        data = ljob_encode(job_id, qid, sender, rcpt, dest, uid, gid)
        if fd is not None:
            socket.send_fds(self.sock, [data], [fd])
        elif msg_path is None:
            self.sock.send(data)
        else:
            mfd = os.open(msg_path, os.O_RDONLY)
            try:
                socket.send_fds(self.sock, [data], [mfd])
            finally:
                os.close(mfd)
        return job_id

    def result(self, job_id, timeout=30):
        """Wait for the result of job_id: (status, text)."""
        while job_id not in self.results:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                raise TimeoutError(f"no result for job {job_id}")
            b = self.sock.recv(70000)
            if not b:
                raise EOFError("lspawn closed its socket")
            i, st, text = lres_decode(b)
            self.results[i] = (st, text)
        return self.results.pop(job_id)

    def deliver(self, msg_path, rcpt, dest, **kw):
        return self.result(self.send(msg_path, rcpt, dest, **kw))

    def close(self, timeout=30):
        """EOF on lspawn's fd 0; returns its exit code."""
        self.sock.shutdown(socket.SHUT_WR)
        try:
            return self.proc.wait(timeout)
        finally:
            self.sock.close()


def maildir_files(md, sub="new"):
    d = os.path.join(md, sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def read_new(md):
    """Contents of every file in md/new/, in name order."""
    out = []
    for n in maildir_files(md, "new"):
        with open(os.path.join(md, "new", n), "rb") as f:
            out.append(f.read())
    return out


def expected(msg, sender, rcpt):
    return (f"Return-Path: <{sender}>\nDelivered-To: {rcpt}\n".encode()
            + msg)


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


def make_dir(prefix="sandmail-local-"):
    """A temp dir under /tmp that a delivery uid can traverse (pytest's
    tmp_path is 0700 root when the tests run as root)."""
    import tempfile
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o711)
    return d


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def lspawn_all_children(pid):
    """Pids of every child of lspawn: its forker and its deliveries."""
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def lspawn_forker(pid):
    """The pid of lspawn's forker (lfork.c), or None."""
    for k in lspawn_all_children(pid):
        if _comm(k) == "sandmail-lfork":
            return k
    return None


def lspawn_children(pid):
    """Pids of lspawn's deliveries (workers and sandmail-locals): its
    children but the forker, which clones them as lspawn's."""
    return [k for k in lspawn_all_children(pid)
            if _comm(k) != "sandmail-lfork"]
