"""Joining, attacked: the CA answer must be one certificate alone (a man in
the middle who adds his own CA never sees the join secret), and the agent
stores and trusts that certificate re-encoded, nothing else.

The real agents here run in the host's network namespace against a server
of this module on 127.0.0.1, each in an ECS cluster of its own, so no task
is ever placed on them."""

import http.server
import os
import ssl
import subprocess
import threading

import pytest

from orch_test import server as servers
from orch_test.binary import orch_bin
from orch_test.cluster import cli_env
from orch_test.fake_agent import join_secret, new_cluster, unique_family
from orch_test.process import LoggedProcess
from orch_test.wait import wait_for

AGENT_EXIT_TIMEOUT = 30


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    # The default node grace (10 s): real agents heartbeat every 3 s.
    with servers.running_server(tmp_path_factory.mktemp("joinsec"), ["--no-agent"]) as s:
        yield s


def _token(srv):
    with open(os.path.join(srv.data_dir, "join-token")) as f:
        return f.read().strip()


def _token_file(srv, tmp_path):
    path = tmp_path / "join-token"
    path.write_text(_token(srv) + "\n")
    path.chmod(0o600)
    return str(path)


class RealAgent(LoggedProcess):
    """One `orch agent` in the host's namespace, with a token file."""

    def __init__(self, tmp_path, server_url, token_file, name=None, cluster="default",
                 data=None):
        self.name = name or unique_family("js")
        super().__init__(str(tmp_path / ("agent-%s.log" % self.name)))
        self.what = "agent " + self.name
        self.server_url = server_url
        self.token_file = token_file
        self.cluster = cluster
        self.data = data or str(tmp_path / ("agent-" + self.name))

    def start(self, args=None, env=None):
        os.makedirs(self.data, exist_ok=True)
        if args is None:
            args = ["--token-file", self.token_file]
        full = [orch_bin(), "agent", "--server", self.server_url, "--data", self.data,
                "--node-name", self.name, "--cluster", self.cluster,
                "--cgroup-parent", "orchtest-joinsec", "--log-level", "debug"] + list(args)
        self._popen(full, env=cli_env(env))
        return self

    def wait_exit(self, timeout=AGENT_EXIT_TIMEOUT):
        return self.proc.wait(timeout=timeout)


def _node(srv, cluster, name, status=None):
    q = "?status=%s" % status if status else ""
    r = srv.client.get("/v1/clusters/%s/nodes%s" % (cluster, q))
    assert r.status == 200, r
    return next((n for n in r.json["containerInstances"] if n["nodeName"] == name), None)


def _wait_active(srv, cluster, name, timeout=30):
    return wait_for(lambda: (_node(srv, cluster, name) or {}).get("status") == "ACTIVE"
                    and _node(srv, cluster, name), timeout=timeout,
                    what="node %s ACTIVE" % name)


@pytest.fixture
def real_agents():
    made = []

    def make(*a, **kw):
        ag = RealAgent(*a, **kw)
        made.append(ag)
        return ag

    yield make
    for ag in made:
        ag.stop()


# --- a server in the middle -------------------------------------------------------

def _pem_blocks(pem):
    return pem.count("-----BEGIN ")


def _evil_cert(tmp_path):
    key, crt = tmp_path / "evil.key", tmp_path / "evil.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=evil CA", "-days", "2",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt.read_text(), key.read_text()


