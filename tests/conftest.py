"""What every suite shares (tests/pytest.ini makes tests/ the rootdir, so
pytest loads this file for `pytest tests/<suite>` as well as for tests/).

- The binary under test must exist: $ORCH_BIN, else build/orch
  (orch_test.binary); a run without it is a usage error, not a pass.
- @requires(condition, reason) marks (orch_test.require): skipped, or failed
  under CI=true.
- A failed test's report carries the log tail of every `orch server` and
  `orch agent` it had running (orch_test.server, orch_test.cluster).
- family: a task-definition family name unique to the test.
"""

import itertools
import os
import re

import pytest

from orch_test import binary, cluster, require, server

_family_counter = itertools.count(1)


def pytest_configure(config):
    path = binary.orch_bin()
    if not os.access(path, os.X_OK):
        raise pytest.UsageError("orch binary %s not found or not executable "
                                "(build it with scripts/setup.sh, or set ORCH_BIN)"
                                % path)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for mark in item.iter_markers("requires"):
        require.require(*mark.args)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        rep.sections.extend(server.live_logs() + cluster.live_agent_logs())


@pytest.fixture
def family(request):
    """A task-definition family name unique to this test (ECS pattern)."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")
    return "%s-%d" % (base[:200], next(_family_counter))
