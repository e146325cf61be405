"""Joining, attacked: the CA answer must be one certificate alone (a man in
the middle who adds his own CA never sees the join secret), a node name is
not taken over with the join token alone (409, the real node keeps its
assignments), a restarted agent and a removed-then-rejoined node still work,
and the join secret stays out of the server's log and the agent's command
line (--token-file, ORCH_TOKEN_FILE); orch.db and its WAL are 0600.

The real agents here run in the host's network namespace against a server
of this module on 127.0.0.1, each in an ECS cluster of its own, so no task
is ever placed on them."""

import http.server
import json
import os
import secrets
import ssl
import stat
import subprocess
import threading

import pytest

from orch_test import api, server as servers
from orch_test.binary import orch_bin
from orch_test.cluster import cli_env
from orch_test.fake_agent import (FakeAgent, join_secret, new_cluster, register_taskdef,
                                  run_task, unique_family)
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


# --- node identity ------------------------------------------------------------------

def _impostor_bodies(victim):
    body = FakeAgent(victim.server, victim.name, cluster=victim.cluster).register_body()
    return {
        "no credential": body,
        "a wrong credential": dict(body, credential=secrets.token_hex(32)),
        "another node's credential": None,       # filled in by the test
        "no credential, another cluster": dict(body, cluster="default"),
    }


def test_impostor_cannot_take_a_nodes_name(srv, tmp_path):
    cluster = new_cluster(srv.client, "jsid")
    victim = FakeAgent(srv, unique_family("victim"), cluster=cluster)
    assert victim.register().status == 201
    other = FakeAgent(srv, unique_family("other"))       # never given the task
    assert other.register().status == 201
    victim.start_heartbeats()
    try:
        fam = unique_family("jsid")
        td = {"name": "app", "image": "busybox", "memory": 64, "command": ["sleep", "1"],
              "environment": [{"name": "DB_PASSWORD", "value": "hunter2"}]}
        register_taskdef(srv.client, fam, containers=[td])
        r = run_task(srv.client, fam, cluster=cluster)
        assert r.status == 200, r
        tid = r.json["tasks"][0]["taskId"]
        wait_for(lambda: tid in victim.desired(), timeout=10, what="task on the victim")
        node_before = _node(srv, cluster, victim.name)

        bodies = _impostor_bodies(victim)
        bodies["another node's credential"] = dict(bodies["no credential"],
                                                   credential=other.credential)
        for what, body in bodies.items():
            imp = FakeAgent(srv, victim.name, cluster=cluster)
            r = imp.register(body=body)
            assert r.status == 409, (what, r)
            assert "orch node rm" in r.message and "credential" in r.message, (what, r)
            assert imp.credential is None
        # The victim is untouched: same credential, same node, same assignments.
        assert victim.report().status == 200
        assert tid in victim.desired()
        node_after = _node(srv, cluster, victim.name)
        assert node_after["nodeId"] == node_before["nodeId"]
        assert node_after["registeredAt"] == node_before["registeredAt"]
        # A malformed credential is a client error, not a lookup.
        r = FakeAgent(srv, victim.name, cluster=cluster).register(
            body=dict(bodies["no credential"], credential="zz"))
        assert r.status == 400, r
        with open(srv.log_path) as f:
            assert "registration as node '%s' refused" % victim.name in f.read()
    finally:
        victim.stop_heartbeats()


def test_node_with_its_credential_registers_again(srv):
    cluster = new_cluster(srv.client, "jsre")
    a = FakeAgent(srv, unique_family("w"), cluster=cluster)
    assert a.register().status == 201
    first_id, old = a.node_id, a.credential
    r = a.register(body=dict(a.register_body(), credential=old))
    assert r.status == 200, r
    assert a.node_id == first_id and a.credential != old
    assert a.report().status == 200
    assert api.Client(srv.port, old).post("/v1/agent/status", {"tasks": []}).status == 401
    # The revoked credential proves nothing any more.
    r = FakeAgent(srv, a.name, cluster=cluster).register(
        body=dict(a.register_body(), credential=old))
    assert r.status == 409, r


def test_removed_node_joins_again_without_proof(srv):
    cluster = new_cluster(srv.client, "jsrm")
    a = FakeAgent(srv, unique_family("w"), cluster=cluster)
    assert a.register().status == 201
    first_id = a.node_id
    r = srv.client.delete("/v1/clusters/%s/nodes/%s" % (cluster, first_id))
    assert r.status == 200, r
    b = FakeAgent(srv, a.name, cluster=cluster)
    r = b.register()
    assert r.status == 200, r
    assert b.node_id == first_id
    assert a.report().status == 401


