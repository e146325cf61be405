"""Services on the control plane alone: the reconciler, deployments, the
circuit breaker, DAEMON scheduling, restarts and hostile requests
(orchestrator/server/service.h, api_service.c).

The nodes are AutoAgents (orch_test.fake_agent): they report what a real
agent would, so each rule is checked exactly and fast; the real-agent
behaviour (a killed container, a killed agent, a drained node) is in
test_services_real.py."""

import json
import os
import threading
import urllib.parse
import time

import pytest

from orch_test.fake_agent import (AutoAgent, new_cluster, register_taskdef, unique_family)
from orch_test.wait import wait_for


def svc_path(cl, name=None):
    base = "/v1/clusters/%s/services" % cl
    return base if name is None else base + "/" + name


def create(cp, cl, name, fam, desired=3, **extra):
    body = {"serviceName": name, "taskDefinition": fam, "desiredCount": desired}
    body.update(extra)
    r = cp.post(svc_path(cl), body)
    assert r.status == 201, r
    return r.json["service"]


def describe(cp, cl, name):
    r = cp.get(svc_path(cl, name))
    assert r.status == 200, r
    return r.json["service"]


def tasks_of(cp, cl, name, desired=None):
    q = "serviceName=%s" % name
    if desired:
        q += "&desiredStatus=%s" % desired
    r = cp.get("/v1/clusters/%s/tasks?%s&maxResults=100" % (cl, q))
    assert r.status == 200, r
    return r.json["tasks"]


def stable(cp, cl, name, desired):
    s = describe(cp, cl, name)
    d = s["deployments"]
    return (len(d) == 1 and d[0]["status"] == "PRIMARY" and d[0]["rolloutState"] == "COMPLETED"
            and s["runningCount"] == desired and s["desiredCount"] == desired)


def wait_stable(cp, cl, name, desired, timeout=20):
    wait_for(lambda: stable(cp, cl, name, desired), timeout=timeout,
             what="service %s stable at %d" % (name, desired))
    return describe(cp, cl, name)


def messages(svc):
    return [e["message"] for e in svc["events"]]


@pytest.fixture
def node(fresh_cp):
    """node(cluster, **kw) -> a started AutoAgent in that cluster."""
    made = []

    def make(cl, **kw):
        a = AutoAgent(fresh_cp, unique_family("n"), cluster=cl, **kw)
        assert a.register().status == 201
        made.append(a.start())
        return a

    yield make
    for a in made:
        a.stop()


def make_service_cluster(fresh_cp, node, nodes=1, **td):
    cp = fresh_cp.client
    cl = new_cluster(cp)
    agents = [node(cl) for _ in range(nodes)]
    fam = unique_family("web")
    register_taskdef(cp, fam, **td)
    return cp, cl, fam, agents


def test_service_reaches_desired_and_tasks_carry_the_service(fresh_cp, node):
    cp, cl, fam, _ = make_service_cluster(fresh_cp, node)
    created = create(cp, cl, "web", fam, desired=3)
    assert created["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    s = wait_stable(cp, cl, "web", 3)
    assert s["serviceArn"].endswith(":service/%s/web" % cl)
    assert s["deploymentConfiguration"] == {
        "maximumPercent": 200, "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": False, "rollback": False}}
    dep = s["deployments"][0]
    assert dep["id"].startswith("ecs-svc/") and dep["runningCount"] == 3
    assert "(service web) has reached a steady state." in messages(s)
    ts = tasks_of(cp, cl, "web")
    assert len(ts) == 3
    for t in ts:
        assert t["group"] == "service:web" and t["serviceName"] == "web"
        assert t["startedBy"] == dep["id"]
    # A task of another family is not listed as the service's.
    assert cp.post("/v1/clusters/%s/tasks" % cl, {"taskDefinition": fam}).status == 200
    assert len(tasks_of(cp, cl, "web")) == 3
    ls = cp.get(svc_path(cl)).json
    assert [x["serviceName"] for x in ls["services"]] == ["web"]
    assert ls["serviceArns"] == [s["serviceArn"]]


