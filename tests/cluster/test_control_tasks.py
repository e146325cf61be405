"""Tasks: RunTask reaching the agent through the long poll, PENDING with a
reason and placement when capacity frees, lifecycle and stop codes,
StopTask, ListTasks, and hostile inputs."""

import threading
import time

from orch_test import api
from orch_test.fake_agent import (cluster_and_family, describe_task, new_cluster, register_taskdef,
                                  run_task, unique_family)
from orch_test.wait import wait_for


def test_runtask_shape(cp_server, cp, agents):
    cluster, fam = cluster_and_family(cp, "shape", memory=256, cpu=128)
    a = agents(cp_server, cluster=cluster)
    r = run_task(cp, fam, count=2, cluster=cluster, startedBy="me",
                 overrides={"containerOverrides": [
                     {"name": "app", "command": ["echo", "hi"],
                      "environment": [{"name": "A", "value": "1"}]}]})
    assert r.status == 200, r
    assert r.json["failures"] == []
    assert len(r.json["tasks"]) == 2
    t = r.json["tasks"][0]
    assert t["taskArn"] == api.ARN_PREFIX + "task/%s/%s" % (cluster, t["taskId"])
    assert t["clusterArn"] == api.cluster_arn(cluster)
    assert t["taskDefinitionArn"] == api.taskdef_arn(fam, 1)
    assert t["containerInstanceArn"].endswith("/%s/%s" % (cluster, a.node_id))
    assert t["lastStatus"] == "PENDING" and t["desiredStatus"] == "RUNNING"
    assert t["cpu"] == "128" and t["memory"] == "256"
    assert t["group"] == "family:" + fam
    assert t["startedBy"] == "me"
    assert t["overrides"]["containerOverrides"][0]["command"] == ["echo", "hi"]
    assert t["containers"][0]["name"] == "app"
    assert t["containers"][0]["lastStatus"] == "PENDING"
    assert isinstance(t["createdAt"], float) and t["version"] >= 1
    # Acknowledged means committed: describe sees it at once.
    d = describe_task(cp, t["taskId"], cluster)
    assert d["taskArn"] == t["taskArn"]
    # ...and so does the agent's desired set, with the definition inlined.
    entry = a.desired()[t["taskId"]]
    assert entry["desiredStatus"] == "RUNNING"
    assert entry["cluster"] == cluster
    assert entry["taskDefinition"]["taskDefinitionArn"] == api.taskdef_arn(fam, 1)
    assert entry["taskDefinition"]["containerDefinitions"][0]["name"] == "app"
    assert entry["overrides"]["containerOverrides"][0]["environment"] == [
        {"name": "A", "value": "1"}]


def _settled_index(a):
    """The node's desired-set index once it stopped moving.  Registration's
    own bump is announced after its commit, which may wait for another
    request's transaction; a long poll from an index before it would answer
    for that bump."""
    seen = []

    def settled():
        seen.append(a.poll().json["index"])
        time.sleep(0.2)
        return len(seen) > 1 and seen[-1] == seen[-2]

    wait_for(settled, what="the node's index to settle")
    return seen[-1]


def test_long_poll_answers_on_runtask_not_on_timeout(cp_server, cp, agents):
    cluster, fam = cluster_and_family(cp, "lp")
    a = agents(cp_server, cluster=cluster)
    first = a.poll(wait=0)
    assert first.status == 200 and first.json["tasks"] == []
    idx = _settled_index(a)
    result = {}

    def poll():
        start = time.monotonic()
        result["r"] = a.poll(wait=20, index=idx)
        result["elapsed"] = time.monotonic() - start

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)                        # the poll is waiting now
    assert "r" not in result, "the poll answered before anything changed"
    sent = time.monotonic()
    r = run_task(cp, fam, cluster=cluster)
    assert r.status == 200, r
    th.join(timeout=25)
    latency = time.monotonic() - sent
    got = result["r"]
    assert got.status == 200, got
    assert got.json["index"] > idx         # answered because the set changed
    assert [t["taskId"] for t in got.json["tasks"]] == [r.json["tasks"][0]["taskId"]]
    assert result["elapsed"] < 5 and latency < 2, result


