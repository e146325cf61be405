"""Task definitions over the REST API: register, list, describe, deregister.

Mirrors ECS's RegisterTaskDefinition, ListTaskDefinitions,
DescribeTaskDefinition and DeregisterTaskDefinition.  Revisions count from 1
per family and are never reused, also after deregistration and restart.
Also here: the router's 404 and 405 answers and the error body shape.
"""

import copy
import json
import time

import pytest

from orch_test import api
from orch_test.server import running_server


def register_ok(client, td):
    r = client.register(td)
    assert r.status == 201, r
    return r.json["taskDefinition"]


# --- register: what comes back -----------------------------------------------

def test_register_minimal_definition_fills_the_defaults(client, family):
    before = time.time()
    r = client.register(api.minimal_taskdef(family))
    after = time.time()
    assert r.status == 201, r
    td = r.json["taskDefinition"]
    assert td["family"] == family
    assert td["revision"] == 1
    assert td["taskDefinitionArn"] == api.taskdef_arn(family, 1)
    assert td["status"] == "ACTIVE"
    assert td["networkMode"] == "bridge"
    assert td["containerDefinitions"][0]["essential"] is True
    assert td["containerDefinitions"][0]["name"] == "app"
    assert td["containerDefinitions"][0]["image"] == "busybox"
    assert td["containerDefinitions"][0]["memory"] == 128
    assert isinstance(td["registeredAt"], (int, float))
    assert not isinstance(td["registeredAt"], bool)
    assert before - 2 <= td["registeredAt"] <= after + 2
    assert "deregisteredAt" not in td or td["deregisteredAt"] is None
    assert isinstance(r.json["ignoredFields"], list)


def test_register_keeps_every_input_field(client, family):
    sent = api.web_taskdef(family, note="keep-me")
    td = register_ok(client, sent)
    for key, value in sent.items():
        if key == "containerDefinitions":
            continue
        assert td[key] == value, key
    assert len(td["containerDefinitions"]) == 2
    for sent_c, got_c in zip(sent["containerDefinitions"],
                             td["containerDefinitions"]):
        for key, value in sent_c.items():
            assert got_c[key] == value, (sent_c["name"], key)


def test_register_respects_an_explicit_essential_false(client, family):
    td = register_ok(client, api.web_taskdef(family))
    containers = {c["name"]: c for c in td["containerDefinitions"]}
    assert containers["web"]["essential"] is True
    assert containers["sidecar"]["essential"] is False


@pytest.mark.parametrize("mode", ["bridge", "host", "awsvpc", "none"])
def test_register_accepts_every_ecs_network_mode(client, family, mode):
    td = api.minimal_taskdef(family, networkMode=mode)
    if mode in ("host", "awsvpc"):
        td["containerDefinitions"][0]["portMappings"] = [
            {"containerPort": 8080, "hostPort": 8080}]
    assert register_ok(client, td)["networkMode"] == mode


def test_register_accepts_the_extreme_valid_ports(client, family):
    td = api.minimal_taskdef(family)
    td["containerDefinitions"][0]["portMappings"] = [
        {"containerPort": 1}, {"containerPort": 65535, "hostPort": 65535}]
    assert register_ok(client, td)["revision"] == 1


def test_register_reports_accepted_but_ignored_fields(client, family):
    td = api.minimal_taskdef(
        family, taskRoleArn="arn:aws:iam::123456789012:role/app")
    r = client.register(td)
    assert r.status == 201, r
    assert "taskRoleArn" in r.json["ignoredFields"]
    info = client.get("/v1/info").json
    for field in r.json["ignoredFields"]:
        # Paths may carry indexes; the info list names the field.
        assert field.split(".")[-1].split("[")[0] in \
            " ".join(info["ignoredTaskDefinitionFields"]), field


def test_register_without_ignored_fields_reports_none(client, family):
    r = client.register(api.minimal_taskdef(family))
    assert r.status == 201, r
    assert r.json["ignoredFields"] == []


def test_register_unknown_field_is_refused_or_reported(client, family):
    r = client.register(api.minimal_taskdef(family, notAnEcsField=1))
    if r.status == 201:
        assert any("notAnEcsField" in f for f in r.json["ignoredFields"]), r
    else:
        assert r.status == 400, r
        assert "notAnEcsField" in r.message, r


