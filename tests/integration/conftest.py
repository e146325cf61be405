"""pytest fixtures of the integration tests (the API and CLI of one
`orch server`).

Every server runs on its own fresh data directory and free loopback port and
is always stopped at teardown (orch_test.server); when a test fails, the log
tail of every server still running is attached to the report
(tests/conftest.py, which also checks the binary: $ORCH_BIN, else build/orch).
"""

import pytest

from orch_test import server as servers


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server shared by the tests of a module."""
    with servers.running_server(tmp_path_factory.mktemp("orch")) as srv:
        yield srv


@pytest.fixture
def client(server):
    if not server.alive():  # a previous test may have stopped it
        server.start()
    return server.client


@pytest.fixture
def fresh_server(tmp_path):
    """A server of the test's own, for restarts and kills."""
    with servers.running_server(tmp_path) as srv:
        yield srv


@pytest.fixture
def server_factory(tmp_path):
    """Make servers with extra flags: server_factory('--request-timeout', '2').

    The returned server is started; each gets its own data dir.
    """
    made = []

    def make(*extra_args, start=True):
        d = tmp_path / ("s%d" % len(made))
        d.mkdir()
        srv = servers.new_server(d, extra_args)
        made.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    for srv in made:
        servers.release(srv)