def test_stopped_task_is_replaced_with_an_event(fresh_cp, node):
    cp, cl, fam, (a,) = make_service_cluster(fresh_cp, node)
    create(cp, cl, "web", fam, desired=2)
    wait_stable(cp, cl, "web", 2)
    victim = tasks_of(cp, cl, "web")[0]["taskId"]
    a.running.discard(victim)
    a.done.add(victim)
    a.report_status(victim, "STOPPED", stopCode="EssentialContainerExited",
                    stoppedReason="Essential container in task exited")
    s = wait_stable(cp, cl, "web", 2)
    ids = {t["taskId"] for t in tasks_of(cp, cl, "web")}
    assert victim not in ids and len(ids) == 2
    assert any(victim in m and "failed" in m for m in messages(s)), messages(s)


def test_unhealthy_task_is_replaced(fresh_cp, node):
    td = {"containers": [{"name": "app", "image": "busybox", "memory": 64,
                          "command": ["sleep", "3600"],
                          "healthCheck": {"command": ["CMD-SHELL", "true"]}}]}
    cp = fresh_cp.client
    cl = new_cluster(cp)
    a = node(cl, health="HEALTHY")
    fam = unique_family("web")
    register_taskdef(cp, fam, **td)
    create(cp, cl, "web", fam, desired=2)
    wait_stable(cp, cl, "web", 2)
    sick = tasks_of(cp, cl, "web")[0]["taskId"]
    a.set_health(sick, "UNHEALTHY")
    wait_for(lambda: sick not in {t["taskId"] for t in tasks_of(cp, cl, "web", "RUNNING")},
             timeout=10, what="the UNHEALTHY task stopped")
    s = wait_stable(cp, cl, "web", 2)
    assert any("UNHEALTHY" in m for m in messages(s)), messages(s)
    stopped = [t for t in tasks_of(cp, cl, "web", "STOPPED") if t["taskId"] == sick][0]
    assert stopped["stoppedReason"] == "Task failed container health checks"


