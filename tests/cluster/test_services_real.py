"""Services on real agents: a killed container is replaced, a drained
node's tasks move, and autoscaling follows a task that burns CPU
(orchestrator/server/service.h).  A killed agent is in
test_services_node_loss.py: it needs a cluster of its own, and a module
uses the shared cluster or fresh ones, never both."""

from orch_test.cluster import orch, sleeper_td
from orch_test.wait import wait_for


def svc(cl, name=None):
    base = "/v1/clusters/default/services"
    return base if name is None else base + "/" + name


def describe(cl, name):
    r = cl.client.get(svc(cl, name))
    assert r.status == 200, r
    return r.json["service"]


def service_tasks(cl, name):
    r = cl.client.get("/v1/clusters/default/tasks?serviceName=%s" % name)
    assert r.status == 200, r
    return r.json["tasks"]


def stable(cl, name, n):
    s = describe(cl, name)
    d = s["deployments"]
    return (len(d) == 1 and d[0]["rolloutState"] == "COMPLETED" and s["runningCount"] == n
            and s["desiredCount"] == n)


def create(cl, name, family, desired, **extra):
    body = {"serviceName": name, "taskDefinition": family, "desiredCount": desired}
    body.update(extra)
    r = cl.client.post(svc(cl), body)
    assert r.status == 201, r
    wait_for(lambda: stable(cl, name, desired), timeout=60,
             what="service %s stable at %d" % (name, desired))


def remove(cl, name):
    r = cl.client.delete(svc(cl, name) + "?force=true")
    assert r.status == 200, r
    wait_for(lambda: describe(cl, name)["status"] == "INACTIVE", timeout=60,
             what="service %s INACTIVE" % name)


def test_killed_container_is_replaced(cluster, family):
    cl = cluster
    cl.register(sleeper_td(family))
    create(cl, "kill", family, 2)
    victim = service_tasks(cl, "kill")[0]
    agent = cl.node_of(victim)
    c = agent.task_containers(victim["taskId"])[0]
    r = orch("kill", "-s", "KILL", "--data", agent.data, c["id"])
    assert r.returncode == 0, r.stderr

    def replaced():
        ids = {t["taskId"] for t in service_tasks(cl, "kill")}
        return victim["taskId"] not in ids and stable(cl, "kill", 2)
    wait_for(replaced, timeout=30, what="the killed task replaced")
    msgs = [e["message"] for e in describe(cl, "kill")["events"]]
    assert any(victim["taskId"] in m and "EssentialContainerExited" in m for m in msgs), msgs
    remove(cl, "kill")


def test_drained_node_tasks_move(cluster, family):
    cl = cluster
    cl.register(sleeper_td(family))
    create(cl, "drain", family, 3)
    victim = cl.node_of(service_tasks(cl, "drain")[0])
    node_id = cl.node(victim.name)["nodeId"]
    r = cl.client.patch("/v1/clusters/default/nodes/%s" % node_id, {"status": "DRAINING"})
    assert r.status == 200, r
    low = [3]
    try:
        def moved():
            ts = service_tasks(cl, "drain")
            low[0] = min(low[0], len([t for t in ts if t["lastStatus"] == "RUNNING"]))
            return (stable(cl, "drain", 3) and
                    all(cl.node_of(t) is not victim for t in service_tasks(cl, "drain")))
        wait_for(moved, timeout=60, interval=0.05, what="tasks moved off the draining node")
        # minimumHealthyPercent 100: the new task ran before the old one stopped.
        assert low[0] >= 3, low
        wait_for(lambda: not any(c["status"] == "running" for c in victim.containers()
                                 if c["name"].startswith("orch-")),
                 timeout=20, what="the drained node's containers stopped")
    finally:
        r = cl.client.patch("/v1/clusters/default/nodes/%s" % node_id, {"status": "ACTIVE"})
        assert r.status == 200, r
    remove(cl, "drain")


def test_autoscaling_follows_a_cpu_burner(cluster, family):
    """Each task burns a whole CPU for 12 s, then idles: 1 task at ~400% of
    its 256 units scales out to the maximum of 2, and after the burning
    stops both idle and the service scales back in to 1."""
    cl = cluster
    burn = ("sh", "-c", "end=$(( $(date +%s) + 12 )); "
            "while [ $(date +%s) -lt $end ]; do :; done; exec sleep 3600")
    cl.register(sleeper_td(family, command=burn, container={"cpu": 256}))
    create(cl, "auto", family, 1, autoScaling={
        "minCapacity": 1, "maxCapacity": 2, "targetCpuPercent": 50,
        "scaleOutCooldownSeconds": 0, "scaleInCooldownSeconds": 3})
    wait_for(lambda: describe(cl, "auto")["desiredCount"] == 2, timeout=30,
             what="scaled out while burning")
    wait_for(lambda: stable(cl, "auto", 1), timeout=60, what="scaled in once idle")
    msgs = [e["message"] for e in describe(cl, "auto")["events"]]
    assert any("autoscaling: average CPU" in m and "1 -> 2" in m for m in msgs), msgs
    assert any("autoscaling" in m and "2 -> 1" in m for m in msgs), msgs
    remove(cl, "auto")
