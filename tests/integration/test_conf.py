"""Configuration errors are caught before they bite (issue 18, item 8).

- The registry of keys (lib/confkeys.c, listed by `sandmail-conf -l`)
  agrees with the sources, scripts/setup and sandmail.conf(5): a key a
  program reads is listed, a listed key is read and documented.
- A bad value of any listed key stops every program at start with
  file:line, even a key that program never reads; an unknown key is a
  warning at start, with the nearest known key.
- sandmail-conf, and sandmail-check through it, fail on a bad value, an
  unknown key and a bad table line, pass a good configuration, and -n
  prints the settings that differ from the defaults."""
import glob
import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import ROOT, prog
from runutil import scratch

CHECK = os.path.join(ROOT, "scripts", "sandmail-check")
GETTER = re.compile(
    r"\bconf_(str|num|secs|size|bool|next|path)\(\s*[^,()]+,\s*"
    r"\"([a-z0-9_]+)\"")
# a numeric getter's default, when it is a constant expression
DEFAULT = re.compile(
    r"\bconf_(num|secs|size|bool)\(\s*[^,()]+,\s*\"([a-z0-9_]+)\",\s*"
    r"([0-9][0-9 ulUL*<+]*?)\s*[,)]")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SIZES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def number(kind, text):
    """A registry default as conf_key_value reads it."""
    if kind == "bool":
        return {"yes": 1, "no": 0}[text]
    table = UNITS if kind == "duration" else \
        SIZES if kind == "size" else {}
    if text[-1:] in table:
        return int(text[:-1]) * table[text[-1]]
    return int(text)
KIND = {"num": "number", "secs": "duration", "size": "size",
        "bool": "bool", "path": "path"}


