"""DMARC aggregate reports (RFC 7489 7.2): smtpd checks mail for a domain
whose record asks for reports (rua= in its own organization, and one in
another that publishes the external destination record), and for a
domain whose rua= is elsewhere without that record; sandmail-dmarcrep
turns the event=verify lines into gzipped XML reports and mails them:
they arrive at both MXs of the first, the XML has the structure of the
RFC's appendix C, rows counted, and the second's report is not sent."""
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
       "rua=mailto:agg@dest.test!10m,mailto:ext@sink.test")
REC2 = "v=DMARC1; p=none; rua=mailto:x@dest.test"


@pytest.fixture
def system(procs, tmp_path):
    from e2eutil import running_system
    # a file: on dnsmasq's command line a comma would start another
    # string and quotes would be text
    extra = os.path.join(str(tmp_path), "dmarc.conf")
    with open(extra, "w") as f:
        f.write(f'txt-record=_dmarc.dest.test,"{REC}"\n'
                f'txt-record=_dmarc.sink.test,"{REC2}"\n')
    with running_system(procs, tmp_path, verify=True, dns_extra=[
            f"--conf-file={extra}", "--txt-record=dest.test,v=spf1 -all",
            "--txt-record=sink.test,v=spf1 -all",
            "--txt-record=dest.test._report._dmarc.sink.test,v=DMARC1"],
            tables={"relayclients": ""}) as s:
        yield s


def msg(frm, subj):
    return (f"From: {frm}\r\nTo: alice@example.test\r\nSubject: {subj}\r\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nx\r\n").encode()


def test_report_is_mailed_and_well_formed(system):
    from remoteutil import SMTPServer
    s = system
    for frm in ("boss@dest.test",) * 3 + ("boss@sink.test",):
        with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
            # SPF -all, no signature: DMARC fails
            c.sendmail(frm.replace("boss", "x"), ["alice@example.test"],
                       msg(frm, "forged"))
    log = open(s.log, "rb").read().decode()
    assert log.count("event=verify") == 4 and "applied=none" in log
    # -n: the XML alone (dest.test's lines: one report)
    one = os.path.join(os.path.dirname(s.log), "dest.log")
    with open(one, "w") as f:
        f.writelines(x for x in log.splitlines(True)
                     if "from_domain=dest.test" in x)
    r = subprocess.run([prog("sandmail-dmarcrep"), "-c", s.conf, "-n",
                        "-b", "100", "-e", "200", one],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    root = ET.fromstring(r.stdout)
    check_xml(root)
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    ext = SMTPServer("127.0.0.3", s.mx_port, "mx.sink.test")
    try:
        r = subprocess.run([prog("sandmail-dmarcrep"), "-c", s.conf,
                            "-b", "100", "-e", "200", s.log],
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        err = r.stderr.decode()
        # sink.test's rua is at dest.test, another organization, which
        # has no sink.test._report._dmarc.dest.test record
        assert "event=skip domain=sink.test rua=x@dest.test" in err, err
        t = wait_for(lambda: mx.done(), timeout=60, what="the report")[0]
        u = wait_for(lambda: ext.done(), timeout=60,
                     what="the external report")[0]
    finally:
        mx.close()
        ext.close()
    assert [r.split()[1] for r in t.rcpts] == ["TO:<agg@dest.test>"]
    assert [r.split()[1] for r in u.rcpts] == ["TO:<ext@sink.test>"]
    assert len(mx.done()) == 1      # no report of sink.test
    for d in (t.data, u.data):
        m = email.message_from_bytes(d)
        assert m["Subject"].startswith(
            "Report Domain: dest.test Submitter: ")
        part = [p for p in m.walk()
                if p.get_content_type() == "application/gzip"][0]
        assert part.get_filename().endswith("!dest.test!100!200.xml.gz")
        check_xml(ET.fromstring(gzip.decompress(
            part.get_payload(decode=True))))


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


def test_hostile_values_stay_text(tmp_path):
    """The log's values come from outside (signatures' d=, From
    domains): whatever they hold, the XML parses and says them as text;
    lines of other programs, other events, without a record, or of a
    451 are not counted."""
    conf = os.path.join(str(tmp_path), "sandmail.conf")
    with open(conf, "w") as f:
        f.write("hostname rep<&>.test\n")
    base = ('prog=smtpd event=verify id=X ip=192.0.2.1 spf=fail '
            'dkim=fail arc=none dmarc=fail from_domain="a&b<c>.test" '
            'policy=reject spf_domain="s\'q.test" '
            'dkim_d="x<y>:fail,\\"q\\":pass,nocolon" '
            'dmarc_domain="a&b<c>.test" aligned=none applied=reject '
            'published="p=reject,sp=none,pct=50,adkim=s,aspf=r" '
            'rua=""\n')
    log = os.path.join(str(tmp_path), "log")
    with open(log, "w") as f:
        f.write(base * 2)
        f.write(base.replace("prog=smtpd", "prog=send"))
        f.write(base.replace("event=verify", "event=accept"))
        f.write(base.replace("applied=reject", "applied=tempfail"))
        f.write(base.replace('published="p=reject,sp=none,pct=50,adkim=s,'
                             'aspf=r"', 'published=""'))
        f.write("garbage without fields\n\n")
    r = subprocess.run([prog("sandmail-dmarcrep"), "-c", conf, "-n", "-b",
                        "1", "-e", "2", log], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    root = ET.fromstring(r.stdout)
    assert root.find("report_metadata/org_name").text == "rep<&>.test"
    pp = root.find("policy_published")
    assert [(c.tag, c.text) for c in pp] == [
        ("domain", "a&b<c>.test"), ("adkim", "s"), ("aspf", "r"),
        ("p", "reject"), ("sp", "none"), ("pct", "50")]
    recs = root.findall("record")
    assert len(recs) == 1 and recs[0].find("row/count").text == "2"
    assert recs[0].find("identifiers/header_from").text == "a&b<c>.test"
    dk = [(d.find("domain").text, d.find("result").text)
          for d in recs[0].findall("auth_results/dkim")]
    assert dk == [("x<y>", "fail"), ('"q"', "pass")]
    assert recs[0].find("auth_results/spf/domain").text == "s'q.test"
    # a usage error is 100
    r = subprocess.run([prog("sandmail-dmarcrep"), "-b", "2", "-e", "1",
                        log], capture_output=True, timeout=30)
    assert r.returncode == 100
