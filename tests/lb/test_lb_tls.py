"""
TLS termination with SNI: two certificates on one listener, each chosen by
the name the client asks for, the first one for unknown names; requests over
TLS carry X-Forwarded-Proto: https; a TLS listener and a plain one side by side.
"""
import json
import socket
import ssl
import subprocess

import pytest

from conftest import free_port, get, routes_for, wait_port


def make_cert(tmp_path, name, san):
    key = tmp_path / f"{name}.key"
    crt = tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(crt), "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName={san}"],
                   check=True, capture_output=True)
    return crt, key


def tls_exchange(port, server_name, path="/", ctx=None, session=None):
    """One request on a new TLS connection (Connection: close).

    Returns (certificate DER, raw answer, session resumed?, the session)."""
    if ctx is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name, session=session) as s:
            der = s.getpeercert(binary_form=True)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name or 'x.test'}\r\n"
                      f"Connection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return der, data, s.session_reused, s.session


def tls_request(port, server_name, path="/"):
    der, data, _, _ = tls_exchange(port, server_name, path)
    return der, data


def der_of(pem_path):
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


@pytest.mark.skipif(subprocess.run(["which", "openssl"], capture_output=True).returncode != 0,
                    reason="openssl command not installed")
def test_sni_selects_certificate(lb, backends, tmp_path):
    (b,) = backends(1)
    a_crt, a_key = make_cert(tmp_path, "a.test", "DNS:a.test")
    b_crt, b_key = make_cert(tmp_path, "b.test", "DNS:b.test,DNS:*.b.test")
    tls_port = free_port()
    routes = routes_for({"web": [b]})
    routes["listeners"].append({"address": f"127.0.0.1:{tls_port}", "tls": {"certificates": [
        {"cert": str(a_crt), "key": str(a_key)}, {"cert": str(b_crt), "key": str(b_key)}]}})
    inst = lb(routes)
    wait_port(tls_port)
    der, data = tls_request(tls_port, "a.test")
    assert der == der_of(a_crt)
    assert data.startswith(b"HTTP/1.1 200")
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert body["headers"]["X-Forwarded-Proto"] == "https"
    assert body["headers"]["X-Forwarded-Port"] == str(tls_port)
    der, data = tls_request(tls_port, "b.test")
    assert der == der_of(b_crt) and data.startswith(b"HTTP/1.1 200")
    der, _ = tls_request(tls_port, "www.b.test")        # wildcard SAN
    assert der == der_of(b_crt)
    der, _ = tls_request(tls_port, "unknown.test")      # default: the first
    assert der == der_of(a_crt)
    # plain HTTP on the TLS port is refused, the plain listener still works
    with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        try:
            assert not s.recv(100).startswith(b"HTTP/1.1 200")
        except ConnectionResetError:
            pass
    assert get(inst.port)[0] == 200


def test_bad_certificate_is_refused(tmp_path):
    from conftest import ORCH_BIN
    cfg = tmp_path / "r.json"
    cfg.write_text(json.dumps({"listeners": [{"address": f"127.0.0.1:{free_port()}", "tls": {
        "certificates": [{"cert": str(tmp_path / "missing.pem"), "key": str(tmp_path / "k")}]}}]}))
    r = subprocess.run([ORCH_BIN, "lb", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1 and "listeners[0].tls" in r.stderr and "missing.pem" in r.stderr
