"""sandmail-cdb: tables compiled, refused with file:line, looked up.

Runs the real compiler on text tables in a temporary directory and checks
the results through its own -q lookups (lib/tbl.c) and tinycdb's cdb(1).
"""
import os
import subprocess

import pytest

from conftest import prog

CDB = prog("sandmail-cdb")


def run(*args, **kw):
    return subprocess.run([CDB, *args], capture_output=True, text=True,
                          timeout=30, **kw)


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def query(d, table, key):
    r = run("-d", str(d), "-q", table, key)
    assert r.returncode in (0, 100), r.stderr
    return r.stdout[:-1] if r.returncode == 0 else None


def dump(path):
    """Every record of a CDB file, with tinycdb's own reader."""
    r = subprocess.run(["cdb", "-d", path], capture_output=True,
                       timeout=30, check=True)
    out = {}
    for line in r.stdout.split(b"\n"):
        if not line:
            continue
        head, rest = line.split(b":", 1)
        klen, vlen = (int(x) for x in head[1:].split(b","))
        out[rest[:klen]] = rest[klen + 2:klen + 2 + vlen]
    return out


def test_malformed_table_refused_old_cdb_stays(tmp_path):
    d = str(tmp_path)
    write(d, "domains", "example.org local\nexample.net virtual\n")
    r = run("-d", d, "domains")
    assert r.returncode == 0, r.stderr
    cdbfile = os.path.join(d, "domains.cdb")
    before = open(cdbfile, "rb").read()
    ino = os.stat(cdbfile).st_ino

    write(d, "domains", "# a comment\nexample.org local\n"
          "bad_domain local\n\nexample.com remote\nexample.net virtual\n"
          "Example.ORG local\n")
    r = run("-d", d, "domains")
    assert r.returncode == 100
    errs = r.stderr.splitlines()
    path = os.path.join(d, "domains")
    # every error, each as file:line: reason
    assert errs == [
        f"{path}:3: not a domain name",
        f"{path}:5: value must be local or virtual",
        f"{path}:7: duplicate key (first on line 2)",
    ], r.stderr
    assert open(cdbfile, "rb").read() == before
    assert os.stat(cdbfile).st_ino == ino
    assert not [f for f in os.listdir(d) if ".tmp" in f]
    assert query(d, "domains", "example.net") == "virtual"


def test_replace_is_atomic_rename(tmp_path):
    d = str(tmp_path)
    write(d, "domains", "example.org local\n")
    assert run("-d", d, "domains").returncode == 0
    cdbfile = os.path.join(d, "domains.cdb")
    os.chmod(cdbfile, 0o600)
    ino = os.stat(cdbfile).st_ino
    write(d, "domains", "example.org local\nexample.net local\n")
    assert run("-d", d, "domains").returncode == 0
    st = os.stat(cdbfile)
    assert st.st_ino != ino            # a new file renamed over the old
    assert st.st_mode & 0o777 == 0o600  # the administrator's mode kept
    assert dump(cdbfile) == {b"example.org": b"local",
                             b"example.net": b"local"}


def test_domains_lookups(tmp_path):
    d = str(tmp_path)
    write(d, "domains", "Example.ORG: local\n.sub.example.org local\n"
          "v.example virtual\n")
    assert run("-d", d, "domains").returncode == 0
    assert query(d, "domains", "EXAMPLE.org") == "local"
    assert query(d, "domains", "a.b.sub.example.org") == "local"
    assert query(d, "domains", "sub.example.org") is None
    assert query(d, "domains", "v.example") == "virtual"
    assert query(d, "domains", "other.example") is None


def test_aliases_continuations_and_extensions(tmp_path):
    d = str(tmp_path)
    write(d, "aliases", "staff: alice,\n  bob@Example.org,\n"
          "  # still the list\n\tcarol\n"
          "Info-Desk@example.org \"x y\"@example.org, /var/mail/info/\n"
          "@lists.example.org: |/usr/bin/logger -t list, tag\n")
    r = run("-d", d, "aliases")
    assert r.returncode == 0, r.stderr
    assert query(d, "aliases", "Staff") == "alice,bob@Example.org,carol"
    want = '"x y"@example.org,/var/mail/info/'
    assert query(d, "aliases", "info-desk@EXAMPLE.ORG") == want
    assert query(d, "aliases", "Info-Desk-x-y@example.org") == want
    assert query(d, "aliases", "info-desk+z@example.org") == want
    assert query(d, "aliases", "info@example.org") is None
    assert query(d, "aliases", "any@lists.example.org") == \
        "|/usr/bin/logger -t list, tag"


