"""Task definitions' limits are applied on the agents, not just accepted.

Container ulimits reach the container's processes (and a hard limit the host
refuses fails the task to start, naming the ulimit).  The ECS task size
(task-level cpu and memory, RunTask overrides first) is a cgroup of the task,
PARENT/orch-TASKID, holding its containers' cgroups: memory a hard limit for
all of them together (the OOM kill is reported as ECS does), cpu a CFS quota
of cpu/1024 CPUs.  The task's cgroup goes when the task stops and survives a
kill -9 of the agent with the containers in it.  After every test the agents'
cgroup parents are empty."""

import glob
import json
import os
import re

import pytest

from orch_test.cluster import orch, sleeper_td
from orch_test.wait import wait_for


CGROUP_ROOT = "/sys/fs/cgroup"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"


def is_v2():
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def task_cgroup_dirs(agent, task_id):
    """The task's cgroup directory in every hierarchy (v1) or the one (v2)."""
    name = "%s/orch-%s" % (agent.cgroup_parent, task_id)
    return [d for d in glob.glob("%s/*/%s" % (CGROUP_ROOT, name)) +
            glob.glob("%s/%s" % (CGROUP_ROOT, name)) if os.path.isdir(d)]


def task_cgroup_file(agent, task_id, controller, name):
    base = CGROUP_ROOT if is_v2() else os.path.join(CGROUP_ROOT, controller)
    return os.path.join(base, agent.cgroup_parent, "orch-" + task_id, name)


def read(path):
    with open(path) as f:
        return f.read().strip()


def parent_children(agent):
    """What is below the agent's cgroup parent, in any hierarchy."""
    found = set()
    for d in glob.glob("%s/*/%s" % (CGROUP_ROOT, agent.cgroup_parent)) + \
            glob.glob("%s/%s" % (CGROUP_ROOT, agent.cgroup_parent)):
        for entry in os.listdir(d):
            if os.path.isdir(os.path.join(d, entry)):
                found.add("%s/%s" % (d, entry))
    return sorted(found)


@pytest.fixture(autouse=True)
def cgroup_parents_end_empty(cluster):
    yield
    cluster.stop_all_tasks()
    for a in cluster.agents:
        wait_for(lambda: not parent_children(a), timeout=30,
                 what="agent %s's cgroup parent empty" % a.name)


def task_containers(agent, task_id):
    return {c["name"]: c for c in agent.task_containers(task_id)}


def limits_of(text):
    out = {}
    for key, label in (("nofile", "Max open files"), ("nproc", "Max processes"),
                       ("core", "Max core file size")):
        m = re.search(r"^%s\s+(\S+)\s+(\S+)" % label, text, re.M)
        if m:
            out[key] = (m.group(1), m.group(2))
    return out


def sized_td(family, cpu=None, memory="64", **extra):
    """A task with a task size and containers without memory limits of their own."""
    td = sleeper_td(family, memory=memory, **extra)
    if cpu is not None:
        td["cpu"] = cpu
    for c in td["containerDefinitions"]:
        c.pop("memory", None)
        c.setdefault("memoryReservation", 8)
    return td


def run_on_agent(cluster, family, **extra):
    t = cluster.run_task(family, **extra)[0]
    t = cluster.wait_task(t["taskId"], "RUNNING", timeout=30)
    agent = cluster.node_of(t)
    assert agent is not None, t
    return t, agent


# ---- ulimits ----------------------------------------------------------------

def test_ulimits_reach_the_task_container(cluster, family):
    cluster.register(sleeper_td(family, command=["sh", "-c", "cat /proc/1/limits; sleep 300"],
                                container={"ulimits": [
                                    {"name": "nofile", "softLimit": 1024, "hardLimit": 2048},
                                    {"name": "nproc", "softLimit": 500, "hardLimit": 600},
                                    {"name": "core", "softLimit": 0, "hardLimit": -1}]}))
    t, agent = run_on_agent(cluster, family)
    c = task_containers(agent, t["taskId"])["orch-%s-0" % t["taskId"]]
    # The container's PID 1 as the host sees it.
    with open("/proc/%d/limits" % c["pid"]) as f:
        lim = limits_of(f.read())
    assert lim["nofile"] == ("1024", "2048"), lim
    assert lim["nproc"] == ("500", "600"), lim
    assert lim["core"] == ("0", "unlimited"), lim
    # What the container printed of its own /proc/1/limits, in its log.
    logs = os.path.join(agent.data, "containers", c["id"], "container.log")
    wait_for(lambda: "Max open files" in read(logs), timeout=10, what="the limits logged")
    text = "".join(json.loads(line).get("log", "") for line in read(logs).splitlines())
    assert limits_of(text)["nofile"] == ("1024", "2048"), text
    # Persisted with the container, so a re-adopted container keeps them.
    config = json.load(open(os.path.join(agent.data, "containers", c["id"], "config.json")))
    assert {r["type"] for r in config["process"]["rlimits"]} == {"nofile", "nproc", "core"}


