"""A fresh machine passes (issue 18, item 9): scripts/deps installs what
the tests use, swaks's TLS modules included, and `scripts/deps
--check-tools`, run by make check before any test, names each missing
capability in one line instead of letting a test fail obscurely."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

DEPS = os.path.join(ROOT, "scripts", "deps")
TOOLS = ("tcpserver", "runsvdir", "sv", "openssl", "cdb", "dnsmasq",
         "smtp-sink", "smtp-source", "mandoc", "man", "setpriv", "mount",
         "useradd", "ss", "swaks", "postgrey", "grep", "opendkim",
         "unbound", "ldns-signzone", "ldns-keygen", "opendkim-genkey",
         "rspamd", "spamd", "spamc", "spamass-milter", "clamd",
         "clamav-milter", "xmllint")


def check_tools(path=None, python="/usr/bin/python3"):
    env = dict(os.environ, PYTHON=python)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(["/bin/sh", DEPS, "--check-tools"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_packages_listed():
    with open(DEPS) as f:
        text = f.read()
    pkgs = re.search(r'PKGS="([^"]*)"', text).group(1).split()
    # swaks --tls needs these; they are only recommended by swaks
    for p in ("swaks", "libnet-ssleay-perl", "libio-socket-ssl-perl",
              "python3-pytest", "dnsmasq-base", "dovecot-pop3d", "postfix",
              "dovecot-lmtpd", "dovecot-sieve",
              "tinycdb", "ucspi-tcp", "runit", "mandoc", "man-db",
              "postgrey", "python3-milter", "unbound", "ldnsutils"):
        assert p in pkgs, p
    assert "--no-install-recommends" in text


def test_makefile_checks_tools_first():
    with open(os.path.join(ROOT, "Makefile")) as f:
        text = f.read()
    body = text.split("\ncheck:\n", 1)[1].split("\n\n", 1)[0]
    lines = [l.strip() for l in body.splitlines()]
    assert "scripts/deps --check-tools" in lines[1], lines
    assert all("unit" not in l and "integration" not in l
               for l in lines[:2])


def test_this_machine_has_everything():
    r = check_tools()
    assert (r.returncode, r.stderr) == (0, ""), r.stderr


@pytest.fixture
def fakebin(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    for t in TOOLS:
        real = shutil.which(t, path="/usr/local/sbin:/usr/local/bin:"
                            "/usr/sbin:/usr/bin:/sbin:/bin")
        assert real, t
        os.symlink(real, d / t)
    return d


def test_swaks_without_tls_is_one_line(fakebin):
    """swaks as a fresh machine has it without the recommended Perl
    modules: it runs, but cannot do TLS."""
    os.unlink(fakebin / "swaks")
    real = shutil.which("swaks", path="/usr/bin:/bin")
    (fakebin / "swaks").write_text(
        "#!/bin/sh\n"
        f"{real} \"$@\" | grep -v '=== TLS supported'\n"
        "echo '*** TLS not available: requires Net::SSLeay'\n")
    (fakebin / "swaks").chmod(0o755)
    r = check_tools(str(fakebin))
    assert r.returncode == 1
    assert r.stderr == ("deps: missing: swaks with TLS (--tls: Net::SSLeay, "
                        "IO::Socket::SSL) (package libnet-ssleay-perl "
                        "libio-socket-ssl-perl)\n")


def test_missing_command_is_one_line(fakebin):
    os.unlink(fakebin / "dnsmasq")
    r = check_tools(str(fakebin))
    assert r.returncode == 1
    assert r.stderr == ("deps: missing: the dnsmasq command (package "
                        "dnsmasq-base)\n")


def test_python_without_pytest_is_one_line(tmp_path):
    py = tmp_path / "python3"
    py.write_text("#!/bin/sh\nexit 1\n")
    py.chmod(0o755)
    r = check_tools(python=str(py))
    assert r.returncode == 1
    assert r.stderr == (f"deps: missing: pytest for {py} (package "
                        "python3-pytest)\n")