@pytest.mark.parametrize("table,text,reason", [
    ("aliases", "a: b,\n", "list ends in a comma"),
    ("aliases", "a: b,,c\n", "empty item in list"),
    ("aliases", "a:\n", "empty list"),
    ("aliases", "a: /var/mail/x\n", "a maildir path must end in /"),
    ("aliases", "  b\n", "continuation line without an entry"),
    ("aliases", "a\x00b c\n", "NUL byte in line"),
    ("aliases", "a b\rc\n", "control character"),
    ("aliases", "a " + "b" * 20000 + "\n", "line too long"),
    ("domains", " example.org local\n", "line starts with white space"),
    ("relayclients", "10.1.2.3/8 relay\n", "not an IP address or CIDR"),
    ("relayclients", "10.0.0.0/33\n", "not an IP address or CIDR"),
    ("relayclients", "example.org\n", "not an IP address or CIDR"),
    ("routes", "x.org host:0\n", "host[:port]"),
    ("routes", "x.org host:65536\n", "host[:port]"),
    ("routes", "x.org [1.2.3]:25\n", "host[:port]"),
    # secrets never go into routes.cdb (mapped by smtpd): relay_auth
    ("routes", "x.org h auth=u:p\n", "auth= moved to relay_auth"),
    ("routes", "x.org h AUTH=u:p\n", "auth= moved to relay_auth"),
    ("relay_auth", "h:0 u:p\n", "host[:port]"),
    ("relay_auth", "h nopass\n", "USER:PASS"),
    ("relay_auth", "h u:p extra\n", "USER:PASS"),
    ("relay_auth", "h :p\n", "USER:PASS"),
    ("users", "bob secret\n", "$argon2id$"),
    ("localusers", "bob 1000:1000:home\n", "absolute path"),
    ("localusers", "bob 1000:x:/home/bob\n", "uid:gid:home"),
    ("virtual", "u@x.org Maildir/\n", "absolute maildir path"),
    ("virtual", "u@x..org /m/\n", "not an address"),
    ("moved", "u@x.org a, b\n", "one address"),
    ("tls_policy", "x.org maybe\n",
     "none, may, encrypt, verify, dane or dane-only"),
    ("senders", "bob @bad..domain\n", "not a domain name"),
])
def test_bad_lines(tmp_path, table, text, reason):
    d = str(tmp_path)
    write(d, table, "# first line\n" + text)
    r = run("-d", d, table)
    assert r.returncode == 100
    want = os.path.join(d, table) + ":2: "
    assert r.stderr.startswith(want), r.stderr
    assert reason in r.stderr
    assert not os.path.exists(os.path.join(d, table + ".cdb"))


def test_relayclients_cidr(tmp_path):
    d = str(tmp_path)
    write(d, "relayclients", "127.0.0.0/8 relay\n::1\n10.0.0.5\n"
          "::ffff:192.168.0.0/112\n2001:db8::/32 v6net\n10.0.0.0/24 net\n")
    assert run("-d", d, "relayclients").returncode == 0
    recs = dump(os.path.join(d, "relayclients.cdb"))
    assert recs[b"::1/128"] == b"relay"
    assert recs[b"192.168.0.0/16"] == b"relay"
    for ip, want in [("127.1.2.3", "relay"), ("128.0.0.1", None),
                     ("::1", "relay"), ("::2", None),
                     ("::ffff:127.0.0.1", "relay"),
                     ("192.168.200.1", "relay"), ("192.169.0.1", None),
                     ("2001:db8:ffff::1", "v6net"), ("2001:db9::1", None),
                     ("10.0.0.5", "relay"),  # longest prefix wins
                     ("10.0.0.6", "net"), ("10.0.1.1", None)]:
        assert query(d, "relayclients", ip) == want, ip


