"""Joining: the join token pins the CA, a wrong secret or a wrong CA joins
nothing, the credential survives restarts, and the CLI on the server host
trusts the cluster CA without flags."""

import json
import os
import stat
import subprocess

from orch_test import server as servers
from orch_test.cluster import Agent, orch
from orch_test.wait import wait_for



def test_agents_join_with_resources_and_attributes(cluster):
    nodes = {n["nodeName"]: n for n in cluster.nodes()}
    for a in cluster.agents:
        n = nodes[a.name]
        assert n["status"] == "ACTIVE"
        assert n["advertiseAddress"] == "10.99.0.%d" % (10 + a.i)
        res = {r["name"]: r for r in n["registeredResources"]}
        assert res["CPU"]["integerValue"] == os.cpu_count() * 1024
        assert res["MEMORY"]["integerValue"] > 0
        attrs = {x["name"]: x.get("value") for x in n["attributes"]}
        assert attrs.get("os") == "linux" or attrs.get("ecs.os-type") == "linux"
        assert attrs.get("host") == str(a.i)


def test_agent_state_is_private(cluster):
    a = cluster.agents[0]
    st = os.stat(os.path.join(a.data, "agent.json"))
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(os.path.join(a.data, "agent.json")) as f:
        state = json.load(f)
    assert len(state["credential"]) >= 32
    assert state["nodeName"] == a.name


def test_join_token_file_format(cluster):
    path = os.path.join(cluster.server.data_dir, "join-token")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = cluster.join_token
    assert token.startswith("K10") and "::" in token
    ca_hash, secret = token[3:].split("::")
    assert len(ca_hash) == 64 and len(secret) == 64
    out = orch("version")  # the CA file's DER hash is what the token carries
    assert out.returncode == 0
    der = __import__("subprocess").run(
        ["openssl", "x509", "-in", cluster.server.ca_path, "-outform", "DER"],
        capture_output=True, check=True).stdout
    assert __import__("hashlib").sha256(der).hexdigest() == ca_hash


def _join_fails(cluster, token, name, expect):
    before = len(cluster.nodes())
    a = Agent(cluster.net, 1, cluster.server.port, token, cluster.workdir,
              name=name)
    a.start()
    try:
        rc = a.wait_exit(timeout=30)
    finally:
        a.stop()
    log = a.log_tail()
    assert rc != 0, log
    assert any(e in log for e in expect), log
    assert len(cluster.nodes()) == before
    assert cluster.node(name) is None
    return log


def test_wrong_secret_registers_nothing(cluster):
    ca_hash = cluster.join_token.split("::")[0]
    _join_fails(cluster, ca_hash + "::" + "0" * 64, "intruder",
                ["refused the join token", "401"])


def test_wrong_ca_hash_registers_nothing(cluster):
    secret = cluster.join_token.split("::")[1]
    _join_fails(cluster, "K10" + "ab" * 32 + "::" + secret, "mitm",
                ["join token expects", "wrong server"])


def test_malformed_token_is_refused(cluster):
    _join_fails(cluster, "not-a-token", "garbage", ["malformed join token"])


def test_restarted_agent_keeps_its_node(cluster):
    a = cluster.agents[-1]
    before = cluster.node(a.name)["nodeId"]
    a.stop()
    a.start()
    cluster.wait_nodes_active([a.name])
    assert cluster.node(a.name)["nodeId"] == before
    assert len([n for n in cluster.nodes() if n["nodeName"] == a.name]) == 1


def test_cli_on_the_server_host_trusts_the_local_ca(cluster):
    r = orch("cluster", "ls", "--data", cluster.server.data_dir)
    assert r.returncode == 0, r.stderr
    url = "https://127.0.0.1:%d" % cluster.server.port
    r = orch("cluster", "ls", "--server", url, "--token", cluster.server.token,
             "--ca", cluster.server.ca_path)
    assert r.returncode == 0, r.stderr
    r = orch("cluster", "ls", "--server", url, "--token", cluster.server.token,
             env={"ORCH_DATA": "/nonexistent"})
    assert r.returncode != 0
    assert "certificate" in r.stderr.lower() or "ssl" in r.stderr.lower(), r.stderr


def test_api_is_https_only(cluster):
    import socket
    s = socket.create_connection(("127.0.0.1", cluster.server.port), timeout=5)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        data = s.recv(4096)
    except OSError:
        data = b""
    finally:
        s.close()
    assert b"HTTP/1.1 200" not in data


def test_ca_endpoint_needs_no_token(cluster):
    r = cluster.client.get("/v1/agent/ca", token=None)
    assert r.status == 200
    with open(cluster.server.ca_path, "rb") as f:
        assert r.body == f.read()


def test_node_survives_heartbeats(cluster):
    wait_for(lambda: all(n.get("agentConnected") for n in cluster.nodes()),
             timeout=10, what="agents connected")


def test_certificate_follows_advertise_and_keeps_the_ca(tmp_path):
    srv = servers.new_server(tmp_path)
    try:
        srv.start()
        token = open(os.path.join(srv.data_dir, "join-token")).read()
        ca = open(srv.ca_path).read()
        srv.terminate()
        srv.extra_args = ["--advertise", "ctl.example.test", "--advertise",
                          "192.0.2.77"]
        srv.start()
        text = subprocess.run(
            ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
             os.path.join(srv.data_dir, "pki", "server.pem")],
            capture_output=True, text=True, check=True).stdout
        assert "DNS:ctl.example.test" in text and "192.0.2.77" in text, text
        assert "127.0.0.1" in text and "localhost" in text
        assert open(srv.ca_path).read() == ca
        assert open(os.path.join(srv.data_dir, "join-token")).read() == token
        key = os.path.join(srv.data_dir, "pki", "ca.key")
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        assert "orch agent --server https://ctl.example.test:" in srv.log_tail()
    finally:
        servers.release(srv)