# --- register: revisions -----------------------------------------------------

def test_revisions_count_up_from_one_per_family(client, family):
    revs = [register_ok(client, api.minimal_taskdef(family))["revision"]
            for _ in range(3)]
    assert revs == [1, 2, 3]
    other = register_ok(client, api.minimal_taskdef(family + "-other"))
    assert other["revision"] == 1


def test_revisions_are_not_reused_after_deregistration(client, family):
    for _ in range(3):
        register_ok(client, api.minimal_taskdef(family))
    assert client.deregister(family + ":3").status == 200
    assert client.deregister(family + ":2").status == 200
    assert register_ok(client, api.minimal_taskdef(family))["revision"] == 4


def test_revisions_are_not_reused_after_every_revision_is_deregistered(
        client, family):
    register_ok(client, api.minimal_taskdef(family))
    assert client.deregister(family + ":1").status == 200
    assert register_ok(client, api.minimal_taskdef(family))["revision"] == 2


def test_revisions_continue_after_a_restart(fresh_server):
    c = fresh_server.client
    for _ in range(3):
        register_ok(c, api.minimal_taskdef("web"))
    assert c.deregister("web:3").status == 200
    fresh_server.restart()
    c = fresh_server.client
    assert register_ok(c, api.minimal_taskdef("web"))["revision"] == 4
    assert c.describe_taskdef("web:3").json["taskDefinition"]["status"] == \
        "INACTIVE"
    assert c.describe_taskdef("web").json["taskDefinition"]["revision"] == 4


def test_registered_content_survives_a_restart_unchanged(fresh_server):
    c = fresh_server.client
    td = register_ok(c, api.web_taskdef("web", note="persist"))
    fresh_server.restart()
    got = fresh_server.client.describe_taskdef("web:1")
    assert got.status == 200, got
    assert got.json["taskDefinition"] == td


def test_concurrent_registrations_get_distinct_revisions(client, family):
    import threading
    revs, errors = [], []
    lock = threading.Lock()

    def worker():
        for _ in range(10):
            r = client.register(api.minimal_taskdef(family))
            with lock:
                if r.status == 201:
                    revs.append(r.json["taskDefinition"]["revision"])
                else:
                    errors.append(r)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert sorted(revs) == list(range(1, 51))


# --- register: validation ----------------------------------------------------

def container(name="app", **extra):
    c = {"name": name, "image": "busybox", "memory": 128}
    c.update(extra)
    return c


def td_with(*containers, **task_fields):
    td = {"family": "valid-family", "containerDefinitions": list(containers)}
    td.update(task_fields)
    return td


def without(d, key):
    d = copy.deepcopy(d)
    del d[key]
    return d


