"""Task-definition fields the validator accepts as acted on, each checked
for its effect in a real task on an agent: readonlyRootFilesystem makes
the root read-only (and nothing else)."""

from orch_test.cluster import sleeper_td

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

