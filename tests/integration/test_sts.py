"""sandmail-sts, the MTA-STS policy fetcher, on its own: a dnsmasq of
ours serves the _mta-sts TXT records and the policy hosts' addresses, an
HTTPS server of ours (a certificate from a test CA made here) serves
the policies, and the test asks over the socket send would use
(doc/protocols.md, "sts")."""
import base64
import email
import gzip
import json
import os

import pytest

from conftest import free_port
from dnsutil import start_dnsmasq
from stsutil import PolicyServer, StsClient, make_ca, make_cert, policy

pytestmark = pytest.mark.usefixtures("dnsmasq_installed")

DOMAINS = ["good", "testing", "slow", "huge", "redirect", "garbage", "html",
           "wrongname", "gone", "nopolicy"]


class Env:
    pass


@pytest.fixture
def env(procs, tmp_path):
    e = Env()
    e.tmp = str(tmp_path)
    e.ca, cakey = make_ca(e.tmp)
    # the policy server's certificate names every policy host but
    # mta-sts.wrongname.test
    e.cert, e.key = make_cert(e.tmp, e.ca, cakey, "web", [
        f"mta-sts.{d}.test" for d in DOMAINS if d != "wrongname"])
    recs = ["--local-ttl=0"]
    for d in DOMAINS:
        if d != "nopolicy":
            recs.append(f'--txt-record=_mta-sts.{d}.test,v=STSv1; id=1')
        recs.append(f"--host-record=mta-sts.{d}.test,127.0.0.1")
    recs.append("--txt-record=_smtp._tls.good.test,v=TLSRPTv1; "
                "rua=mailto:tls@rpt.test")
    recs.append("--txt-record=_smtp._tls.garbage.test,v=TLSRPTv1; "
                "rua=mailto:tls@rpt.test")
    recs.append("--txt-record=_mta-sts.two.test,v=STSv1; id=1")
    recs.append("--txt-record=_mta-sts.two.test,v=STSv1; id=2")
    e.recs = recs
    e.dns = start_dnsmasq(procs, e.tmp, recs)
    e.dnsproc = procs.procs[-1]
    e.port = free_port()
    e.web = PolicyServer(e.port, e.cert, e.key)
    e.cache = os.path.join(e.tmp, "cache")
    os.mkdir(e.cache, 0o700)
    e.procs = procs
    e.conf = write_conf(e, e.ca)
    yield e
    e.web.close()


def write_conf(e, ca, name="sandmail.conf", extra=""):
    conf = os.path.join(e.tmp, name)
    with open(conf, "w") as f:
        f.write(f"nameserver 127.0.0.1:{e.dns}\n"
                f"dns_timeout 2\n"
                f"mta_sts_cache {e.cache}\n"
                f"mta_sts_ca_file {ca}\n"
                f"mta_sts_port {e.port}\n"
                f"mta_sts_fetch_timeout 3\n" + extra)
        if os.geteuid() == 0:
            f.write("user_sts nobody\n")
    if os.geteuid() == 0:
        os.chown(e.cache, 65534, 65534)
    return conf


def cached(e):
    """The policy files in the cache (not the report counts, .tlsrpt)."""
    return sorted(f for f in os.listdir(e.cache) if not f.startswith("."))


def start(e, conf=None):
    return StsClient(e.procs, conf or e.conf, os.path.join(e.tmp, "sts.log"))


def test_enforce_policy_fetched_and_cached_on_disk(env):
    env.web.behave["good"] = policy("enforce", ["mx.good.test",
                                                "*.backup.good.test"])
    s = start(env)
    try:
        mode, mx, why = s.ask("good.test")
        assert mode == "enforce", why
        assert mx == ["mx.good.test", "*.backup.good.test"]
        assert "fetched" in why
        assert cached(env) == ["good.test"]
        # asked again: from the cache, no second fetch (same TXT id)
        mode, mx, why = s.ask("GOOD.test")
        assert mode == "enforce" and "cached" in why, why
        assert len(env.web.requests) == 1
    finally:
        s.close()


