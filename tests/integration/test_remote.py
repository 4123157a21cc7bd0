"""sandmail-rspawn against SMTP servers of our own on 127.0.0.2, .3 ...
(same port each, mx_port in the configuration): host order, fallback,
deferrals and bounces per recipient, one transaction for several
recipients, SIZE, 8-bit downgrade, SMTPUTF8, DSN, STARTTLS, AUTH,
connection reuse."""
import email
import email.policy
import os
import socket

import pytest

from conftest import free_port, need, wait_for, wait_port
from remoteutil import (ENV_8BITMIME, ENV_SMTPUTF8, Rspawn, SMTPServer,
                        common_port, make_ca, server_tls_ctx, write_conf)

MSG = (b"Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\n"
       b"From: a@sender.test\nTo: b@example.test\nSubject: hi\n\n"
       b"line one\n.starts with a dot\n..two dots\n.\nlast line\n")


@pytest.fixture
def env(procs, tmp_path):
    """Two servers (mx1 on 127.0.0.2, mx2 on 127.0.0.3) and an rspawn."""
    class Env:
        pass
    e = Env()
    e.tmp = str(tmp_path)
    e.port = common_port(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    e.mx1 = SMTPServer("127.0.0.2", e.port, "mx1.example.test")
    e.mx2 = SMTPServer("127.0.0.3", e.port, "mx2.example.test")
    e.extra = ""
    e.r = None

    def start(extra=""):
        conf = write_conf(e.tmp, e.port, extra)
        e.r = Rspawn(procs, conf, e.tmp)
        return e.r
    e.start = start
    yield e
    if e.r is not None:
        rc = e.r.close()
        assert rc == 0, e.r.log()
    e.mx1.close()
    e.mx2.close()


ROUTE = [("mx1.example.test", ["127.0.0.2"]),
         ("mx2.example.test", ["127.0.0.3"])]


def statuses(res):
    return [s for s, _ in res["rcpts"]]


def test_delivers_to_first_host_one_transaction(env):
    r = env.start()
    res = r.deliver(MSG, ["b@example.test", "c@example.test"], ROUTE)
    assert statuses(res) == ["K", "K"], res
    assert "mx1.example.test[127.0.0.2]" in res["mta"]
    assert "250 2.0.0 queued" in res["rcpts"][0][1]
    done = env.mx1.done()
    assert len(done) == 1 and env.mx2.done() == []
    t = done[0]
    assert t.mail.startswith("MAIL FROM:<from@sender.test>")
    assert [x.split()[1] for x in t.rcpts] == ["TO:<b@example.test>",
                                                "TO:<c@example.test>"]
    # CRLF on the wire, dots stuffed and unstuffed again
    assert t.data == MSG.replace(b"\n", b"\r\n")
    assert t.helo == "EHLO client.sandmail.test"


def test_fallback_when_first_is_down(env):
    r = env.start()
    route = [("down.example.test", ["127.0.0.4"])] + ROUTE[1:]
    res = r.deliver(MSG, ["b@example.test"], route)
    assert statuses(res) == ["K"], res
    assert len(env.mx2.done()) == 1


def test_fallback_over_addresses_of_one_host(env):
    r = env.start()
    route = [("mx.example.test", ["127.0.0.4", "127.0.0.3"])]
    res = r.deliver(MSG, ["b@example.test"], route)
    assert statuses(res) == ["K"], res
    assert len(env.mx2.done()) == 1


def test_fallback_on_421_greeting(env):
    env.mx1.greeting = "421 4.3.2 busy, try later"
    r = env.start()
    res = r.deliver(MSG, ["b@example.test"], ROUTE)
    assert statuses(res) == ["K"], res
    assert len(env.mx2.done()) == 1


def test_fallback_on_4xx_rcpt_then_defer(env):
    env.mx1.rcpt = lambda a: "451 4.7.1 greylisted"
    r = env.start()
    res = r.deliver(MSG, ["b@example.test"], ROUTE)
    assert statuses(res) == ["K"]
    env.mx2.rcpt = lambda a: "452 4.2.2 mailbox full"
    res = r.deliver(MSG, ["b@example.test"], ROUTE)
    assert statuses(res) == ["Z"]
    assert "452 4.2.2 mailbox full" in res["rcpts"][0][1]


def test_everything_down_defers(env):
    r = env.start()
    res = r.deliver(MSG, ["b@example.test"],
                    [("down.example.test", ["127.0.0.4"])])
    assert statuses(res) == ["Z"]
    assert "connect to down.example.test[127.0.0.4]" in res["rcpts"][0][1]


def test_5xx_bounces_with_remote_text_per_recipient(env):
    env.mx1.rcpt = lambda a: ("550 5.1.1 <%s>: no such user" % a
                              if a.startswith("bad") else "250 ok")
    r = env.start()
    res = r.deliver(MSG, ["good@example.test", "bad@example.test"], ROUTE)
    assert statuses(res) == ["K", "X"], res
    assert "550 5.1.1 <bad@example.test>: no such user" in res["rcpts"][1][1]
    assert "mx1.example.test[127.0.0.2] said" in res["rcpts"][1][1]
    # a 5xx is final: the second host never hears of it
    assert env.mx2.done() == []


def test_5xx_mail_from_bounces_all(env):
    env.mx1.mail_reply = "553 5.1.8 sender rejected"
    r = env.start()
    res = r.deliver(MSG, ["a@example.test", "b@example.test"], ROUTE)
    assert statuses(res) == ["X", "X"]
    assert "553 5.1.8 sender rejected" in res["rcpts"][0][1]


def test_5xx_after_data(env):
    env.mx1.final_reply = "554 5.7.1 spam"
    r = env.start()
    res = r.deliver(MSG, ["a@example.test"], ROUTE)
    assert statuses(res) == ["X"] and "554 5.7.1 spam" in res["rcpts"][0][1]


def test_without_pipelining(env):
    env.mx1.ehlo = ["8BITMIME", "SIZE 1000000"]
    env.mx1.rcpt = lambda a: "550 no" if a.startswith("x") else "250 ok"
    r = env.start()
    res = r.deliver(MSG, ["x@example.test", "y@example.test"], ROUTE)
    assert statuses(res) == ["X", "K"]
    assert len(env.mx1.done()) == 1


def test_helo_fallback(env):
    env.mx1.ehlo = None
    r = env.start()
    res = r.deliver(MSG, ["a@example.test"], ROUTE)
    assert statuses(res) == ["K"]
    t = env.mx1.done()[0]
    assert t.helo == "HELO client.sandmail.test"
    assert "SIZE=" not in t.mail


def test_size_too_small_bounces(env):
    env.mx1.ehlo = ["PIPELINING", "SIZE 100"]
    r = env.start()
    res = r.deliver(MSG, ["a@example.test"], ROUTE)
    assert statuses(res) == ["X"]
    assert "exceeds the limit of 100" in res["rcpts"][0][1]
    assert not any(c.startswith("MAIL") for c in env.mx1.commands)


def test_size_and_dsn_parameters(env):
    r = env.start()
    res = r.deliver(MSG, [("a@example.test", "rfc822;a@example.test", 3)],
                    ROUTE, envid="ENV+2Bid", ret=2)
    # NOTIFY went on: the next hop owns the DSN request (RFC 3461 5.2.2)
    assert statuses(res) == ["P"]
    t = env.mx1.done()[0]
    assert f"SIZE={len(MSG)}" in t.mail
    assert "RET=HDRS" in t.mail and "ENVID=ENV+2Bid" in t.mail
    assert "NOTIFY=SUCCESS,FAILURE" in t.rcpts[0]
    assert "ORCPT=rfc822;a@example.test" in t.rcpts[0]


def test_no_dsn_parameters_when_not_offered(env):
    env.mx1.ehlo = ["PIPELINING", "8BITMIME"]
    r = env.start()
    res = r.deliver(MSG, [("a@example.test", "rfc822;a@example.test", 3)],
                    ROUTE, envid="X", ret=1)
    assert statuses(res) == ["K"]
    t = env.mx1.done()[0]
    assert "RET=" not in t.mail and "ENVID" not in t.mail
    assert "NOTIFY" not in t.rcpts[0] and "SIZE" not in t.mail


def test_8bitmime_passed_on(env):
    body = MSG.replace(b"last line", "naïve".encode())
    r = env.start()
    res = r.deliver(body, ["a@example.test"], ROUTE, flags=ENV_8BITMIME)
    assert statuses(res) == ["K"]
    t = env.mx1.done()[0]
    assert "BODY=8BITMIME" in t.mail
    assert t.data == body.replace(b"\n", b"\r\n")


EIGHT_BIT_MIME = (
    b"From: a@sender.test\nTo: b@example.test\nSubject: 8bit\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=\"BOUND\"\n\n"
    b"preamble\n--BOUND\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: 8bit\n\n"
    + "Grüße aus Köln, 5 € \nline with = sign and trailing space \n"
      ".dot line\nFrom here\n".encode() + b"x" * 200 + b"\n"
    b"--BOUND\nContent-Type: application/octet-stream\n"
    b"Content-Transfer-Encoding: binary\n\n"
    + bytes(range(1, 256)) .replace(b"\n", b"") + b"\n"
    b"--BOUND\nContent-Type: text/plain\n\nplain ascii part\n"
    b"--BOUND--\nepilogue\n")


def parts_of(raw):
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [p.get_payload(decode=True) for p in m.walk()
            if not p.is_multipart()]


def test_8bit_downgraded_for_7bit_server(env):
    env.mx1.ehlo = ["PIPELINING", "SIZE 10000000"]
    r = env.start()
    res = r.deliver(EIGHT_BIT_MIME, ["a@example.test"], ROUTE,
                    flags=ENV_8BITMIME)
    assert statuses(res) == ["K"], res
    t = env.mx1.done()[0]
    assert "BODY=8BITMIME" not in t.mail
    assert all(b < 0x80 for b in t.data), "8-bit byte reached the server"
    for line in t.data.split(b"\r\n"):
        assert len(line) <= 998
    got = parts_of(t.data.replace(b"\r\n", b"\n"))
    want = parts_of(EIGHT_BIT_MIME)
    assert got == want
    assert got[0].startswith("Grüße".encode())


def test_8bit_found_without_flag_is_downgraded(env):
    env.mx1.ehlo = ["PIPELINING"]
    r = env.start()
    res = r.deliver(EIGHT_BIT_MIME, ["a@example.test"], ROUTE)
    assert statuses(res) == ["K"], res
    assert all(b < 0x80 for b in env.mx1.done()[0].data)


def test_8bit_headers_become_encoded_words(env):
    """RFC 2047: an 8-bit Subject and display name reach a 7-bit server
    as encoded-words that a real parser (Python's email) decodes to the
    same text; the body (7-bit, not MIME) is untouched."""
    env.mx1.ehlo = ["PIPELINING"]
    r = env.start()
    subject = "Grüße aus Köln — " + " ".join(["Straße"] * 20)
    msg = (f'From: "Jörg Müller" <jm@sender.test>\nTo: b@example.test\n'
           f"Subject: {subject}\n\nplain body\n").encode()
    res = r.deliver(msg, ["a@example.test"], ROUTE)
    assert statuses(res) == ["K"], res
    raw = env.mx1.done()[0].data.replace(b"\r\n", b"\n")
    assert all(b < 0x80 for b in raw), "8-bit byte reached the server"
    for line in raw.split(b"\n"):
        assert len(line) <= 78, line
    m = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(m["Subject"]) == subject
    assert m["From"].addresses[0].display_name == "Jörg Müller"
    assert m["From"].addresses[0].addr_spec == "jm@sender.test"
    assert raw.endswith(b"\n\nplain body\n")


def test_8bit_address_header_bounces(env):
    env.mx1.ehlo = ["PIPELINING"]
    r = env.start()
    msg = "To: jörg@example.test\nSubject: x\n\nbody\n".encode()
    res = r.deliver(msg, ["a@example.test"], ROUTE)
    assert statuses(res) == ["X"]
    assert "SMTPUTF8" in res["rcpts"][0][1]


def test_8bit_not_mime_bounces(env):
    env.mx1.ehlo = ["PIPELINING"]
    r = env.start()
    res = r.deliver(MSG + "é\n".encode(), ["a@example.test"], ROUTE)
    assert statuses(res) == ["X"]
    assert "not MIME" in res["rcpts"][0][1]


def test_smtputf8_to_server_without_it_bounces(env):
    env.mx1.ehlo = ["PIPELINING", "8BITMIME"]
    r = env.start()
    res = r.deliver(MSG, ["b@example.test"], ROUTE, flags=ENV_SMTPUTF8,
                    sender="jörg@sender.test")
    assert statuses(res) == ["X"]
    assert "SMTPUTF8" in res["rcpts"][0][1]


def test_smtputf8_passed_on(env):
    r = env.start()
    res = r.deliver(MSG, ["b@example.test"], ROUTE, flags=ENV_SMTPUTF8,
                    sender="jörg@sender.test")
    assert statuses(res) == ["K"]
    assert env.mx1.done()[0].mail.endswith(" SMTPUTF8")


def test_connection_reused_for_same_route(env):
    r = env.start()
    for i in range(3):
        res = r.deliver(MSG, [f"u{i}@example.test"], ROUTE)
        assert statuses(res) == ["K"]
    assert len(env.mx1.done()) == 3
    assert env.mx1.connections == 1
    assert "event=reuse" in r.log()


def test_many_jobs_in_parallel(env):
    r = env.start("remote_concurrency 4\n")
    ids = [r.send(MSG, [f"p{i}@example.test"], ROUTE) for i in range(20)]
    got = {}
    for _ in ids:
        res = r.recv()
        got[res["id"]] = res
    assert sorted(got) == sorted(ids)
    assert all(statuses(x) == ["K"] for x in got.values())
    assert len(env.mx1.done()) == 20


def test_greeting_timeout_defers(env):
    env.mx1.silent = True
    r = env.start("remote_timeout_greeting 1\n")
    res = r.deliver(MSG, ["a@example.test"], ROUTE[:1])
    assert statuses(res) == ["Z"]
    assert "greeting" in res["rcpts"][0][1]


def test_port_from_host_entry(env, procs):
    port2 = common_port(["127.0.0.5"])
    s = SMTPServer("127.0.0.5", port2, "other.test")
    try:
        r = env.start()
        res = r.deliver(MSG, ["a@other.test"],
                        [("other.test", ["127.0.0.5"], port2)])
        assert statuses(res) == ["K"]
        assert len(s.done()) == 1
    finally:
        s.close()


# --- TLS ---

@pytest.fixture
def ca(tmp_path):
    d = tmp_path / "ca"
    d.mkdir()
    return make_ca(str(d), ["mx1.example.test"])


def test_starttls_verified_with_test_ca(env, ca):
    cafile, cert, key = ca
    env.mx1.tls_ctx = server_tls_ctx(cert, key)
    r = env.start(f"tls_ca_file {cafile}\n")
    res = r.deliver(MSG, ["a@example.test"], ROUTE, tls="verify")
    assert statuses(res) == ["K"], res
    t = env.mx1.done()[0]
    assert t.tls and t.data == MSG.replace(b"\n", b"\r\n")
    assert "event=tls" in r.log()


def test_starttls_opportunistic(env, ca):
    cafile, cert, key = ca
    env.mx1.tls_ctx = server_tls_ctx(cert, key)
    r = env.start()      # no CA given: "may" does not verify
    res = r.deliver(MSG, ["a@example.test"], ROUTE)
    assert statuses(res) == ["K"], res
    assert env.mx1.done()[0].tls


def test_verify_fails_on_wrong_name(env, ca):
    cafile, cert, key = ca
    env.mx2.tls_ctx = server_tls_ctx(cert, key)   # cert says mx1
    r = env.start(f"tls_ca_file {cafile}\n")
    res = r.deliver(MSG, ["a@example.test"], ROUTE[1:], tls="verify")
    assert statuses(res) == ["Z"], res
    assert "TLS" in res["rcpts"][0][1]
    assert env.mx2.done() == []


def test_encrypt_required_but_not_offered(env):
    r = env.start()
    res = r.deliver(MSG, ["a@example.test"], ROUTE[:1], tls="encrypt")
    assert statuses(res) == ["Z"]
    assert "STARTTLS" in res["rcpts"][0][1]
    assert env.mx1.done() == []


def test_tls_none_policy_skips_starttls(env, ca):
    cafile, cert, key = ca
    env.mx1.tls_ctx = server_tls_ctx(cert, key)
    r = env.start()
    res = r.deliver(MSG, ["a@example.test"], ROUTE, tls="none")
    assert statuses(res) == ["K"]
    assert not env.mx1.done()[0].tls


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_auth_over_tls(env, ca, mech):
    cafile, cert, key = ca
    env.mx1.tls_ctx = server_tls_ctx(cert, key)
    env.mx1.auth_ok = ("smart", "s3cret pass")
    env.mx1.auth_mechs = mech
    r = env.start(f"tls_ca_file {cafile}\n")
    res = r.deliver(MSG, ["a@example.test"], ROUTE[:1], tls="verify",
                    auth_user="smart", auth_pass="s3cret pass")
    assert statuses(res) == ["K"], res
    t = env.mx1.done()[0]
    assert t.tls and t.auth == ("smart", "s3cret pass")
    assert any(c.startswith("AUTH " + mech) for c in env.mx1.commands)


def test_auth_rejected_defers(env, ca):
    cafile, cert, key = ca
    env.mx1.tls_ctx = server_tls_ctx(cert, key)
    env.mx1.auth_ok = ("smart", "right")
    r = env.start(f"tls_ca_file {cafile}\n")
    res = r.deliver(MSG, ["a@example.test"], ROUTE[:1], tls="verify",
                    auth_user="smart", auth_pass="wrong")
    assert statuses(res) == ["Z"]
    assert "535 5.7.8" in res["rcpts"][0][1]
    assert env.mx1.done() == []


def test_no_auth_without_tls(env):
    env.mx1.auth_ok = ("smart", "pw")
    r = env.start()
    res = r.deliver(MSG, ["a@example.test"], ROUTE[:1],
                    auth_user="smart", auth_pass="pw")
    assert statuses(res) == ["Z"]
    assert "only over verified TLS" in res["rcpts"][0][1]
    assert not any(c.startswith("AUTH") for c in env.mx1.commands)


@pytest.mark.parametrize("policy", ["", "may", "encrypt"])
def test_no_auth_over_unverified_tls(env, ca, policy):
    # TLS up, but nobody checked whose certificate it is: a man in the
    # middle would get the password (issue 20, "secrets only where
    # needed"), so the credentials stay here and the job is deferred
    cafile, cert, key = ca
    env.mx1.tls_ctx = server_tls_ctx(cert, key)
    env.mx1.auth_ok = ("smart", "pw")
    r = env.start(f"tls_ca_file {cafile}\n")
    res = r.deliver(MSG, ["a@example.test"], ROUTE[:1], tls=policy,
                    auth_user="smart", auth_pass="pw")
    assert statuses(res) == ["Z"], res
    assert res["rcpts"][0][1].startswith("4.7.0 ")
    assert "only over verified TLS" in res["rcpts"][0][1]
    assert not any(c.startswith("AUTH") for c in env.mx1.commands)
    assert env.mx1.done() == []
    assert "event=auth_refused" in r.log()


def test_shared_descriptor_offsets_do_not_mix(env):
    """Jobs whose descriptors share one file offset (one open, passed
    many times) still each send the whole message."""
    from remoteutil import encode_rjob
    r = env.start("remote_concurrency 5\n")
    path = os.path.join(env.tmp, "shared")
    body = MSG * 200
    with open(path, "wb") as f:
        f.write(body)
    fd = os.open(path, os.O_RDONLY)
    try:
        for i in range(10):
            socket.send_fds(r.sock, [encode_rjob(100 + i, [f"s{i}@x.test"],
                                                 ROUTE, size=len(body))],
                            [fd])
    finally:
        os.close(fd)
    for _ in range(10):
        assert statuses(r.recv()) == ["K"]
    done = env.mx1.done()
    assert len(done) == 10
    assert all(t.data == body.replace(b"\n", b"\r\n") for t in done)


def test_peer_that_writes_before_it_reads(env):
    """A send that queues many jobs before reading any result: rspawn
    must keep reading jobs while its results wait (no deadlock)."""
    r = env.start("remote_concurrency 8\n")
    ids = [r.send(MSG, [f"q{i}@example.test"], ROUTE) for i in range(400)]
    got = [r.recv(timeout=120) for _ in ids]
    assert sorted(x["id"] for x in got) == sorted(ids)
    assert all(statuses(x) == ["K"] for x in got)


def test_ipv6_address(env):
    try:
        s6 = SMTPServer("::1", common_port(["::1"]), "v6.test")
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        r = env.start()
        res = r.deliver(MSG, ["a@v6.test"],
                        [("v6.test", ["127.0.0.4", "::1"], s6.port)])
        assert statuses(res) == ["K"], res
        assert "v6.test[::1]" in res["mta"]
        assert len(s6.done()) == 1
    finally:
        s6.close()


def test_sandboxed_parent_and_worker(env):
    import threading
    from conftest import proc_status
    from remoteutil import children
    env.mx1.hang_after_data = threading.Event()
    r = env.start()
    jid = r.send(MSG, ["a@example.test"], ROUTE[:1])
    # once the server has the data, the worker is well into its job
    wait_for(lambda: env.mx1.done(), what="data at the server")
    kids = children(r.p.pid)
    assert len(kids) == 1
    for pid in [r.p.pid] + kids:
        st = proc_status(pid)
        assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
        if os.geteuid() == 0:
            assert st["Uid"].split()[0] != "0"
    # a worker killed in the middle of a job: its recipients are deferred
    os.kill(kids[0], 9)
    res = r.recv()
    assert res["id"] == jid and statuses(res) == ["Z"]
    assert "worker died" in res["rcpts"][0][1]
    env.mx1.hang_after_data.set()
    # and the next job still goes out
    env.mx1.hang_after_data = None
    assert statuses(r.deliver(MSG, ["b@example.test"], ROUTE[:1])) == ["K"]


def test_broken_tls_falls_back_to_plain_for_may(env):
    env.mx1.tls_ctx = "broken"
    r = env.start()
    res = r.deliver(MSG, ["a@example.test"], ROUTE[:1], tls="may")
    assert statuses(res) == ["K"], res
    t = env.mx1.done()[0]
    assert not t.tls
    assert env.mx1.connections == 2
    assert env.mx1.commands.count("STARTTLS") == 1   # not on the retry


def test_broken_tls_defers_for_encrypt(env):
    env.mx1.tls_ctx = "broken"
    r = env.start()
    res = r.deliver(MSG, ["a@example.test"], ROUTE[:1], tls="encrypt")
    assert statuses(res) == ["Z"], res
    assert "TLS" in res["rcpts"][0][1]
    assert env.mx1.done() == []


def test_stale_reused_connection_starts_over(env):
    env.mx1.close_after_data = True
    r = env.start()
    for i in range(3):
        res = r.deliver(MSG, [f"s{i}@example.test"], ROUTE)
        assert statuses(res) == ["K"], res
    assert len(env.mx1.done()) == 3
    assert env.mx2.done() == []
    assert env.mx1.connections == 3


# --- lines longer than SMTP allows (RFC 5321 4.5.3.1.6) ---

LONG_TEXT = " ".join(f"w{i}" for i in range(800)).encode()     # ~4300
LONG_B64 = b"QUJD" * 700                                        # 2800
LONG_MIME = (
    b"From: a@sender.test\nTo: b@example.test\nSubject: long\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=\"BOUND\"\n\n"
    b"--BOUND\nContent-Type: text/plain; charset=us-ascii\n\n"
    + LONG_TEXT + b"\n.a dot line\n"
    b"--BOUND\nContent-Type: application/octet-stream\n"
    b"Content-Transfer-Encoding: base64\n\n" + LONG_B64 + b"\n"
    b"--BOUND--\n")


def wire_lines(t):
    """The lines as they came (CRLF split; dots already unstuffed, which
    RFC 5321 does not count against the limit)."""
    assert t.data.endswith(b"\r\n")
    return t.data[:-2].split(b"\r\n")


@pytest.mark.parametrize("ehlo", [["PIPELINING", "8BITMIME"], None],
                         ids=["esmtp", "rfc821"])
def test_long_mime_lines_reencoded(env, ehlo):
    # a MIME message: each part with a long line is re-encoded, so the
    # receiver decodes exactly what was sent
    env.mx1.ehlo = ehlo
    r = env.start()
    res = r.deliver(LONG_MIME, ["a@example.test"], ROUTE[:1])
    assert statuses(res) == ["K"], res
    t = env.mx1.done()[0]
    assert max(len(x) for x in wire_lines(t)) <= 998
    got = parts_of(t.data.replace(b"\r\n", b"\n"))
    assert got == parts_of(LONG_MIME)
    assert got[0].startswith(LONG_TEXT)
    assert b"Content-Transfer-Encoding: quoted-printable" in t.data


def test_long_plain_lines_broken(env):
    # not MIME: nothing says how the body could be encoded, so long lines
    # are broken as Postfix's smtp_line_length_limit does: CRLF SPACE in
    # the headers (a folded field), CRLF in the body
    env.mx1.ehlo = ["PIPELINING", "8BITMIME"]
    r = env.start()
    hdr = b"X-Token: " + b"t" * 1500
    body = b"." + b"b" * 2500
    msg = (b"From: a@sender.test\nTo: b@example.test\nSubject: " +
           b"word " * 300 + b"\n" + hdr + b"\n\n" + body + b"\nend\n")
    res = r.deliver(msg, ["a@example.test"], ROUTE[:1])
    assert statuses(res) == ["K"], res
    t = env.mx1.done()[0]
    lines = wire_lines(t)
    assert max(len(x) for x in lines) <= 998
    head, _, rest = t.data.partition(b"\r\n\r\n")
    # the subject was folded at a blank, the token line broken
    m = email.message_from_bytes(head + b"\r\n\r\n",
                                 policy=email.policy.compat32)
    assert " ".join(m["Subject"].split()) == " ".join(["word"] * 300)
    assert b"X-Token: " + b"t" * 989 + b"\r\n " + b"t" * 511 in head
    # the body: every byte there, in lines of at most 998
    assert rest.replace(b"\r\n", b"") == body + b"end"
    assert rest.split(b"\r\n")[:3] == [b"." + b"b" * 997, b"b" * 998,
                                       b"b" * 505]


def test_long_lines_to_smtp_sink(env, procs, request):
    # the same through a real receiver that records what it got:
    # Postfix's smtp-sink, which keeps the message as it came
    import shutil
    import subprocess
    import tempfile
    need("smtp-sink", "postfix")
    dump = tempfile.mkdtemp(prefix="sandmail-sink-")
    os.chmod(dump, 0o777)
    request.addfinalizer(lambda: shutil.rmtree(dump, ignore_errors=True))
    argv = ["smtp-sink", "-d", dump + "/", f"127.0.0.4:{env.port}", "10"]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "nobody"]
    procs.start(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # listening before the delivery tries it (a refused connection
    # would be a deferral), however slowly smtp-sink starts
    wait_port(env.port, host="127.0.0.4")
    msg = LONG_MIME + b"\n"     # plus a plain long line in the epilogue
    msg = msg.replace(b"--BOUND--\n", b"--BOUND--\n" + b"e" * 1200 + b"\n")
    r = env.start()
    res = r.deliver(msg, ["a@example.test"], [("sink", ["127.0.0.4"])])
    assert statuses(res) == ["K"], res

    def dumped():
        for name in os.listdir(dump):
            with open(os.path.join(dump, name), "rb") as f:
                b = f.read()
            if b"--BOUND--" in b and b.rstrip().endswith(b"e" * 202):
                return b
        return None
    got = wait_for(dumped, timeout=30, what="sink dump")
    lines = got.replace(b"\r\n", b"\n").split(b"\n")
    assert max(len(x) for x in lines) <= 998
    start = got.index(b"From: a@sender.test")
    body = got[start:].replace(b"\r\n", b"\n")
    assert parts_of(body) == parts_of(msg)