def test_long_poll_times_out_with_same_index(cp_server, cp, agents):
    cluster = new_cluster(cp)
    a = agents(cp_server, cluster=cluster)
    idx = _settled_index(a)
    start = time.monotonic()
    r = a.poll(wait=1, index=idx)
    assert r.status == 200 and r.json["index"] == idx
    assert 0.9 <= time.monotonic() - start < 5
    # An index from the future (a server restart) answers at once.
    start = time.monotonic()
    r = a.poll(wait=10, index=idx + 10 ** 9)
    assert r.status == 200 and time.monotonic() - start < 2


def test_lifecycle_and_essential_exit(cp, placed):
    cluster, a, fam, tid = placed("life")
    a.report_status(tid, "PENDING")
    assert describe_task(cp, tid, cluster)["lastStatus"] == "PENDING"
    a.report_status(tid, "RUNNING", containers=[
        {"name": "app", "lastStatus": "RUNNING", "runtimeId": "orch-%s-0" % tid}])
    t = describe_task(cp, tid, cluster)
    assert t["lastStatus"] == "RUNNING" and "startedAt" in t
    assert t["containers"][0]["lastStatus"] == "RUNNING"
    # Never backwards.
    a.report_status(tid, "PENDING")
    assert describe_task(cp, tid, cluster)["lastStatus"] == "RUNNING"
    a.report_status(tid, "STOPPED", stopCode="EssentialContainerExited",
                    stoppedReason="Essential container in task exited",
                    containers=[{"name": "app", "lastStatus": "STOPPED", "exitCode": 3,
                                 "reason": "exited"}])
    t = describe_task(cp, tid, cluster)
    assert t["lastStatus"] == "STOPPED" and t["desiredStatus"] == "STOPPED"
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"
    assert t["containers"][0]["exitCode"] == 3
    assert "stoppedAt" in t
    # STOPPED is final.
    a.report_status(tid, "RUNNING")
    assert describe_task(cp, tid, cluster)["lastStatus"] == "STOPPED"
    # Reported STOPPED: it leaves the node's desired set.
    assert tid not in a.desired()


def test_failed_to_start_default_stop_code(cp, placed):
    cluster, a, fam, tid = placed("fail")
    a.report_status(tid, "STOPPED", stoppedReason="CannotPullContainerError: nope")
    t = describe_task(cp, tid, cluster)
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["stoppedReason"].startswith("CannotPullContainerError")


def test_stop_task(cp, placed):
    cluster, a, fam, tid = placed("stop")
    a.report_status(tid, "RUNNING")
    idx = a.poll().json["index"]
    r = cp.post("/v1/clusters/%s/tasks/%s/stop" % (cluster, tid), {"reason": "bye"})
    assert r.status == 200, r
    t = r.json["task"]
    assert t["desiredStatus"] == "STOPPED" and t["lastStatus"] == "STOPPING"
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "bye"
    assert "stoppingAt" in t
    got = a.poll(wait=10, index=idx)
    assert got.json["index"] > idx
    entry = {x["taskId"]: x for x in got.json["tasks"]}[tid]
    assert entry["desiredStatus"] == "STOPPED" and entry["stopReason"] == "bye"
    a.report_status(tid, "STOPPED", stopCode="EssentialContainerExited")
    t = describe_task(cp, tid, cluster)
    assert t["lastStatus"] == "STOPPED"
    assert t["stopCode"] == "UserInitiated"      # the server's reason wins
    # Stopping again is harmless; by ARN too.
    r = cp.post("/v1/clusters/%s/tasks/%s/stop" % (cluster, api.quote(t["taskArn"])))
    assert r.status == 200 and r.json["task"]["lastStatus"] == "STOPPED"


