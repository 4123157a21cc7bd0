"""Inbound DKIM verification by milters (doc/filters.md, "OpenDKIM",
"rspamd"): a message signed by dkimpy, and the same message changed on
the way, through OpenDKIM in its verifying mode (Mode v) and through
rspamd's DKIM module (its milter mode).  The key is served by a real
dnsmasq on loopback, as in test_verify.py; each filter's own
Authentication-Results field, read back from the queue, says pass for
the good message and fail for the changed one."""
import os
import re
import shutil
import subprocess

import pytest

import dnsutil
from e2eutil import rsa_key
from smtpdutil import Smtpd
from test_smtpd_milter import start_rspamd

from conftest import free_port, need_module, wait_port

dkim = need_module("dkim", "python3-dkim")

SERV = "mx.verify.test"     # OpenDKIM's authserv-id (AuthservID)


def key_and_dns(procs, d):
    """a key, its record served by dnsmasq as r1._domainkey.signed.test;
    (key path, dnsmasq's port)"""
    key, rec = rsa_key(str(d))
    chunks = [rec[i:i + 200] for i in range(0, len(rec), 200)]
    port = dnsutil.start_dnsmasq(procs, str(d), [
        "--txt-record=" + ",".join(["r1._domainkey.signed.test"] + chunks),
        "--txt-record=signed.test,v=spf1 -all",
        # the rest of the world: NXDOMAIN, not REFUSED (rspamd takes a
        # refusal for a dead server)
        "--address=/#/"], tcp_fork=True)
    return key, port


def signed_pair(key):
    """(good, tampered): CRLF texts signed by dkimpy"""
    msg = (b"From: Someone <a@signed.test>\r\nTo: <alice@example.test>\r\n"
           b"Subject: signed\r\nDate: Mon, 7 Dec 2026 05:00:00 +0000\r\n"
           b"Message-ID: <v1@signed.test>\r\n\r\n"
           b"Some text.\r\n\r\nA second paragraph.\r\n")
    sig = dkim.sign(msg, b"r1", b"signed.test", open(key, "rb").read(),
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date",
                                     b"message-id"])
    good = sig + msg
    return good, good.replace(b"second", b"2nd")