INVALID_DEFINITIONS = [
    # (id, body, expected message prefix)
    ("family-missing", without(td_with(container()), "family"), "family:"),
    ("family-empty", td_with(container(), family=""), "family:"),
    ("family-space", td_with(container(), family="my web"), "family:"),
    ("family-colon", td_with(container(), family="web:1"), "family:"),
    ("family-too-long", td_with(container(), family="f" * 256), "family:"),
    ("family-number", td_with(container(), family=7), "family:"),
    ("containers-missing", {"family": "x"}, "containerDefinitions:"),
    ("containers-empty", td_with(), "containerDefinitions:"),
    ("containers-object", td_with(containerDefinitions={}),
     "containerDefinitions:"),
    ("container-not-object", {"family": "x", "containerDefinitions": ["c"]},
     "containerDefinitions[0]:"),
    ("container-name-missing", td_with(without(container(), "name")),
     "containerDefinitions[0].name:"),
    ("container-name-invalid", td_with(container(name="bad name")),
     "containerDefinitions[0].name:"),
    ("container-name-duplicate", td_with(container("a"), container("a")),
     "containerDefinitions[1].name:"),
    ("image-missing", td_with(without(container(), "image")),
     "containerDefinitions[0].image:"),
    ("image-empty", td_with(container(image="")),
     "containerDefinitions[0].image:"),
    ("container-port-too-big",
     td_with(container("a"),
             container("b", portMappings=[{"containerPort": 70000}])),
     "containerDefinitions[1].portMappings[0].containerPort: "
     "must be between 1 and 65535"),
    ("container-port-zero",
     td_with(container(portMappings=[{"containerPort": 0}])),
     "containerDefinitions[0].portMappings[0].containerPort:"),
    ("container-port-string",
     td_with(container(portMappings=[{"containerPort": "80"}])),
     "containerDefinitions[0].portMappings[0].containerPort:"),
    ("container-port-fraction",
     td_with(container(portMappings=[{"containerPort": 80.5}])),
     "containerDefinitions[0].portMappings[0].containerPort:"),
    ("host-port-too-big",
     td_with(container(portMappings=[{"containerPort": 80,
                                      "hostPort": 65536}])),
     "containerDefinitions[0].portMappings[0].hostPort:"),
    ("port-protocol-bad",
     td_with(container(portMappings=[{"containerPort": 80,
                                      "protocol": "icmp"}])),
     "containerDefinitions[0].portMappings[0].protocol:"),
    ("port-mappings-not-array", td_with(container(portMappings="80")),
     "containerDefinitions[0].portMappings:"),
    ("host-mode-port-mismatch",
     td_with(container(portMappings=[{"containerPort": 80,
                                      "hostPort": 8080}]),
             networkMode="host"),
     "containerDefinitions[0].portMappings[0].hostPort:"),
    ("network-mode-unknown", td_with(container(), networkMode="weird"),
     "networkMode:"),
    ("task-cpu-negative", td_with(container(), cpu="-1"), "cpu:"),
    ("task-memory-zero", td_with(container(), memory="0"), "memory:"),
    ("task-memory-garbage", td_with(container(), memory="lots"), "memory:"),
    ("container-memory-zero", td_with(container(memory=0)),
     "containerDefinitions[0].memory:"),
    ("container-memory-negative", td_with(container(memory=-5)),
     "containerDefinitions[0].memory:"),
    ("container-memory-string", td_with(container(memory="128")),
     "containerDefinitions[0].memory:"),
    ("container-memory-over-task-memory",
     td_with(container(memory=2048), memory="1024"),
     "containerDefinitions[0].memory"),
    ("container-cpu-negative", td_with(container(cpu=-1)),
     "containerDefinitions[0].cpu:"),
    ("essential-not-bool", td_with(container(essential="yes")),
     "containerDefinitions[0].essential:"),
    ("no-essential-container",
     td_with(container("a", essential=False), container("b",
                                                        essential=False)),
     "containerDefinitions"),
    ("depends-on-unknown-container",
     td_with(container("a", dependsOn=[{"containerName": "ghost",
                                        "condition": "START"}])),
     "containerDefinitions[0].dependsOn[0].containerName:"),
    ("depends-on-bad-condition",
     td_with(container("a"),
             container("b", dependsOn=[{"containerName": "a",
                                        "condition": "SOMETIMES"}])),
     "containerDefinitions[1].dependsOn[0].condition:"),
    ("depends-on-cycle",
     td_with(container("a", dependsOn=[{"containerName": "b",
                                        "condition": "START"}]),
             container("b", dependsOn=[{"containerName": "a",
                                        "condition": "START"}])),
     "containerDefinitions["),
    ("depends-on-self",
     td_with(container("a", dependsOn=[{"containerName": "a",
                                        "condition": "START"}])),
     "containerDefinitions[0].dependsOn"),
    ("command-not-array", td_with(container(command="ls -l")),
     "containerDefinitions[0].command:"),
    ("command-not-strings", td_with(container(command=["ls", 3])),
     "containerDefinitions[0].command[1]:"),
    ("environment-value-not-string",
     td_with(container(environment=[{"name": "A", "value": 5}])),
     "containerDefinitions[0].environment[0].value:"),
]


@pytest.mark.parametrize("body,prefix",
                         [(b, p) for _, b, p in INVALID_DEFINITIONS],
                         ids=[i for i, _, _ in INVALID_DEFINITIONS])
