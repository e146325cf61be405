"""Task-definition fields the validator accepts as acted on, each checked
for its effect in a real task on an agent: readonlyRootFilesystem makes
the root read-only (and nothing else); each container gets SIGKILL after
its own stopTimeout; dockerLabels are kept with the container and shown;
a dependency's startTimeout bounds how long it is waited for; and the
fields orch does not act on yet are reported as ignored."""

import time

from orch_test.cluster import sleeper_td
from orch_test.wait import wait_for

# Exit 42 when touching / fails with EROFS while /dev/shm stays writable;
# 0 when / is writable.
TOUCH_ROOT = ("if touch /x 2>&1 | grep -q 'Read-only file system'; then"
              " touch /dev/shm/ok && exit 42; exit 2; fi; test -e /x")


def test_readonly_root_filesystem_makes_the_root_read_only(cluster, family):
    td = sleeper_td(family, command=["sh", "-c", TOUCH_ROOT],
                    container={"readonlyRootFilesystem": True})
    t, containers = cluster.run_to_stop(td, timeout=30)
    assert containers["app"].get("exitCode") == 42, t


def test_without_readonly_root_filesystem_the_root_is_writable(cluster, family):
    for container in ({}, {"readonlyRootFilesystem": False}):
        td = sleeper_td(family, command=["sh", "-c", TOUCH_ROOT], container=container)
        t, containers = cluster.run_to_stop(td, timeout=30)
        assert containers["app"].get("exitCode") == 0, t


def test_each_container_is_killed_after_its_own_stop_timeout(cluster, family):
    # busybox sleep as PID 1 ignores SIGTERM: each container lives until
    # its own SIGKILL.
    td = sleeper_td(family, container={"name": "fast", "stopTimeout": 1})
    td["containerDefinitions"].append(
        {"name": "slow", "image": "busybox", "memory": 32,
         "command": ["sleep", "300"], "stopTimeout": 10})
    cluster.register(td)
    tid = cluster.run_task(family)[0]["taskId"]
    cluster.wait_task(tid, "RUNNING", timeout=30)
    stop_sent = time.monotonic()
    cluster.stop_task(tid)

    def fast_stopped():
        t = cluster.task(tid)
        by_name = {c["name"]: c for c in t["containers"]}
        return by_name if by_name["fast"]["lastStatus"] == "STOPPED" else None
    by_name = wait_for(fast_stopped, timeout=8, what="fast container stopped")
    # Killed after its own 1 s, while the other still has its 10 s.
    assert by_name["fast"].get("exitCode") == 137, by_name
    assert by_name["slow"]["lastStatus"] == "RUNNING", by_name
    t = cluster.wait_task(tid, "STOPPED", timeout=30)
    slow = {c["name"]: c for c in t["containers"]}["slow"]
    assert slow.get("exitCode") == 137, t
    assert time.monotonic() - stop_sent > 5, t


def test_docker_labels_are_kept_and_shown(cluster, family):
    labels = {"team": "web", "com.example.tier": "front"}
    cluster.register(sleeper_td(family, container={"dockerLabels": labels}))
    tid = cluster.run_task(family)[0]["taskId"]
    t = cluster.wait_task(tid, "RUNNING", timeout=30)
    # DescribeTasks shows them on the container ...
    assert t["containers"][0].get("dockerLabels") == labels, t
    # ... and the node's runtime keeps them with the container.
    runtime = cluster.node_of(t).task_containers(tid)
    assert [c.get("labels") for c in runtime] == [labels], runtime
    cluster.stop_task(tid)
    cluster.wait_task(tid, "STOPPED", timeout=15)


def test_start_timeout_bounds_the_wait_for_a_dependency(cluster, family):
    # "dep" never becomes HEALTHY; "app" waits for it at most dep's startTimeout.
    td = sleeper_td(family, container={
        "name": "dep", "essential": False, "startTimeout": 3,
        "healthCheck": {"command": ["CMD", "false"], "interval": 5, "timeout": 2,
                        "retries": 10, "startPeriod": 0}})
    td["containerDefinitions"].append(
        {"name": "app", "image": "busybox", "memory": 32, "command": ["sleep", "300"],
         "stopTimeout": 1,
         "dependsOn": [{"containerName": "dep", "condition": "HEALTHY"}]})
    t, by_name = cluster.run_to_stop(td, timeout=40)
    assert t["stopCode"] == "TaskFailedToStart", t
    reason = t.get("stoppedReason", "")
    assert "dep" in reason and "startTimeout" in reason, t
    assert by_name["app"]["lastStatus"] == "STOPPED" and "exitCode" not in by_name["app"], t


def test_fields_without_an_effect_are_reported_as_ignored(cluster, family):
    # No init for PID 1 yet, and no restarts: listed, never silently accepted.
    td = sleeper_td(family, container={
        "linuxParameters": {"initProcessEnabled": True},
        "restartPolicy": {"enabled": False}})
    r = cluster.client.post("/v1/task-definitions", td)
    assert r.status in (200, 201), r
    ignored = r.json["ignoredFields"]
    assert "containerDefinitions[0].linuxParameters.initProcessEnabled" in ignored, r.json
    assert "containerDefinitions[0].restartPolicy" in ignored, r.json
    catalog = cluster.client.get("/v1/info").json["ignoredTaskDefinitionFields"]
    assert "containerDefinitions[].linuxParameters.initProcessEnabled" in catalog, catalog
    assert "containerDefinitions[].restartPolicy" in catalog, catalog
