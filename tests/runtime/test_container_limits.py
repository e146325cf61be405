"""cgroup limits on v1, hybrid or v2: memory (hard and reservation) with the
OOM kill reported as the reason, CPU quota and units, the pids limit."""
import time

from orch_test.containers import cgroup_file, processes_mentioning
from orch_test.wait import wait_until


def read(path):
    with open(path) as f:
        return f.read().strip()


def test_memory_limit_and_oom_reported(orch):
    p = orch.run("--name", "hog", "-m", "16m", "sh", "-c",
                 "head -c 200m /dev/zero > /dev/shm/fill; echo survived")
    assert p.returncode == 137
    assert "survived" not in p.stdout
    st = [c for c in orch.ps().values() if c["name"] == "hog"][0]
    assert st["oomKilled"] is True
    assert st["reason"] == "OOMKilled"
    assert st["exitCode"] == 137


def test_limits_are_written(orch):
    cid = orch.detach("-m", "64m", "--memory-reservation", "32m", "--cpus", "0.5",
                      "--cpu-units", "512", "--pids-limit", "100", "sleep", "60")
    parent = orch.cgroup_parent
    v1_mem = cgroup_file(parent, cid, "memory", "memory.limit_in_bytes")
    if v1_mem:
        assert read(v1_mem) == str(64 << 20)
        assert read(cgroup_file(parent, cid, "memory", "memory.soft_limit_in_bytes")) == str(32 << 20)
        assert read(cgroup_file(parent, cid, "cpu", "cpu.cfs_quota_us")) == "50000"
        assert read(cgroup_file(parent, cid, "cpu", "cpu.cfs_period_us")) == "100000"
        assert read(cgroup_file(parent, cid, "cpu", "cpu.shares")) == "512"
    else:
        assert read(cgroup_file(parent, cid, "memory", "memory.max")) == str(64 << 20)
        assert read(cgroup_file(parent, cid, "memory", "memory.low")) == str(32 << 20)
        assert read(cgroup_file(parent, cid, "cpu", "cpu.max")) == "50000 100000"
        assert read(cgroup_file(parent, cid, "cpu", "cpu.weight")) == "20"
    assert read(cgroup_file(parent, cid, "pids", "pids.max")) == "100"
    # The container's processes are in it, and see it as their root (cgroup namespace).
    procs = read(cgroup_file(parent, cid, "pids", "cgroup.procs")).split()
    assert len(procs) == 1
    p = orch.run("--rm", "cat", "/proc/self/cgroup", check=0)
    for line in p.stdout.splitlines():
        if ":pids:" in line or line.startswith("0::"):
            assert line.endswith(":/"), p.stdout


def test_pids_limit_bounds_a_fork_bomb(orch):
    cid = orch.detach("--pids-limit", "20", "sh", "-c",
                      "i=0; while [ $i -lt 200 ]; do (sleep 60 &) 2>/dev/null; i=$((i+1)); done;"
                      " echo bombed; sleep 60")
    current = cgroup_file(orch.cgroup_parent, cid, "pids", "pids.current")
    assert wait_until(lambda: "bombed" in orch.verb("logs", cid).stdout, timeout=20)
    assert int(read(current)) <= 20
    events = cgroup_file(orch.cgroup_parent, cid, "pids", "pids.events")
    assert int(read(events).split()[-1]) > 0  # "max N": forks were refused
    # Still killable, quickly.
    start = time.time()
    orch.verb("stop", "-t", "1", cid)
    assert time.time() - start < 10
    assert orch.state(cid)["status"] == "exited"
    assert not processes_mentioning(cid)


def test_default_pids_limit(orch):
    cid = orch.detach("sleep", "60")
    assert read(cgroup_file(orch.cgroup_parent, cid, "pids", "pids.max")) == "4096"
