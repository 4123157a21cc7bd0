"""Helpers for the POP3 tests: a site directory (sandmail.conf, users,
localusers, a certificate, one maildir per user owned by the delivery
uid), a running sandmail-pop3d listener, and the processes of one
session found through /proc."""
import os
import poplib
import shutil
import subprocess
import tempfile

from conftest import free_port, prog, wait_port
import queueutil
import tlsutil

# The maildir owner when the tests run as root: no passwd entry needed.
ROOT_TEST_UID = 41234
ROOT_TEST_GID = 41234


def owner_ids():
    if os.geteuid() == 0:
        return ROOT_TEST_UID, ROOT_TEST_GID
    return os.getuid(), os.getgid()


def chown_tree(path):
    uid, gid = owner_ids()
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for n in files:
            os.chown(os.path.join(root, n), uid, gid)


class Pop3Site:
    """A configuration directory with users and maildirs."""

    def __init__(self, procs, users=None, plain_loopback=True, extra=""):
        # Not under pytest's tmp_path: its 0700 parents would keep the
        # mailbox owner (another uid when we are root) out.
        self.dir = tempfile.mkdtemp(prefix="sandmail-pop3.")
        os.chmod(self.dir, 0o711)
        self.procs = procs
        self.users = users or {"alice": "secret"}
        self.cert, self.key = tlsutil.make_cert(self.dir)
        self.conf = os.path.join(self.dir, "sandmail.conf")
        self.logpath = os.path.join(self.dir, "pop3d.log")
        with open(self.conf, "w") as f:
            f.write("tables .\n"
                    "auth_socket auth.sock\n"
                    "hostname test.example\n"
                    "auth_fail_delay 10ms\n"
                    "auth_max_failures 3\n"
                    "passwd_opslimit 1\n"
                    "passwd_memlimit 64k\n"
                    "pop3_timeout 30\n"
                    # the counts every listener of this site shares
                    "pop3_limits_file pop3d.limits\n"
                    f"tls_cert {self.cert}\n"
                    f"tls_key {self.key}\n"
                    f"pop3_plain_loopback {'yes' if plain_loopback else 'no'}\n")
            if os.geteuid() == 0:
                f.write("user_auth nobody\nuser_pop3d nobody\n")
            f.write(extra)
        uid, gid = owner_ids()
        with open(os.path.join(self.dir, "localusers"), "w") as f:
            for u in self.users:
                home = os.path.join(self.dir, "home", u)
                for sub in ("new", "cur", "tmp"):
                    os.makedirs(os.path.join(home, "Maildir", sub))
                chown_tree(home)
                f.write(f"{u} {uid}:{gid}:{home}\n")
        subprocess.run([prog("sandmail-cdb"), "-d", self.dir, "localusers"],
                       check=True, capture_output=True)
        for u, pw in self.users.items():
            subprocess.run([prog("sandmail-passwd"), "-c", self.conf, u],
                           input=(pw + "\n").encode(), check=True,
                           capture_output=True, timeout=60)
        self.seq = 0

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def maildir(self, user="alice"):
        return os.path.join(self.dir, "home", user, "Maildir")

    def start(self, implicit=False):
        """A listener on a free loopback port; returns the port."""
        port = free_port()
        argv = [prog("sandmail-pop3d"), "-c", self.conf,
                "-l", f"127.0.0.1:{port}"]
        if implicit:
            argv.append("-T")
        self.start_auth()
        log = open(self.logpath, "ab")
        self.proc = self.procs.start(argv, stdout=log, stderr=log)
        log.close()
        wait_port(port)
        return port

    def start_auth(self):
        """The authentication service (once), logging to the site's log."""
        if getattr(self, "auth", None) is None:
            with open(self.logpath, "ab") as log:
                self.auth = queueutil.start_auth(self.procs, self.conf, log)

    def put(self, data, user="alice", sub="new", info=""):
        """Write a message as a delivery would (tmp/ then rename)."""
        self.seq += 1
        base = f"17000000{self.seq:02d}.M{self.seq}P{os.getpid()}.test"
        md = self.maildir(user)
        tmp = os.path.join(md, "tmp", base)
        with open(tmp, "wb") as f:
            f.write(data)
        name = base + (f":2,{info}" if sub == "cur" else "")
        t = 1700000000 + self.seq
        os.utime(tmp, (t, t))
        chown_tree(tmp)
        os.rename(tmp, os.path.join(md, sub, name))
        return base

    def files(self, user="alice"):
        md = self.maildir(user)
        return {s: sorted(os.listdir(os.path.join(md, s)))
                for s in ("new", "cur")}

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()


def connect(port, user="alice", password="secret"):
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    p.user(user)
    p.pass_(password)
    return p


def crlf(b):
    """What POP3 sends for stored bytes: CRLF line ends (no stuffing:
    poplib removes it)."""
    b = b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return b


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def session_pids(listener_pid):
    """(mailbox-or-monitor pids, login pids) under a listener."""
    mon = [c for c in children(listener_pid)]
    login = [g for c in mon for g in children(c)]
    return mon, login