def test_rolling_update_keeps_min_healthy_and_max_percent(fresh_cp, node):
    """3 -> 3 with minimumHealthyPercent 100 and maximumPercent 200: sampled
    throughout, never fewer than 3 RUNNING tasks desired RUNNING, never more
    than 6 tasks alive."""
    cp = fresh_cp.client
    cl = new_cluster(cp)
    node(cl, delay=0.3)
    fam = unique_family("web")
    register_taskdef(cp, fam)
    create(cp, cl, "web", fam, desired=3,
           deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100})
    wait_stable(cp, cl, "web", 3)
    register_taskdef(cp, fam)
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            ts = tasks_of(cp, cl, "web", "ALL")
            alive = [t for t in ts if t["lastStatus"] != "STOPPED"]
            healthy = [t for t in alive
                       if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"]
            samples.append((len(healthy), len(alive)))
            time.sleep(0.02)

    th = threading.Thread(target=sample)
    th.start()
    try:
        r = cp.patch(svc_path(cl, "web"), {"taskDefinition": fam + ":2"})
        assert r.status == 200, r
        assert [d["status"] for d in r.json["service"]["deployments"]] == ["PRIMARY", "ACTIVE"]
        s = wait_stable(cp, cl, "web", 3)
    finally:
        stop.set()
        th.join()
    assert len(samples) > 10
    assert min(h for h, _ in samples) >= 3, samples
    assert max(a for _, a in samples) <= 6, samples
    assert s["taskDefinition"].endswith("%s:2" % fam)
    assert all(t["taskDefinitionArn"].endswith(":2") for t in tasks_of(cp, cl, "web"))


def test_min_healthy_zero_stops_old_first_and_max_100(fresh_cp, node):
    cp, cl, fam, _ = make_service_cluster(fresh_cp, node)
    create(cp, cl, "web", fam, desired=2,
           deploymentConfiguration={"maximumPercent": 100, "minimumHealthyPercent": 0})
    wait_stable(cp, cl, "web", 2)
    register_taskdef(cp, fam)
    assert cp.patch(svc_path(cl, "web"), {"taskDefinition": fam + ":2"}).status == 200
    wait_stable(cp, cl, "web", 2)


def test_scale_out_and_in(fresh_cp, node):
    cp, cl, fam, _ = make_service_cluster(fresh_cp, node)
    create(cp, cl, "web", fam, desired=1)
    wait_stable(cp, cl, "web", 1)
    assert cp.patch(svc_path(cl, "web"), {"desiredCount": 5}).status == 200
    s = wait_stable(cp, cl, "web", 5)
    assert len(s["deployments"]) == 1
    assert cp.patch(svc_path(cl, "web"), {"desiredCount": 2}).status == 200
    wait_stable(cp, cl, "web", 2)
    assert len(tasks_of(cp, cl, "web")) == 2


def test_force_new_deployment_replaces_every_task(fresh_cp, node):
    cp, cl, fam, _ = make_service_cluster(fresh_cp, node)
    create(cp, cl, "web", fam, desired=2)
    wait_stable(cp, cl, "web", 2)
    before = {t["taskId"] for t in tasks_of(cp, cl, "web")}
    r = cp.patch(svc_path(cl, "web"), {"forceNewDeployment": True})
    assert r.status == 200, r
    wait_stable(cp, cl, "web", 2)
    after = {t["taskId"] for t in tasks_of(cp, cl, "web")}
    assert not (before & after)


def failing(reason_code, reason):
    return lambda entry: ({"lastStatus": "STOPPED", "stopCode": reason_code,
                           "stoppedReason": reason}
                          if entry["taskDefinition"]["revision"] == 2 else None)


@pytest.mark.parametrize("code,reason", [
    ("TaskFailedToStart", "CannotPullContainerError: no such image nosuch/image:1"),
    ("EssentialContainerExited", "Essential container in task exited"),
])
def test_circuit_breaker_rolls_back(fresh_cp, node, code, reason):
    cp = fresh_cp.client
    cl = new_cluster(cp)
    node(cl, behave=failing(code, reason))
    fam = unique_family("web")
    register_taskdef(cp, fam)
    create(cp, cl, "web", fam, desired=2,
           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    wait_stable(cp, cl, "web", 2)
    register_taskdef(cp, fam)
    assert cp.patch(svc_path(cl, "web"), {"taskDefinition": fam + ":2"}).status == 200
    # threshold = max(3, ceil(2 / 2)) = 3 failures; back-off 1 + 2 s between them
    s = wait_stable(cp, cl, "web", 2, timeout=30)
    assert s["taskDefinition"].endswith("%s:1" % fam), s
    assert s["deployments"][0]["rolloutState"] == "COMPLETED"
    msgs = messages(describe(cp, cl, "web"))
    assert any("circuit breaker" in m and "failed" in m for m in msgs), msgs
    assert any("rolling back to %s:1" % fam in m for m in msgs), msgs
    assert all(t["taskDefinitionArn"].endswith(":1") for t in tasks_of(cp, cl, "web"))


def test_circuit_breaker_without_rollback_keeps_old_tasks(fresh_cp, node):
    cp = fresh_cp.client
    cl = new_cluster(cp)
    node(cl, behave=failing("TaskFailedToStart", "CannotPullContainerError"))
    fam = unique_family("web")
    register_taskdef(cp, fam)
    create(cp, cl, "web", fam, desired=2,
           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}})
    wait_stable(cp, cl, "web", 2)
    register_taskdef(cp, fam)
    assert cp.patch(svc_path(cl, "web"), {"taskDefinition": fam + ":2"}).status == 200

    def failed():
        d = describe(cp, cl, "web")["deployments"]
        return d[0]["rolloutState"] == "FAILED" and d[0]["failedTasks"] >= 3
    wait_for(failed, timeout=30, what="the deployment FAILED")
    s = describe(cp, cl, "web")
    old = [d for d in s["deployments"] if d["status"] == "ACTIVE"][0]
    assert old["runningCount"] == 2
    time.sleep(1)
    assert describe(cp, cl, "web")["deployments"][0]["failedTasks"] == s["deployments"][0]["failedTasks"]