def send(sm, text):
    """one message; the text the queue stored"""
    before = set(sm.messages())
    c = sm.client()
    assert c.code("EHLO client.test") == 250
    assert c.code("MAIL FROM:<a@signed.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send(text + b".\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    c.code("QUIT")
    c.close()
    new = [t for i, (_, t) in sm.messages().items() if i not in before]
    assert len(new) == 1
    return new[0].decode()


def ar_fields(text):
    """the Authentication-Results fields of the header, unfolded"""
    head = text.partition("\n\n")[0]
    return [re.sub(r"\n[ \t]+", " ", f) for f in
            re.findall(r"^Authentication-Results:.*?(?=\n(?![ \t]))", head,
                       re.M | re.S)]


def start_opendkim_verifier(procs, d, dport):
    """OpenDKIM in Mode v, asking dnsmasq through libunbound (its
    ResolverConfiguration: a forward zone to dnsmasq's port)"""
    if shutil.which("opendkim") is None:
        pytest.fail("opendkim is not installed (scripts/deps)")
    d = os.path.join(str(d), "opendkim")
    os.makedirs(d)
    ub = os.path.join(d, "unbound.conf")
    with open(ub, "w") as f:
        # (unbound answers test. itself, NXDOMAIN, unless told not to)
        f.write("server:\n\tdo-not-query-localhost: no\n"
                "\tlocal-zone: \"test.\" nodefault\n"
                "forward-zone:\n\tname: \".\"\n"
                f"\tforward-addr: 127.0.0.1@{dport}\n")
    port = free_port()
    conf = os.path.join(d, "opendkim.conf")
    with open(conf, "w") as f:
        f.write(f"Mode v\nSocket inet:{port}@127.0.0.1\nBackground false\n"
                f"Syslog false\nPidFile {d}/pid\nAuthservID {SERV}\n"
                f"ResolverConfiguration {ub}\n"
                # loopback is an internal host by default: not verified
                "InternalHosts 192.0.2.1\n")
    out = open(os.path.join(d, "out.log"), "w")
    procs.start(["opendkim", "-f", "-x", conf], stdout=out,
                stderr=subprocess.STDOUT)
    wait_port(port, timeout=30)
    return port


def test_opendkim_verifies(procs, tmp_path):
    key, dport = key_and_dns(procs, tmp_path)
    mport = start_opendkim_verifier(procs, tmp_path, dport)
    sm = Smtpd(procs, tmp_path, smtpd_milter=f"inet:127.0.0.1:{mport}")
    good, bad = signed_pair(key)
    ar = ar_fields(send(sm, good))
    assert len(ar) == 1, ar
    assert ar[0].startswith(f"Authentication-Results: {SERV}; "), ar
    assert "dkim=pass (2048-bit key; unprotected) header.d=signed.test " \
        "header.i=@signed.test header.a=rsa-sha256 header.s=r1 " \
        "header.b=" in ar[0], ar
    ar = ar_fields(send(sm, bad))
    assert len(ar) == 1, ar
    assert 'dkim=fail reason="signature verification failed" ' \
        "(2048-bit key; unprotected) header.d=signed.test" in ar[0], ar


def test_rspamd_verifies(procs, tmp_path):
    key, dport = key_and_dns(procs, tmp_path)
    rport = start_rspamd(procs, tmp_path, nameserver=f"127.0.0.1:{dport}",
                         headers=("authentication-results",
                                  "x-spamd-result"),
                         # loopback is a local network to its DKIM module
                         local={"dkim.conf": "check_local = true;\n"})
    sm = Smtpd(procs, tmp_path,
               smtpd_milter=f"inet:127.0.0.1:{rport} timeout=60")
    good, bad = signed_pair(key)
    text = send(sm, good)
    ar = ar_fields(text)
    assert len(ar) == 1, text
    assert "dkim=pass header.d=signed.test header.s=r1 header.b=" in ar[0], ar
    assert "R_DKIM_ALLOW" in text, text
    text = send(sm, bad)
    ar = ar_fields(text)
    assert len(ar) == 1, text
    assert 'dkim=fail ("body hash did not verify") header.d=signed.test ' \
        "header.s=r1 header.b=" in ar[0], ar
    assert "R_DKIM_REJECT" in text, text


def test_rspamd_signs(procs, tmp_path):
    """rspamd's DKIM signing module (dkim_signing), given a key for the
    From: domain, signs mail from a local client through the milter; the
    signature it added, as the queue stored it, verifies (dkimpy, the
    key's record from the test's own function)."""
    key, rec = rsa_key(str(tmp_path))
    kdir = os.path.join(str(tmp_path), "keys")
    os.makedirs(kdir)
    shutil.copy(key, os.path.join(kdir, "signed.test.r1.key"))
    rport = start_rspamd(procs, tmp_path, headers=("x-spamd-result",),
                         local={"dkim_signing.conf":
                                f'path = "{kdir}/$domain.$selector.key";\n'
                                'selector = "r1";\nsign_local = true;\n'
                                'use_domain = "header";\n'
                                'allow_hdrfrom_mismatch = true;\n'})
    sm = Smtpd(procs, tmp_path,
               smtpd_milter=f"inet:127.0.0.1:{rport} timeout=60")
    msg = (b"From: Someone <a@signed.test>\r\nTo: <alice@example.test>\r\n"
           b"Subject: to be signed\r\nDate: Mon, 7 Dec 2026 05:00:00 +0000\r\n"
           b"Message-ID: <s1@signed.test>\r\n\r\nSome text.\r\n")
    text = send(sm, msg)
    head = text.partition("\n\n")[0]
    assert re.search(r"^DKIM-Signature: .*d=signed\.test", head,
                     re.M | re.S), head
    assert "s=r1" in head, head
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    # the Received: field our session put on top is not signed by rspamd
    # (it was there first, but rspamd signs From, To, Subject...): the
    # signature must verify as stored
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5:
                       rec.encode() if name == b"r1._domainkey.signed.test."
                       else None), text
    # and not once the body is changed
    assert not dkim.verify(data.replace(b"Some text", b"Other text"),
                           dnsfunc=lambda name, timeout=5: rec.encode())
