"""Bounded history and idempotent RunTask: stopped tasks pruned after
--task-retention (but kept while a node still has to hear of them), the
database staying bounded under churn, RunTask's clientToken (same token and
parameters: the same tasks; other parameters: 409; per cluster; across a
kill -9), and the 002 -> 003 migration keeping every task."""

import os
import sqlite3
import subprocess
import threading
import time

import pytest

from orch_test import server as servers
from orch_test.binary import REPO_ROOT, orch_bin
from orch_test.fake_agent import (NODE_GRACE_S, SERVER_ARGS, cluster_and_family, describe_task,
                                  new_cluster, register_taskdef, run_task, unique_family)
from orch_test.wait import wait_for

RETENTION_S = 2


@pytest.fixture
def short_retention(tmp_path):
    with servers.running_server(
            tmp_path, SERVER_ARGS + ["--task-retention", "%ds" % RETENTION_S]) as srv:
        yield srv


def task_status(client, cluster, task_id):
    return client.get("/v1/clusters/%s/tasks/%s" % (cluster, task_id)).status


def list_ids(client, cluster, desired="ALL"):
    ids, token = [], None
    while True:
        q = "/v1/clusters/%s/tasks?desiredStatus=%s&maxResults=100" % (cluster, desired)
        if token:
            q += "&nextToken=" + token
        r = client.get(q)
        assert r.status == 200, r
        ids += [arn.rsplit("/", 1)[1] for arn in r.json["taskArns"]]
        token = r.json.get("nextToken")
        if not token:
            return ids


def stop(client, cluster, task_id):
    r = client.post("/v1/clusters/%s/tasks/%s/stop" % (cluster, task_id), {"reason": "test"})
    assert r.status == 200, r
    return r.json["task"]


# --- pruning ---------------------------------------------------------------------


def test_stopped_tasks_are_pruned_after_retention(short_retention):
    c = short_retention.client
    cluster, fam = cluster_and_family(c, "prune")
    # No node in this cluster: the tasks wait unplaced and stop in the store.
    stopped = [t["taskId"] for t in run_task(c, fam, count=10, cluster=cluster).json["tasks"]]
    kept = [t["taskId"] for t in run_task(c, fam, count=3, cluster=cluster).json["tasks"]]
    for tid in stopped:
        assert stop(c, cluster, tid)["lastStatus"] == "STOPPED"
    # Visible right after stopping...
    assert all(task_status(c, cluster, t) == 200 for t in stopped)
    assert sorted(list_ids(c, cluster, "STOPPED")) == sorted(stopped)
    # ...and gone once stopped longer than the retention.
    wait_for(lambda: all(task_status(c, cluster, t) == 404 for t in stopped),
             timeout=RETENTION_S + 10, what="stopped tasks pruned")
    assert list_ids(c, cluster, "STOPPED") == []
    # Tasks that did not stop are untouched, however old.
    time.sleep(RETENTION_S + 1)
    assert sorted(list_ids(c, cluster, "RUNNING")) == sorted(kept)
    for tid in kept:
        assert describe_task(c, tid, cluster)["lastStatus"] == "PROVISIONING"


def test_task_a_node_must_still_hear_of_is_kept(short_retention, agents):
    c = short_retention.client
    cluster, fam = cluster_and_family(c, "fence")
    a = agents(short_retention, cluster=cluster)
    tid = run_task(c, fam, cluster=cluster).json["tasks"][0]["taskId"]
    a.report_status(tid, "RUNNING")
    wait_for(lambda: describe_task(c, tid, cluster)["lastStatus"] == "RUNNING")
    # Stopped by the server (node lost): the agent has not confirmed yet.
    a.stop_heartbeats()
    wait_for(lambda: describe_task(c, tid, cluster)["lastStatus"] == "STOPPED",
             timeout=NODE_GRACE_S + 10, what="task stopped by node loss")
    time.sleep(RETENTION_S + 2)
    # Kept past the retention: the node's desired set still carries the stop.
    assert task_status(c, cluster, tid) == 200
    entry = a.desired()[tid]
    assert entry["desiredStatus"] == "STOPPED"
    # Once the agent reports it STOPPED, it is pruned.
    a.report_status(tid, "STOPPED")
    wait_for(lambda: task_status(c, cluster, tid) == 404, timeout=RETENTION_S + 10,
             what="confirmed task pruned")
    assert tid not in a.desired()


def db_bytes(data_dir):
    return sum(os.path.getsize(os.path.join(data_dir, f))
               for f in os.listdir(data_dir) if f.startswith("orch.db"))


