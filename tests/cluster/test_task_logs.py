"""`orch task logs`: a task's container log streamed from its agent (in
its own network namespace) through the server: whole log, --tail, follow
until the task stops, a reader that goes away, refusals."""
import os
import subprocess
import time

from orch_test import api
from orch_test.binary import orch_bin
from orch_test.cluster import orch, sleeper_td
from orch_test.wait import wait_for


def _logs(cluster, tid, *args, timeout=30):
    return orch("task", "logs", tid, "--data", cluster.server.data_dir, *args,
                timeout=timeout)


def _printer(family, lines=5, then="sleep 300", stderr=True):
    script = "i=1; while [ $i -le %d ]; do echo line$i; %s" \
             "i=$((i+1)); done; %s" % (lines, "echo err$i >&2; " if stderr else "", then)
    return sleeper_td(family, command=["sh", "-c", script])


def test_logs_of_a_running_task_through_the_server(cluster, family):
    cluster.register(_printer(family))
    tid = cluster.run_task(family)[0]["taskId"]
    cluster.wait_task(tid, "RUNNING")
    r = wait_for(lambda: (lambda r: r if "line5" in r.stdout else None)(_logs(cluster, tid)),
                 timeout=15, what="log lines")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    for i in range(1, 6):
        assert "line%d" % i in out and "err%d" % i in out, out
    assert out.index("line1") < out.index("line5")
    cluster.stop_task(tid)


def test_tail(cluster, family):
    cluster.register(_printer(family, lines=10, stderr=False))
    tid = cluster.run_task(family)[0]["taskId"]
    cluster.wait_task(tid, "RUNNING")
    wait_for(lambda: "line10" in _logs(cluster, tid).stdout, timeout=15, what="log")
    r = _logs(cluster, tid, "--tail", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["line8", "line9", "line10"], r.stdout
    r = _logs(cluster, tid, "--tail", "0")
    assert r.returncode == 0 and r.stdout == "", r
    cluster.stop_task(tid)


def test_follow_ends_when_the_task_stops(cluster, family):
    cluster.register(_printer(family, lines=2, then="sleep 3; echo last"))
    tid = cluster.run_task(family)[0]["taskId"]
    cluster.wait_task(tid, "RUNNING")
    start = time.monotonic()
    r = _logs(cluster, tid, "-f", timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "last", r.stdout
    assert "line1" in r.stdout
    assert time.monotonic() - start < 20
    cluster.wait_task(tid, "STOPPED")


def test_follow_streams_as_lines_arrive(cluster, family):
    cluster.register(sleeper_td(family, command=[
        "sh", "-c", "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"]))
    tid = cluster.run_task(family)[0]["taskId"]
    cluster.wait_task(tid, "RUNNING")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    p = subprocess.Popen([orch_bin(), "task", "logs", "-f", tid, "--data",
                          cluster.server.data_dir], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = [p.stdout.readline() for _ in range(5)]
        assert all(s.startswith("tick") for s in seen), seen
    finally:
        p.kill()
        p.wait()
    cluster.stop_task(tid)
    cluster.wait_task(tid, "STOPPED", timeout=20)


def _agent_log_threads(agent):
    """Threads of the agent process (the poller plus one per live upload)."""
    pid = agent.proc.pid
    return len(os.listdir("/proc/%d/task" % pid))


def test_reader_going_away_leaves_nothing_behind(cluster, family):
    cluster.register(sleeper_td(family, command=[
        "sh", "-c", "while true; do echo x; sleep 0.1; done"]))
    tid = cluster.run_task(family)[0]["taskId"]
    t = cluster.wait_task(tid, "RUNNING")
    agent = cluster.node_of(t)
    wait_for(lambda: "x" in _logs(cluster, tid, "--tail", "1").stdout, timeout=15,
             what="log")
    base = wait_for(lambda: _agent_log_threads(agent), what="threads")
    time.sleep(0.5)
    base = _agent_log_threads(agent)
    for _ in range(3):
        conn = api.http_connection(cluster.server.port, timeout=10)
        conn.request("GET", "/v1/clusters/default/tasks/%s/logs?follow=1" % tid,
                     headers={"Authorization": "Bearer " + cluster.server.token})
        r = conn.getresponse()
        assert r.status == 200
        assert r.read1(100)
        assert _agent_log_threads(agent) > base
        conn.close()
    wait_for(lambda: _agent_log_threads(agent) == base, timeout=10,
             what="agent upload threads gone")
    # The server holds no request for it either: a fresh log still works.
    assert "x" in _logs(cluster, tid, "--tail", "1").stdout
    cluster.stop_task(tid)


def test_unknown_task_is_404(cluster):
    r = cluster.client.get("/v1/clusters/default/tasks/%s/logs" % ("ab" * 16))
    assert r.status == 404, r
    r = _logs(cluster, "cd" * 16)
    assert r.returncode == 1 and "not found" in r.stderr.lower(), r


def test_upload_needs_the_node_credential(cluster):
    r = cluster.client.request("POST", "/v1/agent/streams/" + "ab" * 16,
                               raw_body="hello",
                               headers={"Transfer-Encoding": "chunked"})
    assert r.status == 401, r
    r = cluster.client.get("/v1/agent/streams?wait=0")
    assert r.status == 401, r


def test_logs_of_a_finished_task(cluster, family):
    cluster.register(_printer(family, lines=3, then="exit 0"))
    tid = cluster.run_task(family)[0]["taskId"]
    cluster.wait_task(tid, "STOPPED", timeout=20)
    time.sleep(1)   # the agent has removed the task's containers
    r = _logs(cluster, tid)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    # Each stream in order; stdout and stderr interleave as the shim read them.
    assert [l for l in out if l.startswith("line")] == ["line1", "line2", "line3"], out
    assert [l for l in out if l.startswith("err")] == ["err1", "err2", "err3"], out
    assert len(out) == 6, out