def test_register_invalid_definition_is_400_naming_the_field(
        client, body, prefix):
    before = client.get("/v1/info").json["counts"]["taskDefinitions"]
    r = client.register(body)
    assert r.status == 400, r
    assert r.error_type == "ClientException", r
    assert r.message.startswith(prefix), r.message
    after = client.get("/v1/info").json["counts"]["taskDefinitions"]
    assert after == before, "a refused definition was stored"


def test_register_refuses_known_but_unsupported_ecs_features(client, family):
    td = api.minimal_taskdef(family, volumes=[
        {"name": "data", "host": {"sourcePath": "/srv"}}])
    r = client.register(td)
    assert r.status == 400, r
    # ClientException, or ECS's own UnsupportedFeatureException.
    assert r.error_type in ("ClientException",
                            "UnsupportedFeatureException"), r
    assert r.message.startswith("volumes"), r.message
    assert client.describe_taskdef(family).status == 404


def test_register_accepts_an_empty_volumes_list(client, family):
    td = register_ok(client, api.minimal_taskdef(family, volumes=[]))
    assert td["revision"] == 1


def test_register_refused_definition_uses_no_revision(client, family):
    bad = api.minimal_taskdef(family, networkMode="weird")
    assert client.register(bad).status == 400
    assert register_ok(client, api.minimal_taskdef(family))["revision"] == 1


# --- list --------------------------------------------------------------------

PAGING_FAMILIES = {"pag-a": 10, "pag-b": 8, "pag-c": 7}  # 25 revisions


@pytest.fixture(scope="module")
def paging_server(tmp_path_factory):
    """A server holding exactly 25 revisions over 3 families, registered
    interleaved, with pag-b:2 and pag-c:7 deregistered."""
    with running_server(tmp_path_factory.mktemp("paging")) as srv:
        c = srv.client
        left = dict(PAGING_FAMILIES)
        while any(left.values()):
            for fam in sorted(left):
                if left[fam]:
                    register_ok(c, api.minimal_taskdef(fam))
                    left[fam] -= 1
        assert c.deregister("pag-b:2").status == 200
        assert c.deregister("pag-c:7").status == 200
        yield srv


def expected_arns(status="ALL"):
    inactive = {("pag-b", 2), ("pag-c", 7)}
    out = []
    for fam in sorted(PAGING_FAMILIES):
        for rev in range(1, PAGING_FAMILIES[fam] + 1):
            is_inactive = (fam, rev) in inactive
            if status == "ALL" or (status == "INACTIVE") == is_inactive:
                out.append(api.taskdef_arn(fam, rev))
    return out


def test_list_pages_of_seven_cover_all_25_revisions_in_order(paging_server):
    c = paging_server.client
    seen, token, pages = [], None, []
    while True:
        params = {"maxResults": 7, "status": "ALL"}
        if token:
            params["nextToken"] = token
        r = c.list_taskdefs(**params)
        assert r.status == 200, r
        pages.append(len(r.json["taskDefinitionArns"]))
        seen.extend(r.json["taskDefinitionArns"])
        token = r.json.get("nextToken")
        if not token:
            break
        assert len(pages) < 20
    assert pages == [7, 7, 7, 4]
    assert len(set(seen)) == len(seen), "duplicates across pages"
    assert seen == expected_arns("ALL")  # family, then revision numerically


def test_list_defaults_to_active_only(paging_server):
    r = paging_server.client.list_taskdefs()
    assert r.status == 200, r
    assert r.json["taskDefinitionArns"] == expected_arns("ACTIVE")
    assert "nextToken" not in r.json or r.json["nextToken"] in (None, "")


def test_list_inactive_only(paging_server):
    r = paging_server.client.list_taskdefs(status="INACTIVE")
    assert r.json["taskDefinitionArns"] == [api.taskdef_arn("pag-b", 2),
                                            api.taskdef_arn("pag-c", 7)]


def test_list_active_pages_skip_inactive_revisions(paging_server):
    arns, pages = paging_server.client.list_all_taskdef_arns(
        page_size=5, status="ACTIVE")
    assert arns == expected_arns("ACTIVE")
    assert pages == 5  # 23 ACTIVE revisions


