"""Detached containers, ps/logs/stop/rm, the shim outliving its starter, log
rotation, and nothing left behind after --rm or rm."""
import json
import os
import signal
import time

from orch_test.containers import kill_quietly, leaks, processes_mentioning
from orch_test.wait import wait_until


def test_rm_flag_leaves_nothing(orch):
    p = orch.run("--rm", "--name", "gone", "sh", "-c", "echo hi; touch /tmp/x", check=0)
    assert p.stdout == "hi\n"
    assert orch.ps() == {}
    assert os.listdir(os.path.join(orch.data_dir, "containers")) in ([], [".lock"])
    assert not [d for d in os.listdir(os.path.join(orch.data_dir, "containers"))
                if not d.startswith(".")]
    assert not processes_mentioning(orch.cgroup_parent)


def test_rm_leaves_nothing(orch):
    cid = orch.detach("sh", "-c", "echo started; sleep 1000")
    assert wait_until(lambda: processes_mentioning(cid))
    assert orch.state(cid)["status"] == "running"
    assert orch.verb("rm", cid, check=False).returncode == 1  # running: needs -f
    orch.verb("rm", "-f", cid)
    assert leaks(orch, cid) == {}
    assert orch.verb("logs", cid, check=False).returncode == 1


def test_rm_after_exit_leaves_nothing(orch):
    cid = orch.detach("sh", "-c", "echo bye")
    orch.wait_status(cid, "exited")
    # The shim removes the cgroup when the container exits.
    assert wait_until(lambda: not leaks(orch, cid).get("cgroups"))
    orch.verb("rm", cid)
    assert leaks(orch, cid) == {}


def test_detach_ps_logs_stop(orch):
    cid = orch.detach("--name", "ticker", "sh", "-c",
                      "trap 'echo got-term; exit 42' TERM; i=0; "
                      "while true; do echo tick $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done")
    running = orch.ps(all_=False)
    assert running[cid]["status"] == "running" and running[cid]["name"] == "ticker"
    assert running[cid]["pid"] > 0
    wait_until(lambda: "tick 3" in orch.verb("logs", "ticker").stdout)
    logs = orch.verb("logs", "--tail", "2", "ticker")
    assert len(logs.stdout.splitlines()) + len(logs.stderr.splitlines()) == 2
    logs = orch.verb("logs", cid[:12])
    assert logs.stdout.startswith("tick 0\ntick 1\n")
    assert logs.stderr.startswith("err 0\n")
    table = orch.verb("ps").stdout
    assert cid[:12] in table and "ticker" in table and "Up " in table
    orch.verb("stop", "-t", "5", "ticker")
    st = orch.state(cid)
    assert (st["status"], st["exitCode"], st["reason"]) == ("exited", 42, "Error")
    assert "got-term" in orch.verb("logs", cid).stdout
    assert cid not in orch.ps(all_=False)
    assert "Exited (42)" in orch.verb("ps", "-a").stdout


def test_stop_escalates_to_sigkill(orch):
    cid = orch.detach("sleep", "1000")  # PID 1 without a TERM handler ignores TERM
    start = time.time()
    orch.verb("stop", "-t", "1", cid)
    assert 0.9 < time.time() - start < 8
    st = orch.state(cid)
    assert (st["exitCode"], st["exitSignal"]) == (137, 9)


def test_logs_follow(orch):
    cid = orch.detach("sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done; exit 5")
    p = orch.verb("logs", "-f", cid, timeout=20)
    assert p.stdout == "line 1\nline 2\nline 3\n"
    assert orch.state(cid)["exitCode"] == 5


def test_log_file_format(orch):
    cid = orch.detach("sh", "-c", "echo out; echo err >&2; printf 'tab\\tquote\"'")
    orch.wait_status(cid, "exited")
    with open(os.path.join(orch.container_dir(cid), "container.log")) as f:
        entries = [json.loads(line) for line in f]
    by_stream = {}
    for e in entries:
        assert set(e) == {"log", "stream", "time"}
        assert e["time"].endswith("Z") and len(e["time"]) == 30
        by_stream.setdefault(e["stream"], "")
        by_stream[e["stream"]] += e["log"]
    assert by_stream == {"stdout": "out\ntab\tquote\"", "stderr": "err\n"}


def test_log_rotation_is_capped(orch):
    cid = orch.detach("sh", "-c", "head -c 40000000 /dev/zero | tr '\\0' a")
    orch.wait_status(cid, "exited", timeout=60)
    d = orch.container_dir(cid)
    logs = sorted(f for f in os.listdir(d) if f.startswith("container.log"))
    assert logs == ["container.log", "container.log.1", "container.log.2"]
    for name in logs:
        assert os.path.getsize(os.path.join(d, name)) <= 10 * 1024 * 1024
    # What is kept is the end of the output.
    tail = orch.verb("logs", "--tail", "1", cid).stdout
    assert set(tail) == {"a"}


def test_kill9_of_starter_then_reattach(orch):
    """The shim, not the starter, owns the container: kill -9 the foreground
    orch run, find the container again, and collect its real exit code."""
    proc = orch.popen("--name", "survivor", "sh", "-c",
                      "echo before; sleep 2; echo after; exit 7")
    assert proc.stdout.readline() == "before\n"
    proc.kill()
    proc.wait()
    cid = [c for c, st in orch.ps().items() if st["name"] == "survivor"][0]
    assert orch.state(cid)["status"] == "running"
    p = orch.verb("logs", "-f", "survivor", timeout=20)
    assert p.stdout == "before\nafter\n"
    st = orch.wait_status(cid, "exited")
    assert st["exitCode"] == 7


def test_detached_starter_is_gone_container_runs(orch):
    cid = orch.detach("sleep", "1000")
    st = orch.state(cid)
    # The shim's parent is not the (exited) orch run: it was reparented.
    with open("/proc/%d/stat" % st["pid"]) as f:
        shim_pid = int(f.read().rsplit(")", 1)[1].split()[1])
    with open("/proc/%d/cmdline" % shim_pid, "rb") as f:
        assert f.read().split(b"\0")[1] == b"shim"
    orch.verb("rm", "-f", cid)
    assert leaks(orch, cid) == {}


def test_ctrl_c_stops_the_container(orch):
    proc = orch.popen("--rm", "sh", "-c",
                      "trap 'echo stopping; exit 42' TERM; echo ready; "
                      "while true; do sleep 0.1; done")
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        kill_quietly(proc)
    assert proc.returncode == 42
    assert out == "stopping\n"
    assert orch.ps() == {}