def test_launch_failures_back_off_with_events(fresh_cp, node):
    cp = fresh_cp.client
    cl = new_cluster(cp)
    node(cl, behave=lambda e: {"lastStatus": "STOPPED", "stopCode": "TaskFailedToStart",
                               "stoppedReason": "CannotPullContainerError"})
    fam = unique_family("web")
    register_taskdef(cp, fam)
    create(cp, cl, "web", fam, desired=1)
    time.sleep(5)
    s = describe(cp, cl, "web")
    fails = [m for m in messages(s) if "failed" in m]
    # Replaced at once, then 1 s, 2 s, 4 s apart: 4 attempts in 5 s, not dozens.
    assert 3 <= len(fails) <= 5, fails
    assert any("next launch in 0 s" in m for m in fails), fails
    assert any("next launch in 2 s" in m for m in fails), fails


def test_unplaceable_service_says_why_once(fresh_cp, node):
    cp, cl, fam, _ = make_service_cluster(fresh_cp, node, memory=100000)
    create(cp, cl, "web", fam, desired=2)
    time.sleep(1.5)
    s = describe(cp, cl, "web")
    unable = [m for m in messages(s) if "unable to place" in m]
    assert len(unable) == 1, messages(s)
    assert "MiB" in unable[0] or "memory" in unable[0], unable
    assert s["pendingCount"] == 2 and s["runningCount"] == 0


def test_daemon_follows_nodes(fresh_cp, node, agents):
    cp = fresh_cp.client
    cl = new_cluster(cp)
    a1 = node(cl)
    fam = unique_family("d")
    register_taskdef(cp, fam)
    r = cp.post(svc_path(cl), {"serviceName": "d", "taskDefinition": fam,
                               "schedulingStrategy": "DAEMON"})
    assert r.status == 201, r
    wait_stable(cp, cl, "d", 1)
    a2 = node(cl)
    wait_stable(cp, cl, "d", 2)
    on = {t["containerInstanceArn"].rsplit("/", 1)[1] for t in tasks_of(cp, cl, "d")}
    assert on == {a1.node_id, a2.node_id}
    # Draining a node removes its daemon task.
    r = cp.patch("/v1/clusters/%s/nodes/%s" % (cl, a2.node_id), {"status": "DRAINING"})
    assert r.status == 200, r
    wait_stable(cp, cl, "d", 1)
    on = {t["containerInstanceArn"].rsplit("/", 1)[1] for t in tasks_of(cp, cl, "d")}
    assert on == {a1.node_id}
    # A node that leaves (LOST) loses its task; back to ACTIVE it gets one again.
    r = cp.patch("/v1/clusters/%s/nodes/%s" % (cl, a2.node_id), {"status": "ACTIVE"})
    assert r.status == 200, r
    wait_stable(cp, cl, "d", 2)
    a2.stop()
    wait_stable(cp, cl, "d", 1, timeout=15)


def test_node_lost_tasks_are_replaced_elsewhere(fresh_cp, node):
    cp = fresh_cp.client
    cl = new_cluster(cp)
    a1, a2 = node(cl), node(cl)
    fam = unique_family("web")
    register_taskdef(cp, fam)
    create(cp, cl, "web", fam, desired=4)
    wait_stable(cp, cl, "web", 4)
    a2.stop()
    t0 = time.time()
    wait_for(lambda: stable(cp, cl, "web", 4) and all(
        t["containerInstanceArn"].endswith(a1.node_id) for t in tasks_of(cp, cl, "web")),
        timeout=15, what="tasks moved off the lost node")
    assert time.time() - t0 < 2 + 5 + 3


