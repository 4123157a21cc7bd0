"""sandmail-resolve against dnsmasq (and a fake name server for the
checks on answers): MX order, shuffle, implicit MX, null MX, NXDOMAIN,
time-outs, TCP fallback, the cache."""
import os
import socket
import struct

import pytest

from conftest import prog
from dnsutil import (FakeDNS, Resolver, answer_packet, start_dnsmasq,
                     udp_free_port, write_conf)

pytestmark = pytest.mark.usefixtures("dnsmasq_installed")

ZONE = [
    "--local-ttl=300",
    "--mx-host=example.test,mx1.example.test,10",
    "--mx-host=example.test,mx2.example.test,20",
    "--mx-host=example.test,mx3.example.test,30",
    "--host-record=mx1.example.test,127.0.0.2",
    "--host-record=mx2.example.test,127.0.0.3,::1",
    # an MX host without any address: skipped
    "--mx-host=noaddr.test,ghost.noaddr.test,5",
    "--mx-host=noaddr.test,mx.noaddr.test,10",
    "--host-record=mx.noaddr.test,127.0.0.5",
    # every MX host without an address: temporary
    "--mx-host=allghost.test,ghost.allghost.test,10",
    "--mx-host=equal.test,a.equal.test,10",
    "--mx-host=equal.test,b.equal.test,10",
    "--host-record=a.equal.test,127.0.0.6",
    "--host-record=b.equal.test,127.0.0.7",
    "--host-record=implicit.test,127.0.0.4,::1",
    "--mx-host=nullmx.test,.,0",
    "--cname=alias.test,example.test",
    "--host-record=cache.test,127.0.0.8",
    "--mx-host=cache.test,cache.test,10",
] + [f"--host-record=big.test,127.1.{i // 250}.{i % 250 + 1}"
     for i in range(120)] + ["--mx-host=bigmx.test,big.test,10"]


@pytest.fixture
def dns(procs, tmp_path):
    port = start_dnsmasq(procs, str(tmp_path), ZONE)
    conf = write_conf(str(tmp_path), [f"127.0.0.1:{port}"],
                      "dns_timeout 1\ndns_retries 1\n")
    r = Resolver(procs, conf)
    yield r
    rc, err = r.close()
    assert rc == 0, err


def names(a):
    return [h["name"] for h in a["hosts"]]


def test_mx_in_preference_order(dns):
    a = dns.ask("example.test")
    assert a["status"] == "K"
    # mx3 has no address: skipped
    assert names(a) == ["mx1.example.test", "mx2.example.test"]
    assert [h["pref"] for h in a["hosts"]] == [10, 20]
    assert a["hosts"][0]["addrs"] == ["127.0.0.2"]
    assert a["hosts"][1]["addrs"] == ["127.0.0.3", "::1"]
    # no dns_dnssec: the MX set is not secure (REQUIRETLS, RFC 8689)
    assert [h["mx"] for h in a["hosts"]] == ["I", "I"]


def test_host_without_address_skipped(dns):
    a = dns.ask("noaddr.test")
    assert a["status"] == "K"
    assert names(a) == ["mx.noaddr.test"]


def test_all_hosts_without_address_is_temporary(dns):
    a = dns.ask("allghost.test")
    assert a["status"] == "Z", a


def test_equal_preferences_shuffled(dns):
    seen = set()
    for _ in range(40):
        a = dns.ask("equal.test")
        assert a["status"] == "K"
        assert sorted(names(a)) == ["a.equal.test", "b.equal.test"]
        seen.add(tuple(names(a)))
    # both orders: the chance of missing one is 2 * 2**-40
    assert len(seen) == 2


def test_implicit_mx(dns):
    a = dns.ask("implicit.test")
    assert a["status"] == "K"
    assert names(a) == ["implicit.test"]
    assert a["hosts"][0]["addrs"] == ["127.0.0.4", "::1"]


def test_null_mx_is_permanent(dns):
    a = dns.ask("nullmx.test")
    assert a["status"] == "X"
    assert "accepts no mail" in a["text"]
    assert a["hosts"] == []


def test_nxdomain_is_permanent(dns):
    a = dns.ask("nosuch.test")
    assert a["status"] == "X"
    assert "NXDOMAIN" in a["text"]


def test_cname_chain(dns):
    a = dns.ask("alias.test")
    assert a["status"] == "K"
    assert names(a) == ["mx1.example.test", "mx2.example.test"]


def test_bad_domain(dns):
    for d in ["", "a..b", "x" * 64 + ".test", "sp ace.test"]:
        a = dns.ask(d)
        assert a["status"] == "X", d