def test_pending_then_placed_when_task_stops(cp_server, cp, agents):
    cluster, fam = cluster_and_family(cp, "cap", memory=400)
    a = agents(cp_server, cluster=cluster, memory=512)
    first = run_task(cp, fam, cluster=cluster).json["tasks"][0]
    assert first["lastStatus"] == "PENDING"
    second = run_task(cp, fam, cluster=cluster).json["tasks"][0]
    assert second["lastStatus"] == "PROVISIONING"
    assert second["pendingReason"]
    assert "containerInstanceArn" not in second
    assert describe_task(cp, second["taskId"], cluster)["pendingReason"]
    assert second["taskId"] not in a.desired()
    idx = a.poll().json["index"]
    a.report_status(first["taskId"], "STOPPED", stopCode="EssentialContainerExited")
    # Capacity freed: the waiting task is placed and the agent told, at once.
    got = a.poll(wait=10, index=idx)
    assert second["taskId"] in {t["taskId"] for t in got.json["tasks"]}, got
    t = describe_task(cp, second["taskId"], cluster)
    assert t["lastStatus"] == "PENDING" and "pendingReason" not in t


def test_pending_then_placed_when_node_joins(cp_server, cp, agents):
    cluster, fam = cluster_and_family(cp, "join", memory=300)
    t = run_task(cp, fam, count=3, cluster=cluster).json["tasks"]
    assert all(x["lastStatus"] == "PROVISIONING" for x in t)
    assert "no ACTIVE node" in t[0]["pendingReason"] or t[0]["pendingReason"]
    a = agents(cp_server, cluster=cluster, memory=700)   # room for two
    wait_for(lambda: len(a.desired()) == 2, timeout=5, what="two placed")
    left = [x for x in t if x["taskId"] not in a.desired()]
    assert describe_task(cp, left[0]["taskId"], cluster)["lastStatus"] == "PROVISIONING"
    b = agents(cp_server, cluster=cluster, memory=700)
    wait_for(lambda: len(b.desired()) == 1, timeout=5, what="third placed")


def test_stop_unplaced_task(cp_server, cp):
    cluster, fam = cluster_and_family(cp, "unpl")
    tid = run_task(cp, fam, cluster=cluster).json["tasks"][0]["taskId"]
    r = cp.post("/v1/clusters/%s/tasks/%s/stop" % (cluster, tid))
    assert r.status == 200, r
    t = r.json["task"]
    assert t["lastStatus"] == "STOPPED" and t["stopCode"] == "UserInitiated"


def test_host_port_conflict_keeps_task_waiting(cp_server, cp, agents):
    cluster, fam = cluster_and_family(cp, "port", host_port=18080)
    agents(cp_server, cluster=cluster)
    t1, t2 = run_task(cp, fam, count=2, cluster=cluster).json["tasks"]
    assert t1["lastStatus"] == "PENDING"
    assert t2["lastStatus"] == "PROVISIONING" and t2["pendingReason"]
    node = cp.get("/v1/clusters/%s/nodes" % cluster).json["containerInstances"][0]
    ports = {x["name"]: x for x in node["remainingResources"]}["PORTS"]
    assert "18080" in ports["stringSetValue"]


def test_list_tasks_filters_and_pages(cp_server, cp, agents):
    cluster = new_cluster(cp)
    a = agents(cp_server, cluster=cluster, memory=100000)
    f1, f2 = unique_family("la"), unique_family("lb")
    register_taskdef(cp, f1)
    register_taskdef(cp, f2)
    ids1 = [t["taskId"] for t in run_task(cp, f1, count=5, cluster=cluster,
                                         startedBy="alice").json["tasks"]]
    ids2 = [t["taskId"] for t in run_task(cp, f2, count=2, cluster=cluster).json["tasks"]]
    base = "/v1/clusters/%s/tasks" % cluster

    def all_ids(query):
        out, token = [], None
        for _ in range(100):
            parts = ["maxResults=2"] + ([query] if query else []) + \
                (["nextToken=" + token] if token else [])
            r = cp.get(base + "?" + "&".join(parts))
            assert r.status == 200, r
            assert len(r.json["taskArns"]) == len(r.json["tasks"]) <= 2
            out += [t["taskId"] for t in r.json["tasks"]]
            token = r.json.get("nextToken")
            if not token:
                return out
        raise AssertionError("pagination does not end")

    assert all_ids("") == ids1 + ids2
    assert all_ids("family=" + f1) == ids1
    assert all_ids("startedBy=alice") == ids1
    assert all_ids("node=" + a.node_id) == ids1 + ids2
    assert all_ids("node=" + "0" * 32) == []
    cp.post(base + "/%s/stop" % ids2[0])
    assert all_ids("desiredStatus=STOPPED") == [ids2[0]]
    assert all_ids("") == ids1 + ids2[1:]
    assert all_ids("desiredStatus=ALL") == ids1 + ids2


