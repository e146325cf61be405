"""Leaving a task's container through the runtime, by the routes a cluster
user has: a task definition's workingDirectory (the runc CVE-2024-21626
class: a /proc/self/fd path to a descriptor the runtime left open), a
process exec'd into the container that inherits the agent's descriptors,
and the exec helper's binary (the runc CVE-2019-5736 class: the host's
orch, reachable from the container while the helper runs)."""

import hashlib
import os
import subprocess
import threading
import time

from orch_test.binary import orch_bin
from orch_test.cluster import sleeper_td
from orch_test.fake_agent import unique_family


def _exec(cluster, tid, *cmd, timeout=60):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    return subprocess.run([orch_bin(), "task", "exec", tid, "--data", cluster.server.data_dir,
                           "--"] + list(cmd), capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_workdir_through_proc_self_fd_never_starts(cluster):
    """Each descriptor number the shim or the agent might have left: the
    task stops with a reason naming the working directory; none runs."""
    for fd in (3, 4, 5, 6, 7, 8, 9, 10):
        td = sleeper_td(unique_family("escape-wd"),
                        command=("sh", "-c", "cd ../../../../../..; ls; sleep 300"),
                        container={"workingDirectory": "/proc/self/fd/%d" % fd})
        t, containers = cluster.run_to_stop(td, timeout=40)
        reason = containers["app"].get("reason", "") + " " + t.get("stoppedReason", "")
        assert "working directory" in reason, (fd, t)
        assert containers["app"].get("exitCode") != 0, (fd, t)


def _running_task(cluster, **container):
    td = sleeper_td(unique_family("escape-exec"), container=container)
    cluster.register(td)
    tid = cluster.run_task(td["family"])[0]["taskId"]
    cluster.wait_task(tid, "RUNNING", timeout=30)
    return tid


def test_exec_process_has_only_stdio_open(cluster):
    tid = _running_task(cluster)
    try:
        r = _exec(cluster, tid, "sh", "-c", "ls /proc/$$/fd; true")
        assert r.returncode == 0, r
        assert r.stdout.split() == ["0", "1", "2"], r.stdout
        r = _exec(cluster, tid, "sh", "-c", "cd /proc/self/fd/3 && pwd; true")
        assert r.returncode == 0 and "/" not in r.stdout, r
    finally:
        cluster.stop_task(tid)


def _exec_helpers():
    """Host PIDs of running `orch exec-helper` processes."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == b"exec-helper":
            pids.append(int(entry))
    return pids


def test_exec_helper_runs_from_a_sealed_copy(cluster):
    """While an exec runs, its helper's binary is a sealed in-memory copy:
    not the host's file, and not writable; the host's binary is unchanged."""
    with open(orch_bin(), "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    tid = _running_task(cluster)
    try:
        result = {}
        runner = threading.Thread(
            target=lambda: result.update(r=_exec(cluster, tid, "sleep", "4")))
        runner.start()
        deadline, helpers = time.time() + 10, []
        while not helpers and time.time() < deadline:
            helpers = _exec_helpers()
            time.sleep(0.05)
        assert helpers, "no exec-helper process seen"
        for pid in helpers:
            exe = os.readlink("/proc/%d/exe" % pid)
            assert exe.startswith("/memfd:"), exe
            assert os.path.realpath(orch_bin()) not in exe
            try:
                with open("/proc/%d/exe" % pid, "r+b", buffering=0) as f:
                    f.write(b"\x7fELF-overwritten")
                wrote = True
            except OSError:
                wrote = False
            assert not wrote, "the exec helper's binary could be written"
        runner.join(30)
        assert result["r"].returncode == 0, result
    finally:
        cluster.stop_task(tid)
    with open(orch_bin(), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == before