def test_database_stays_bounded_under_churn(short_retention):
    c = short_retention.client
    cluster, fam = cluster_and_family(c, "churn")
    sizes = []
    for _ in range(5):
        ids = []
        for _ in range(30):
            r = run_task(c, fam, count=10, cluster=cluster)
            assert r.status == 200, r
            ids += [t["taskId"] for t in r.json["tasks"]]
        for tid in ids:
            stop(c, cluster, tid)
        wait_for(lambda: list_ids(c, cluster, "STOPPED") == [], timeout=RETENTION_S + 20,
                 what="a round of 300 stopped tasks pruned")
        sizes.append(db_bytes(short_retention.data_dir))
    # Each round writes and deletes 300 tasks; the freed pages are reused,
    # so later rounds do not grow the files (WAL included) past the second.
    assert sizes[-1] <= sizes[1] * 1.25 + 512 * 1024, sizes


def test_task_retention_flag_is_checked(tmp_path):
    for bad in ("0", "-5", "1y", "h", "99999d", "5 m"):
        p = subprocess.run([orch_bin(), "server", "--data", str(tmp_path / "d"),
                            "--task-retention", bad], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode != 0, bad
        assert "--task-retention" in p.stderr, (bad, p.stderr)
    assert not (tmp_path / "d" / "orch.db").exists()


# --- clientToken -----------------------------------------------------------------


def test_client_token_returns_the_same_tasks(cp):
    cluster, fam = cluster_and_family(cp, "tok")
    body = dict(count=3, clientToken="retry-me-1", startedBy="ci")
    first = run_task(cp, fam, cluster=cluster, **body)
    assert first.status == 200, first
    assert "clientToken" not in first.json.get("ignoredFields", [])
    ids = [t["taskId"] for t in first.json["tasks"]]
    again = run_task(cp, fam, cluster=cluster, **body)
    assert again.status == 200, again
    assert [t["taskId"] for t in again.json["tasks"]] == ids
    assert again.json["failures"] == []
    assert sorted(list_ids(cp, cluster)) == sorted(ids)
    # The answer shows the tasks as they are now.
    stop(cp, cluster, ids[0])
    third = run_task(cp, fam, cluster=cluster, **body)
    assert third.json["tasks"][0]["lastStatus"] == "STOPPED"
    # Other parameters with the same token: refused, nothing created.
    other = run_task(cp, fam, cluster=cluster, count=2, clientToken="retry-me-1",
                     startedBy="ci")
    assert other.status == 409, other
    assert other.json["__type"] == "ConflictException"
    assert "clientToken" in other.json["message"]
    assert sorted(list_ids(cp, cluster)) == sorted(ids)
    # Tokens are per cluster.
    cluster2 = new_cluster(cp)
    elsewhere = run_task(cp, fam, cluster=cluster2, **body)
    assert elsewhere.status == 200
    assert not set(t["taskId"] for t in elsewhere.json["tasks"]) & set(ids)
    # Without a token every call creates tasks.
    assert run_task(cp, fam, cluster=cluster).json["tasks"][0]["taskId"] not in ids


def test_client_token_hostile_values(cp):
    cluster, fam = cluster_and_family(cp, "tokbad")
    for bad in ("", "x" * 65, "has space", "tab\there", "caf\u00e9", 17, None, ["a"]):
        r = run_task(cp, fam, cluster=cluster, clientToken=bad)
        assert r.status == 400, (bad, r)
        assert "clientToken" in r.json["message"], r.json
    assert list_ids(cp, cluster) == []
    assert run_task(cp, fam, cluster=cluster, clientToken="~" * 64).status == 200


def test_concurrent_retries_create_once(cp):
    cluster, fam = cluster_and_family(cp, "tokrace")
    answers = []

    def go():
        r = run_task(cp, fam, count=5, cluster=cluster, clientToken="same-for-all")
        answers.append((r.status, [t["taskId"] for t in r.json["tasks"]]))

    threads = [threading.Thread(target=go) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 12
    assert all(status == 200 for status, _ in answers), answers
    assert len(set(tuple(ids) for _, ids in answers)) == 1, answers
    assert sorted(list_ids(cp, cluster)) == sorted(answers[0][1])


def test_client_token_survives_kill9(fresh_cp):
    c = fresh_cp.client
    cluster, fam = cluster_and_family(c, "tokcrash")
    first = run_task(c, fam, count=4, cluster=cluster, clientToken="durable")
    assert first.status == 200
    fresh_cp.kill9()
    fresh_cp.start()
    c = fresh_cp.client
    again = run_task(c, fam, count=4, cluster=cluster, clientToken="durable")
    assert again.status == 200, again
    assert [t["taskId"] for t in again.json["tasks"]] == \
        [t["taskId"] for t in first.json["tasks"]]
    assert len(list_ids(c, cluster)) == 4


def test_pruned_task_of_a_token_is_reported_missing(short_retention):
    c = short_retention.client
    cluster, fam = cluster_and_family(c, "tokprune")
    first = run_task(c, fam, count=2, cluster=cluster, clientToken="old")
    ids = [t["taskId"] for t in first.json["tasks"]]
    stop(c, cluster, ids[0])
    wait_for(lambda: task_status(c, cluster, ids[0]) == 404, timeout=RETENTION_S + 10)
    again = run_task(c, fam, count=2, cluster=cluster, clientToken="old")
    assert again.status == 200, again
    assert [t["taskId"] for t in again.json["tasks"]] == ids[1:]
    assert [f["reason"] for f in again.json["failures"]] == ["MISSING"]
    assert again.json["failures"][0]["arn"].endswith("/" + ids[0])


def test_task_ids_are_time_ordered(cp):
    cluster, fam = cluster_and_family(cp, "ids")
    ids = []
    for _ in range(3):
        ids += [t["taskId"] for t in run_task(cp, fam, count=10, cluster=cluster).json["tasks"]]
        time.sleep(0.01)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)
    # Later calls sort after earlier ones (millisecond prefix).
    assert ids[0][:12] <= ids[10][:12] < ids[20][:12]
    now_ms = int(time.time() * 1000)
    assert abs(int(ids[-1][:12], 16) - now_ms) < 60000


# --- migration --------------------------------------------------------------------


def test_migration_from_schema_2_keeps_tasks(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db = sqlite3.connect(str(data / "orch.db"))
    for name in ("001_init.sql", "002_cluster.sql"):
        with open(os.path.join(REPO_ROOT, "schema", name)) as f:
            db.executescript(f.read())
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO clusters(name, created_at) VALUES ('default', 1.0)")
    db.execute("INSERT INTO task_definition_families(family, last_revision) VALUES ('old', 1)")
    old_id = "ab" * 16
    db.execute("INSERT INTO tasks(id, cluster, family, revision, last_status, desired_status,"
               " created_at) VALUES (?, 'default', 'old', 1, 'PROVISIONING', 'RUNNING', 2.0)",
               (old_id,))
    db.commit()
    db.close()
    with servers.running_server(tmp_path, SERVER_ARGS) as srv:
        t = describe_task(srv.client, old_id)
        assert t["lastStatus"] == "PROVISIONING" and t["createdAt"] == 2.0
        fam = unique_family("mig")
        register_taskdef(srv.client, fam)
        r = run_task(srv.client, fam, clientToken="after-migration")
        assert r.status == 200, r
    db = sqlite3.connect(str(data / "orch.db"))
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 3
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "tasks_by_cluster" in indexes
        assert not indexes & {"tasks_not_stopped", "tasks_by_cluster_desired",
                              "tasks_by_cluster_family"}
        assert db.execute("SELECT count(*) FROM run_tokens").fetchone()[0] == 1
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def test_retention_counts_on_the_server_clock(tmp_path, agents):
    # Agents report stoppedAt from their own clocks: one far behind (1970),
    # one far ahead. Neither may shorten or lengthen the retention.
    with servers.running_server(tmp_path, SERVER_ARGS + ["--task-retention", "5s"]) as srv:
        c = srv.client
        cluster, fam = cluster_and_family(c, "clock")
        a = agents(srv, cluster=cluster)
        ids = [t["taskId"] for t in run_task(c, fam, count=2, cluster=cluster).json["tasks"]]
        for tid in ids:
            a.report_status(tid, "RUNNING")
        a.report_status(ids[0], "STOPPED", stoppedAt=1.0)
        a.report_status(ids[1], "STOPPED", stoppedAt=1e18)
        stopped = time.monotonic()
        assert describe_task(c, ids[0], cluster)["stoppedAt"] == 1.0
        # Past a pruning tick (a quarter of the retention), both are still there.
        time.sleep(2.0)
        if time.monotonic() - stopped < 4.5:
            assert all(task_status(c, cluster, t) == 200 for t in ids)
        wait_for(lambda: all(task_status(c, cluster, t) == 404 for t in ids), timeout=20,
                 what="both tasks pruned after the retention")


def test_answers_stay_valid_json_with_a_cut_reason(cp, agents, cp_server):
    # The scheduler's reason quotes the expression and is cut to its buffer,
    # possibly inside a character: the answers must still be valid JSON.
    cluster, fam = cluster_and_family(cp, "utf")
    agents(cp_server, cluster=cluster)
    expr = "attribute:zone == " + "\u00e9" * 300
    r = run_task(cp, fam, cluster=cluster,
                 placementConstraints=[{"type": "memberOf", "expression": expr}])
    assert r.status == 200 and r.json is not None, r
    t = r.json["tasks"][0]
    assert t["lastStatus"] == "PROVISIONING" and "memberOf" in t["pendingReason"]
    assert describe_task(cp, t["taskId"], cluster)["pendingReason"] == t["pendingReason"]
    assert list_ids(cp, cluster) == [t["taskId"]]
