"""Nodes: joining with the join secret, credentials, list/describe shapes,
drain and activate, deregistration, and hostile inputs to these endpoints."""

from orch_test import api
from orch_test.fake_agent import (FakeAgent, cluster_and_family, describe_task, join_secret,
                                  new_cluster, register_taskdef, run_task, unique_family)
from orch_test.wait import wait_for


def test_register_with_join_secret(cp_server, cp):
    cluster = new_cluster(cp)
    a = FakeAgent(cp_server, unique_family("w"), cpu=2048, memory=3900,
                  attributes={"os": "linux", "arch": "amd64", "zone": "a"},
                  cluster=cluster)
    r = a.register()
    assert r.status == 201, r
    node = r.json["node"]
    assert len(a.credential) == 64 and all(c in "0123456789abcdef" for c in a.credential)
    assert len(node["nodeId"]) == 32
    assert node["containerInstanceArn"] == api.ARN_PREFIX + \
        "container-instance/%s/%s" % (cluster, node["nodeId"])
    assert node["status"] == "ACTIVE"
    assert node["agentConnected"] is True
    reg = {x["name"]: x for x in node["registeredResources"]}
    assert reg["CPU"] == {"name": "CPU", "type": "INTEGER", "integerValue": 2048,
                          "doubleValue": 0.0, "longValue": 0}
    assert reg["MEMORY"]["integerValue"] == 3900
    assert reg["PORTS"]["type"] == "STRINGSET"
    attrs = {x["name"]: x["value"] for x in node["attributes"]}
    assert attrs == {"os": "linux", "arch": "amd64", "zone": "a"}
    assert node["runningTasksCount"] == 0 and node["pendingTasksCount"] == 0
    assert isinstance(node["registeredAt"], float)


def test_whole_join_token_is_accepted_too(cp_server, cp):
    with open(cp_server.data_dir + "/join-token") as f:
        token = f.read().strip()
    a = FakeAgent(cp_server, unique_family("w"))
    assert a.register(secret=token).status == 201


def test_bad_join_secret_registers_nothing(cp_server, cp):
    cluster = new_cluster(cp)
    name = unique_family("bad")
    for secret in ["0" * 64, "", "K10" + "0" * 64 + "::" + "1" * 64,
                   api.Client(cp_server.port, None).token or "x",
                   cp_server.token]:           # the admin token is not a join secret
        a = FakeAgent(cp_server, name, cluster=cluster)
        r = a.register(secret=secret)
        assert r.status == 401, (secret, r)
        assert r.error_type == "AccessDeniedException"
    r = api.Client(cp_server.port, None).post(
        "/v1/agent/register", FakeAgent(cp_server, name).register_body())
    assert r.status == 401
    r = cp.get("/v1/clusters/%s/nodes" % cluster)
    assert r.status == 200 and r.json["containerInstances"] == []


def test_reregister_keeps_id_and_revokes_old_credential(cp_server, cp):
    name = unique_family("w")
    a = FakeAgent(cp_server, name)
    assert a.register().status == 201
    first_id, old = a.node_id, a.credential
    assert a.report().status == 200
    r = a.register(body=dict(a.register_body(), credential=old))
    assert r.status == 200, r             # known name, proven: not created again
    assert a.node_id == first_id
    assert a.credential != old
    assert a.report().status == 200
    r = api.Client(cp_server.port, old).post("/v1/agent/status", {"tasks": []})
    assert r.status == 401, r
    r = api.Client(cp_server.port, old).get("/v1/agent/assignments?index=0&wait=0")
    assert r.status == 401, r


def test_agent_endpoints_refuse_admin_token_and_garbage(cp_server, cp):
    for token in [cp_server.token, None, "", "zz", "0" * 64, "Z" * 64]:
        c = api.Client(cp_server.port, token)
        assert c.get("/v1/agent/assignments?index=0&wait=0").status == 401
        assert c.post("/v1/agent/status", {"tasks": []}).status == 401
    # A node credential is not an admin token either.
    a = FakeAgent(cp_server, unique_family("w"))
    assert a.register().status == 201
    assert api.Client(cp_server.port, a.credential).get("/v1/clusters").status == 401


def test_list_and_describe(cp_server, cp, agents):
    cluster = new_cluster(cp)
    made = [agents(cp_server, cluster=cluster) for _ in range(3)]
    r = cp.get("/v1/clusters/%s/nodes?maxResults=2" % cluster)
    assert r.status == 200, r
    assert len(r.json["containerInstanceArns"]) == 2
    assert "nextToken" in r.json
    r2 = cp.get("/v1/clusters/%s/nodes?maxResults=2&nextToken=%s"
                % (cluster, r.json["nextToken"]))
    assert r2.status == 200 and len(r2.json["containerInstances"]) == 1
    assert "nextToken" not in r2.json
    ids = {n["nodeId"] for n in r.json["containerInstances"] + r2.json["containerInstances"]}
    assert ids == {a.node_id for a in made}
    r = cp.get("/v1/clusters/%s/nodes/%s" % (cluster, made[0].node_id))
    assert r.status == 200
    ci = r.json["containerInstance"]
    assert ci["nodeName"] == made[0].name
    # by ARN too
    r = cp.get("/v1/clusters/%s/nodes/%s" % (cluster, api.quote(ci["containerInstanceArn"])))
    assert r.status == 200 and r.json["containerInstance"]["nodeId"] == made[0].node_id
    # another cluster does not see it
    assert cp.get("/v1/clusters/default/nodes/%s" % made[0].node_id).status == 404
    assert cp.get("/v1/clusters/%s/nodes?status=DRAINING" % cluster).json[
        "containerInstances"] == []


