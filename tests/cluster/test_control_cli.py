"""The CLI verbs of the control plane: orch task run|ls|show|stop and
orch node ls|show|drain|activate, against the real server and a fake agent."""

import json
import subprocess

from orch_test.binary import orch_bin
from orch_test.fake_agent import cluster_and_family, describe_task, new_cluster


def orch(server, *args, check=True):
    args = list(args)
    r = subprocess.run([orch_bin()] + args[:2] + ["--data", server.data_dir] + args[2:],
                       capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def test_task_verbs(cp_server, cp, agents):
    cluster, fam = cluster_and_family(cp, "cli")
    agents(cp_server, cluster=cluster)
    out = orch(cp_server, "task", "run", fam, "--cluster", cluster, "--count", "2",
               "--started-by", "cli", "--env", "A=1", "--constraint", "distinctInstance",
               "--json", "--", "echo", "hi there")
    tasks = json.loads(out.stdout)["tasks"]
    assert len(tasks) == 2
    assert tasks[0]["overrides"]["containerOverrides"][0] == {
        "name": "app", "command": ["echo", "hi there"],
        "environment": [{"name": "A", "value": "1"}]}
    # distinctInstance with one node: the second waits.
    assert sorted(t["lastStatus"] for t in tasks) == ["PENDING", "PROVISIONING"]
    tid = tasks[0]["taskId"]
    table = orch(cp_server, "task", "ls", "--cluster", cluster).stdout
    assert "TASK" in table and tid in table
    show = orch(cp_server, "task", "show", tid, "--cluster", cluster).stdout
    assert "last status" in show and "app" in show
    stopped = orch(cp_server, "task", "stop", tid, "--cluster", cluster, "--reason", "done").stdout
    assert "desired STOPPED" in stopped
    assert describe_task(cp, tid, cluster)["stoppedReason"] == "done"
    r = orch(cp_server, "task", "show", "0" * 32, "--cluster", cluster, check=False)
    assert r.returncode == 1 and "not found" in r.stderr
    r = orch(cp_server, "task", "run", check=False)
    assert r.returncode == 2
    r = orch(cp_server, "task", "run", fam, "--strategy", "bogus", check=False)
    assert r.returncode == 1 and "--strategy" in r.stderr


def test_node_verbs(cp_server, cp, agents):
    cluster = new_cluster(cp)
    a = agents(cp_server, cluster=cluster)
    table = orch(cp_server, "node", "ls", "--cluster", cluster).stdout
    assert a.node_id in table and "ACTIVE" in table
    out = orch(cp_server, "node", "drain", a.node_id, "--cluster", cluster).stdout
    assert "DRAINING" in out
    show = orch(cp_server, "node", "show", a.node_id, "--cluster", cluster).stdout
    assert "DRAINING" in show and "arch=amd64" in show
    out = orch(cp_server, "node", "activate", a.node_id, "--cluster", cluster).stdout
    assert "ACTIVE" in out
    listed = json.loads(orch(cp_server, "node", "ls", "--cluster", cluster, "--json").stdout)
    assert [n["nodeId"] for n in listed["containerInstances"]] == [a.node_id]
