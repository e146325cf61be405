"""orch service create|ls|show|update|scale|events|rm|autoscale against a
real server (fresh_cp) and an AutoAgent that reports its tasks RUNNING."""

import json
import os
import pty
import signal
import subprocess
import time

import pytest

from orch_test.binary import orch_bin
from orch_test.fake_agent import AutoAgent, register_taskdef, new_cluster, unique_family

WAIT = ["--wait", "--timeout", "20"]


def orch(server, *args, check=True, timeout=30):
    """`orch service ARGS... --data <the server's>`; asserts exit 0 unless check=False."""
    r = subprocess.run([orch_bin(), "service"] + list(args) + ["--data", server.data_dir],
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def describe(server, cluster, name):
    r = server.client.get("/v1/clusters/%s/services/%s" % (cluster, name))
    assert r.status == 200, r
    return r.json["service"]


@pytest.fixture
def svc_env(fresh_cp):
    """(server, cluster, family with revisions 1 and 2, the running AutoAgent)."""
    cl = new_cluster(fresh_cp.client)
    fam = unique_family("svc")
    register_taskdef(fresh_cp.client, fam)
    register_taskdef(fresh_cp.client, fam, memory=64)
    failing = fam + ":3"

    def behave(task):
        # Revision 3 never starts: what a missing image looks like.
        if task["taskDefinition"]["taskDefinitionArn"].endswith(failing):
            return {"lastStatus": "STOPPED", "stopCode": "TaskFailedToStart",
                    "stoppedReason": "CannotPullContainerError: no such image"}
        return None

    a = AutoAgent(fresh_cp, unique_family("n"), cluster=cl, behave=behave)
    assert a.register().status == 201
    a.start()
    yield fresh_cp, cl, fam, a
    a.stop()


def test_service_lifecycle(svc_env):
    srv, cl, fam, agent = svc_env
    out = orch(srv, "create", "web", "--task-def", fam + ":1", "--desired", "2",
               "--strategy", "spread:instanceId", "--constraint", "memberOf:attribute:os == linux",
               "--max-percent", "200", "--min-healthy-percent", "50", "--circuit-breaker",
               "--rollback", "--grace", "1s", "--cluster", cl, *WAIT).stdout
    assert "service web created" in out and "completed" in out, out
    s = describe(srv, cl, "web")
    assert s["runningCount"] == 2 and s["healthCheckGracePeriodSeconds"] == 1
    assert s["placementStrategy"] == [{"type": "spread", "field": "instanceId"}]
    assert s["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True, "rollback": True}

    table = orch(srv, "ls", "--cluster", cl).stdout
    header, row = table.splitlines()
    assert header.split() == ["NAME", "STATUS", "DESIRED", "RUNNING", "PENDING", "TASK-DEF",
                              "ROLLOUT"]
    assert row.split() == ["web", "ACTIVE", "2", "2", "0", fam + ":1", "COMPLETED"]
    listed = json.loads(orch(srv, "ls", "--cluster", cl, "--json").stdout)
    assert [x["serviceName"] for x in listed["services"]] == ["web"]
    assert listed["serviceArns"] == [s["serviceArn"]]

    show = orch(srv, "show", "web", "--cluster", cl).stdout
    for word in ("DEPLOYMENT", "TASK", "COMPLETED", "steady state", "on, with rollback",
                 "spread:instanceId", "memberOf:attribute:os == linux"):
        assert word in show, (word, show)
    shown = json.loads(orch(srv, "show", "web", "--cluster", cl, "--json").stdout)
    assert len(shown["tasks"]) == 2 and shown["service"]["serviceName"] == "web"

    # A new revision, rolled out; --json keeps stdout JSON, progress on stderr.
    r = orch(srv, "update", "web", "--task-def", fam + ":2", "--cluster", cl, "--json", *WAIT)
    assert json.loads(r.stdout)["service"]["deployments"][0]["status"] == "PRIMARY"
    assert "completed" in r.stderr and "running" in r.stderr, r.stderr
    s = describe(srv, cl, "web")
    assert s["taskDefinition"].endswith(fam + ":2") and len(s["deployments"]) == 1
    assert s["runningCount"] == 2

    out = orch(srv, "scale", "web", "3", "--cluster", cl, *WAIT).stdout
    # Not a terminal: each state once, one per line, no carriage returns.
    assert "\r" not in out and "3/3 running" in out, out
    lines = [ln for ln in out.splitlines() if ln.startswith("deployment ")]
    assert len(lines) == len(set(lines)), out
    assert describe(srv, cl, "web")["runningCount"] == 3

    events = orch(srv, "events", "web", "--cluster", cl).stdout
    assert "(service created)" in events and "steady state" in events
    # Oldest first.
    assert events.index("(service created)") < events.index("new deployment")
    assert json.loads(orch(srv, "events", "web", "--cluster", cl, "--json").stdout)["events"]

    # Deleting a service still scaled up takes --force.
    r = orch(srv, "rm", "web", "--cluster", cl, check=False)
    assert r.returncode == 1 and r.stderr.startswith("orch: ") and "scale it to 0" in r.stderr
    out = orch(srv, "rm", "web", "--force", "--cluster", cl).stdout
    assert "DRAINING" in out
    assert describe(srv, cl, "web")["status"] in ("DRAINING", "INACTIVE")


def test_service_wait_rollback_and_follow(svc_env):
    srv, cl, fam, agent = svc_env
    orch(srv, "create", "api", "--task-def", fam + ":1", "--circuit-breaker", "--rollback",
         "--cluster", cl, *WAIT)
    register_taskdef(srv.client, fam)    # revision 3: its tasks fail to start
    follow = subprocess.Popen([orch_bin(), "service", "events", "api", "-f", "--cluster", cl,
                               "--data", srv.data_dir],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        r = orch(srv, "update", "api", "--task-def", fam + ":3", "--cluster", cl, *WAIT,
                 check=False)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "failed" in r.stderr and "rolled back to %s:1" % fam in r.stderr, r.stderr
        time.sleep(1.5)    # one more poll of the follower
    finally:
        follow.send_signal(signal.SIGINT)
        out, err = follow.communicate(timeout=10)
    # The follower printed what happened after it started, each event once.
    assert "(service created)" in out and "circuit breaker" in out, (out, err)
    assert "rolling back" in out
    lines = out.splitlines()
    assert len(lines) == len(set(lines)), out


def test_service_wait_on_a_terminal(svc_env):
    """On a terminal --wait rewrites one progress line with carriage returns."""
    srv, cl, fam, agent = svc_env
    orch(srv, "create", "tty", "--task-def", fam, "--desired", "0", "--cluster", cl)
    master, slave = pty.openpty()
    p = subprocess.Popen([orch_bin(), "service", "scale", "tty", "2", "--cluster", cl,
                          "--data", srv.data_dir] + WAIT, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:    # EIO: the process closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(timeout=30) == 0, p.stderr.read()
    text = out.decode()
    assert "\r" in text and "2/2 running" in text and "completed" in text, text


def test_service_cli_errors(svc_env):
    srv, cl, fam, agent = svc_env
    for args in (["create", "web"],                        # no --task-def
                 ["bogus"],
                 ["scale", "web"],
                 ["scale", "web", "x", "--cluster", cl],
                 ["create", "web", "--task-def", fam, "--desired", "x"],
                 ["autoscale", "web", "--min", "1"],        # no --max
                 ["autoscale", "web", "--off", "--min", "1"],
                 ["autoscale", "web", "--min", "1", "--max", "2", "--scale-in-cooldown", "1h"],
                 ["update", "web", "--cluster", cl]):       # nothing to change
        r = orch(srv, *args, check=False)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
    r = orch(srv, "show", "nosuch", "--cluster", cl, check=False)
    assert r.returncode == 1 and r.stderr.startswith("orch: "), r.stderr
    assert "ServiceNotFoundException" in r.stderr
    r = orch(srv, "create", "web", "--task-def", fam, "--strategy", "bogus", "--cluster", cl,
             check=False)
    assert r.returncode == 1 and "--strategy" in r.stderr
    r = orch(srv, "create", "web", "--task-def", "nosuchfamily", "--cluster", cl, check=False)
    assert r.returncode == 1 and "taskDefinition" in r.stderr


def test_service_autoscale(svc_env):
    srv, cl, fam, agent = svc_env
    orch(srv, "create", "auto", "--task-def", fam, "--cluster", cl)
    r = orch(srv, "autoscale", "auto", "--min", "1", "--max", "4", "--cpu", "60",
             "--scale-in-cooldown", "2m", "--scale-out-cooldown", "30s", "--cluster", cl,
             check=False)
    assert r.returncode == 0, r.stderr
    a = describe(srv, cl, "auto")["autoScaling"]
    assert (a["minCapacity"], a["maxCapacity"], a["targetCpuPercent"]) == (1, 4, 60)
    assert (a["scaleInCooldownSeconds"], a["scaleOutCooldownSeconds"]) == (120, 30)
    orch(srv, "autoscale", "auto", "--off", "--cluster", cl)
    assert describe(srv, cl, "auto").get("autoScaling") is None
