"""Tasks on agents: they run where placed, exit codes and stop codes come
back as ECS reports them, essential and non-essential containers, stops
with the container's stopTimeout, refused network modes and failed pulls."""

import pytest

from orch_test.cluster import sleeper_td
from orch_test.wait import wait_for



def test_tasks_run_on_agents(cluster, family):
    cluster.register(sleeper_td(family))
    tasks = cluster.run_task(family, count=3)
    assert len(tasks) == 3
    for t in tasks:
        t = cluster.wait_task(t["taskId"], "RUNNING")
        agent = cluster.node_of(t)
        assert agent is not None, t
        running = [c for c in agent.task_containers(t["taskId"])
                   if c["status"] == "running"]
        assert len(running) == 1, agent.containers()
        assert t["containers"][0]["lastStatus"] == "RUNNING"
        assert t.get("startedAt")
    cluster.stop_all_tasks()


def test_stop_task_uses_stop_timeout_and_reports_user_initiated(cluster, family):
    cluster.register(sleeper_td(family))
    t = cluster.run_task(family)[0]
    cluster.wait_task(t["taskId"], "RUNNING")
    agent = cluster.node_of(cluster.task(t["taskId"]))
    cluster.stop_task(t["taskId"], "because")
    t = cluster.wait_task(t["taskId"], "STOPPED", timeout=15)
    assert t["stopCode"] == "UserInitiated", t
    assert "because" in t.get("stoppedReason", ""), t
    # busybox sleep as PID 1 ignores SIGTERM: SIGKILL after stopTimeout.
    assert t["containers"][0]["exitCode"] == 137, t
    # Once the server no longer lists it, nothing of it stays on the node.
    wait_for(lambda: not agent.task_containers(t["taskId"]), timeout=20,
             what="containers removed")


def test_essential_exit_stops_the_task_with_its_exit_code(cluster, family):
    t, _ = cluster.run_to_stop(sleeper_td(family, command=["sh", "-c", "exit 3"]), timeout=15)
    assert t["stopCode"] == "EssentialContainerExited", t
    assert t["containers"][0]["exitCode"] == 3, t


def test_zero_exit_is_reported(cluster, family):
    t, _ = cluster.run_to_stop(sleeper_td(family, command=["true"]), timeout=15)
    assert t["containers"][0]["exitCode"] == 0, t


def test_non_essential_exit_keeps_the_task_running(cluster, family):
    td = sleeper_td(family)
    td["containerDefinitions"].append(
        {"name": "side", "image": "busybox", "memory": 16, "essential": False,
         "command": ["sh", "-c", "exit 5"]})
    cluster.register(td)
    t = cluster.run_task(family)[0]
    tid = t["taskId"]
    cluster.wait_task(tid, "RUNNING")

    def side_stopped():
        t = cluster.task(tid)
        side = [c for c in t["containers"] if c["name"] == "side"][0]
        return t if side["lastStatus"] == "STOPPED" else None
    t = wait_for(side_stopped, timeout=15, what="side container stopped")
    side = [c for c in t["containers"] if c["name"] == "side"][0]
    assert side.get("exitCode") == 5, t
    assert t["lastStatus"] == "RUNNING", t
    cluster.stop_task(tid)
    cluster.wait_task(tid, "STOPPED", timeout=15)


def test_essential_exit_stops_the_other_containers(cluster, family):
    td = sleeper_td(family, command=["sh", "-c", "sleep 1; exit 7"])
    td["containerDefinitions"].append(
        {"name": "other", "image": "busybox", "memory": 16,
         "essential": False, "command": ["sleep", "300"], "stopTimeout": 1})
    t, by_name = cluster.run_to_stop(td)
    assert by_name["app"]["exitCode"] == 7
    assert by_name["other"]["lastStatus"] == "STOPPED"
    assert t["stopCode"] == "EssentialContainerExited"


def test_environment_and_overrides_reach_the_container(cluster, family):
    td = sleeper_td(family, command=["sh", "-c", 'exit "$CODE"'],
                    container={"environment": [{"name": "CODE", "value": "4"}]})
    t, _ = cluster.run_to_stop(td, timeout=15, overrides={"containerOverrides": [
        {"name": "app", "environment": [{"name": "CODE", "value": "9"}]}]})
    assert t["containers"][0]["exitCode"] == 9, t


@pytest.mark.parametrize("mode", ["bridge", "awsvpc"])
def test_unsupported_network_mode_fails_to_start(cluster, family, mode):
    td = sleeper_td(family + mode, network=mode)
    if mode == "awsvpc":
        td["containerDefinitions"][0].pop("portMappings", None)
    t, _ = cluster.run_to_stop(td, timeout=15)
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "network mode %s is not supported yet" % mode in t["stoppedReason"], t


def test_missing_image_fails_to_start_with_the_pull_error(cluster, family):
    td = sleeper_td(family)
    td["containerDefinitions"][0]["image"] = "127.0.0.1:1/nothing/here:latest"
    t, _ = cluster.run_to_stop(td, timeout=60)
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "CannotPullContainerError" in t["stoppedReason"], t


