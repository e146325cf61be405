"""A full disk under the server's data dir: commits fail, every request of a
failed batch gets 500, nothing acknowledged is lost, the server stays up,
and the scheduler forgets the placements that were never stored (its view
of a node's remaining capacity matches the stored tasks again)."""
import errno
import os
import subprocess

import pytest

from orch_test.fake_agent import (SERVER_ARGS, describe_task, register_taskdef, run_task,
                                  unique_family)
from orch_test.server import OrchServer

NODE_CPU = 100000


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mnt)],
                   check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path):
    """Writes path until the file system is full; returns the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
    return written


def remaining_cpu(client, node_id):
    r = client.get("/v1/clusters/default/nodes/%s" % node_id)
    assert r.status == 200, r
    rem = {x["name"]: x for x in r.json["containerInstance"]["remainingResources"]}
    return rem["CPU"]["integerValue"]


def stored_cpu(client):
    total, token = 0, None
    while True:
        q = "/v1/clusters/default/tasks?desiredStatus=RUNNING&maxResults=100"
        r = client.get(q + ("&nextToken=" + token if token else ""))
        assert r.status == 200, r
        total += sum(int(t["cpu"]) for t in r.json["tasks"])
        token = r.json.get("nextToken")
        if not token:
            return total


def test_failed_commits_leave_no_phantom_placements(small_disk, tmp_path, agents):
    srv = OrchServer(small_disk / "data", tmp_path / "server.log",
                          extra_args=SERVER_ARGS)
    srv.start()
    try:
        c = srv.client
        a = agents(srv, cpu=NODE_CPU, memory=1 << 20)
        fam = unique_family("full")
        register_taskdef(c, fam, memory=6, cpu=3)
        assert run_task(c, fam, count=10).status == 200
        filler = small_disk / "filler"
        fill(filler)
        statuses = []
        for _ in range(400):
            r = run_task(c, fam, count=10)
            statuses.append(r.status)
            if r.status == 500:
                break
        assert 500 in statuses, statuses
        assert "could not be committed" in r.json["message"], r.json
        # Space again: the server works on, and the scheduler's view of the
        # node matches what is stored (no capacity held by unstored tasks).
        os.unlink(filler)
        assert c.get("/healthz").status == 200
        assert remaining_cpu(c, a.node_id) == NODE_CPU - stored_cpu(c)
        r = run_task(c, fam, count=10)
        assert r.status == 200, r
        for t in r.json["tasks"]:
            assert describe_task(c, t["taskId"])["lastStatus"] == "PENDING"
        assert remaining_cpu(c, a.node_id) == NODE_CPU - stored_cpu(c)
        assert "scheduler rebuilt" in srv.log_tail(200000)
        # Everything acknowledged survives a restart.
        before = stored_cpu(c)
        srv.kill9()
        srv.start()
        assert stored_cpu(srv.client) == before
    finally:
        srv.stop()