def test_truncated_answer_retried_over_tcp(dns):
    # 120 A records do not fit 1232 bytes of UDP: dnsmasq sets TC
    a = dns.ask("bigmx.test")
    assert a["status"] == "K", a
    assert names(a) == ["big.test"]
    assert len(a["hosts"][0]["addrs"]) == 16     # JOB_ADDRS_MAX
    assert all(x.startswith("127.1.") for x in a["hosts"][0]["addrs"])


def test_many_in_flight(dns):
    ids = {}
    for i in range(50):
        d = ["example.test", "implicit.test", "nosuch.test"][i % 3]
        ids[dns.send(d)] = d
    got = {}
    for _ in range(50):
        a = dns.recv()
        got[a["id"]] = a
    assert set(got) == set(ids)
    for i, a in got.items():
        assert a["status"] == {"example.test": "K", "implicit.test": "K",
                               "nosuch.test": "X"}[ids[i]]


def test_cache_answers_after_server_is_gone(procs, tmp_path):
    port = start_dnsmasq(procs, str(tmp_path), ZONE)
    conf = write_conf(str(tmp_path), [f"127.0.0.1:{port}"],
                      "dns_timeout 1\ndns_retries 0\n")
    r = Resolver(procs, conf)
    assert r.ask("cache.test")["status"] == "K"
    assert r.ask("nullmx.test")["status"] == "X"
    procs.stop(procs.procs[0])          # dnsmasq is gone
    a = r.ask("cache.test")
    assert a["status"] == "K" and a["hosts"][0]["addrs"] == ["127.0.0.8"]
    assert r.ask("nullmx.test")["status"] == "X"
    # not cached: a time-out now
    assert r.ask("example.test")["status"] == "Z"
    rc, err = r.close()
    assert rc == 0, err


def test_no_cache_when_disabled(procs, tmp_path):
    port = start_dnsmasq(procs, str(tmp_path), ZONE)
    conf = write_conf(str(tmp_path), [f"127.0.0.1:{port}"],
                      "dns_timeout 1\ndns_retries 0\ndns_cache_size 0\n")
    r = Resolver(procs, conf)
    assert r.ask("cache.test")["status"] == "K"
    procs.stop(procs.procs[0])
    assert r.ask("cache.test")["status"] == "Z"
    r.close()


def test_refused_port_is_temporary(procs, tmp_path):
    port = udp_free_port()
    conf = write_conf(str(tmp_path), [f"127.0.0.1:{port}"],
                      "dns_timeout 1\ndns_retries 1\n")
    r = Resolver(procs, conf)
    a = r.ask("example.test")
    assert a["status"] == "Z"
    assert "example.test" in a["text"]
    r.close()


def test_silent_server_times_out(procs, tmp_path):
    silent = FakeDNS(lambda q: [])
    try:
        conf = write_conf(str(tmp_path), [f"127.0.0.1:{silent.port}"],
                          "dns_timeout 1\ndns_retries 1\n")
        r = Resolver(procs, conf)
        a = r.ask("example.test")
        assert a["status"] == "Z"
        assert "timed out" in a["text"]
        # retries: a new query (new ID, new port) each time
        assert len(silent.queries) == 2
        ids = {q[:2] for q, _ in silent.queries}
        ports = {addr[1] for _, addr in silent.queries}
        assert len(ids) == 2 and len(ports) == 2
        r.close()
    finally:
        silent.close()


def test_second_server_used_when_first_is_down(procs, tmp_path):
    port = start_dnsmasq(procs, str(tmp_path), ZONE)
    dead = udp_free_port()
    conf = write_conf(str(tmp_path), [f"127.0.0.1:{dead}",
                                      f"127.0.0.1:{port}"],
                      "dns_timeout 1\ndns_retries 0\n")
    r = Resolver(procs, conf)
    assert r.ask("implicit.test")["status"] == "K"
    r.close()


A_RDATA = socket.inet_aton("127.0.0.9")


def test_answers_with_wrong_id_or_question_ignored(procs, tmp_path):
    def forged(q):
        qid = struct.unpack(">H", q[:2])[0]
        return [answer_packet(q, qid=qid ^ 1, answers=[(1, A_RDATA)]),
                answer_packet(q, qname="other.test", answers=[(1, A_RDATA)]),
                answer_packet(q, flags=0x0180, answers=[(1, A_RDATA)])]
    fake = FakeDNS(forged)
    try:
        conf = write_conf(str(tmp_path), [f"127.0.0.1:{fake.port}"],
                          "dns_timeout 1\ndns_retries 0\n")
        r = Resolver(procs, conf)
        a = r.ask("forged.test")
        assert a["status"] == "Z", a
        r.close()
    finally:
        fake.close()