def test_policy_survives_restart_without_server(env):
    env.web.behave["good"] = policy("testing", ["mx.good.test"])
    s = start(env)
    assert s.ask("good.test")[0] == "testing"
    s.close()
    env.web.behave["good"] = "404"       # the server has lost it
    s = start(env)
    try:
        mode, mx, why = s.ask("good.test")
        assert (mode, mx) == ("testing", ["mx.good.test"]), why
        assert "cached" in why
        assert env.web.requests == [("mta-sts.good.test",
                                     "/.well-known/mta-sts.txt")]
    finally:
        s.close()


def test_expired_policy_is_dropped_and_fetched_again(env):
    # max_age 0: valid for no time at all; the file is gone at start
    env.web.behave["good"] = policy("enforce", ["mx.good.test"], max_age=0)
    s = start(env)
    assert s.ask("good.test")[0] == "enforce"
    s.close()
    s = start(env)
    try:
        env.web.behave["good"] = "404"
        mode, _, why = s.ask("good.test")
        assert mode == "none" and "HTTP status 404" in why, why
        assert cached(env) == []
    finally:
        s.close()


def test_no_record_and_two_records_mean_no_policy(env):
    s = start(env)
    try:
        mode, _, why = s.ask("nopolicy.test")
        assert mode == "none" and "no _mta-sts record" in why
        mode, _, why = s.ask("two.test")
        assert mode == "none" and "no _mta-sts record" in why
        assert env.web.requests == []
    finally:
        s.close()


def test_slow_server_is_given_up_on(env):
    env.web.behave["slow"] = "slow"
    env.web.behave["good"] = policy("enforce", ["mx.good.test"])
    s = start(env)
    try:
        mode, _, why = s.ask("slow.test")
        assert mode == "none"
        assert "fetch failed" in why and "imeout" in why, why
        # and it goes on serving
        assert s.ask("good.test")[0] == "enforce"
    finally:
        s.close()


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_huge_policy_is_cut_off(env):
    env.web.behave["huge"] = "huge"
    env.web.behave["good"] = policy("enforce", ["mx.good.test"])
    s = start(env)
    try:
        assert s.ask("good.test")[0] == "enforce"
        base = vm_hwm_kb(s.p.pid)       # after one whole fetch
        mode, _, why = s.ask("huge.test")
        assert mode == "none" and "over 64 KB" in why, why
        # 16 MB were offered; the fetcher's peak grew by less than 2 MB
        assert vm_hwm_kb(s.p.pid) - base < 2048
    finally:
        s.close()


def test_redirect_is_refused(env):
    env.web.behave["redirect"] = "redirect"
    env.web.behave["good"] = policy("enforce", ["mx.good.test"])
    s = start(env)
    try:
        mode, _, why = s.ask("redirect.test")
        assert mode == "none" and "301" in why and "redirect" in why, why
        assert [h for h, _ in env.web.requests] == ["mta-sts.redirect.test"]
    finally:
        s.close()


def test_garbage_and_wrong_type_are_no_policy(env):
    env.web.behave["garbage"] = "garbage"
    env.web.behave["html"] = "html"
    env.web.behave["html-body"] = policy("enforce", ["mx.html.test"])
    s = start(env)
    try:
        mode, _, why = s.ask("garbage.test")
        assert mode == "none" and "bad policy" in why, why
        mode, _, why = s.ask("html.test")
        assert mode == "none" and "text/plain" in why, why
        assert cached(env) == []
    finally:
        s.close()


def test_certificate_must_verify(env):
    env.web.behave["wrongname"] = policy("enforce", ["mx.wrongname.test"])
    env.web.behave["good"] = policy("enforce", ["mx.good.test"])
    s = start(env)
    try:
        mode, _, why = s.ask("wrongname.test")
        assert mode == "none" and "fetch failed" in why, why
    finally:
        s.close()
    # a CA that did not sign the server's certificate
    other = os.path.join(env.tmp, "other")
    os.mkdir(other)
    ca2, _ = make_ca(other, "another CA")
    s = start(env, write_conf(env, ca2, "other.conf"))
    try:
        mode, _, why = s.ask("good.test")
        assert mode == "none" and "fetch failed" in why, why
        assert env.web.requests == [] or all(
            h != "mta-sts.good.test" for h, _ in env.web.requests)
    finally:
        s.close()


