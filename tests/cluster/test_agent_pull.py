"""Images a node does not have are pulled (the task is PENDING meanwhile);
a pull that fails stops the task with TaskFailedToStart and the error.
A local docker-registry on the test bridge serves the offline busybox."""
import os

import pytest

from orch_test import netns
from orch_test.cluster import make_cluster, release_cluster, sleeper_td
from orch_test.registry import LocalRegistry, require_registry_tools


@pytest.fixture(scope="module")
def pull_cluster(tmp_path_factory, busybox_layout):
    require_registry_tools()
    workdir = tmp_path_factory.mktemp("pull-cluster")
    reg = LocalRegistry(str(workdir / "registry"))
    reg.address = "%s:%d" % (netns.BRIDGE_ADDR, reg.port)
    os.makedirs(reg.workdir, exist_ok=True)

    def start_registry(cl):
        reg.start()
        reg.push(busybox_layout, "pulled")
        for a in cl.agents:
            a.env = {"ORCH_INSECURE_REGISTRIES": reg.address}

    cl = make_cluster(workdir, busybox_layout, count=1,
                      before_agents=start_registry)
    cl.registry = reg
    try:
        yield cl
    finally:
        try:
            reg.stop()
        finally:
            release_cluster(cl, workdir)


def test_missing_image_is_pulled_then_runs(pull_cluster, family):
    cl = pull_cluster
    image = "%s/pulled:latest" % cl.registry.address
    td = sleeper_td(family)
    td["containerDefinitions"][0]["image"] = image
    cl.register(td)
    t = cl.run_task(family)[0]
    t = cl.wait_task(t["taskId"], "RUNNING", timeout=60)
    agent = cl.agents[0]
    assert any(c["image"] == image for c in agent.containers())
    cl.stop_task(t["taskId"])
    cl.wait_task(t["taskId"], "STOPPED", timeout=15)


def test_failed_pull_stops_the_task_with_the_error(pull_cluster, family):
    cl = pull_cluster
    td = sleeper_td(family)
    td["containerDefinitions"][0]["image"] = "%s/nothere:latest" % cl.registry.address
    cl.register(td)
    t = cl.run_task(family)[0]
    t = cl.wait_task(t["taskId"], "STOPPED", timeout=60)
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "CannotPullContainerError" in t["stoppedReason"], t
    # The puller's own message, one line, without the CLI's prefix.
    assert "orch:" not in t["stoppedReason"] and "\n" not in t["stoppedReason"], t
    assert "nothere" in t["stoppedReason"] or "not found" in \
        t["stoppedReason"].lower() or "unknown" in t["stoppedReason"].lower(), t