def test_fake_server_answers_accepted(procs, tmp_path):
    def good(q):
        o = 12
        while q[o]:
            o += 1 + q[o]
        qtype = struct.unpack(">H", q[o + 1:o + 3])[0]
        if qtype == 15:     # MX: NOERROR, no data -> implicit MX
            return [answer_packet(q)]
        if qtype == 1:
            return [answer_packet(q, answers=[(1, A_RDATA)])]
        return [answer_packet(q)]
    fake = FakeDNS(good)
    try:
        conf = write_conf(str(tmp_path), [f"127.0.0.1:{fake.port}"],
                          "dns_timeout 1\ndns_retries 0\n")
        r = Resolver(procs, conf)
        a = r.ask("Fake.Test")
        assert a["status"] == "K", a
        assert a["hosts"][0]["addrs"] == ["127.0.0.9"]
        r.close()
    finally:
        fake.close()


def test_servfail_is_temporary(procs, tmp_path):
    fake = FakeDNS(lambda q: [answer_packet(q, rcode=2)])
    try:
        conf = write_conf(str(tmp_path), [f"127.0.0.1:{fake.port}"],
                          "dns_timeout 1\ndns_retries 0\n")
        r = Resolver(procs, conf)
        a = r.ask("broken.test")
        assert a["status"] == "Z"
        assert "SERVFAIL" in a["text"]
        r.close()
    finally:
        fake.close()


def test_protocol_error_exits_111(procs, tmp_path):
    conf = write_conf(str(tmp_path), ["127.0.0.1:9"])
    r = Resolver(procs, conf)
    r.p.stdin.write(struct.pack(">I", 5) + b"Zxxxx")
    r.p.stdin.flush()
    rc, err = r.close()
    assert rc == 111


def test_negative_answers_cached_for_soa_minimum(procs, tmp_path):
    fake = FakeDNS(lambda q: [answer_packet(q, rcode=3, soa_min=600)])
    try:
        conf = write_conf(str(tmp_path), [f"127.0.0.1:{fake.port}"],
                          "dns_timeout 1\ndns_retries 0\n")
        r = Resolver(procs, conf)
        assert r.ask("gone.test")["status"] == "X"
        assert r.ask("GONE.test")["status"] == "X"
        assert len(fake.queries) == 1
        r.close()
    finally:
        fake.close()


def test_negative_answers_without_soa_not_cached(procs, tmp_path):
    fake = FakeDNS(lambda q: [answer_packet(q, rcode=3)])
    try:
        conf = write_conf(str(tmp_path), [f"127.0.0.1:{fake.port}"],
                          "dns_timeout 1\ndns_retries 0\n")
        r = Resolver(procs, conf)
        assert r.ask("gone.test")["status"] == "X"
        assert r.ask("gone.test")["status"] == "X"
        assert len(fake.queries) == 2
        r.close()
    finally:
        fake.close()


def test_resolve_is_sandboxed(dns):
    from conftest import proc_status
    assert dns.ask("implicit.test")["status"] == "K"     # it is running
    st = proc_status(dns.p.pid)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    if os.geteuid() == 0:
        assert st["Uid"].split()[0] != "0"
        assert os.readlink(f"/proc/{dns.p.pid}/root") != "/"


def test_resolv_conf_when_no_nameserver(procs, tmp_path):
    port = start_dnsmasq(procs, str(tmp_path), ZONE)
    rc = tmp_path / "resolv.conf"
    rc.write_text(f"# test\nsearch example\nnameserver 127.0.0.1:{port}\n")
    conf = write_conf(str(tmp_path), [],
                      f"resolv_conf {rc}\ndns_timeout 1\ndns_retries 0\n")
    r = Resolver(procs, conf)
    assert r.ask("implicit.test")["status"] == "K"
    r.close()


def test_formerr_to_edns_retried_without_it(procs, tmp_path):
    def old_server(q):
        if q[11] != 0:                      # ARCOUNT: an OPT record
            return [answer_packet(q, rcode=1)]
        o = 12
        while q[o]:
            o += 1 + q[o]
        qtype = struct.unpack(">H", q[o + 1:o + 3])[0]
        return [answer_packet(q, answers=[(1, A_RDATA)] if qtype == 1
                              else [])]
    fake = FakeDNS(old_server)
    try:
        conf = write_conf(str(tmp_path), [f"127.0.0.1:{fake.port}"],
                          "dns_timeout 1\ndns_retries 0\n")
        r = Resolver(procs, conf)
        a = r.ask("old.test")
        assert a["status"] == "K", a
        assert a["hosts"][0]["addrs"] == ["127.0.0.9"]
        r.close()
    finally:
        fake.close()
