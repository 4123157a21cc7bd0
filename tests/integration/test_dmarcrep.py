"""DMARC aggregate reports (RFC 7489 7.2): smtpd checks mail for a domain
whose record asks for reports (rua= in its own organization, and one
elsewhere), sandmail-dmarcrep turns the event=verify lines into one
gzipped XML report and mails it; the report arrives at the rua's MX and
its XML has the structure of the RFC's appendix C, rows counted."""
import email
import gzip
import os
import shutil
import smtplib
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import prog, wait_for

REC = ("v=DMARC1; p=quarantine; pct=100; "
       "rua=mailto:agg@dest.test!10m,mailto:other@elsewhere.test")


@pytest.fixture
def system(procs, tmp_path):
    pytest.importorskip("dnsutil")
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq not installed")
    from test_remote_e2e import make_system
    # a file: on dnsmasq's command line a comma would start another
    # string and quotes would be text
    extra = os.path.join(str(tmp_path), "dmarc.conf")
    with open(extra, "w") as f:
        f.write(f'txt-record=_dmarc.dest.test,"{REC}"\n')
    s = make_system(procs, tmp_path, verify=True, dns_extra=[
        f"--conf-file={extra}", "--txt-record=dest.test,v=spf1 -all"],
        tables={"relayclients": ""})
    yield s
    procs.stop(s.start_proc)
    s.start_logfile.close()


def msg(frm, subj):
    return (f"From: {frm}\r\nTo: alice@example.test\r\nSubject: {subj}\r\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nx\r\n").encode()


def test_report_is_mailed_and_well_formed(system):
    from remoteutil import SMTPServer
    s = system
    for i in range(3):      # SPF -all, no signature: DMARC fails
        with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
            c.sendmail("x@dest.test", ["alice@example.test"],
                       msg("boss@dest.test", f"forged {i}"))
    log = open(s.log, "rb").read().decode()
    assert log.count("event=verify") == 3 and "applied=none" in log
    # -n: the XML alone
    r = subprocess.run([prog("sandmail-dmarcrep"), "-c", s.conf, "-n",
                        "-b", "100", "-e", "200", s.log],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    root = ET.fromstring(r.stdout)
    check_xml(root)
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        r = subprocess.run([prog("sandmail-dmarcrep"), "-c", s.conf,
                            "-b", "100", "-e", "200", s.log],
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        err = r.stderr.decode()
        assert "event=skip" in err and "other@elsewhere.test" in err
        t = wait_for(lambda: mx.done(), timeout=60, what="the report")[0]
    finally:
        mx.close()
    assert "agg@dest.test" in str(t.rcpts) and \
        "elsewhere" not in str(t.rcpts)
    m = email.message_from_bytes(t.data)
    assert m["Subject"].startswith("Report Domain: dest.test Submitter: ")
    part = [p for p in m.walk()
            if p.get_content_type() == "application/gzip"][0]
    assert part.get_filename().endswith("!dest.test!100!200.xml.gz")
    check_xml(ET.fromstring(gzip.decompress(part.get_payload(decode=True))))


def check_xml(root):
    assert root.tag == "feedback"
    md = root.find("report_metadata")
    assert md.find("org_name").text and md.find("report_id").text
    assert md.find("date_range/begin").text == "100"
    assert md.find("date_range/end").text == "200"
    pp = root.find("policy_published")
    assert [(c.tag, c.text) for c in pp] == [
        ("domain", "dest.test"), ("adkim", "r"), ("aspf", "r"),
        ("p", "quarantine"), ("sp", "quarantine"), ("pct", "100")]
    recs = root.findall("record")
    assert len(recs) == 1
    row = recs[0].find("row")
    assert row.find("source_ip").text == "127.0.0.1"
    assert row.find("count").text == "3"
    pe = row.find("policy_evaluated")
    assert [(c.tag, c.text) for c in pe] == [
        ("disposition", "none"), ("dkim", "fail"), ("spf", "fail")]
    assert recs[0].find("identifiers/header_from").text == "dest.test"
    spf = recs[0].find("auth_results/spf")
    assert [(c.tag, c.text) for c in spf] == [
        ("domain", "dest.test"), ("scope", "mfrom"), ("result", "fail")]
