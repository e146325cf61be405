"""Control-plane gaps closed after the Cluster issue landed: DescribeClusters
counts computed from the tasks and nodes tables."""

from orch_test.fake_agent import new_cluster, register_taskdef, run_task, unique_family



def cluster_counts(client, cluster):
    r = client.get("/v1/clusters/" + cluster)
    assert r.status == 200, r
    c = r.json["cluster"]
    return (c["registeredContainerInstancesCount"], c["runningTasksCount"],
            c["pendingTasksCount"])


def test_describe_cluster_counts(cp_server, cp, agents):
    cluster = new_cluster(cp)
    assert cluster_counts(cp, cluster) == (0, 0, 0)
    a = agents(cp_server, cluster=cluster, memory=1024)
    agents(cp_server, cluster=cluster, memory=1024)
    fam = unique_family("counts")
    register_taskdef(cp, fam, memory=512)
    r = run_task(cp, fam, count=5, cluster=cluster)
    assert r.status == 200, r
    # Two nodes of 1024 MiB hold four 512 MiB tasks; the fifth waits
    # (PROVISIONING counts as pending, as ECS counts it until RUNNING).
    assert cluster_counts(cp, cluster) == (2, 0, 5)
    mine = [t["taskId"] for t in r.json["tasks"]
            if t.get("containerInstanceArn", "").endswith("/" + a.node_id)]
    assert mine
    a.report_status(mine[0], "RUNNING")
    assert cluster_counts(cp, cluster) == (2, 1, 4)
    r = cp.post("/v1/clusters/%s/tasks/%s/stop" % (cluster, mine[0]), {})
    assert r.status == 200, r
    a.report_status(mine[0], "STOPPED")
    counts = cluster_counts(cp, cluster)
    assert counts[0] == 2 and counts[1] == 0