def test_list_descending_reverses_family_and_revision(paging_server):
    arns, _ = paging_server.client.list_all_taskdef_arns(
        page_size=7, status="ALL", sort="DESC")
    assert arns == list(reversed(expected_arns("ALL")))


def test_list_ascending_is_the_default_order(paging_server):
    r = paging_server.client.list_taskdefs(sort="ASC", status="ALL")
    assert r.json["taskDefinitionArns"] == expected_arns("ALL")


def test_list_by_family_prefix(paging_server):
    c = paging_server.client
    r = c.list_taskdefs(familyPrefix="pag-b", status="ALL")
    assert r.json["taskDefinitionArns"] == [
        api.taskdef_arn("pag-b", n) for n in range(1, 9)]
    r = c.list_taskdefs(familyPrefix="pag-")
    assert r.json["taskDefinitionArns"] == expected_arns("ACTIVE")
    r = c.list_taskdefs(familyPrefix="nothing-here")
    assert r.status == 200 and r.json["taskDefinitionArns"] == []


def test_list_by_family_prefix_paginates(paging_server):
    arns, pages = paging_server.client.list_all_taskdef_arns(
        page_size=3, familyPrefix="pag-a")
    assert arns == [api.taskdef_arn("pag-a", n) for n in range(1, 11)]
    assert pages == 4


def test_list_family_prefix_takes_sql_wildcards_literally(client, family):
    register_ok(client, api.minimal_taskdef("pct_" + family))
    register_ok(client, api.minimal_taskdef("pctX" + family))
    for prefix in ("pct_", "pct%"):
        r = client.list_taskdefs(familyPrefix=prefix + family[:3])
        if prefix == "pct_":
            assert r.status == 200, r
            arns = r.json["taskDefinitionArns"]
            assert arns == [api.taskdef_arn("pct_" + family, 1)], arns
        elif r.status == 200:  # '%' cannot be in a family: [] or a 400
            assert r.json["taskDefinitionArns"] == [], r
        else:
            assert r.status == 400 and "familyPrefix" in r.message, r


def test_list_revision_order_is_numeric_not_textual(client, family):
    for _ in range(11):
        register_ok(client, api.minimal_taskdef(family))
    r = client.list_taskdefs(familyPrefix=family)
    assert r.json["taskDefinitionArns"] == [
        api.taskdef_arn(family, n) for n in range(1, 12)]


def test_list_maximum_page_is_100_with_a_next_token(fresh_server):
    c = fresh_server.client
    for _ in range(105):
        register_ok(c, api.minimal_taskdef("many"))
    r = c.list_taskdefs()
    assert len(r.json["taskDefinitionArns"]) == 100
    assert r.json["nextToken"]
    r = c.list_taskdefs(nextToken=r.json["nextToken"])
    assert r.json["taskDefinitionArns"] == [
        api.taskdef_arn("many", n) for n in range(101, 106)]
    r = c.list_taskdefs(maxResults=100)
    assert len(r.json["taskDefinitionArns"]) == 100


@pytest.mark.parametrize("params,name", [
    ({"maxResults": "0"}, "maxResults"),
    ({"maxResults": "101"}, "maxResults"),
    ({"maxResults": "-1"}, "maxResults"),
    ({"maxResults": "ten"}, "maxResults"),
    ({"maxResults": "7x"}, "maxResults"),
    ({"maxResults": ""}, "maxResults"),
    ({"maxResults": "99999999999999999999"}, "maxResults"),
    ({"maxResults": "5\x00x"}, "maxResults"),
    ({"status": "ACTIVE\x00junk"}, "status"),
    ({"status": "BOGUS"}, "status"),
    ({"status": ""}, "status"),
    ({"sort": "SIDEWAYS"}, "sort"),
    ({"nextToken": "not-a-token"}, "nextToken"),
    ({"nextToken": "%00%01"}, "nextToken"),
], ids=lambda v: str(v))
def test_list_with_a_bad_parameter_is_400_naming_it(client, params, name):
    r = client.list_taskdefs(**params)
    assert r.status == 400, r
    assert r.error_type == "ClientException", r
    assert name in r.message, r.message


# --- describe ----------------------------------------------------------------

