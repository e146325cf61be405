"""`orch server` processes for the tests.

OrchServer starts `orch server` on a data directory and a free loopback
port, waits for GET /healthz, and stops it (SIGTERM, SIGKILL) again.  Its
stderr and stdout go to a log file (orch_test.process).

new_server/release (and running_server, both in one) keep the servers a
test is using in one list: when a test fails, tests/conftest.py attaches the
log tail of every server in it to the report.
"""

import contextlib
import os
import time

from orch_test import api
from orch_test.binary import orch_bin
from orch_test.net import free_port
from orch_test.process import LoggedProcess

READY_TIMEOUT = float(os.environ.get("ORCH_TEST_READY_TIMEOUT", "30"))


class OrchServer(LoggedProcess):
    """One `orch server` process on a data directory and a loopback port."""

    what = "orch server"

    def __init__(self, data_dir, log_path, extra_args=(), port=None,
                 embedded_agent=False):
        super().__init__(log_path)
        self.data_dir = str(data_dir)
        self.embedded_agent = embedded_agent
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.token = None
        self.client = None

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def ca_path(self):
        """The cluster CA the CLI and clients verify this server with."""
        return os.path.join(self.data_dir, "pki", "ca.pem")

    def start(self, new_port=False):
        if self.alive():
            raise RuntimeError("server already running")
        if new_port:
            self.port = free_port()
        args = [orch_bin(), "server", "--data", self.data_dir,
                "--listen", "127.0.0.1:%d" % self.port,
                "--log-level", "debug"] + self.extra_args
        if not self.embedded_agent and "--no-agent" not in self.extra_args:
            # API tests need no node; cluster tests start agents themselves.
            args.append("--no-agent")
        api.register_ca(self.port, self.ca_path)
        self._popen(args, " on port %d" % self.port)
        self._wait_ready()
        with open(os.path.join(self.data_dir, "admin-token")) as f:
            self.token = f.read().strip()
        self.client = api.Client(self.port, self.token)
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        probe = api.Client(self.port, None, timeout=2)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("orch server exited with %s before it was "
                                   "ready; log:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            if probe.healthy():
                return
            time.sleep(0.05)
        raise RuntimeError("orch server not ready after %ss; log:\n%s"
                           % (READY_TIMEOUT, self.log_tail()))

    def restart(self):
        rc = self.terminate()
        self.start()
        return rc

    def db_path(self):
        return os.path.join(self.data_dir, "orch.db")


# --- the servers of the running tests ----------------------------------------

_live = []


def new_server(tmp_dir, extra_args=(), **kw):
    """An OrchServer (not started) on <tmp_dir>/data, logging to
    <tmp_dir>/server.log, whose log goes with any failure until release()."""
    srv = OrchServer(os.path.join(str(tmp_dir), "data"),
                     os.path.join(str(tmp_dir), "server.log"),
                     extra_args=extra_args, **kw)
    _live.append(srv)
    return srv


def release(srv):
    """Stops srv (best effort) and forgets it."""
    try:
        srv.stop()
    finally:
        if srv in _live:
            _live.remove(srv)


@contextlib.contextmanager
def running_server(tmp_dir, extra_args=(), **kw):
    """new_server, started; released when the block ends."""
    srv = new_server(tmp_dir, extra_args, **kw)
    try:
        srv.start()
        yield srv
    finally:
        release(srv)


def live_logs(limit=8000):
    """(title, log tail) of every server not yet released."""
    return [("orch server log %s" % srv.log_path, srv.log_tail(limit))
            for srv in list(_live)]
