"""The sandbox helper (lib/sbx.c) for real: a filter from it kills a
process that makes a forbidden call with SIGSYS, while /proc/PID/status
shows Seccomp: 2 (filter mode) and NoNewPrivs: 1; priv_drop as root gives
up root for good.  The probe is testtools/sbxprobe.c."""
import os
import pwd
import re
import signal
import subprocess

import pytest

from conftest import prog

PROBE = prog("sandmail-sbxprobe")


def probe(*args):
    return subprocess.run([PROBE, *args], capture_output=True, text=True,
                          timeout=30)


def fields(text):
    return dict(re.findall(r"^(Seccomp|NoNewPrivs):\s+(\d+)$", text, re.M))


@pytest.mark.parametrize("mode", ["socket", "open", "unlink"])
def test_forbidden_call_is_killed(mode):
    r = probe(mode)
    if mode == "open" and "sanitizer build" in r.stdout:
        pytest.skip("the sanitizer runtime needs open(2): allowed there")
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stdout, r.stderr)
    # read through an fd opened before the filter, before the bad call
    assert fields(r.stdout) == {"Seccomp": "2", "NoNewPrivs": "1"}
    assert "survived" not in r.stdout


def test_status_seen_from_outside_then_killed():
    p = subprocess.Popen([PROBE, "pause"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while True:
            line = p.stdout.readline()
            assert line, "probe ended early"
            if line == "ready\n":
                break
            lines.append(line)
        with open(f"/proc/{p.pid}/status") as f:
            st = fields(f.read())
        assert st == {"Seccomp": "2", "NoNewPrivs": "1"}
        p.stdin.write("x")
        p.stdin.flush()
        assert p.wait(timeout=30) == -signal.SIGSYS
        assert "survived" not in p.stdout.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()


def test_allowed_calls_work():
    r = probe("allowed")
    assert r.returncode == 0, r.stderr
    assert "still alive" in r.stdout
    assert fields(r.stdout) == {"Seccomp": "2", "NoNewPrivs": "1"}


def test_program_rule_table_extends_base():
    r = probe("rule")
    assert "getuid ok" in r.stdout           # allowed by the extra rule
    assert r.returncode == -signal.SIGSYS    # geteuid is not


@pytest.mark.skipif(os.geteuid() != 0, reason="priv_drop to another uid "
                    "needs root (CI runs as root)")
def test_priv_drop_as_root():
    nobody = pwd.getpwnam("nobody")
    r = probe("drop", "nobody")
    assert r.returncode == 0, (r.stdout, r.stderr)
    u = nobody.pw_uid
    assert f"uid {u} {u} {u} gid {nobody.pw_gid}\n" in r.stdout
    assert "setuid(0) failed: Operation not permitted" in r.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become "
                    "another user first")
def test_priv_drop_refused_when_not_root():
    """As a plain user, priv_drop to someone else fails (it only checks)."""
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups", PROBE, "drop", "root"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 111, (r.stdout, r.stderr)
