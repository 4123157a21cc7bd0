"""ARC sealing (RFC 8617): the ARC-Authentication-Results field is this
ADMD's results, so send copies the Authentication-Results field that
names our authserv-id (smtpd_authserv_id, here the host name
test.example), never whichever comes first: a field another id's (or
a forger's) that stands above ours is not ours to vouch for.  The
message is put into the queue as smtpd leaves one it verified
(ENV_VERIFIED), with such a field above ours."""
from conftest import wait_for
from queueutil import QClient, envelope
from remoteutil import SMTPServer
from test_arc_seal import MSG, arc_system, dkim, verdict  # noqa: F401

ENV_VERIFIED = 0x40


def test_aar_is_ours_not_the_first(arc_system):
    s = arc_system
    forged = (b"Authentication-Results: other.test; spf=pass "
              b"smtp.mailfrom=forged@other.test\n")
    ours = (b"Authentication-Results: test.example; spf=fail "
            b"smtp.mailfrom=a@sender.test\n")
    body = forged + ours + MSG.replace(b"\r\n", b"\n")
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        q = QClient.spawn(s.conf)
        try:
            t, v = q.message(body, envelope(
                sender="a@sender.test", rcpts=("fwd@example.test",),
                flags=ENV_VERIFIED))
        finally:
            q.close()
        assert t == b"K", v
        data = wait_for(lambda: mx.done(), timeout=60,
                        what="the forward")[0].data
    finally:
        mx.close()
    head = data.split(b"\r\n\r\n")[0]
    assert data.startswith(b"ARC-Seal: i=1; a=rsa-sha256;"), head
    assert (b"\r\nARC-Authentication-Results: i=1; test.example; "
            b"spf=fail smtp.mailfrom=a@sender.test\r\n") in head, head
    assert b"i=1; other.test" not in head
    cv, results, why = verdict(s, data)
    assert cv == dkim.CV_Pass, why