def test_runtask_hostile(cp_server, cp):
    cluster, fam = cluster_and_family(cp, "host")
    base = "/v1/clusters/%s/tasks" % cluster
    bad = [
        {},
        {"taskDefinition": 5},
        {"taskDefinition": fam, "count": 0},
        {"taskDefinition": fam, "count": 11},
        {"taskDefinition": fam, "count": "2"},
        {"taskDefinition": fam, "surprise": 1},
        {"taskDefinition": fam, "overrides": []},
        {"taskDefinition": fam, "overrides": {"containerOverrides": [{"name": "nope"}]}},
        {"taskDefinition": fam, "overrides": {"containerOverrides": [{"name": "app", "command": "ls"}]}},
        {"taskDefinition": fam, "overrides": {"containerOverrides": [{"name": "app", "environment": [{"name": 1}]}]}},
        {"taskDefinition": fam, "overrides": {"memory": -5}},
        {"taskDefinition": fam, "startedBy": 7},
        {"taskDefinition": fam, "group": ""},
        {"taskDefinition": fam, "placementConstraints": {"type": "x"}},
        {"taskDefinition": fam, "placementStrategy": "binpack"},
        {"taskDefinition": "no-such-family-%s" % fam},
        {"taskDefinition": fam + ":99"},
        {"taskDefinition": "arn:aws:ecs:x"},
    ]
    for body in bad:
        r = cp.post(base, body)
        assert 400 <= r.status < 500, (body, r)
        assert r.message, r
    for raw in ["", "{", "[1]", "null", '{"taskDefinition": "a", "taskDefinition": "b"}']:
        assert cp.post(base, raw_body=raw).status == 400, raw
    assert cp.post("/v1/clusters/nope/tasks", {"taskDefinition": fam}).status == 404
    assert cp.get(base + "?desiredStatus=WHAT").status == 400
    assert cp.get(base + "?maxResults=1000").status == 400
    assert cp.get(base + "?nextToken=xyz").status == 400
    assert cp.get(base + "?node=abc").status == 400
    assert cp.get(base + "/" + "0" * 32).status == 404
    assert cp.get(base + "/not-an-id").status == 400
    assert cp.post(base + "/" + "0" * 32 + "/stop").status == 404
    assert cp.post(base + "/" + "0" * 32 + "/stop", {"reason": 5}).status == 400
    assert cp.post(base + "/" + "0" * 32 + "/stop", raw_body="{").status == 400
    # Nothing was created by any of it.
    r = cp.get(base + "?desiredStatus=ALL")
    assert r.status == 200 and r.json["taskArns"] == []
    assert cp.get("/healthz").status == 200


def test_agent_status_hostile(cp_server, cp, agents):
    cluster = new_cluster(cp)
    a = agents(cp_server, cluster=cluster)
    b = agents(cp_server, cluster=cluster)
    fam = unique_family("ash")
    register_taskdef(cp, fam)
    tid = run_task(cp, fam, cluster=cluster).json["tasks"][0]["taskId"]
    owner, other = (a, b) if tid in a.desired() else (b, a)
    bad = [
        {"tasks": {}},
        {"tasks": [1]},
        {"tasks": [{"taskId": "x", "lastStatus": "RUNNING"}]},
        {"tasks": [{"taskId": tid, "lastStatus": "DANCING"}]},
        {"tasks": [{"taskId": tid, "lastStatus": "RUNNING", "containers": {}}]},
        {"tasks": [{"taskId": tid, "lastStatus": "RUNNING", "containers": [{"exitCode": 1}]}]},
        {"tasks": [{"taskId": tid, "lastStatus": "RUNNING",
                    "containers": [{"name": "app", "exitCode": "x"}]}]},
        {"tasks": [{"taskId": tid, "lastStatus": "RUNNING", "startedAt": "yesterday"}]},
        {"bogus": 1},
    ]
    for body in bad:
        r = owner.client.post("/v1/agent/status", body)
        assert r.status == 400, (body, r)
    assert owner.client.post("/v1/agent/status", raw_body="{").status == 400
    for q in ["index=-1", "index=x", "wait=301", "wait=-1"]:
        assert owner.client.get("/v1/agent/assignments?" + q).status == 400, q
    # Another node's report about this task changes nothing.
    assert other.report([{"taskId": tid, "lastStatus": "STOPPED"}]).status == 200
    assert describe_task(cp, tid, cluster)["lastStatus"] == "PENDING"
    # An unknown task is ignored.
    assert owner.report([{"taskId": "f" * 32, "lastStatus": "RUNNING"}]).status == 200
    assert cp.get("/healthz").status == 200


