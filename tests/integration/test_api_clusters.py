"""Clusters over the REST API, plus the two service endpoints /healthz and
/v1/info.

Mirrors ECS's CreateCluster (idempotent), ListClusters, DescribeClusters and
DeleteCluster; `default` always exists and cannot be deleted; a cluster that
still has tasks or services cannot be deleted either.
"""

import re

import pytest

from orch_test import api, db

CLUSTER_COUNT_FIELDS = ("registeredContainerInstancesCount",
                        "runningTasksCount", "pendingTasksCount",
                        "activeServicesCount")


@pytest.fixture
def cluster_name(family):
    return "c-" + family


def assert_cluster_shape(cluster, name, status="ACTIVE"):
    assert cluster["clusterName"] == name
    assert cluster["clusterArn"] == api.cluster_arn(name)
    assert cluster["status"] == status
    for field in CLUSTER_COUNT_FIELDS:
        assert isinstance(cluster[field], int), field
        assert cluster[field] >= 0, field


# --- /healthz and /v1/info ---------------------------------------------------

def test_healthz_answers_ok_without_a_token(client):
    r = client.get("/healthz", token=None)
    assert r.status == 200
    assert r.json == {"status": "ok"}


def test_healthz_answers_ok_with_a_token_too(client):
    r = client.get("/healthz")
    assert r.status == 200
    assert r.json["status"] == "ok"


def test_info_reports_version_and_the_five_libraries(client):
    r = client.get("/v1/info")
    assert r.status == 200, r
    info = r.json
    assert isinstance(info["version"], str) and info["version"]
    for lib in ("sqlite", "libevent", "jansson", "libcurl", "openssl"):
        assert isinstance(info["libraries"][lib], str), lib
        assert re.search(r"\d", info["libraries"][lib]), (lib, info)


def test_info_lists_ignored_task_definition_fields(client):
    info = client.get("/v1/info").json
    ignored = info["ignoredTaskDefinitionFields"]
    assert isinstance(ignored, list)
    assert all(isinstance(f, str) and f for f in ignored)
    assert "taskRoleArn" in ignored


def test_info_counts_follow_clusters_and_task_definitions(fresh_server):
    c = fresh_server.client
    counts = api.three_counts(c)
    assert counts == {"clusters": 1, "taskDefinitions": 0,
                      "taskDefinitionFamilies": 0}

    for _ in range(3):
        assert c.register(api.minimal_taskdef("alpha")).status == 201
    assert c.register(api.minimal_taskdef("beta")).status == 201
    assert c.deregister("alpha:2").status == 200
    assert c.post("/v1/clusters", {"clusterName": "extra"}).status == 201

    counts = api.three_counts(c)
    # Every revision counts, ACTIVE or INACTIVE.
    assert counts == {"clusters": 2, "taskDefinitions": 4,
                      "taskDefinitionFamilies": 2}

    assert c.delete("/v1/clusters/extra").status == 200
    assert c.get("/v1/info").json["counts"]["clusters"] == 1


# --- create ------------------------------------------------------------------

def test_default_cluster_exists_from_the_start(client):
    r = client.get("/v1/clusters/default")
    assert r.status == 200, r
    assert_cluster_shape(r.json["cluster"], "default")


def test_create_cluster_answers_201_with_the_ecs_shape(client, cluster_name):
    r = client.post("/v1/clusters", {"clusterName": cluster_name})
    assert r.status == 201, r
    cluster = r.json["cluster"]
    assert_cluster_shape(cluster, cluster_name)
    for field in CLUSTER_COUNT_FIELDS:
        assert cluster[field] == 0, field


def test_create_existing_cluster_is_idempotent(client, cluster_name):
    first = client.post("/v1/clusters", {"clusterName": cluster_name})
    assert first.status == 201, first
    again = client.post("/v1/clusters", {"clusterName": cluster_name})
    assert again.status == 200, again
    assert again.json["cluster"] == first.json["cluster"]
    arns = client.get("/v1/clusters").json["clusterArns"]
    assert arns.count(api.cluster_arn(cluster_name)) == 1


def test_create_default_cluster_again_is_idempotent(client):
    r = client.post("/v1/clusters", {"clusterName": "default"})
    assert r.status == 200, r
    assert_cluster_shape(r.json["cluster"], "default")