def test_routes_and_duplicates_merge_only_for_senders(tmp_path):
    d = str(tmp_path)
    write(d, "routes", "* [127.0.0.1]:2525\n.example.net MX.example.net:26"
          "\nexample.com\n[::1]:25 x\n")
    r = run("-d", d, "routes")
    assert r.returncode == 100 and ":4: not an address literal" in r.stderr
    write(d, "routes", "* [127.0.0.1]:2525\n.example.net MX.example.net:26"
          "\nexample.com\nv6.example [IPv6:::1]:25\n")
    assert run("-d", d, "routes").returncode == 0
    assert query(d, "routes", "a.example.net") == "mx.example.net:26"
    # credentials: keyed by the next hop as routes.cdb spells it
    write(d, "relay_auth", "MX.example.net:26 u:p:w\n[IPv6:::1]:25 a:b\n")
    assert run("-d", d, "relay_auth").returncode == 0
    assert query(d, "relay_auth", "mx.example.net:26") == "u:p:w"
    assert query(d, "relay_auth", "[::1]:25") == "a:b"
    assert query(d, "routes", "example.com") == ""
    assert query(d, "routes", "elsewhere.org") == "[127.0.0.1]:2525"
    # the IPv6: tag is dropped: send takes what is inside the brackets
    assert query(d, "routes", "v6.example") == "[::1]:25"
    write(d, "senders", "bob bob@x.org\nbob @y.org\n")
    assert run("-d", d, "senders").returncode == 0
    assert query(d, "senders", "bob") == "bob@x.org,@y.org"


@pytest.mark.parametrize("table,value", [("routes", "[127.0.0.1]:2525"),
                                         ("tls_policy", "verify")])
def test_address_literal_keys(tmp_path, table, value):
    # sandmail-tables(5): a literal is looked up as itself, so it may be
    # a key; stored in one spelling (lower case, the address as inet_ntop
    # writes it), the one sandmail-send looks up
    d = str(tmp_path)
    write(d, table, f"[192.0.2.1] {value}\n[IPv6:2001:DB8:0::1] {value}\n")
    r = run("-d", d, table)
    assert r.returncode == 0, r.stderr
    recs = dump(os.path.join(d, table + ".cdb"))
    assert recs[b"[192.0.2.1]"] == value.encode()
    assert recs[b"[ipv6:2001:db8::1]"] == value.encode()
    for bad in ("[192.0.2.300]", "[IPv6:192.0.2.1]", "[x:1]", "[]",
                "[192.0.2.1", "[tag:stuff]"):
        write(d, table, f"{bad} {value}\n")
        r = run("-d", d, table)
        assert r.returncode == 100 and "not an address literal" in \
            r.stderr, (bad, r.stderr)


def test_all_and_unknown(tmp_path):
    d = str(tmp_path)
    write(d, "domains", "example.org local\n")
    write(d, "tls_policy", "example.org verify\n")
    write(d, "notatable", "x y\n")
    r = run("-d", d, "all")
    assert r.returncode == 0, r.stderr
    assert sorted(f for f in os.listdir(d) if f.endswith(".cdb")) == \
        ["domains.cdb", "tls_policy.cdb"]
    r = run("-d", d, "notatable")
    assert r.returncode == 100 and "unknown table" in r.stderr
    r = run("-d", d, "aliases")       # no such file: a system error
    assert r.returncode == 111


def test_conf_tables_dir(tmp_path):
    d = tmp_path / "tabs"
    d.mkdir()
    conf = tmp_path / "sandmail.conf"
    conf.write_text("hostname mx.example.org\ntables tabs\n")
    write(str(d), "domains", "example.org local\n")
    r = run("-c", str(conf), "domains")
    assert r.returncode == 0, r.stderr
    assert (d / "domains.cdb").exists()
    r = subprocess.run([CDB, "-q", "domains", "example.org"],
                       capture_output=True, text=True, timeout=30,
                       env={**os.environ, "SANDMAIL_CONF": str(conf)})
    assert r.stdout == "local\n"


