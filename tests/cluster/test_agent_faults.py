"""Faults: kill -9 of an agent (containers keep running, re-adopted, no
duplicates, exits while down reported), node loss (LOST, tasks stopped,
fencing on return), and containers the server does not know (stopped)."""

import os
import time

from orch_test.cluster import NODE_GRACE_S, orch, sleeper_td
from orch_test.wait import wait_for



def _victim_and_its_tasks(cl, family):
    """Three RUNNING tasks; the node of the first and its tasks among them."""
    cl.register(sleeper_td(family))
    tasks = [cl.wait_task(t["taskId"], "RUNNING")
             for t in cl.run_task(family, count=3)]
    victim = cl.node_of(tasks[0])
    return victim, [t for t in tasks if cl.node_of(t) is victim]


def test_kill9_agent_readopts_without_duplicates(fresh_cluster, family):
    cl = fresh_cluster
    victim, mine = _victim_and_its_tasks(cl, family)
    before = {c["id"] for t in mine for c in victim.task_containers(t["taskId"])}
    victim.kill9()
    time.sleep(1)
    # The containers outlive their agent.
    assert all(c["status"] == "running"
               for t in mine for c in victim.task_containers(t["taskId"]))
    victim.start()
    cl.wait_nodes_active([victim.name])
    time.sleep(2)
    after = {c["id"] for t in mine for c in victim.task_containers(t["taskId"])}
    assert after == before, "re-adoption must start no duplicate"
    for t in mine:
        assert cl.task(t["taskId"])["lastStatus"] == "RUNNING"


def test_exit_while_agent_is_down_is_reported(fresh_cluster, family):
    cl = fresh_cluster
    cl.register(sleeper_td(family))
    t = cl.wait_task(cl.run_task(family)[0]["taskId"], "RUNNING")
    agent = cl.node_of(t)
    agent.kill9()
    c = agent.task_containers(t["taskId"])[0]
    r = orch("kill", "-s", "KILL", "--data", agent.data, c["id"])
    assert r.returncode == 0, r.stderr
    agent.start()
    t = cl.wait_task(t["taskId"], "STOPPED", timeout=20)
    assert t["containers"][0]["exitCode"] == 137, t
    assert t["stopCode"] == "EssentialContainerExited", t


def test_node_loss_marks_lost_and_fences_on_return(fresh_cluster, family):
    cl = fresh_cluster
    victim, mine = _victim_and_its_tasks(cl, family)
    cl.net.link_down(victim.i)
    try:
        wait_for(lambda: cl.node(victim.name)["status"] == "LOST",
                 timeout=NODE_GRACE_S + 15, what="node LOST")
        for t in mine:
            t = cl.wait_task(t["taskId"], "STOPPED", timeout=10)
            assert t.get("stoppedReason"), t
        # The node cannot hear the server: its containers still run.
        assert any(c["status"] == "running"
                   for t in mine for c in victim.task_containers(t["taskId"]))
    finally:
        cl.net.link_up(victim.i)
    wait_for(lambda: cl.node(victim.name)["status"] == "ACTIVE",
             timeout=60, what="node back ACTIVE")
    # Fencing: the returning node is told to stop them, and does.
    wait_for(lambda: not any(c["status"] == "running" for t in mine
                             for c in victim.task_containers(t["taskId"])),
             timeout=30, what="fenced containers stopped")


def test_unknown_container_is_stopped(fresh_cluster):
    cluster = fresh_cluster
    a = cluster.agents[0]
    name = "orch-%s-0" % os.urandom(16).hex()
    r = orch("run", "-d", "--name", name, "--data", a.data,
             "--cgroup-parent", a.cgroup_parent, "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr

    def gone():
        return not any(c["name"] == name for c in a.containers())
    wait_for(gone, timeout=30, what="unknown container removed")


def test_agents_reconnect_after_a_server_restart(fresh_cluster, family):
    cl = fresh_cluster
    cl.register(sleeper_td(family))
    before = cl.wait_task(cl.run_task(family)[0]["taskId"], "RUNNING")
    cl.server.kill9()
    time.sleep(1)
    cl.server.start()
    cl.wait_nodes_active()
    assert cl.task(before["taskId"])["lastStatus"] == "RUNNING"
    after = cl.wait_task(cl.run_task(family)[0]["taskId"], "RUNNING",
                         timeout=30)
    assert cl.node_of(after) is not None