def test_cluster_with_tasks_cannot_be_deleted(cp_server, cp):
    cluster, fam = cluster_and_family(cp, "del")
    run_task(cp, fam, cluster=cluster)
    r = cp.delete("/v1/clusters/" + cluster)
    assert r.status == 409 and r.error_type == "ClusterContainsTasksException", r


def test_constraints_and_strategy_reach_the_scheduler(cp_server, cp, agents):
    cluster = new_cluster(cp)
    a = agents(cp_server, cluster=cluster, attributes={"os": "linux", "zone": "a"})
    b = agents(cp_server, cluster=cluster, attributes={"os": "linux", "zone": "b"})
    fam = unique_family("pc")
    register_taskdef(cp, fam)
    r = run_task(cp, fam, count=3, cluster=cluster, placementConstraints=[
        {"type": "memberOf", "expression": "attribute:zone == b"}])
    assert r.status == 200, r
    assert {t["containerInstanceArn"].rsplit("/", 1)[1] for t in r.json["tasks"]} == {b.node_id}
    r = run_task(cp, fam, count=3, cluster=cluster, group="g1",
                 placementConstraints=[{"type": "distinctInstance"}])
    placed = [t for t in r.json["tasks"] if t["lastStatus"] == "PENDING"]
    waiting = [t for t in r.json["tasks"] if t["lastStatus"] == "PROVISIONING"]
    assert len(placed) == 2 and len(waiting) == 1 and waiting[0]["pendingReason"]
    assert {t["containerInstanceArn"] for t in placed} == {
        t["containerInstanceArn"] for t in placed}
    assert len({t["containerInstanceArn"] for t in placed}) == 2
    r = run_task(cp, fam, count=1, cluster=cluster, placementConstraints=[
        {"type": "memberOf", "expression": "attribute:zone === b"}])
    assert r.status == 400 and "placementConstraints" in r.message, r
    r = run_task(cp, fam, count=1, cluster=cluster, placementStrategy=[
        {"type": "binpack", "field": "disk"}])
    assert r.status == 400 and "placementStrategy" in r.message, r
    assert a.node_id


def test_overrides_must_fit_the_task_memory(cp_server, cp):
    cluster = new_cluster(cp)
    fam = unique_family("fit")
    r = cp.post("/v1/task-definitions", {
        "family": fam, "memory": "256",
        "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 128}]})
    assert r.status == 201, r
    too_big = {"containerOverrides": [{"name": "app", "memory": 512}]}
    r = run_task(cp, fam, cluster=cluster, overrides=too_big)
    assert r.status == 400, r
    assert "container 'app' memory 512 MiB exceeds the task memory of 256 MiB" in r.json["message"]
    # A smaller task size than the container's limit: refused the same way.
    r = run_task(cp, fam, cluster=cluster, overrides={"memory": "64"})
    assert r.status == 400, r
    assert "exceeds the task memory of 64 MiB" in r.json["message"]
    # Raising both together fits.
    both = {"memory": "1024", "containerOverrides": [{"name": "app", "memory": 512}]}
    r = run_task(cp, fam, cluster=cluster, overrides=both)
    assert r.status == 200, r
    assert r.json["tasks"][0]["memory"] == "1024"
    assert run_task(cp, fam, cluster=cluster).status == 200