def registry():
    r = subprocess.run([prog("sandmail-conf"), "-l"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    keys = {}
    for line in r.stdout.splitlines():
        name, kind, default, rng, progs = line.split("\t")
        keys[name] = dict(kind=kind, default=default, range=rng,
                          progs=progs)
    assert len(keys) > 90
    return keys


def sources():
    out = {}
    for d in sorted(glob.glob(os.path.join(ROOT, "*", ""))):
        base = os.path.basename(os.path.dirname(d))
        if base in ("tests", "build", "build-asan", "build-fuzz", "doc"):
            continue
        for f in glob.glob(os.path.join(d, "*.c")):
            if f.endswith(os.path.join("lib", "confkeys.c")):
                continue
            with open(f) as fh:
                out[os.path.relpath(f, ROOT)] = fh.read()
    assert "smtpd/cfg.c" in out
    return out


def test_every_key_read_is_listed():
    """Each getter call with a literal key names a listed key of the
    getter's kind (the getters also die at run time on one that is not:
    this finds it without running the program)."""
    keys = registry()
    bad = []
    for path, text in sources().items():
        for m in GETTER.finditer(text):
            getter, key = m.groups()
            if key not in keys:
                bad.append(f"{path}: {key} is not in lib/confkeys.c")
            elif getter in KIND and \
                    keys[key]["kind"].split(",")[0] != KIND[getter]:
                bad.append(f"{path}: {key} read with conf_{getter}, "
                           f"listed as {keys[key]['kind']}")
            elif getter == "next" and ",list" not in keys[key]["kind"]:
                bad.append(f"{path}: {key} read with conf_next, not a list")
        for m in DEFAULT.finditer(text):
            _, key, expr = m.groups()
            k = keys.get(key)
            if k is None or k["default"] in ("(computed)", "-"):
                continue
            want = number(k["kind"], k["default"])
            got = eval(re.sub(r"(?<=[0-9])[uUlL]+", "", expr))
            if got != want:
                bad.append(f"{path}: {key} defaults to {got}, "
                           f"lib/confkeys.c says {k['default']}")
    assert bad == []


def test_every_listed_key_is_read_and_documented():
    keys = registry()
    text = "\n".join(sources().values())
    unread = sorted(k for k in keys if f'"{k}"' not in text)
    assert unread == [], "listed but read by no program"
    page = subprocess.run(["mandoc", "-T", "ascii",
                           os.path.join(ROOT, "doc", "sandmail.conf.5")],
                          capture_output=True, text=True).stdout
    page = re.sub(r".\x08", "", page)
    undocumented = sorted(k for k in keys
                          if not re.search(rf"\b{k}\b", page))
    assert undocumented == [], "not in sandmail.conf(5)"


def test_setup_lists_true_defaults(tmp_path):
    """scripts/setup's sandmail.conf lists each key commented out "with
    its default": each is a listed key, and each value given is the
    registry's default (sandmail-conf -n prints none of them)."""
    keys = registry()
    with open(os.path.join(ROOT, "scripts", "setup")) as f:
        setup = f.read()
    block = setup.split("sandmail.conf\" 0644 <<EOF", 1)[1].split("\nEOF")[0]
    lines = []
    for line in block.splitlines():
        m = re.match(r"#?([a-z][a-z0-9_]+)(?:\s+(\S+))?", line)
        if not m or line.startswith("# "):
            continue
        key, value = m.groups()
        assert key in keys, f"scripts/setup lists unknown key {key}"
        k = keys[key]
        if value and not value.startswith("(") and \
                k["default"] not in ("(computed)", "-") and \
                ",list" not in k["kind"] and k["kind"] != "path":
            lines.append(f"{key} {value}\n")
    assert len(lines) > 50
    conf = tmp_path / "sandmail.conf"
    conf.write_text("".join(lines))
    r = subprocess.run([prog("sandmail-conf"), "-c", str(conf), "-n"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "", "scripts/setup's listed defaults are not"


# --- programs at start -------------------------------------------------

BAD = "hostname mx.example.org\n\nmax_recipients abc\n"
TYPO = "hostname mx.example.org\nmax_recipents 5\n"


@pytest.fixture
def d():
    d = scratch("sandmail-conf.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write(d, text, name="sandmail.conf"):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def start(name, conf, args=(), stdin=subprocess.DEVNULL):
    return subprocess.run([prog(name)] + list(args), stdin=stdin,
                          env=dict(os.environ, SANDMAIL_CONF=conf),
                          capture_output=True, text=True, timeout=30)


# max_recipients is read by smtpd, queue and inject only: every other
# program must refuse it as well
PROGRAMS = [("sandmail-smtpd", ()), ("sandmail-queue", ()),
            ("sandmail-send", ()), ("sandmail-start", ()),
            ("sandmail-resolve", ()), ("sandmail-rspawn", ()),
            ("sandmail-auth", ()), ("sandmail-pop3d", ()),
            ("sandmail-mailq", ()), ("sandmail-flush", ()),
            ("sandmail-rm", ("x",)), ("sandmail-passwd", ("bob",)),
            ("sandmail-cdb", ("-q", "domains", "x"))]


@pytest.mark.parametrize("name,args", PROGRAMS, ids=[p for p, _ in PROGRAMS])
def test_bad_value_stops_program(d, name, args):
    conf = write(d, BAD)
    r = start(name, conf, args)
    assert r.returncode == 111, r.stderr
    assert f"{conf}:3: max_recipients: not a number" in r.stderr


def test_bad_value_stops_lspawn(d):
    """lspawn wants its socket on fd 0 before it reads the configuration."""
    conf = write(d, BAD)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        r = start("sandmail-lspawn", conf, stdin=b.fileno())
    assert r.returncode == 111, r.stderr
    assert f"{conf}:3: max_recipients: not a number" in r.stderr


def test_bad_value_stops_sendmail(d):
    """sandmail-inject (sendmail) keeps sendmail's exit codes: EX_CONFIG."""
    conf = write(d, BAD)
    r = subprocess.run([prog("sandmail-inject"), "-C", conf, "-t"],
                       input="To: a@b\n\nx\n", capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 78, r.stderr
    assert f"{conf}:3: max_recipients: not a number" in r.stderr


def test_unknown_key_warns_and_runs(d):
    """A misspelt key does not stop a program, but is logged at start."""
    conf = write(d, TYPO + f"tables {d}\n")
    write(d, "localhost local\n", "domains")
    r = start("sandmail-cdb", conf, ("domains",))
    assert r.returncode == 0, r.stderr
    assert f'{conf}:2: unknown key "max_recipents" (did you mean ' \
        '"max_recipients"?)' in r.stderr
    assert os.path.exists(os.path.join(d, "domains.cdb"))
    # a daemon: its log line, then its work (an SMTP session on stdin)
    r = start("sandmail-smtpd", conf, stdin=subprocess.DEVNULL)
    assert "event=warning op=config" in r.stderr, r.stderr
    assert f'{conf}:2: unknown key \\"max_recipents\\"' in r.stderr


# --- sandmail-conf and sandmail-check ------------------------------------

def good_tree(d):
    conf = write(d, "hostname mx.example.org\n"
                 f"tables {d}\n"
                 "max_message_size 35m\n"
                 "max_recipients 50\n"
                 "nameserver 127.0.0.1:5353\n"
                 "nameserver [::1]:53\n"
                 "smtpd_vrfy no\n"
                 "remote_tls encrypt\n")
    write(d, "localhost local\nexample.org local\n", "domains")
    write(d, "abuse: alice\npostmaster alice\n", "aliases")
    subprocess.run([prog("sandmail-cdb"), "-c", conf, "all"], check=True)
    return conf


def conf_check(conf, *args):
    return subprocess.run([prog("sandmail-conf"), "-c", conf] + list(args),
                          capture_output=True, text=True, timeout=30)


def check(conf, *args):
    return subprocess.run([CHECK, "-c", conf, "--sbin",
                           os.path.dirname(prog("sandmail-conf")),
                           "--no-ports"] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_good_configuration_passes(d):
    conf = good_tree(d)
    r = conf_check(conf)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert "ok    settings and tables: valid (sandmail-conf)" in \
        check(conf).stdout


@pytest.mark.parametrize("extra,want", [
    ("max_recipients abc\n", ":9: max_recipients: not a number"),
    ("max_recipents 5\n",
     ':9: unknown key "max_recipents" (did you mean "max_recipients"?)'),
    ("remote_tls maybe\n",
     ":9: remote_tls: expected one of "
     "none|may|encrypt|verify|dane|dane-only"),
    ("local_uid_min 70000\n", ":9: local_uid_max is below local_uid_min"),
], ids=["bad-value", "unknown-key", "bad-choice", "contradiction"])
def test_bad_setting_fails(d, extra, want):
    conf = good_tree(d)
    with open(conf, "a") as f:
        f.write(extra)
    r = conf_check(conf)
    assert r.returncode == 100
    assert r.stdout == conf + want + "\n"
    r = check(conf)
    assert r.returncode == 1
    assert "FAIL  " + conf + want + "\n" in r.stdout


def test_bad_table_line_fails(d):
    """The table is checked as sandmail-cdb compiles it, even when its
    .cdb is up to date (a table whose compile failed keeps the old one)."""
    conf = good_tree(d)
    domains = os.path.join(d, "domains")
    with open(domains, "a") as f:
        f.write("bad..domain local\nexample.net elsewhere\n")
    r = conf_check(conf)
    assert r.returncode == 100
    assert r.stdout == (f"{domains}:3: not a domain name\n"
                        f"{domains}:4: value must be local or virtual\n")
    assert not os.path.exists(domains + ".tmp")
    r = check(conf)
    assert r.returncode == 1
    assert f"FAIL  {domains}:3: not a domain name\n" in r.stdout


def test_missing_tables_directory_fails(d):
    conf = write(d, "tables nowhere\n")
    r = conf_check(conf)
    assert r.returncode == 100
    assert r.stdout == f"{d}/nowhere: tables directory: No such file or " \
        "directory\n"


def test_unreadable_configuration(d):
    r = conf_check(os.path.join(d, "missing.conf"))
    assert r.returncode == 111
    assert "No such file or directory" in r.stdout


def test_changed_settings(d):
    """-n: what differs from the defaults, in sandmail.conf(5)'s order;
    defaults said again (35m, no, the conf's own directory) are left out,
    every line of a list is kept, unknown keys come last."""
    conf = good_tree(d)
    with open(conf, "a") as f:
        f.write(f"tables {d}/.\nmax_recipients 60\nzzz_custom 1\n"
                "dns_timeout 5s\nlocal_timeout 2h\n")
    want = ("hostname mx.example.org\n"
            "max_recipients 60\n"
            "nameserver 127.0.0.1:5353\n"
            "nameserver [::1]:53\n"
            "local_timeout 2h\n"
            "remote_tls encrypt\n"
            "zzz_custom 1\n")
    r = conf_check(conf, "-n")
    assert (r.returncode, r.stdout) == (0, want), r.stderr
    r = check(conf, "-n")
    assert (r.returncode, r.stdout) == (0, want), r.stderr
    # the output is itself a configuration that says the same
    again = write(d, r.stdout, "again.conf")
    assert conf_check(again, "-n").stdout == want


def test_routes_auth_and_relay_auth_checked(d):
    """An old routes line with auth= fails the check (the secret belongs
    in relay_auth, which only send maps); relay_auth is checked too."""
    conf = good_tree(d)
    routes, ra = os.path.join(d, "routes"), os.path.join(d, "relay_auth")
    with open(routes, "w") as f:
        f.write("x.org relay.x.org:587 auth=u:p\n")
    with open(ra, "w") as f:
        f.write("relay.x.org:587 nopass\n")
    r = conf_check(conf)
    assert r.returncode == 100
    assert f"{routes}:1: auth= moved to relay_auth" in r.stdout
    assert f"{ra}:1: value must be USER:PASS, alone\n" in r.stdout