def test_refused_hard_ulimit_fails_the_task_to_start(cluster, family):
    with open("/proc/sys/fs/nr_open") as f:
        too_high = int(f.read()) + 1
    cluster.register(sleeper_td(family, container={"ulimits": [
        {"name": "nofile", "softLimit": 1024, "hardLimit": too_high}]}))
    t = cluster.run_task(family)[0]
    t = cluster.wait_task(t["taskId"], "STOPPED", timeout=30)
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "ulimit nofile=1024:%d" % too_high in t["stoppedReason"], t
    assert "exceeds what this host allows" in t["stoppedReason"], t
    agent = cluster.node_of(t)
    wait_for(lambda: not task_cgroup_dirs(agent, t["taskId"]), timeout=15,
             what="the failed task's cgroup removed")


# ---- the task size ------------------------------------------------------------

def test_task_size_is_the_task_cgroup(cluster, family):
    cluster.register(sized_td(family, cpu="0.25 vCPU"))
    t, agent = run_on_agent(cluster, family)
    tid = t["taskId"]
    assert task_cgroup_dirs(agent, tid)
    if is_v2():
        assert read(task_cgroup_file(agent, tid, "memory", "memory.max")) == str(64 << 20)
        assert read(task_cgroup_file(agent, tid, "cpu", "cpu.max")) == "25000 100000"
        assert "memory" in read(task_cgroup_file(agent, tid, "memory", "cgroup.subtree_control"))
    else:
        assert read(task_cgroup_file(agent, tid, "memory", "memory.limit_in_bytes")) == \
            str(64 << 20)
        assert read(task_cgroup_file(agent, tid, "memory", "memory.use_hierarchy")) == "1"
        assert read(task_cgroup_file(agent, tid, "cpu", "cpu.cfs_quota_us")) == "25000"
        assert read(task_cgroup_file(agent, tid, "cpu", "cpu.cfs_period_us")) == "100000"
        assert read(task_cgroup_file(agent, tid, "cpu", "cpu.shares")) == "256"
    # The container's cgroup is below the task's, and its PID 1 in it.
    c = task_containers(agent, tid)["orch-%s-0" % tid]
    procs = task_cgroup_file(agent, tid, "pids", os.path.join(c["id"], "cgroup.procs"))
    assert str(c["pid"]) in read(procs).split()


def test_overrides_replace_the_task_size(cluster, family):
    cluster.register(sized_td(family, cpu="256"))
    t, agent = run_on_agent(cluster, family, overrides={"cpu": "512", "memory": "128"})
    mem = "memory.max" if is_v2() else "memory.limit_in_bytes"
    assert read(task_cgroup_file(agent, t["taskId"], "memory", mem)) == str(128 << 20)
    if is_v2():
        assert read(task_cgroup_file(agent, t["taskId"], "cpu", "cpu.max")) == "50000 100000"
    else:
        assert read(task_cgroup_file(agent, t["taskId"], "cpu", "cpu.cfs_quota_us")) == "50000"


def test_no_task_size_means_no_task_limit(cluster, family):
    cluster.register(sleeper_td(family))
    t, agent = run_on_agent(cluster, family)
    assert task_cgroup_dirs(agent, t["taskId"])
    if not is_v2():
        limit = int(read(task_cgroup_file(agent, t["taskId"], "memory", "memory.limit_in_bytes")))
        assert limit > 1 << 40
        assert read(task_cgroup_file(agent, t["taskId"], "cpu", "cpu.cfs_quota_us")) == "-1"
    else:
        assert read(task_cgroup_file(agent, t["taskId"], "memory", "memory.max")) == "max"


def test_containers_together_over_task_memory_are_oom_killed(cluster, family):
    """Each container alone fits in the task's 64 MiB; together they do not.
    No container has a memory limit of its own: the task's is what kills."""
    hold = "x=$(head -c 25000000 /dev/zero | tr '\\0' a); echo filled; sleep 300; echo ${#x}"
    td = sized_td(family, command=["sh", "-c", hold])
    td["containerDefinitions"].append(
        {"name": "second", "image": "busybox", "memoryReservation": 8, "stopTimeout": 1,
         "command": ["sh", "-c", "sleep 3; " + hold]})
    cluster.register(td)
    t = cluster.run_task(family)[0]
    t = cluster.wait_task(t["taskId"], "STOPPED", timeout=60)
    assert t["stopCode"] == "EssentialContainerExited", t
    assert t["stoppedReason"] == "Essential container in task exited", t
    killed = [c for c in t["containers"] if c.get("reason") == OOM_REASON]
    assert killed, t["containers"]
    assert all(c["exitCode"] == 137 for c in killed), t["containers"]


