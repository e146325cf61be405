"""
TLS termination with SNI: two certificates on one listener, each chosen by
the name the client asks for, the first one for unknown names; requests over
TLS carry X-Forwarded-Proto: https; a TLS listener and a plain one side by side.
"""
import json
import shutil
import socket
import subprocess

from orch_test.binary import orch_bin
from orch_test.lb import der_of, get, make_cert, routes_for, tls_request
from orch_test.net import free_port, wait_port
from orch_test.require import requires

HAVE_OPENSSL = shutil.which("openssl") is not None


@requires(HAVE_OPENSSL, "openssl command not installed")
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
    cfg = tmp_path / "r.json"
    cfg.write_text(json.dumps({"listeners": [{"address": f"127.0.0.1:{free_port()}", "tls": {
        "certificates": [{"cert": str(tmp_path / "missing.pem"), "key": str(tmp_path / "k")}]}}]}))
    r = subprocess.run([orch_bin(), "lb", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1 and "listeners[0].tls" in r.stderr and "missing.pem" in r.stderr
