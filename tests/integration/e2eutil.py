"""Helpers shared by the end-to-end tests: a whole sandmail on loopback
(test_remote_e2e.make_system: smtpd, queue, sandmail-start, a dnsmasq)
as a context manager that stops it again (a missing dnsmasq fails the
test: conftest.need); the sandmail-sign settings of a test that signs
or seals; a DKIM key made with openssl."""
import base64
import contextlib
import os
import subprocess

from conftest import need


@contextlib.contextmanager
def running_system(procs, tmp_path, **kw):
    """make_system(procs, tmp_path, **kw) (test_remote_e2e), stopped at
    the end"""
    need("dnsmasq", "dnsmasq-base")
    from test_remote_e2e import make_system
    s = make_system(procs, tmp_path, **kw)
    try:
        yield s
    finally:
        procs.stop(s.start_proc)
        s.start_logfile.close()


def signing_conf(d, dkim_table, **conf):
    """the dkim table (TABLES/dkim, tables = d) written with dkim_table's
    lines; returns conf with sandmail-sign's user when run as root"""
    with open(os.path.join(d, "dkim"), "w") as f:
        f.write(dkim_table)
    if os.geteuid() == 0:
        conf["user_sign"] = "nobody"
    return conf


def rsa_key(d):
    """a 2048-bit RSA key in d/rsa.pem (PKCS#1) and its DKIM record:
    (path, "v=DKIM1; k=rsa; p=...")"""
    k = os.path.join(d, "rsa.pem")
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", k, "2048"],
                   check=True, capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", k, "-pubout", "-outform",
                          "DER"], check=True, capture_output=True).stdout
    return k, "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()