def test_container_memory_over_the_task_memory(cluster, family):
    # In the definition: refused at registration (as ECS does).
    r = cluster.client.post("/v1/task-definitions", sleeper_td(
        family, memory="64", container={"memory": 128}))
    assert r.status == 400, r
    assert "exceeds the task memory" in r.json["message"], r.json
    # Through RunTask overrides: refused by RunTask, naming both limits (the
    # agent refuses such a task too, should one reach it).
    cluster.register(sleeper_td(family, memory="64", container={"memory": 32}))
    r = cluster.client.post("/v1/clusters/default/tasks", {
        "taskDefinition": family,
        "overrides": {"containerOverrides": [{"name": "app", "memory": 128}]}})
    assert r.status == 400, r
    assert "memory 128 MiB exceeds the task memory of 64 MiB" in r.json["message"], r.json


# ---- the task cgroup's lifetime ---------------------------------------------------

def test_task_cgroup_goes_when_the_task_stops(cluster, family):
    cluster.register(sized_td(family))
    t, agent = run_on_agent(cluster, family)
    assert task_cgroup_dirs(agent, t["taskId"])
    cluster.stop_task(t["taskId"])
    cluster.wait_task(t["taskId"], "STOPPED", timeout=20)
    wait_for(lambda: not task_cgroup_dirs(agent, t["taskId"]), timeout=10,
             what="the task cgroup removed")


def test_task_cgroup_survives_agent_kill9(cluster, family):
    cluster.register(sized_td(family))
    t, agent = run_on_agent(cluster, family)
    tid = t["taskId"]
    before = {c["id"] for c in task_containers(agent, tid).values()}
    mem = task_cgroup_file(agent, tid, "memory",
                           "memory.max" if is_v2() else "memory.limit_in_bytes")
    agent.kill9()
    # While the agent is down: the container runs on in the task's cgroup, and
    # a task cgroup nobody knows appears (an agent killed between making a
    # task's cgroup and creating its first container).
    assert read(mem) == str(64 << 20)
    assert all(c["status"] == "running" for c in task_containers(agent, tid).values())
    stray = [os.path.join(os.path.dirname(d), "orch-" + "ab" * 16)
             for d in task_cgroup_dirs(agent, tid)]
    for d in stray:
        os.mkdir(d)
    try:
        agent.start()
        cluster.wait_nodes_active([agent.name])
        wait_for(lambda: not any(os.path.isdir(d) for d in stray), timeout=20,
                 what="the unknown task cgroup swept")
        assert cluster.task(tid)["lastStatus"] == "RUNNING"
        assert {c["id"] for c in task_containers(agent, tid).values()} == before
        assert read(mem) == str(64 << 20)
    finally:
        for d in stray:
            if os.path.isdir(d):
                os.rmdir(d)
        if not agent.alive():
            agent.start()
            cluster.wait_nodes_active([agent.name])
    cluster.stop_task(tid)
    cluster.wait_task(tid, "STOPPED", timeout=20)
    wait_for(lambda: not task_cgroup_dirs(agent, tid), timeout=10,
             what="the re-adopted task's cgroup removed")


def test_removing_the_last_container_removes_the_task_cgroup(cluster, family):
    """With the agent down, `orch rm -f` of the task's containers (an
    operator cleaning up a node) leaves no task cgroup behind either."""
    td = sized_td(family)
    td["containerDefinitions"].append(
        {"name": "side", "image": "busybox", "memoryReservation": 8, "essential": False,
         "command": ["sleep", "300"], "stopTimeout": 1})
    cluster.register(td)
    t, agent = run_on_agent(cluster, family)
    tid = t["taskId"]
    containers = task_containers(agent, tid)
    assert len(containers) == 2, containers
    agent.kill9()
    try:
        first, second = sorted(c["id"] for c in containers.values())
        r = orch("rm", "-f", "--data", agent.data, first)
        assert r.returncode == 0, r.stderr
        assert task_cgroup_dirs(agent, tid), "the other container is still in it"
        r = orch("rm", "-f", "--data", agent.data, second)
        assert r.returncode == 0, r.stderr
        assert not task_cgroup_dirs(agent, tid)
    finally:
        agent.start()
        cluster.wait_nodes_active([agent.name])