def test_network_mode_none_has_only_loopback(cluster, family):
    t, _ = cluster.run_to_stop(sleeper_td(
        family, network="none",
        command=["sh", "-c", "test $(ls /sys/class/net | wc -l) -eq 1"]), timeout=15)
    assert t["containers"][0]["exitCode"] == 0, t


def test_containers_of_a_task_share_its_network_namespace(cluster, family):
    """networkMode none: one namespace per task, so localhost reaches the
    sibling container (as in an ECS awsvpc task or a pod)."""
    td = sleeper_td(family, network="none",
                    command=["sh", "-c", "echo shared | nc -l -p 7777"],
                    container={"essential": False})
    td["containerDefinitions"].append(
        {"name": "client", "image": "busybox", "memory": 16,
         "command": ["sh", "-c",
                     "sleep 1; nc 127.0.0.1 7777 | grep -q shared"]})
    t, by_name = cluster.run_to_stop(td)
    assert by_name["client"]["exitCode"] == 0, t


@pytest.mark.parametrize("init_exit,expect", [(0, "ran"), (3, "failed")])
def test_depends_on_success(cluster, family, init_exit, expect):
    fam = "%s-%d" % (family, init_exit)
    td = sleeper_td(fam, command=["sh", "-c", "sleep 1; exit %d" % init_exit],
                    container={"name": "init", "essential": False})
    td["containerDefinitions"].append(
        {"name": "app", "image": "busybox", "memory": 16,
         "command": ["sh", "-c", "exit 4"],
         "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]})
    t, by_name = cluster.run_to_stop(td)
    assert by_name["init"]["exitCode"] == init_exit, t
    if expect == "ran":
        assert t["stopCode"] == "EssentialContainerExited", t
        assert by_name["app"]["exitCode"] == 4, t
    else:
        assert t["stopCode"] == "TaskFailedToStart", t
        assert "DependencyFailed" in t["stoppedReason"], t
        assert by_name["app"].get("exitCode") is None, t


def test_depends_on_start_orders_containers(cluster, family):
    td = sleeper_td(family, network="none",
                    command=["sh", "-c", "echo up | nc -l -p 7000"],
                    container={"essential": False})
    td["containerDefinitions"].append(
        {"name": "after", "image": "busybox", "memory": 16,
         "command": ["sh", "-c", "sleep 0.5; nc 127.0.0.1 7000 | grep -q up"],
         "dependsOn": [{"containerName": "app", "condition": "START"}]})
    t, by_name = cluster.run_to_stop(td)
    assert by_name["after"]["exitCode"] == 0, t


def _health_td(family, check, interval=5, retries=1, **extra):
    return sleeper_td(family, command=["sh", "-c", "sleep 1; touch /tmp/ready; "
                                       "exec sleep 300"],
                      container={"healthCheck": {
                          "command": check, "interval": interval, "timeout": 2,
                          "retries": retries, "startPeriod": 0}}, **extra)


def test_health_check_makes_a_container_healthy(cluster, family):
    cluster.register(_health_td(family, ["CMD-SHELL", "test -f /tmp/ready"],
                                retries=3))
    tid = cluster.run_task(family)[0]["taskId"]

    def healthy():
        t = cluster.task(tid)
        return t if t["containers"][0].get("healthStatus") == "HEALTHY" else None
    t = wait_for(healthy, timeout=20, what="container HEALTHY")
    assert t.get("healthStatus") in ("HEALTHY", None), t
    cluster.stop_task(tid)
    cluster.wait_task(tid, "STOPPED", timeout=15)


def test_failing_health_check_makes_it_unhealthy(cluster, family):
    cluster.register(_health_td(family, ["CMD", "false"]))
    tid = cluster.run_task(family)[0]["taskId"]

    def unhealthy():
        t = cluster.task(tid)
        return t if t["containers"][0].get("healthStatus") == "UNHEALTHY" else None
    wait_for(unhealthy, timeout=20, what="container UNHEALTHY")
    cluster.stop_task(tid)
    cluster.wait_task(tid, "STOPPED", timeout=15)


def test_health_check_runs_inside_the_container(cluster, family):
    # /tmp/ready exists only in the container's own root.
    cluster.register(_health_td(family, ["CMD", "test", "-f", "/tmp/ready"],
                                retries=3))
    tid = cluster.run_task(family)[0]["taskId"]
    wait_for(lambda: cluster.task(tid)["containers"][0].get("healthStatus")
             == "HEALTHY", timeout=20, what="HEALTHY")
    assert not __import__("os").path.exists("/tmp/ready")
    cluster.stop_task(tid)
    cluster.wait_task(tid, "STOPPED", timeout=15)


def test_depends_on_healthy(cluster, family):
    td = _health_td(family, ["CMD-SHELL", "test -f /tmp/ready"], retries=3,
                    network="none")
    td["containerDefinitions"][0]["command"] = [
        "sh", "-c", "sleep 1; touch /tmp/ready; echo ok | nc -l -p 7100"]
    td["containerDefinitions"][0]["essential"] = False
    td["containerDefinitions"].append(
        {"name": "after", "image": "busybox", "memory": 16,
         "command": ["sh", "-c", "nc 127.0.0.1 7100 | grep -q ok"],
         "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}]})
    t, by_name = cluster.run_to_stop(td, timeout=30)
    assert by_name["after"]["exitCode"] == 0, t
