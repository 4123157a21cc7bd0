"""The shipped systemd units (scripts/systemd), as make install installs
them: systemd-analyze verify, with the installed tree as its root, finds
every unit well formed and every program it starts present and
executable (a misspelt key or a wrong path fails, as the broken unit at
the end shows), and every runit service of scripts/runit has its unit.
Starting them needs systemd as PID 1, which a test cannot have here: the
runit services, which start the same programs the same way, are what the
installed layout (installed.py) runs."""
import glob
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, need
from runutil import scratch

UNITS = os.path.join(ROOT, "scripts", "systemd")


@pytest.fixture(scope="module")
def root():
    need("systemd-analyze", "systemd")
    d = scratch("sandmail-systemd.")
    args = ["make", "-s", "install", f"DESTDIR={d}", "PREFIX=/usr/local"]
    if os.path.basename(BUILD) == "build-asan":
        args.append("SANITIZE=1")
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    # systemd's own units (multi-user.target, ...) and /bin/sh, which the
    # units lean on, as the root systemd-analyze looks in
    shutil.copytree("/lib/systemd/system",
                    os.path.join(d, "usr", "lib", "systemd", "system"),
                    symlinks=True)
    os.makedirs(os.path.join(d, "bin"), exist_ok=True)
    shutil.copy("/bin/sh", os.path.join(d, "bin", "sh"))
    etc = os.path.join(d, "etc", "systemd", "system")
    os.makedirs(etc)
    for u in os.listdir(UNITS):
        shutil.copy(os.path.join(UNITS, u), etc)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def verify(root, unit):
    r = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                        unit], cwd=os.path.join(root, "etc", "systemd",
                                                "system"),
                       capture_output=True, text=True, timeout=120)
    # systemd-analyze also warns about units not ours: keep our lines
    said = [ln for ln in (r.stdout + r.stderr).splitlines()
            if "sandmail" in ln]
    return r.returncode, said


@pytest.mark.parametrize("unit", sorted(
    os.path.basename(p) for p in glob.glob(os.path.join(UNITS, "*"))))
def test_unit_verifies(root, unit):
    code, said = verify(root, unit)
    assert code == 0 and not said, said


def test_a_broken_unit_is_caught(root):
    etc = os.path.join(root, "etc", "systemd", "system")
    with open(os.path.join(etc, "sandmail-queue.service")) as f:
        text = f.read()
    with open(os.path.join(etc, "sandmail-broken.service"), "w") as f:
        f.write(text.replace("/usr/local/sbin/sandmail-queue",
                             "/usr/local/sbin/sandmail-queeu"))
    code, said = verify(root, "sandmail-broken.service")
    assert code != 0 and any("sandmail-queeu" in ln for ln in said), said


def test_every_runit_service_has_a_unit():
    # the tcpserver variant's unit is the inetd socket pair; metrics
    # follows svlogd's files (sandmail-metrics(8): no journal reader)
    runit = {os.path.basename(p) for p in
             glob.glob(os.path.join(ROOT, "scripts", "runit", "*"))}
    units = {os.path.basename(p) for p in glob.glob(os.path.join(UNITS, "*"))}
    for s in sorted(runit - {"sandmail-smtpd-tcpserver", "sandmail-metrics"}):
        assert f"{s}.service" in units, s
    assert "sandmail-smtpd-inetd.socket" in units
