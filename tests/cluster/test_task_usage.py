"""Agents measure what their tasks use and say so in their status reports
(agent_protocol.h, "usage"): CPU in ECS units averaged since the previous
reading, memory in MiB without the inactive file cache, both from the task's
group cgroup.  The server shows the last report in DescribeTasks and
`orch task show` prints it against what the task reserved.

A task that burns CPU under a quota of half a CPU reports about 512 units;
one that holds 64 MiB reports about 64 MiB; an idle one reports next to
nothing of either."""

import pytest

from orch_test.cluster import orch, sleeper_td
from orch_test.wait import wait_for

USAGE_TIMEOUT = 30      # s: several heartbeats, the first of which has no CPU rate
BURN = ["sh", "-c", "while :; do :; done"]
# dd reads 64 MiB of zeros into one buffer (every page touched), then blocks
# writing it into a pipe nobody reads: the memory stays in use.
HOLD_64_MIB = ["sh", "-c", "dd if=/dev/zero bs=64M count=1 | sleep 300"]


@pytest.fixture(autouse=True)
def tasks_stopped(cluster):
    yield
    cluster.stop_all_tasks()


def sized_td(family, command, cpu, memory="256"):
    """One busybox container bound only by the task size (no limits of its own)."""
    td = sleeper_td(family, command=command, cpu=str(cpu), memory=memory)
    td["containerDefinitions"][0].pop("memory")
    return td


def run_running(cluster, td):
    cluster.register(td)
    t = cluster.run_task(td["family"])[0]
    return cluster.wait_task(t["taskId"], "RUNNING", timeout=30)


def usage_of(cluster, task_id):
    """The task's usage in DescribeTasks (its agent's last report), or {}."""
    return cluster.task(task_id).get("usage") or {}


def wait_usage(cluster, task_id, check, what):
    """Waits until the reported usage passes check (a rate needs two readings,
    a few seconds apart); returns it."""
    seen = []

    def ok():
        u = usage_of(cluster, task_id)
        seen.append(u)
        return u if check(u) else None
    return wait_for(ok, timeout=USAGE_TIMEOUT,
                    what="%s (reported: %s)" % (what, seen[-5:]))


def test_busy_task_reports_its_cpu_quota(cluster, family):
    t = run_running(cluster, sized_td(family, BURN, cpu=512))
    u = wait_usage(cluster, t["taskId"],
                   lambda u: "cpuUnits" in u and 0.75 * 512 <= u["cpuUnits"] <= 1.1 * 512,
                   "about 512 CPU units")
    assert u["cpuUnits"] >= 0 and 0 <= u["memoryMiB"] < 32, u


def test_task_holding_memory_reports_it(cluster, family):
    t = run_running(cluster, sized_td(family, HOLD_64_MIB, cpu=256))
    # Once the buffer is full the task is idle: an interval after that has
    # (next to) no CPU while the memory stays.
    wait_usage(cluster, t["taskId"],
               lambda u: 63 <= u.get("memoryMiB", 0) <= 80 and 0 <= u.get("cpuUnits", -1) < 30,
               "about 64 MiB in use, idle")


def test_idle_task_reports_little(cluster, family):
    t = run_running(cluster, sized_td(family, ["sleep", "300"], cpu=256))
    u = wait_usage(cluster, t["taskId"], lambda u: "cpuUnits" in u, "a CPU rate")
    assert 0 <= u["cpuUnits"] < 30, u
    assert 0 <= u["memoryMiB"] < 8, u


def test_task_show_prints_usage_against_the_reservation(cluster, family):
    t = run_running(cluster, sized_td(family, BURN, cpu=512))
    wait_usage(cluster, t["taskId"], lambda u: "cpuUnits" in u, "a CPU rate")
    r = orch("task", "show", t["taskId"], "--data", cluster.server.data_dir)
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("usage")]
    assert len(line) == 1, r.stdout
    assert "CPU: " in line[0] and "% of 512 reserved)" in line[0], line
    assert "Memory: " in line[0] and "MiB (" in line[0] and "% of 256)" in line[0], line