def test_draining_node_moves_tasks_new_first(fresh_cp, node):
    cp = fresh_cp.client
    cl = new_cluster(cp)
    a1 = node(cl, delay=0.2)
    fam = unique_family("web")
    register_taskdef(cp, fam)
    create(cp, cl, "web", fam, desired=2)
    wait_stable(cp, cl, "web", 2)
    a2 = node(cl, delay=0.2)
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            ts = tasks_of(cp, cl, "web")
            samples.append(len([t for t in ts if t["lastStatus"] == "RUNNING"]))
            time.sleep(0.02)

    th = threading.Thread(target=sample)
    th.start()
    try:
        r = cp.patch("/v1/clusters/%s/nodes/%s" % (cl, a1.node_id), {"status": "DRAINING"})
        assert r.status == 200, r
        wait_for(lambda: stable(cp, cl, "web", 2) and all(
            t["containerInstanceArn"].endswith(a2.node_id) for t in tasks_of(cp, cl, "web")),
            timeout=15, what="tasks moved to the other node")
    finally:
        stop.set()
        th.join()
    assert min(samples) >= 2, samples


def test_server_kill_mid_rollout_resumes(fresh_cp, node):
    cp = fresh_cp.client
    cl = new_cluster(cp)
    a = node(cl, delay=0.5)
    fam = unique_family("web")
    register_taskdef(cp, fam)
    create(cp, cl, "web", fam, desired=4)
    wait_stable(cp, cl, "web", 4)
    register_taskdef(cp, fam)
    assert cp.patch(svc_path(cl, "web"), {"taskDefinition": fam + ":2"}).status == 200
    time.sleep(0.2)
    fresh_cp.kill9()
    fresh_cp.start()
    cp = fresh_cp.client
    s = wait_stable(cp, cl, "web", 4, timeout=30)
    assert s["taskDefinition"].endswith(":2")
    ts = tasks_of(cp, cl, "web", "ALL")
    # No task launched twice across the restart: exactly the 4 new ones.
    assert len([t for t in ts if t["taskDefinitionArn"].endswith(":2")]) == 4, ts
    assert len(tasks_of(cp, cl, "web")) == 4
    assert a.node_id


def test_delete_needs_force_or_zero(fresh_cp, node):
    cp, cl, fam, _ = make_service_cluster(fresh_cp, node)
    create(cp, cl, "web", fam, desired=2)
    wait_stable(cp, cl, "web", 2)
    r = cp.delete(svc_path(cl, "web"))
    assert r.status == 400 and r.error_type == "InvalidParameterException", r
    r = cp.delete(svc_path(cl, "web") + "?force=true")
    assert r.status == 200 and r.json["service"]["status"] == "DRAINING", r
    wait_for(lambda: describe(cp, cl, "web")["status"] == "INACTIVE", timeout=10,
             what="service INACTIVE")
    assert tasks_of(cp, cl, "web") == []
    assert cp.get(svc_path(cl)).json["services"] == []
    r = cp.patch(svc_path(cl, "web"), {"desiredCount": 1})
    assert r.status == 400 and r.error_type == "ServiceNotActiveException", r
    # The name can be used again.
    create(cp, cl, "web", fam, desired=1)
    wait_stable(cp, cl, "web", 1)


