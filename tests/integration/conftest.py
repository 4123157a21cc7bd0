"""Shared pytest harness for sandmail's integration tests.

Fixtures here are generic: where the build is, free loopback ports,
starting and stopping real processes.  Each area keeps its own helpers in
tests/integration/<area>util.py so work on one area never edits another's.
"""
import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

BUILD = os.environ.get("SANDMAIL_BUILD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
BUILD = os.path.abspath(BUILD)
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def prog(name):
    """Path of a built program, e.g. prog('sandmail-smtpd')."""
    return os.path.join(BUILD, name)


def need(program, package=None):
    """Fail, never skip, unless program is on PATH (or, a path, is
    executable): scripts/deps installs everything the tests use, so a
    missing one is a broken machine, and a skip would hide it.  Skips
    are for what no package gives (not being root, no IPv6)."""
    found = (os.access(program, os.X_OK) if os.path.isabs(program) else
             shutil.which(program) is not None)
    if not found:
        pytest.fail(f"{os.path.basename(program)} is not installed ("
                    f"{package + ', ' if package else ''}scripts/deps)",
                    pytrace=False)


def need_module(name, package):
    """The Python module name, imported; fail (as need) without it"""
    try:
        return importlib.import_module(name)
    except ImportError:
        pytest.fail(f"Python module {name} is not installed ({package}, "
                    "scripts/deps)", pytrace=False)


@pytest.fixture
def dnsmasq_installed():
    """for tests that start a dnsmasq (dnsutil.start_dnsmasq): mark them
    pytest.mark.usefixtures("dnsmasq_installed")"""
    need("dnsmasq", "dnsmasq-base")


_ports_given = set()


def free_port(host="127.0.0.1"):
    """A TCP port free right now on host, and never handed out before in
    this run: two calls in a row may otherwise get the same port, and a
    server an earlier test left behind (on ::1, say) may still hold it."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no fresh free port on %s" % host)


def wait_port(port, host="127.0.0.1", timeout=10.0):
    """Wait until something accepts on host:port."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect((host, port))
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port}")


def wait_for(pred, timeout=10.0, step=0.02, what="condition"):
    """Poll pred() until it returns something true; return that."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError(f"timed out waiting for {what}")


class Procs:
    """Processes a test started; all are stopped at the end of the test."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


@pytest.fixture
def procs():
    ps = Procs()
    yield ps
    ps.stop_all()


def alive(pid):
    """Whether pid is a process that has not ended (a zombie has)."""
    try:
        return proc_status(pid)["State"][0] != "Z"
    except OSError:
        return False


def proc_status(pid):
    """/proc/PID/status as a dict."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


# the installed layout (installed.py): a session fixture shared by every
# test module that asks for `installed`
from installed import installed  # noqa: E402,F401


@contextlib.contextmanager
def tmpfs_at(path, size, procs, mode="0755"):
    """A small tmpfs mounted at path (made) for a disk-full test, with
    procs' processes stopped before it is unmounted; needs root."""
    if os.geteuid() != 0:
        pytest.skip("the disk-full test mounts a tmpfs: needs root")
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}",
                    "tmpfs", path], check=True)
    try:
        yield path
    finally:
        procs.stop_all()
        subprocess.run(["umount", "-l", path])
