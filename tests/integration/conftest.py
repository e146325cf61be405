"""pytest fixtures shared by the integration tests.

Every server runs on its own fresh data directory and free loopback port and
is always stopped at teardown.  When a test fails, the tail of the log of
every server that is alive at that moment (its stderr and stdout) is attached
to the failure report.

The binary comes from $ORCH_BIN (ctest sets it), default
/work/main/build-dev/orch.
"""

import itertools
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import util  # noqa: E402

_live_servers = []
_family_counter = itertools.count(1)


def _make_server(tmp_dir, extra_args=()):
    data = os.path.join(str(tmp_dir), "data")
    log = os.path.join(str(tmp_dir), "server.log")
    srv = util.OrchServer(data, log, extra_args=extra_args)
    _live_servers.append(srv)
    return srv


def _release(srv):
    try:
        srv.stop()
    finally:
        if srv in _live_servers:
            _live_servers.remove(srv)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in list(_live_servers):
            rep.sections.append(("orch server log %s" % srv.log_path,
                                 srv.log_tail(8000)))


def pytest_configure(config):
    binary = util.orch_bin()
    if not os.access(binary, os.X_OK):
        raise pytest.UsageError("orch binary %s not found or not executable "
                                "(set ORCH_BIN)" % binary)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server shared by the tests of a module."""
    srv = _make_server(tmp_path_factory.mktemp("orch"))
    srv.start()
    yield srv
    _release(srv)


@pytest.fixture
def client(server):
    if not server.alive():  # a previous test may have stopped it
        server.start()
    return server.client


@pytest.fixture
def fresh_server(tmp_path):
    """A server of the test's own, for restarts and kills."""
    srv = _make_server(tmp_path)
    srv.start()
    yield srv
    _release(srv)


@pytest.fixture
def server_factory(tmp_path):
    """Make servers with extra flags: server_factory('--request-timeout', '2').

    The returned server is started; each gets its own data dir.
    """
    made = []

    def make(*extra_args, start=True):
        d = tmp_path / ("s%d" % len(made))
        d.mkdir()
        srv = _make_server(d, extra_args)
        made.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    for srv in made:
        _release(srv)


@pytest.fixture
def family(request):
    """A task-definition family name unique to this test (ECS pattern)."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")
    return "%s-%d" % (base[:200], next(_family_counter))