def test_localusers_from_passwd(tmp_path):
    d = str(tmp_path)
    pw = tmp_path / "passwd"
    pw.write_text("root:x:0:0:root:/root:/bin/bash\n"
                  "alice:x:1000:1000:Alice,,,:/home/alice:/bin/sh\n"
                  "bob:x:1001:100::/home/bob:/bin/sh\n"
                  "alice:x:2000:2000::/elsewhere:/bin/sh\n")
    r = run("-d", d, "-p", "-P", str(pw))
    assert r.returncode == 0, r.stderr
    assert dump(os.path.join(d, "localusers.cdb")) == {
        b"alice": b"1000:1000:/home/alice", b"bob": b"1001:100:/home/bob"}
    pw.write_text("carol:x:1002:1002::/home/carol:/bin/sh\nbroken:x:1\n")
    r = run("-d", d, "-p", "-P", str(pw))
    assert r.returncode == 100
    assert r.stderr == f"{pw}:2: not a passwd line (7 fields)\n"
    assert query(d, "localusers", "alice") == "1000:1000:/home/alice"
    # the system's own accounts
    r = run("-d", d, "-p")
    assert r.returncode == 0, r.stderr
    recs = dump(os.path.join(d, "localusers.cdb"))
    assert b"root" not in recs and b"nobody" in recs


def test_readers_never_see_half_a_table(tmp_path):
    """A reader racing recompiles finds the old value or the new."""
    d = str(tmp_path)
    big = "".join(f"d{i}.example.org local\n" for i in range(2000))
    versions = [big + "target.example local\n",
                big + "target.example virtual\n"]
    write(d, "domains", versions[0])
    assert run("-d", d, "domains").returncode == 0
    reader = subprocess.Popen(
        ["/bin/sh", "-c", 'i=0; while [ $i -lt 40 ]; do '
         f'"{CDB}" -d "{d}" -q domains target.example || echo MISSING; '
         'i=$((i+1)); done'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for i in range(20):
            write(d, "domains", versions[i % 2])
            assert run("-d", d, "domains").returncode == 0
    finally:
        out, _ = reader.communicate(timeout=120)
    seen = out.splitlines()
    assert len(seen) == 40
    assert set(seen) <= {"local", "virtual"}, set(seen)
    assert not [f for f in os.listdir(d) if ".tmp" in f]


def test_resolve_where_a_recipient_goes(tmp_path):
    """-r ADDRESS: the decision smtpd and send make (lib/rcpt.c), with
    the conf's hostname and recipient_delimiter."""
    d = str(tmp_path)
    tables = {"domains": "test.example local\nvirt.example virtual\n",
              "aliases": "abuse alice\nprog@test.example |/bin/x a,b\n",
              "localusers": "alice 1001:1001:/home/alice\n",
              "virtual": "carol@virt.example /v/carol\n",
              "moved": "gone@test.example new@x.example\n",
              "routes": "routed.example [127.0.0.1]:25\n"}
    for name, text in tables.items():
        write(d, name, text)
    assert run("-d", d, *tables).returncode == 0
    write(d, "sandmail.conf", "hostname mx.test\nrecipient_delimiter +\n")
    conf = os.path.join(d, "sandmail.conf")
    for addr, code, out in (
            ("Alice+x@TEST.example", 0, "user 1001:1001 /home/alice/Maildir/"),
            ("alice-x@test.example", 100, "unknown"),
            ("abuse@localhost", 0, "alias alice"),
            ("abuse@mx.test", 0, "alias alice"),
            ("prog@test.example", 0, "alias |/bin/x a,b"),
            ("carol@virt.example", 0, "virtual /v/carol/"),
            ("gone@test.example", 100, "moved new@x.example"),
            ("x@routed.example", 0, "routed"),
            ("x@else.example", 0, "remote")):
        r = run("-c", conf, "-r", addr)
        assert (r.returncode, r.stdout) == (code, out + "\n"), addr
    # -s overrides the conf's delimiter
    r = run("-c", conf, "-s", "-", "-r", "alice-x@test.example")
    assert r.stdout.startswith("user 1001:1001")
    r = run("-c", conf, "-r", "not an address")
    assert r.returncode == 100 and "not an address" in r.stderr