def test_hostile_and_wrong_requests(fresh_cp, node):
    cp, cl, fam, _ = make_service_cluster(fresh_cp, node)
    create(cp, cl, "web", fam, desired=1)
    bad = [
        ({"serviceName": "web", "taskDefinition": fam, "desiredCount": 1},
         "InvalidParameterException", "not INACTIVE yet"),
        ({"serviceName": "x", "taskDefinition": "nosuch", "desiredCount": 1},
         "InvalidParameterException", "taskDefinition"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": -1},
         "InvalidParameterException", "desiredCount"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 10 ** 6},
         "InvalidParameterException", "desiredCount"),
        ({"serviceName": "x", "taskDefinition": fam},
         "InvalidParameterException", "desiredCount"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": "3"},
         "InvalidParameterException", "desiredCount"),
        ({"serviceName": "../x", "taskDefinition": fam, "desiredCount": 1},
         "InvalidParameterException", "serviceName"),
        ({"serviceName": "x" * 300, "taskDefinition": fam, "desiredCount": 1},
         "InvalidParameterException", "serviceName"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 1,
          "deploymentConfiguration": {"maximumPercent": 50}},
         "InvalidParameterException", "maximumPercent"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 1,
          "deploymentConfiguration": {"minimumHealthyPercent": 101}},
         "InvalidParameterException", "minimumHealthyPercent"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 1,
          "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": "yes"}}},
         "InvalidParameterException", "deploymentCircuitBreaker"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 1,
          "placementConstraints": [{"type": "memberOf",
                                    "expression": "attribute:x =~ a+++++++++++++++++++++++"}]},
         "InvalidParameterException", "placementConstraints"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 1,
          "placementStrategy": [{"type": "spread", "field": 7}]},
         "InvalidParameterException", "placementStrategy"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 1,
          "healthCheckGracePeriodSeconds": -5},
         "InvalidParameterException", "healthCheckGracePeriodSeconds"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 1,
          "loadBalancers": [{"containerName": "nosuch", "containerPort": 80}]},
         "InvalidParameterException", "loadBalancers"),
        ({"serviceName": "x", "taskDefinition": fam, "schedulingStrategy": "DAEMON",
          "desiredCount": 2}, "InvalidParameterException", "desiredCount"),
        ({"serviceName": "x", "taskDefinition": fam, "schedulingStrategy": "SOMETIMES"},
         "InvalidParameterException", "schedulingStrategy"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 1, "bogus": 1},
         "InvalidParameterException", "bogus"),
        ({"serviceName": "x", "taskDefinition": fam, "desiredCount": 1,
          "deploymentController": {"type": "CODE_DEPLOY"}},
         "InvalidParameterException", "deploymentController"),
    ]
    for body, kind, word in bad:
        r = cp.post(svc_path(cl), body)
        assert r.status == 400, (body, r)
        assert r.error_type == kind, (body, r)
        assert word in r.message, (body, r)
    for raw in (b"[]", b"{", b"null", b"\"x\"", b"\xff\xfe"):
        r = cp.request("POST", svc_path(cl), raw_body=raw)
        assert r.status == 400, (raw, r)
    r = cp.get(svc_path(cl, "nosuch"))
    assert r.status == 404 and r.error_type == "ServiceNotFoundException", r
    r = cp.patch(svc_path(cl, "nosuch"), {"desiredCount": 1})
    assert r.status == 404 and r.error_type == "ServiceNotFoundException", r
    r = cp.delete(svc_path(cl, "nosuch"))
    assert r.status == 404, r
    for body, word in [({"desiredCount": -2}, "desiredCount"),
                       ({"forceNewDeployment": "yes"}, "forceNewDeployment"),
                       ({"taskDefinition": "nosuch:9"}, "taskDefinition"),
                       ({"serviceName": "renamed"}, "serviceName")]:
        r = cp.patch(svc_path(cl, "web"), body)
        assert r.status == 400 and word in r.message, (body, r)
    r = cp.get("/v1/clusters/nosuch/services")
    assert r.status == 404 and r.error_type == "ClusterNotFoundException", r
    # After all that the service is as it was and the server is up.
    s = wait_stable(cp, cl, "web", 1)
    assert len(s["deployments"]) == 1
    assert len(json.dumps(s)) < 20000