def test_drain_and_activate(cp_server, cp, agents):
    cluster, fam = cluster_and_family(cp, "drain", memory=256)
    a = agents(cp_server, cluster=cluster, memory=1024)
    path = "/v1/clusters/%s/nodes/%s" % (cluster, a.node_id)
    r = cp.request("PATCH", path, {"status": "DRAINING"})
    assert r.status == 200, r
    assert r.json["containerInstance"]["status"] == "DRAINING"
    assert a.poll().json["nodeStatus"] == "DRAINING"
    # Nothing new is placed on a draining node.
    r = run_task(cp, fam, cluster=cluster)
    assert r.status == 200, r
    task = r.json["tasks"][0]
    assert task["lastStatus"] == "PROVISIONING"
    assert "DRAINING" in task["pendingReason"] or "ACTIVE" in task["pendingReason"]
    # Activating it places the waiting task at once.
    r = cp.request("PATCH", path, {"status": "ACTIVE"})
    assert r.status == 200 and r.json["containerInstance"]["status"] == "ACTIVE"
    wait_for(lambda: describe_task(cp, task["taskId"], cluster)["lastStatus"] == "PENDING",
             timeout=5, what="placement after activation")
    assert task["taskId"] in a.desired()


def test_patch_node_hostile(cp_server, cp, agents):
    cluster = new_cluster(cp)
    a = agents(cp_server, cluster=cluster)
    path = "/v1/clusters/%s/nodes/%s" % (cluster, a.node_id)
    for body in [{"status": "LOST"}, {"status": 1}, {}, {"status": "ACTIVE", "x": 1},
                 {"status": "INACTIVE"}]:
        r = cp.request("PATCH", path, body)
        assert r.status == 400, (body, r)
    assert cp.request("PATCH", path, raw_body="{nope").status == 400
    assert cp.request("PATCH", path, raw_body="[]").status == 400
    assert cp.request("PATCH", "/v1/clusters/%s/nodes/%s" % (cluster, "0" * 32),
                      {"status": "DRAINING"}).status == 404
    assert cp.request("PATCH", "/v1/clusters/%s/nodes/xyz" % cluster,
                      {"status": "DRAINING"}).status == 400
    assert cp.request("PATCH", "/v1/clusters/nope/nodes/%s" % a.node_id,
                      {"status": "DRAINING"}).status == 404
    assert cp.get("/v1/clusters/%s/nodes?status=BOGUS" % cluster).status == 400
    assert cp.get("/v1/clusters/%s/nodes?maxResults=0" % cluster).status == 400
    assert cp.get("/v1/clusters/%s/nodes?nextToken=zz" % cluster).status == 400
    assert cp.get("/healthz").status == 200


def test_register_hostile(cp_server, cp):
    secret = join_secret(cp_server)
    c = api.Client(cp_server.port, secret)
    good = FakeAgent(cp_server, unique_family("h")).register_body()
    bad = [
        {},
        dict(good, nodeName=""),
        dict(good, nodeName="a/b"),
        dict(good, nodeName=7),
        dict(good, resources={"cpu": -1, "memory": 10}),
        dict(good, resources={"cpu": "2", "memory": 10}),
        dict(good, resources=[]),
        dict(good, attributes={"k": 1}),
        dict(good, attributes=["k"]),
        dict(good, cluster="no such/cluster"),
        dict(good, surprise=True),
    ]
    for body in bad:
        r = c.post("/v1/agent/register", body)
        assert 400 <= r.status < 500, (body, r)
    r = c.post("/v1/agent/register", dict(good, cluster="nosuchcluster"))
    assert r.status == 404 and r.error_type == "ClusterNotFoundException"
    assert c.post("/v1/agent/register", raw_body="{").status == 400
    assert c.post("/v1/agent/register", raw_body="").status == 400
    assert cp.get("/healthz").status == 200


def test_deregister(cp, placed):
    cluster, a, _, tid = placed("dereg")
    a.report_status(tid, "RUNNING")
    path = "/v1/clusters/%s/nodes/%s" % (cluster, a.node_id)
    r = cp.delete(path)
    assert r.status == 409, r
    r = cp.delete(path + "?force=true")
    assert r.status == 200, r
    assert r.json["containerInstance"]["status"] == "INACTIVE"
    a.stop_heartbeats()
    assert a.report().status == 401             # credential revoked
    t = describe_task(cp, tid, cluster)
    assert t["lastStatus"] == "STOPPED" and t["desiredStatus"] == "STOPPED"
    assert cp.get("/v1/clusters/%s/nodes" % cluster).json["containerInstances"] == []
    assert len(cp.get("/v1/clusters/%s/nodes?status=INACTIVE" % cluster).json[
        "containerInstances"]) == 1


def test_reregister_into_another_cluster_with_tasks_is_refused(cp_server, cp, agents):
    c1, c2 = new_cluster(cp), new_cluster(cp)
    a = agents(cp_server, cluster=c1)
    fam = unique_family("move")
    register_taskdef(cp, fam)
    assert run_task(cp, fam, cluster=c1).status == 200
    moved = FakeAgent(cp_server, a.name, cluster=c2)
    r = moved.register(body=dict(moved.register_body(), credential=a.credential))
    assert r.status == 409 and "tasks" in r.message, r
    assert a.report().status == 200          # the old credential still works
    empty = agents(cp_server, cluster=c1)
    again = FakeAgent(cp_server, empty.name, cluster=c2)
    r = again.register(body=dict(again.register_body(), credential=empty.credential))
    assert r.status == 200, r                 # no tasks: it may move
    assert again.node_id == empty.node_id
