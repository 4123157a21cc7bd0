"""TLS helpers for integration tests: a self-signed certificate made with
the openssl command (P-256, for localhost and 127.0.0.1) and client
contexts that trust only it."""
import os
import ssl
import subprocess
import warnings


def make_cert(d, name="server"):
    """Write d/NAME.pem (certificate) and d/NAME.key; return both paths."""
    cert = os.path.join(d, f"{name}.pem")
    key = os.path.join(d, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:TRUE"],
                   check=True, capture_output=True)
    return cert, key


def client_context(cafile, **kw):
    """A verifying client context that trusts cafile alone."""
    ctx = ssl.create_default_context(cafile=cafile)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def old_tls_context():
    """A client that offers only TLS 1.0 and 1.1 (for refusal tests)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx
