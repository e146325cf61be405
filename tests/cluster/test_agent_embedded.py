"""`orch server` alone is a one-node cluster: its embedded agent joins over
the server's own HTTPS address, runs tasks from the server's data dir's
image store, is restarted if it dies, and stops with the server."""

import os
import signal
import subprocess
import time

import pytest

from orch_test.cluster import orch, sleeper_td
from orch_test.server import running_server
from orch_test.wait import wait_for


@pytest.fixture
def one_node(tmp_path, busybox_layout):
    data = tmp_path / "data"
    data.mkdir()
    r = orch("image", "import", "--data", str(data), "--name", "busybox:latest",
             busybox_layout, timeout=120)
    assert r.returncode == 0, r.stderr
    with running_server(tmp_path, embedded_agent=True) as srv:
        yield srv
    containers = os.path.join(str(data), "containers")
    for c in os.listdir(containers) if os.path.isdir(containers) else []:
        orch("rm", "-f", "--data", str(data), c)


def _nodes(srv):
    r = srv.client.get("/v1/clusters/default/nodes")
    assert r.status == 200, r
    return r.json["containerInstances"]


def _agent_pids(srv):
    r = subprocess.run(["pgrep", "-f", "orch agent .*%s/agent" % srv.data_dir],
                       capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def test_embedded_agent_runs_tasks(one_node, family):
    srv = one_node
    wait_for(lambda: [n for n in _nodes(srv) if n["status"] == "ACTIVE"],
             timeout=20, what="the embedded node")
    r = srv.client.post("/v1/task-definitions", sleeper_td(family))
    assert r.status in (200, 201), r
    r = srv.client.post("/v1/clusters/default/tasks",
                        {"taskDefinition": family})
    assert r.status in (200, 201), r
    tid = r.json["tasks"][0]["taskId"]

    def running():
        t = srv.client.get("/v1/clusters/default/tasks/" + tid).json["task"]
        return t["lastStatus"] == "RUNNING"
    wait_for(running, timeout=20, what="task RUNNING")
    assert os.path.exists(os.path.join(srv.data_dir, "agent", "agent.json"))
    r = srv.client.post("/v1/clusters/default/tasks/%s/stop" % tid, {})
    assert r.status == 200, r


def test_embedded_agent_is_restarted_and_stops_with_the_server(one_node):
    srv = one_node
    wait_for(lambda: [n for n in _nodes(srv) if n["status"] == "ACTIVE"],
             timeout=20, what="the embedded node")
    pids = wait_for(lambda: _agent_pids(srv), timeout=10, what="agent pid")
    os.kill(pids[0], signal.SIGKILL)
    wait_for(lambda: _agent_pids(srv) and _agent_pids(srv) != pids,
             timeout=10, what="a new agent")
    assert len(_nodes(srv)) == 1
    srv.terminate()
    time.sleep(0.5)
    assert not _agent_pids(srv)