def test_real_agent_restart_rm_and_rejoin(srv, tmp_path, real_agents):
    cluster = new_cluster(srv.client, "jsreal")
    token_file = _token_file(srv, tmp_path)
    ag = real_agents(tmp_path, srv.url, token_file, cluster=cluster).start()
    node_id = _wait_active(srv, cluster, ag.name)["nodeId"]
    with open(os.path.join(ag.data, "agent.json")) as f:
        cred = json.load(f)["credential"]

    # Restart on the same data dir: the same node, the same credential.
    ag.stop()
    ag.start()
    wait_for(lambda: "rejoining" in ag.log_tail(), timeout=20, what="rejoin")
    assert _wait_active(srv, cluster, ag.name)["nodeId"] == node_id
    with open(os.path.join(ag.data, "agent.json")) as f:
        assert json.load(f)["credential"] == cred

    # A second agent with the node's name but not its data dir is refused.
    thief = real_agents(tmp_path, srv.url, token_file, name=ag.name, cluster=cluster,
                        data=str(tmp_path / "thief"))
    thief.start()
    assert thief.wait_exit() != 0
    log = thief.log_tail()
    assert "409" in log and "orch node rm" in log, log
    assert not os.path.exists(os.path.join(thief.data, "agent.json"))
    ag_node = _node(srv, cluster, ag.name)
    assert ag_node["nodeId"] == node_id and ag_node["status"] == "ACTIVE"

    # The operator removes the node: the running agent registers again on
    # its next 401 (its old credential proves nothing, and needs not).
    r = subprocess.run([orch_bin(), "node", "rm", node_id, "--cluster", cluster, "--data",
                        srv.data_dir], capture_output=True, text=True, env=cli_env())
    assert r.returncode == 0, r.stderr
    assert _wait_active(srv, cluster, ag.name)["nodeId"] == node_id
    with open(os.path.join(ag.data, "agent.json")) as f:
        assert json.load(f)["credential"] != cred

    # Lost data dir: refused until the operator removes the node, then joins.
    ag.stop()
    lost = real_agents(tmp_path, srv.url, token_file, name=ag.name, cluster=cluster,
                       data=str(tmp_path / "reinstalled"))
    lost.start()
    assert lost.wait_exit() != 0
    assert "orch node rm" in lost.log_tail()
    r = subprocess.run([orch_bin(), "node", "rm", node_id, "--cluster", cluster, "--data",
                        srv.data_dir], capture_output=True, text=True, env=cli_env())
    assert r.returncode == 0, r.stderr
    lost.start()
    assert _wait_active(srv, cluster, ag.name)["nodeId"] == node_id


# --- secrets hygiene -----------------------------------------------------------------

def test_server_log_has_no_join_secret(srv):
    secret = join_secret(srv)
    with open(srv.log_path) as f:
        log = f.read()
    assert secret not in log
    assert "--token-file %s/join-token" % srv.data_dir in log, log[-3000:]


def test_embedded_agent_server_log_and_command_line(tmp_path):
    with servers.running_server(tmp_path, embedded_agent=True) as s:
        wait_for(lambda: [n for n in s.client.get("/v1/clusters/default/nodes")
                          .json["containerInstances"] if n["status"] == "ACTIVE"],
                 timeout=30, what="the embedded node")
        secret = join_secret(s)
        with open(s.log_path) as f:
            assert secret not in f.read()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            assert secret.encode() not in cmd, cmd


def test_token_file_keeps_the_secret_off_the_command_line(srv, tmp_path, real_agents):
    cluster = new_cluster(srv.client, "jstf")
    ag = real_agents(tmp_path, srv.url, _token_file(srv, tmp_path), cluster=cluster).start()
    _wait_active(srv, cluster, ag.name)
    with open("/proc/%d/cmdline" % ag.proc.pid, "rb") as f:
        assert join_secret(srv).encode() not in f.read()


def test_token_file_from_the_environment(srv, tmp_path, real_agents):
    cluster = new_cluster(srv.client, "jsenv")
    ag = real_agents(tmp_path, srv.url, None, cluster=cluster)
    ag.start(args=[], env={"ORCH_TOKEN_FILE": _token_file(srv, tmp_path)})
    _wait_active(srv, cluster, ag.name)


def test_token_flags_are_checked(srv, tmp_path, real_agents):
    tf = _token_file(srv, tmp_path)
    both = real_agents(tmp_path, srv.url, tf)
    both.start(args=["--token-file", tf, "--token", _token(srv)])
    assert both.wait_exit() == 2
    assert "not both" in both.log_tail()
    none = real_agents(tmp_path, srv.url, tf)
    none.start(args=[])
    assert none.wait_exit() == 2
    assert "--token-file" in none.log_tail()
    missing = real_agents(tmp_path, srv.url, tf)
    missing.start(args=["--token-file", str(tmp_path / "nope")])
    assert missing.wait_exit() != 0
    assert "nope" in missing.log_tail()
    # A flag wins over the environment.
    cluster = new_cluster(srv.client, "jsflag")
    ag = real_agents(tmp_path, srv.url, tf, cluster=cluster)
    ag.start(env={"ORCH_TOKEN_FILE": str(tmp_path / "nope")})
    _wait_active(srv, cluster, ag.name)


def _modes(data_dir):
    out = {}
    for name in ("orch.db", "orch.db-wal", "orch.db-shm"):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            out[name] = stat.S_IMODE(os.stat(p).st_mode)
    return out


def test_database_files_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        s = servers.new_server(tmp_path)
        try:
            s.start()
            assert s.client.post("/v1/clusters", {"clusterName": "modes"}).status == 201
            modes = _modes(s.data_dir)
            assert set(modes) == {"orch.db", "orch.db-wal", "orch.db-shm"}, modes
            assert all(m == 0o600 for m in modes.values()), modes
            s.terminate()
            # Files an older orch left 0644 are tightened at the next start.
            for name in ("orch.db", "orch.db-wal", "orch.db-shm"):
                p = os.path.join(s.data_dir, name)
                if os.path.exists(p):
                    os.chmod(p, 0o644)
            s.start()
            modes = _modes(s.data_dir)
            assert modes and all(m == 0o600 for m in modes.values()), modes
        finally:
            servers.release(s)
    finally:
        os.umask(old)