def test_new_txt_id_fetches_the_policy_again(env):
    env.web.behave["good"] = policy("enforce", ["mx.good.test"])
    s = start(env)
    try:
        assert s.ask("good.test")[:2] == ("enforce", ["mx.good.test"])
        # the server changes its policy, the TXT id stays: cached
        env.web.behave["good"] = policy("testing", ["mx2.good.test"])
        mode, _, why = s.ask("good.test")
        assert mode == "enforce" and "cached (id 1)" in why, why
        assert len(env.web.requests) == 1
        # the domain publishes a new id: fetched again
        env.procs.stop(env.dnsproc)
        recs = [r.replace("_mta-sts.good.test,v=STSv1; id=1",
                          "_mta-sts.good.test,v=STSv1; id=2")
                for r in env.recs]
        start_dnsmasq(env.procs, env.tmp, recs, port=env.dns)
        mode, mx, why = s.ask("good.test")
        assert (mode, mx) == ("testing", ["mx2.good.test"]), why
        assert "fetched (id 2)" in why
        assert len(env.web.requests) == 2
        with open(os.path.join(env.cache, "good.test")) as f:
            assert f.readline().startswith("sts1 2 ")
    finally:
        s.close()


def test_tls_counts_survive_restart_and_are_reported(env):
    """TLS reporting at the fetcher: the sessions send tells are counted,
    kept across a restart (CACHE/.tlsrpt), and when the period ends the
    report goes to the rua as an 'M' record for send to queue."""
    env.web.behave["good"] = policy("enforce", ["mx.good.test"])
    env.web.behave["garbage"] = "garbage"
    s = start(env)
    assert s.ask("garbage.test")[0] == "none"     # a failure reported
    assert s.ask("good.test")[0] == "enforce"
    s.tell("good.test", True, mx="mx.good.test")
    s.tell("good.test", True, mx="mx.good.test")
    s.tell("good.test", False, "certificate-expired", "mx.good.test")
    s.tell("good.test", False, "no-such-type", "mx.good.test")
    s.eof()
    assert ".tlsrpt" in os.listdir(env.cache)
    # a short period now: the saved one has ended, its report goes out
    s = start(env, write_conf(env, env.ca, "short.conf",
                              "tlsrpt_period 2\nhostname mx.sender.test\n"))
    try:
        got = {}
        for _ in range(2):
            rcpt, msg = s.mail()
            assert rcpt == "tls@rpt.test"
            m = email.message_from_bytes(msg)
            assert m["TLS-Report-Submitter"] == "mx.sender.test"
            gz = [p for p in m.walk()
                  if p.get_content_type() == "application/tlsrpt+gzip"][0]
            got[m["TLS-Report-Domain"]] = json.loads(gzip.decompress(
                base64.b64decode(gz.get_payload())))
        js = got["good.test"]
        assert js["organization-name"] == "mx.sender.test"
        g = got["garbage.test"]["policies"][0]
        assert g["policy"]["policy-type"] == "no-policy-found"
        assert g["summary"]["total-failure-session-count"] == 1
        assert g["failure-details"][0]["result-type"] == "sts-policy-invalid"
        p = js["policies"][0]
        assert p["policy"]["policy-domain"] == "good.test"
        assert p["summary"] == {"total-successful-session-count": 2,
                                "total-failure-session-count": 2}
        assert sorted((d["result-type"], d["failed-session-count"])
                      for d in p["failure-details"]) == [
            ("certificate-expired", 1), ("validation-failure", 1)]
        # reported: the counts are gone
        assert s.ask("good.test")[0] == "enforce"
        s.eof()
        assert ".tlsrpt" not in os.listdir(env.cache)
    finally:
        if s.p.poll() is None:
            s.close()
