"""sandmail-rspawn into a real Postfix (a private instance on loopback),
which relays on to a server of ours: what Postfix accepted from us must
arrive intact; what it refuses must come back with its text."""
import os
import shutil
import tempfile

import pytest

from conftest import free_port, need, wait_for, wait_port
from remoteutil import (ENV_8BITMIME, Rspawn, SMTPServer, start_postfix,
                        write_conf)
from test_remote import EIGHT_BIT_MIME, MSG, parts_of

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root for a private Postfix instance")


@pytest.fixture(autouse=True)
def postfix_installed():
    need("postfix")


@pytest.fixture
def postfix(procs, tmp_path):
    final = SMTPServer("127.0.0.3", free_port("127.0.0.3"), "final.test")
    port = free_port()
    # not under pytest's tmp_path: a concurrent pytest session resets its
    # top directory to 0700, and Postfix's daemons run as postfix
    base = tempfile.mkdtemp(prefix="sandmail-postfix-")
    os.chmod(base, 0o755)
    stop = start_postfix(
        base, port, f"[127.0.0.3]:{final.port}",
        "smtpd_recipient_restrictions = check_recipient_access "
        "inline:{ { reject@x.test = REJECT no thanks } }, permit_mynetworks, "
        "reject")
    try:
        wait_port(port)
        conf = write_conf(str(tmp_path), port)
        r = Rspawn(procs, conf, str(tmp_path))
        yield r, final
        assert r.close() == 0
    finally:
        stop()
        final.close()
        shutil.rmtree(base, ignore_errors=True)


HOST = [("postfix.sandmail.test", ["127.0.0.1"])]


def test_relay_through_postfix(postfix):
    r, final = postfix
    res = r.deliver(MSG, ["a@x.test", "b@x.test", "reject@x.test"], HOST,
                    envid="E1", ret=2)
    st = [s for s, _ in res["rcpts"]]
    assert st == ["K", "K", "X"], res
    assert "Recipient address rejected: no thanks" in res["rcpts"][2][1]
    assert "250 2.0.0 Ok: queued" in res["rcpts"][0][1]
    done = wait_for(lambda: final.done(), timeout=60, what="relayed mail")
    body = done[0].data.replace(b"\r\n", b"\n")
    # Postfix adds Received:, Message-ID: and Date:; the rest is intact
    head, text = MSG.split(b"\n\n", 1)
    assert body.endswith(b"\n\n" + text)
    for line in head.split(b"\n"):
        assert line + b"\n" in body
    assert sorted(x.split()[1] for x in done[0].rcpts) == [
        "TO:<a@x.test>", "TO:<b@x.test>"]


def test_8bit_through_postfix(postfix):
    r, final = postfix
    # 8BITMIME allows no bare CR (RFC 6152): Postfix would change it
    msg = EIGHT_BIT_MIME.replace(b"\r", b"")
    res = r.deliver(msg, ["c@x.test"], HOST, flags=ENV_8BITMIME)
    assert [s for s, _ in res["rcpts"]] == ["K"], res
    done = wait_for(lambda: final.done(), timeout=60, what="relayed mail")
    got = done[0].data.replace(b"\r\n", b"\n")
    assert "BODY=8BITMIME" in done[0].mail
    assert parts_of(got) == parts_of(msg)