class FakeServer:
    """An HTTPS server (with the real server's certificate, so the pinned CA
    verifies it) that answers GET /v1/agent/ca with ca_body, everything else
    with 401, and records every request: (method, path, headers, body)."""

    def __init__(self, real, ca_body):
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _record(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                fake.requests.append((self.command, self.path, dict(self.headers), body))

            def _answer(self, status, body, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._record()
                if self.path == "/v1/agent/ca":
                    self._answer(200, ca_body.encode(), "application/x-pem-file")
                else:
                    self._answer(401, b'{"message":"no"}', "application/json")

            def do_POST(self):
                self._record()
                self._answer(401, b'{"__type":"AccessDeniedException","message":"fake"}',
                             "application/json")

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        pki = os.path.join(real.data_dir, "pki")
        ctx.load_cert_chain(os.path.join(pki, "server.pem"), os.path.join(pki, "server.key"))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _mitm_join(srv, tmp_path, real_agents, ca_body):
    """Runs an agent with the real join token against a FakeServer serving
    ca_body; returns (exit code, agent log, recorded requests, agent)."""
    fake = FakeServer(srv, ca_body)
    try:
        ag = real_agents(tmp_path, fake.url, _token_file(srv, tmp_path))
        ag.start()
        try:
            rc = ag.wait_exit()
        except subprocess.TimeoutExpired:
            rc = None
        log = ag.log_tail()
        ag.stop()
        return rc, log, list(fake.requests), ag
    finally:
        fake.close()


def _secret_sent(srv, requests):
    secret = join_secret(srv).encode()
    for _, _, headers, body in requests:
        if secret in body or any(secret in v.encode() for v in headers.values()):
            return True
    return False


def test_fake_server_with_the_real_ca_alone_gets_the_secret(srv, tmp_path, real_agents):
    """The control: the fake is good enough that an agent talks to it."""
    with open(srv.ca_path) as f:
        ca = f.read()
    rc, log, reqs, _ = _mitm_join(srv, tmp_path, real_agents, ca)
    assert rc not in (0, None), log
    assert [r[1] for r in reqs][:2] == ["/v1/agent/ca", "/v1/agent/register"], reqs
    assert _secret_sent(srv, reqs)


def _variants(tmp_path, ca):
    evil, evil_key = _evil_cert(tmp_path)
    return {
        "real CA + attacker CA": ca + evil,
        "attacker CA + real CA": evil + ca,
        "real CA + trailing junk": ca + "hello\n",
        "real CA + junk, no newline": ca.rstrip("\n") + "x",
        "real CA + private key": ca + evil_key,
        "junk + real CA": "junk before\n" + ca,
        "real CA twice": ca + ca,
        "real CA with PEM headers": ca.replace(
            "-----BEGIN CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n", 1),
    }


def test_ca_answer_must_be_one_certificate_alone(srv, tmp_path, real_agents):
    with open(srv.ca_path) as f:
        ca = f.read()
    for what, body in _variants(tmp_path, ca).items():
        rc, log, reqs, ag = _mitm_join(srv, tmp_path, real_agents, body)
        assert rc not in (0, None), (what, log)
        assert "refusing to join" in log, (what, log)
        assert [r[1] for r in reqs] == ["/v1/agent/ca"], (what, reqs)
        assert not _secret_sent(srv, reqs), what
        assert not os.path.exists(os.path.join(ag.data, "ca.pem")), what
        assert not os.path.exists(os.path.join(ag.data, "agent.json")), what


def test_stored_ca_is_the_certificate_re_encoded(srv, tmp_path, real_agents):
    """An agent.json-less data dir holding a planted "real + evil" ca.pem:
    the agent does not trust it, fetches the CA again and stores exactly one
    certificate, written from the parsed certificate."""
    with open(srv.ca_path) as f:
        ca = f.read()
    evil, _ = _evil_cert(tmp_path)
    cluster = new_cluster(srv.client, "jsca")
    ag = real_agents(tmp_path, srv.url, _token_file(srv, tmp_path), cluster=cluster)
    os.makedirs(ag.data)
    with open(os.path.join(ag.data, "ca.pem"), "w") as f:
        f.write(ca + evil)
    ag.start()
    _wait_active(srv, cluster, ag.name)
    with open(os.path.join(ag.data, "ca.pem")) as f:
        stored = f.read()
    assert _pem_blocks(stored) == 1, stored
    der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=stored.encode(),
                         capture_output=True, check=True).stdout
    want = subprocess.run(["openssl", "x509", "-in", srv.ca_path, "-outform", "DER"],
                          capture_output=True, check=True).stdout
    assert der == want