def test_describe_bare_family_returns_the_latest_active_revision(
        client, family):
    for _ in range(3):
        register_ok(client, api.minimal_taskdef(family))
    r = client.describe_taskdef(family)
    assert r.status == 200, r
    assert r.json["taskDefinition"]["revision"] == 3
    client.deregister(family + ":3")
    r = client.describe_taskdef(family)
    assert r.json["taskDefinition"]["revision"] == 2
    assert r.json["taskDefinition"]["status"] == "ACTIVE"


def test_describe_family_and_revision(client, family):
    first = register_ok(client, api.web_taskdef(family, note="one"))
    register_ok(client, api.web_taskdef(family, note="two"))
    r = client.describe_taskdef(family + ":1")
    assert r.status == 200, r
    assert r.json["taskDefinition"] == first


def test_describe_an_inactive_revision_by_number(client, family):
    register_ok(client, api.minimal_taskdef(family))
    register_ok(client, api.minimal_taskdef(family))
    client.deregister(family + ":1")
    r = client.describe_taskdef(family + ":1")
    assert r.status == 200, r
    assert r.json["taskDefinition"]["status"] == "INACTIVE"
    assert isinstance(r.json["taskDefinition"]["deregisteredAt"],
                      (int, float))


def test_describe_by_full_arn(client, family):
    td = register_ok(client, api.minimal_taskdef(family))
    r = client.describe_taskdef(api.taskdef_arn(family, 1))
    assert r.status == 200, r
    assert r.json["taskDefinition"] == td


def test_describe_unknown_family_is_404(client):
    r = client.describe_taskdef("no-such-family")
    assert r.status == 404, r
    assert r.error_type == "ClientException", r


def test_describe_unknown_revision_is_404(client, family):
    register_ok(client, api.minimal_taskdef(family))
    r = client.describe_taskdef(family + ":2")
    assert r.status == 404, r
    assert r.error_type == "ClientException", r


def test_describe_bare_family_with_only_inactive_revisions_is_404(
        client, family):
    register_ok(client, api.minimal_taskdef(family))
    client.deregister(family + ":1")
    r = client.describe_taskdef(family)
    assert r.status == 404, r


@pytest.mark.parametrize("suffix", [":0", ":-1", ":abc", ":1.5", ":",
                                    ":99999999999999999999", ":1:2"])
def test_describe_malformed_revision_is_a_client_error(client, family,
                                                      suffix):
    register_ok(client, api.minimal_taskdef(family))
    r = client.describe_taskdef(family + suffix)
    assert r.status in (400, 404), r
    assert r.error_type == "ClientException", r


def test_describe_arn_of_another_partition_is_a_client_error(client, family):
    register_ok(client, api.minimal_taskdef(family))
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/%s:1" % family
    r = client.describe_taskdef(arn)
    assert r.status in (400, 404), r


# --- deregister --------------------------------------------------------------

def test_deregister_marks_the_revision_inactive(client, family):
    td = register_ok(client, api.minimal_taskdef(family))
    r = client.deregister(family + ":1")
    assert r.status == 200, r
    got = r.json["taskDefinition"]
    assert got["status"] == "INACTIVE"
    assert got["taskDefinitionArn"] == td["taskDefinitionArn"]
    assert got["revision"] == 1
    assert isinstance(got["deregisteredAt"], (int, float))
    assert got["deregisteredAt"] >= td["registeredAt"]
    assert got["containerDefinitions"] == td["containerDefinitions"]
    listed = client.list_taskdefs(familyPrefix=family).json
    assert listed["taskDefinitionArns"] == []


def test_deregister_by_full_arn(client, family):
    register_ok(client, api.minimal_taskdef(family))
    r = client.deregister(api.taskdef_arn(family, 1))
    assert r.status == 200, r
    assert r.json["taskDefinition"]["status"] == "INACTIVE"


def test_deregister_bare_family_is_400(client, family):
    register_ok(client, api.minimal_taskdef(family))
    r = client.deregister(family)
    assert r.status == 400, r
    assert r.error_type == "ClientException", r
    assert client.describe_taskdef(family + ":1").json["taskDefinition"][
        "status"] == "ACTIVE"