def test_autoscaling_tracks_cpu_out_and_in(fresh_cp, node):
    cp, cl, fam, (a,) = make_service_cluster(fresh_cp, node, cpu=256)
    create(cp, cl, "web", fam, desired=1,
           autoScaling={"minCapacity": 1, "maxCapacity": 4, "targetCpuPercent": 50,
                        "scaleOutCooldownSeconds": 0, "scaleInCooldownSeconds": 1})
    wait_stable(cp, cl, "web", 1)
    s = describe(cp, cl, "web")
    assert s["autoScaling"]["maxCapacity"] == 4

    def burning(n):
        def check():
            a.report_usage(256, 10)     # 100% of the 256 units reserved
            return stable(cp, cl, "web", n)
        return check
    wait_for(burning(4), timeout=30, what="scaled out to the maximum")
    msgs = messages(describe(cp, cl, "web"))
    assert any("autoscaling: average CPU 100% of the reservation (target 50%)" in m
               for m in msgs), msgs

    def idle():
        a.report_usage(0, 10)
        return stable(cp, cl, "web", 1)
    wait_for(idle, timeout=30, what="scaled back in to the minimum")
    msgs = messages(describe(cp, cl, "web"))
    assert any("-> 1" in m and "autoscaling" in m for m in msgs), msgs
    # Bounds apply at once; scale-in disabled keeps the count.
    r = cp.patch(svc_path(cl, "web"), {"autoScaling": {
        "minCapacity": 2, "maxCapacity": 3, "targetCpuPercent": 50, "disableScaleIn": True,
        "scaleOutCooldownSeconds": 0}})
    assert r.status == 200, r
    wait_for(idle and (lambda: (a.report_usage(0, 10), stable(cp, cl, "web", 2))[1]),
             timeout=20, what="raised to minCapacity")
    time.sleep(1)
    a.report_usage(0, 10)
    assert stable(cp, cl, "web", 2)
    assert cp.patch(svc_path(cl, "web"), {"autoScaling": None}).status == 200
    assert "autoScaling" not in describe(cp, cl, "web")
    for bad in ({"maxCapacity": 0, "targetCpuPercent": 5}, {"minCapacity": 5, "maxCapacity": 2,
                                                           "targetCpuPercent": 5},
                {"maxCapacity": 3}, {"maxCapacity": 3, "targetCpuPercent": 500},
                {"maxCapacity": 3, "targetCpuPercent": 50, "surprise": 1}, "yes"):
        r = cp.patch(svc_path(cl, "web"), {"autoScaling": bad})
        assert r.status == 400 and "autoScaling" in r.message, (bad, r)


def run_sql(srv, script):
    """Runs SQL on the live server's database (fault injection)."""
    import sqlite3
    con = sqlite3.connect(os.path.join(srv.data_dir, "orch.db"), timeout=10)
    try:
        con.executescript(script)
        con.commit()
    finally:
        con.close()


def test_failed_pass_leaves_no_capacity_bound(fresh_cp, node):
    """A pass whose write fails after it launched tasks gives their
    capacity back: once the fault is gone the service runs."""
    cp = fresh_cp.client
    cl = new_cluster(cp)
    node(cl, memory=1024)
    fam = unique_family("web")
    register_taskdef(cp, fam, memory=128)
    run_sql(fresh_cp, "CREATE TRIGGER boom BEFORE INSERT ON service_events "
                      "WHEN NEW.message LIKE '%has started%' "
                      "BEGIN SELECT RAISE(ABORT, 'injected'); END;")
    create(cp, cl, "web", fam, desired=2)
    time.sleep(4)   # several passes fail, each after binding 2 x 128 MiB
    assert tasks_of(cp, cl, "web") == []
    run_sql(fresh_cp, "DROP TRIGGER boom;")
    wait_stable(cp, cl, "web", 2, timeout=15)
    r = cp.post("/v1/clusters/%s/tasks" % cl, {"taskDefinition": fam, "count": 6})
    assert r.status == 200 and all(t["lastStatus"] == "PENDING" for t in r.json["tasks"]), r


def test_deleting_a_service_whose_tasks_never_placed(fresh_cp, node):
    cp, cl, fam, _ = make_service_cluster(fresh_cp, node, memory=100000)
    create(cp, cl, "web", fam, desired=2)
    time.sleep(0.5)
    assert cp.delete(svc_path(cl, "web") + "?force=true").status == 200
    wait_for(lambda: describe(cp, cl, "web")["status"] == "INACTIVE", timeout=5,
             what="service INACTIVE")
    assert tasks_of(cp, cl, "web") == []