def test_create_cluster_without_a_name_is_400(client):
    r = client.post("/v1/clusters", {})
    assert r.status == 400, r
    assert r.error_type.endswith("Exception"), r
    assert "clusterName" in r.message


@pytest.mark.parametrize("bad_name", [
    "",
    "has space",
    "dot.ted",
    "slash/ed",
    "colon:ed",
    "x" * 256,
    "ünïcode",
    "tab\tbed",
    "../etc",
    "percent%2F",
], ids=["empty", "space", "dot", "slash", "colon", "256-chars", "unicode",
        "tab", "dotdot", "percent"])
def test_create_cluster_with_an_invalid_name_is_400_naming_the_field(
        client, bad_name):
    r = client.post("/v1/clusters", {"clusterName": bad_name})
    assert r.status == 400, r
    assert r.json["__type"].endswith("Exception"), r
    assert r.message.startswith("clusterName:"), r.message
    # ...and nothing was created.
    assert api.cluster_arn(bad_name) not in \
        client.get("/v1/clusters").json["clusterArns"]


@pytest.mark.parametrize("bad_value", [42, None, True, ["a"], {"a": 1}],
                         ids=["number", "null", "bool", "array", "object"])
def test_create_cluster_with_a_non_string_name_is_400(client, bad_value):
    r = client.post("/v1/clusters", {"clusterName": bad_value})
    assert r.status == 400, r
    assert r.message.startswith("clusterName"), r.message


def test_create_cluster_with_the_longest_valid_name(client):
    name = "L" * 254 + "_"
    r = client.post("/v1/clusters", {"clusterName": name})
    assert r.status == 201, r
    assert client.get("/v1/clusters/" + name).json["cluster"]["clusterName"] \
        == name


def test_create_cluster_with_letters_digits_dash_underscore(client):
    for name in ("a", "A-1_b", "0", "_-_", "x9-Y8_z7"):
        r = client.post("/v1/clusters", {"clusterName": name})
        assert r.status in (200, 201), (name, r)
        assert_cluster_shape(r.json["cluster"], name)


# --- list --------------------------------------------------------------------

def test_list_clusters_returns_arns_and_clusters(client, cluster_name):
    client.post("/v1/clusters", {"clusterName": cluster_name})
    r = client.get("/v1/clusters")
    assert r.status == 200, r
    arns = r.json["clusterArns"]
    clusters = r.json["clusters"]
    assert api.cluster_arn("default") in arns
    assert api.cluster_arn(cluster_name) in arns
    assert [c["clusterArn"] for c in clusters] == arns
    assert len(set(arns)) == len(arns)


def test_list_clusters_paginates_without_gaps_or_duplicates(fresh_server):
    c = fresh_server.client
    names = ["p%02d" % i for i in range(11)]
    for n in names:
        assert c.post("/v1/clusters", {"clusterName": n}).status == 201
    seen, token, pages = [], None, 0
    while True:
        path = "/v1/clusters?maxResults=3"
        if token:
            path += "&nextToken=" + api.quote(token)
        r = c.get(path)
        assert r.status == 200, r
        pages += 1
        assert len(r.json["clusterArns"]) <= 3
        assert [x["clusterArn"] for x in r.json["clusters"]] == \
            r.json["clusterArns"]
        seen.extend(r.json["clusterArns"])
        token = r.json.get("nextToken")
        if not token:
            break
        assert pages < 50
    assert pages == 4  # 12 clusters, 3 per page
    assert sorted(seen) == sorted(api.cluster_arn(n)
                                  for n in names + ["default"])
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize("query,param", [
    ("maxResults=0", "maxResults"),
    ("maxResults=101", "maxResults"),
    ("maxResults=abc", "maxResults"),
    ("maxResults=-5", "maxResults"),
    ("nextToken=%21%21garbage%21%21", "nextToken"),
])
def test_list_clusters_with_bad_parameters_is_400(client, query, param):
    r = client.get("/v1/clusters?" + query)
    assert r.status == 400, r
    assert param in r.message, r.message


# --- describe ----------------------------------------------------------------

def test_describe_cluster_returns_it(client, cluster_name):
    client.post("/v1/clusters", {"clusterName": cluster_name})
    r = client.get("/v1/clusters/" + cluster_name)
    assert r.status == 200, r
    assert_cluster_shape(r.json["cluster"], cluster_name)


