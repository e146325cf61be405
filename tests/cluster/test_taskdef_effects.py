"""Task-definition fields the validator accepts as acted on, each checked
for its effect in a real task on an agent: readonlyRootFilesystem makes
the root read-only (and nothing else); each container gets SIGKILL after
its own stopTimeout; dockerLabels are kept with the container and shown;
a dependency's startTimeout bounds how long it is waited for;
linuxParameters.initProcessEnabled makes orch's init PID 1 (it reaps
orphans, forwards SIGTERM and passes the command's exit code on, and runs
from a sealed copy of the binary), and without it PID 1 is the command;
and the fields orch does not act on are reported as ignored.
tests/cluster/test_taskdef_fields.py checks every acted-on field at once."""

import os
import subprocess
import time

from orch_test.binary import orch_bin
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
    # No restarts and no Service Connect: listed, never silently accepted.
    td = sleeper_td(family, container={
        "restartPolicy": {"enabled": False},
        "portMappings": [{"containerPort": 18099, "name": "web"}]})
    r = cluster.client.post("/v1/task-definitions", td)
    assert r.status in (200, 201), r
    ignored = r.json["ignoredFields"]
    assert "containerDefinitions[0].restartPolicy" in ignored, r.json
    assert "containerDefinitions[0].portMappings[0].name" in ignored, r.json
    catalog = cluster.client.get("/v1/info").json["ignoredTaskDefinitionFields"]
    assert "containerDefinitions[].restartPolicy" in catalog, catalog
    assert "containerDefinitions[].linuxParameters.initProcessEnabled" not in catalog, catalog


# --- linuxParameters.initProcessEnabled -----------------------------------------

def statically_linked(path):
    out = subprocess.run(["file", "-L", path], capture_output=True, text=True).stdout
    return "statically linked" in out or "static-pie linked" in out


# The init runs inside the container, whose root has none of the host's
# libraries: a dynamically linked build (build-asan/) cannot run it and must
# say so.  Each build collects what it can do (the end of this file).
STATIC = statically_linked(orch_bin())
STATIC_ONLY = []


def needs_static(test):
    STATIC_ONLY.append(test.__name__)
    return test

# What PID 1 is, an orphan left to PID 1 (the subshell's background sleep),
# then whether a zombie is left once it ended, and a write to PID 1's binary.
INIT_PROBE = (
    'echo "self=$$"; echo "cmdline=$(tr "\\0" " " </proc/1/cmdline)"; '
    'echo "exe=$(readlink /proc/1/exe)"; (sleep 0.1 &); sleep 1; '
    'echo "zombies=$(cat /proc/[0-9]*/stat | awk \'{print $3}\' | grep -c Z)"; '
    'echo x >/proc/1/exe && echo wrote-exe; ')


def container_output(cluster, task, name):
    """The key=value lines container name of task printed (its log, as
    `orch task logs` gets it, also once the task stopped)."""
    r = cluster.client.get("/v1/clusters/default/tasks/%s/logs?container=%s" %
                           (task["taskId"], name))
    assert r.status == 200, r
    return dict(line.split("=", 1) for line in r.body.decode().splitlines() if "=" in line)


@needs_static
def test_init_process_is_pid1_reaps_and_forwards_sigterm(cluster, family):
    td = sleeper_td(family, command=["sh", "-c", INIT_PROBE +
                                     "trap 'echo got=term; exit 42' TERM; echo ready=1; "
                                     "while true; do sleep 0.1; done"],
                    container={"linuxParameters": {"initProcessEnabled": True},
                               "stopTimeout": 10})
    cluster.register(td)
    tid = cluster.run_task(family)[0]["taskId"]
    t = cluster.wait_task(tid, "RUNNING", timeout=30)
    wait_for(lambda: "ready" in container_output(cluster, t, "app"), timeout=15,
             what="the probe's output")
    out = container_output(cluster, t, "app")
    assert out["self"] == "2", out
    assert out["cmdline"].startswith("orch init "), out
    assert " -- sh -c " in out["cmdline"], out
    assert out["exe"].startswith("/memfd:orch"), out
    assert out["zombies"] == "0", out
    assert "wrote-exe" not in out, out
    # On the host too: PID 1 runs the sealed copy, not the host's binary.
    pid1 = cluster.node_of(t).task_containers(tid)[0]["pid"]
    assert os.readlink("/proc/%d/exe" % pid1).startswith("/memfd:orch")
    # ... the very copy its shim was started from by the agent: one copy
    # for the agent, its shims and their inits.
    with open("/proc/%d/stat" % pid1) as f:
        shim = int(f.read().rsplit(")", 1)[1].split()[1])
    assert os.readlink("/proc/%d/exe" % shim).startswith("/memfd:orch")
    assert os.stat("/proc/%d/exe" % shim).st_ino == os.stat("/proc/%d/exe" % pid1).st_ino
    stop_sent = time.monotonic()
    cluster.stop_task(tid)
    t = cluster.wait_task(tid, "STOPPED", timeout=30)
    # SIGTERM reached the command's trap long before the SIGKILL at 10 s,
    # and its exit code is the container's.
    assert time.monotonic() - stop_sent < 8, t
    assert t["containers"][0].get("exitCode") == 42, t
    assert container_output(cluster, t, "app").get("got") == "term"


@needs_static
def test_init_process_exit_code_and_without_it_pid1_is_the_command(cluster, family):
    td = sleeper_td(family, command=["sh", "-c", INIT_PROBE + "exit 5"],
                    container={"linuxParameters": {"initProcessEnabled": True}})
    td["containerDefinitions"].append(
        {"name": "plain", "image": "busybox", "memory": 32, "essential": False,
         "command": ["sh", "-c", INIT_PROBE], "stopTimeout": 1,
         "linuxParameters": {"initProcessEnabled": False}})
    t, by_name = cluster.run_to_stop(td, timeout=30)
    assert by_name["app"].get("exitCode") == 5, t
    out = container_output(cluster, t, "app")
    assert out["self"] == "2" and out["zombies"] == "0", out
    plain = container_output(cluster, t, "plain")
    assert plain["self"] == "1", plain
    assert plain["cmdline"].startswith("sh -c "), plain
    assert plain["exe"] == "/bin/busybox", plain


def test_a_dynamic_orch_refuses_the_init(cluster, family):
    td = sleeper_td(family, command=["sh", "-c", "echo ran"],
                    container={"linuxParameters": {"initProcessEnabled": True}})
    t, by_name = cluster.run_to_stop(td, timeout=30)
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "needs a statically linked orch" in (by_name["app"].get("reason", "") +
                                                t.get("stoppedReason", "")), t


for _name in STATIC_ONLY if not STATIC else ["test_a_dynamic_orch_refuses_the_init"]:
    del globals()[_name]
del _name