def test_deregister_unknown_revision_is_404(client, family):
    register_ok(client, api.minimal_taskdef(family))
    r = client.deregister(family + ":9")
    assert r.status == 404, r
    r = client.deregister("never-registered:1")
    assert r.status == 404, r


def test_deregistration_survives_a_restart(fresh_server):
    c = fresh_server.client
    register_ok(c, api.minimal_taskdef("web"))
    stamp = c.deregister("web:1").json["taskDefinition"]["deregisteredAt"]
    fresh_server.restart()
    td = fresh_server.client.describe_taskdef("web:1").json["taskDefinition"]
    assert td["status"] == "INACTIVE"
    assert td["deregisteredAt"] == stamp


# --- routing and the error shape ---------------------------------------------

@pytest.mark.parametrize("path", [
    "/", "/v1", "/v1/", "/v2/clusters", "/v1/nope", "/v1/taskdefinitions",
    "/v1/task-definitions/web:1/extra", "/v1/clusters/default/nope",
    "/healthz/more",
])
def test_unknown_path_is_404(client, path):
    r = client.get(path)
    assert r.status == 404, r
    assert r.error_type and r.error_type.endswith("Exception"), r


@pytest.mark.parametrize("method,path", [
    ("PUT", "/v1/task-definitions"),
    ("DELETE", "/v1/task-definitions"),
    ("PATCH", "/v1/task-definitions/web:1"),
    ("POST", "/v1/task-definitions/web:1"),
    ("PUT", "/v1/clusters"),
    ("DELETE", "/v1/clusters"),
    ("PUT", "/v1/clusters/default"),
    ("POST", "/v1/info"),
    ("DELETE", "/v1/info"),
    ("POST", "/healthz"),
])
def test_wrong_method_on_a_known_path_is_405(client, method, path):
    r = client.request(method, path, raw_body="{}")
    assert r.status == 405, r
    assert r.error_type and r.error_type.endswith("Exception"), r


def test_405_names_the_allowed_methods(client):
    r = client.request("PUT", "/v1/task-definitions", raw_body="{}")
    assert r.status == 405
    allow = {k.lower(): v for k, v in r.headers.items()}.get("allow", "")
    assert "GET" in allow and "POST" in allow, r.headers


def test_errors_are_json_with_type_and_message(client):
    for r in (client.describe_taskdef("absent"),
              client.register({"family": "x"}),
              client.get("/v1/nope")):
        ctype = {k.lower(): v for k, v in r.headers.items()}.get(
            "content-type", "")
        assert "application/json" in ctype, r.headers
        assert set(r.json) >= {"__type", "message"}, r
        assert isinstance(r.json["message"], str) and r.json["message"]


def test_successes_are_json(client, family):
    r = client.register(api.minimal_taskdef(family))
    ctype = {k.lower(): v for k, v in r.headers.items()}.get(
        "content-type", "")
    assert "application/json" in ctype, r.headers


def test_status_lines_carry_the_standard_reason_phrases(server, family):
    """Reason phrases are optional in HTTP/1.1, but a wrong one ("201
    Unknown") misleads whoever reads a trace."""
    t = server.token
    body = json.dumps(api.minimal_taskdef(family))
    cases = [
        (api.http_request_bytes("GET", "/healthz"), b"200 OK"),
        (api.http_request_bytes("POST", "/v1/task-definitions", body=body,
                                 token=t), b"201 Created"),
        (api.http_request_bytes("POST", "/v1/task-definitions", body="{}",
                                 token=t), b"400 Bad Request"),
        (api.http_request_bytes("GET", "/v1/info"), b"401 Unauthorized"),
        (api.http_request_bytes("GET", "/v1/nope", token=t),
         b"404 Not Found"),
        (api.http_request_bytes("PUT", "/v1/clusters", body="{}", token=t),
         b"405 Method Not Allowed"),
    ]
    wrong = []
    for request, expected in cases:
        res = api.raw_exchange(server.port, request)
        line = res.data.split(b"\r\n", 1)[0]
        if line != b"HTTP/1.1 " + expected:
            wrong.append((expected, line))
    assert not wrong, wrong