def test_describe_unknown_cluster_is_404(client):
    r = client.get("/v1/clusters/no-such-cluster")
    assert r.status == 404, r
    assert r.error_type == "ClusterNotFoundException", r
    assert r.message


def test_describe_cluster_names_are_case_sensitive(client, cluster_name):
    client.post("/v1/clusters", {"clusterName": cluster_name.lower()})
    r = client.get("/v1/clusters/" + cluster_name.upper())
    assert r.status == 404, r


# --- delete ------------------------------------------------------------------

def test_delete_cluster_answers_inactive_and_then_it_is_gone(
        client, cluster_name):
    client.post("/v1/clusters", {"clusterName": cluster_name})
    r = client.delete("/v1/clusters/" + cluster_name)
    assert r.status == 200, r
    assert_cluster_shape(r.json["cluster"], cluster_name, status="INACTIVE")
    assert client.get("/v1/clusters/" + cluster_name).status == 404
    assert api.cluster_arn(cluster_name) not in \
        client.get("/v1/clusters").json["clusterArns"]


def test_delete_unknown_cluster_is_404(client):
    r = client.delete("/v1/clusters/never-was")
    assert r.status == 404, r
    assert r.error_type == "ClusterNotFoundException", r


def test_delete_cluster_twice_is_404_the_second_time(client, cluster_name):
    client.post("/v1/clusters", {"clusterName": cluster_name})
    assert client.delete("/v1/clusters/" + cluster_name).status == 200
    r = client.delete("/v1/clusters/" + cluster_name)
    assert r.status == 404, r


def test_recreate_a_deleted_cluster(client, cluster_name):
    client.post("/v1/clusters", {"clusterName": cluster_name})
    client.delete("/v1/clusters/" + cluster_name)
    r = client.post("/v1/clusters", {"clusterName": cluster_name})
    assert r.status == 201, r
    assert_cluster_shape(r.json["cluster"], cluster_name)
    assert client.get("/v1/clusters/" + cluster_name).status == 200


def test_delete_default_cluster_is_refused(client):
    r = client.delete("/v1/clusters/default")
    assert r.status == 400, r
    assert r.error_type.endswith("Exception"), r
    assert client.get("/v1/clusters/default").status == 200


def test_default_cluster_survives_a_restart_and_stays_undeletable(
        fresh_server):
    assert fresh_server.client.delete("/v1/clusters/default").status == 400
    fresh_server.restart()
    c = fresh_server.client
    assert c.get("/v1/clusters/default").status == 200
    assert c.delete("/v1/clusters/default").status == 400
    assert c.get("/v1/clusters/default").status == 200


def test_clusters_survive_a_restart(fresh_server):
    c = fresh_server.client
    for n in ("one", "two"):
        assert c.post("/v1/clusters", {"clusterName": n}).status == 201
    assert c.delete("/v1/clusters/two").status == 200
    fresh_server.restart()
    c = fresh_server.client
    assert c.get("/v1/clusters/one").status == 200
    assert c.get("/v1/clusters/two").status == 404
    arns = c.get("/v1/clusters").json["clusterArns"]
    assert sorted(arns) == sorted([api.cluster_arn("default"),
                                   api.cluster_arn("one")])


@pytest.mark.parametrize("table,error_type", [
    ("tasks", "ClusterContainsTasksException"),
    ("services", "ClusterContainsServicesException"),
])
def test_delete_cluster_that_still_has_work_is_409(fresh_server, table,
                                                   error_type):
    c = fresh_server.client
    assert c.post("/v1/clusters", {"clusterName": "busy"}).status == 201
    assert c.post("/v1/clusters", {"clusterName": "idle"}).status == 201
    assert fresh_server.terminate() == 0
    db.insert_stub_row(fresh_server.db_path(), table, "busy")
    fresh_server.start()
    c = fresh_server.client

    r = c.delete("/v1/clusters/busy")
    assert r.status == 409, r
    assert r.error_type == error_type, r
    assert c.get("/v1/clusters/busy").json["cluster"]["status"] == "ACTIVE"
    # A cluster without work is still deletable.
    assert c.delete("/v1/clusters/idle").status == 200
