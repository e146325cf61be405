"""Faults: a node silent past --node-grace is LOST and its tasks stopped;
it is fenced when it returns; kill -9 of the server during a burst of
RunTask calls loses and duplicates nothing; placement resumes at restart."""

import threading
import time

from orch_test import api
from orch_test.fake_agent import (NODE_GRACE_S, FakeAgent, cluster_and_family, describe_task,
                                  new_cluster, register_taskdef, run_task, unique_family)
from orch_test.wait import wait_for


def node_status(client, cluster, node_id):
    r = client.get("/v1/clusters/%s/nodes/%s" % (cluster, node_id))
    assert r.status == 200, r
    return r.json["containerInstance"]


def test_lost_after_grace_then_fenced_on_return(cp, placed):
    cluster, a, fam, tid = placed("lost")
    a.report_status(tid, "RUNNING")
    time.sleep(NODE_GRACE_S + 0.5)
    assert node_status(cp, cluster, a.node_id)["status"] == "ACTIVE"  # heartbeats
    a.stop_heartbeats()
    start = time.monotonic()
    wait_for(lambda: node_status(cp, cluster, a.node_id)["status"] == "LOST",
             timeout=NODE_GRACE_S + 5, what="LOST")
    assert time.monotonic() - start >= NODE_GRACE_S - 0.5
    n = node_status(cp, cluster, a.node_id)
    assert n["agentConnected"] is False
    t = describe_task(cp, tid, cluster)
    assert t["lastStatus"] == "STOPPED" and t["desiredStatus"] == "STOPPED"
    assert t["stoppedReason"] == "Node lost"
    assert t["stopCode"] == "InfrastructureHealth"
    # Resources are released: the node shows its whole capacity again.
    rem = {x["name"]: x for x in n["remainingResources"]}
    assert rem["MEMORY"]["integerValue"] == a.memory
    # The node comes back: ACTIVE, told to stop its old task (fencing).
    a.report([{"taskId": tid, "lastStatus": "RUNNING"}])
    assert node_status(cp, cluster, a.node_id)["status"] == "ACTIVE"
    got = a.poll(wait=0, index=0).json
    assert got["nodeStatus"] == "ACTIVE"
    entry = {x["taskId"]: x for x in got["tasks"]}[tid]
    assert entry["desiredStatus"] == "STOPPED"
    assert describe_task(cp, tid, cluster)["lastStatus"] == "STOPPED"   # final
    a.report_status(tid, "STOPPED")
    assert tid not in a.desired()
    assert describe_task(cp, tid, cluster)["stoppedReason"] == "Node lost"


def test_lost_node_gets_nothing_new(cp_server, cp, agents):
    cluster = new_cluster(cp)
    a = agents(cp_server, cluster=cluster, heartbeat=False)
    wait_for(lambda: node_status(cp, cluster, a.node_id)["status"] == "LOST",
             timeout=NODE_GRACE_S + 5, what="LOST")
    fam = unique_family("nolost")
    register_taskdef(cp, fam)
    t = run_task(cp, fam, cluster=cluster).json["tasks"][0]
    assert t["lastStatus"] == "PROVISIONING" and "LOST" in t["pendingReason"]
    # It returns: the waiting task is placed on it.
    idx = a.poll().json["index"]
    a.start_heartbeats()
    got = a.poll(wait=10, index=idx)
    wait_for(lambda: t["taskId"] in a.desired(), timeout=5, what="placed on return")
    assert got.status == 200


def test_drained_lost_node_returns_draining(cp_server, cp, agents):
    cluster = new_cluster(cp)
    a = agents(cp_server, cluster=cluster)
    path = "/v1/clusters/%s/nodes/%s" % (cluster, a.node_id)
    assert cp.request("PATCH", path, {"status": "DRAINING"}).status == 200
    a.stop_heartbeats()
    wait_for(lambda: node_status(cp, cluster, a.node_id)["status"] == "LOST",
             timeout=NODE_GRACE_S + 5, what="LOST")
    a.report()
    assert node_status(cp, cluster, a.node_id)["status"] == "DRAINING"


def node_of_its_own(srv, prefix, task_memory, node_memory):
    """On srv: an ECS cluster and a family of the test's own and a FakeAgent
    with node_memory registered in it (no heartbeats): (cluster, family, agent)."""
    cluster, fam = cluster_and_family(srv.client, prefix, memory=task_memory)
    a = FakeAgent(srv, unique_family("w"), memory=node_memory, cluster=cluster)
    assert a.register().status == 201
    return cluster, fam, a


def test_kill9_during_runtask_burst(fresh_cp):
    srv = fresh_cp
    cluster, fam, a = node_of_its_own(srv, "burst", 6, 10 ** 6)
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def client_loop(n):
        cl = api.Client(srv.port, srv.token, timeout=10)
        for i in range(400):
            if stop.is_set():
                return
            try:
                r = run_task(cl, fam, count=2, cluster=cluster,
                             startedBy="burst-%d-%d" % (n, i))
            except OSError:
                return
            if r.status == 200:
                with lock:
                    acked.extend(t["taskId"] for t in r.json["tasks"])

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    wait_for(lambda: len(acked) >= 60, timeout=30, what="some acknowledged RunTasks")
    srv.kill9()
    stop.set()
    for th in threads:
        th.join(timeout=30)
    assert acked, "no RunTask was acknowledged before the kill"
    srv.start()
    c = srv.client
    seen, token = [], None
    while True:
        q = "?desiredStatus=ALL&maxResults=100" + ("&nextToken=" + token if token else "")
        r = c.get("/v1/clusters/%s/tasks%s" % (cluster, q))
        assert r.status == 200, r
        seen += [t["taskId"] for t in r.json["tasks"]]
        token = r.json.get("nextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)), "duplicated tasks after restart"
    missing = set(acked) - set(seen)
    assert not missing, "%d acknowledged tasks lost: %s" % (len(missing), sorted(missing)[:5])
    # Each RunTask (count 2) is one transaction: never half of one.
    assert len(seen) % 2 == 0
    # Every surviving task is placed on the node and in its desired set.
    a.report()
    desired = a.desired()
    assert set(seen) <= set(desired), "tasks not in the node's desired set after restart"


def test_restart_resumes_placement(fresh_cp):
    srv = fresh_cp
    c = srv.client
    cluster, fam, a = node_of_its_own(srv, "resume", 300, 400)
    first, second = run_task(c, fam, count=2, cluster=cluster).json["tasks"]
    assert first["lastStatus"] == "PENDING" and second["lastStatus"] == "PROVISIONING"
    a.report_status(first["taskId"], "RUNNING")
    srv.kill9()
    srv.start()
    c = srv.client
    # The scheduler was rebuilt: the first task still holds its memory.
    assert describe_task(c, second["taskId"], cluster)["lastStatus"] == "PROVISIONING"
    n = node_status(c, cluster, a.node_id)
    rem = {x["name"]: x for x in n["remainingResources"]}
    assert rem["MEMORY"]["integerValue"] == 100
    idx = a.poll().json["index"]
    a.report_status(first["taskId"], "STOPPED")
    got = a.poll(wait=10, index=idx)
    assert second["taskId"] in {t["taskId"] for t in got.json["tasks"]}