def test_failed_rollout_without_rollback_keeps_the_count(fresh_cp, node):
    """After the breaker fails a rollout (no rollback), a task of the last
    COMPLETED deployment that dies is replaced with that definition."""
    cp = fresh_cp.client
    cl = new_cluster(cp)
    a = node(cl, behave=failing("TaskFailedToStart", "CannotPullContainerError"))
    fam = unique_family("web")
    register_taskdef(cp, fam)
    create(cp, cl, "web", fam, desired=2,
           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}})
    wait_stable(cp, cl, "web", 2)
    register_taskdef(cp, fam)
    assert cp.patch(svc_path(cl, "web"), {"taskDefinition": fam + ":2"}).status == 200
    wait_for(lambda: describe(cp, cl, "web")["deployments"][0]["rolloutState"] == "FAILED",
             timeout=30, what="the deployment FAILED")
    victim = [t for t in tasks_of(cp, cl, "web") if t["taskDefinitionArn"].endswith(":1")][0]
    a.running.discard(victim["taskId"])
    a.done.add(victim["taskId"])
    a.report_status(victim["taskId"], "STOPPED", stopCode="EssentialContainerExited",
                    stoppedReason="Essential container in task exited")

    def kept():
        ts = [t for t in tasks_of(cp, cl, "web") if t["lastStatus"] == "RUNNING"]
        return len(ts) == 2 and all(t["taskDefinitionArn"].endswith(":1") for t in ts)
    wait_for(kept, timeout=15, what="the count kept with revision 1")
    assert describe(cp, cl, "web")["deployments"][0]["rolloutState"] == "FAILED"


def test_autoscaling_uses_the_service_size_not_the_reporters(fresh_cp, node):
    cp, cl, fam, (a,) = make_service_cluster(fresh_cp, node, cpu=256)
    create(cp, cl, "web", fam, desired=4,
           autoScaling={"minCapacity": 1, "maxCapacity": 20, "targetCpuPercent": 50,
                        "scaleOutCooldownSeconds": 0, "scaleInCooldownSeconds": 0})
    wait_stable(cp, cl, "web", 4)
    one = sorted(a.running)[0]
    # One of four reports 40% of a 50% target: too few reporters to scale in.
    for _ in range(3):
        a.report([{"taskId": one, "lastStatus": "RUNNING",
                   "usage": {"cpuUnits": 102.4, "memoryMiB": 1}}])
        time.sleep(1.2)
    assert describe(cp, cl, "web")["desiredCount"] == 4
    # One reports 100%: the service (4) doubles, not the reporter count (1).
    a.report([{"taskId": one, "lastStatus": "RUNNING",
               "usage": {"cpuUnits": 256, "memoryMiB": 1}}])
    wait_for(lambda: describe(cp, cl, "web")["desiredCount"] == 8, timeout=10,
             what="scaled from 4 to 8")
    # That sample was taken at 4 tasks: it does not speak for 8 (no 16, 32 ...).
    time.sleep(4)
    assert describe(cp, cl, "web")["desiredCount"] == 8


def test_request_fields_that_name_other_things(fresh_cp, node):
    cp, cl, fam, _ = make_service_cluster(fresh_cp, node)
    r = cp.post(svc_path(cl), {"serviceName": "web", "taskDefinition": fam, "desiredCount": 1,
                               "cluster": "elsewhere"})
    assert r.status == 400 and "cluster" in r.message, r
    r = cp.post(svc_path(cl), {"serviceName": "web", "taskDefinition": fam, "desiredCount": 1,
                               "deploymentConfiguration": {"alarms": {"enable": False}}})
    assert r.status == 201, r
    assert "deploymentConfiguration.alarms" in r.json["ignoredFields"], r
    r = cp.patch(svc_path(cl, "web"), {"service": "other", "desiredCount": 2})
    assert r.status == 400 and "service" in r.message, r
    arn = describe(cp, cl, "web")["serviceArn"]
    quoted = urllib.parse.quote(arn, safe="")
    assert cp.get(svc_path(cl, quoted)).status == 200
    r = cp.get(svc_path(cl, urllib.parse.quote(arn.replace(cl, "nosuch"), safe="")))
    assert r.status == 400 and r.error_type == "InvalidParameterException", r
