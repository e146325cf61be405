"""pytest fixtures of the cluster tests (DESIGN.md section 7).

Real agents (orch_test.cluster): one `orch server --no-agent` listening on
0.0.0.0 and N `orch agent`s, each in its own network namespace
(orch_test.netns) with its own data dir and cgroup parent and the offline
busybox image imported.  Teardown removes everything they made and asserts
that nothing is left.

  busybox_layout  the offline busybox OCI layout (orch_test.images)
  cluster         a cluster shared by the tests of a module
  fresh_cluster   a cluster of the test's own (the network names are fixed:
                  a module uses one of the two, never both)

A fake agent (orch_test.fake_agent) for the control plane alone:

  cp_server       one `orch server --no-agent --node-grace 2` per module
  cp              its admin client (restarts the server if a test stopped it)
  fresh_cp        a server of the test's own (for kill -9 and restarts)
  agents          agents(server, name=None, heartbeat=True, **kw): a
                  registered FakeAgent, heartbeating until the test ends
  placed          placed(prefix, **kw): a cluster of the test's own with one
                  FakeAgent and one task placed on it

Everything here needs root (namespaces, veths, cgroups): as another user
every test is skipped, or fails under CI=true (orch_test.require).  A
failed test's report carries the servers' and agents' logs
(tests/conftest.py).
"""

import collections
import os

import pytest

from orch_test import images, require, server
from orch_test import cluster as clusters
from orch_test.fake_agent import (SERVER_ARGS, FakeAgent, new_cluster, register_taskdef, run_task,
                                  unique_family)

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    require.mark_directory(items, HERE, os.geteuid() == 0, "the cluster tests need root")


# --- real agents --------------------------------------------------------------

@pytest.fixture(scope="session")
def busybox_layout(tmp_path_factory):
    return images.build_test_images(tmp_path_factory.mktemp("images")).path("busybox")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, busybox_layout):
    workdir = tmp_path_factory.mktemp("cluster")
    cl = clusters.make_cluster(workdir, busybox_layout)
    yield cl
    clusters.release_cluster(cl, workdir)


@pytest.fixture
def fresh_cluster(tmp_path, busybox_layout):
    """A cluster of the test's own (faults that would disturb others)."""
    cl = clusters.make_cluster(tmp_path, busybox_layout)
    yield cl
    clusters.release_cluster(cl, tmp_path)


# --- the fake agent -----------------------------------------------------------

@pytest.fixture(scope="module")
def cp_server(tmp_path_factory):
    with server.running_server(tmp_path_factory.mktemp("cp"), SERVER_ARGS) as srv:
        yield srv


@pytest.fixture
def cp(cp_server):
    if not cp_server.alive():
        cp_server.start()
    return cp_server.client


@pytest.fixture
def fresh_cp(tmp_path):
    with server.running_server(tmp_path, SERVER_ARGS) as srv:
        yield srv


@pytest.fixture
def agents():
    """agents(server, name, **kw) -> a registered FakeAgent (heartbeats on)."""
    made = []

    def make(srv, name=None, heartbeat=True, **kw):
        a = FakeAgent(srv, name or unique_family("node"), **kw)
        r = a.register()
        assert r.status == 201, r
        if heartbeat:
            a.start_heartbeats()
        made.append(a)
        return a

    yield make
    for a in made:
        a.stop_heartbeats()


Placed = collections.namedtuple("Placed", "cluster agent family task_id")


@pytest.fixture
def placed(cp_server, cp, agents):
    """placed(prefix, memory=..., **agent_kw) -> Placed: an ECS cluster of
    the test's own, one heartbeating FakeAgent in it, a one-container family
    and one task of it, placed on that node (PENDING)."""
    def make(prefix, memory=128, **agent_kw):
        name = new_cluster(cp)
        a = agents(cp_server, cluster=name, **agent_kw)
        fam = unique_family(prefix)
        register_taskdef(cp, fam, memory=memory)
        r = run_task(cp, fam, cluster=name)
        assert r.status == 200, r
        return Placed(name, a, fam, r.json["tasks"][0]["taskId"])

    return make
