"""A process of the binary under test whose stdout and stderr go to a log
file (appended to at every start, under a header line), for OrchServer and
the cluster's Agent."""

import signal
import subprocess
import time


class LoggedProcess:
    what = "the process"    # for messages: "orch server", "agent w1"

    def __init__(self, log_path):
        self.log_path = str(log_path)
        self.proc = None
        self._log = None

    def _popen(self, args, note="", **kw):
        """Starts args with stdin from /dev/null and its output in the log."""
        self._close_log()
        self._log = open(self.log_path, "ab")
        self._log.write(("\n==== start %s%s ====\n"
                         % (time.strftime("%H:%M:%S"), note)).encode())
        self._log.flush()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log, **kw)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)
        self._close_log()

    def terminate(self, timeout=20):
        """SIGTERM and wait; returns the exit status (AssertionError, after a
        SIGKILL, if it is still running after timeout seconds)."""
        if self.proc is None:
            return None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self._close_log()
            raise AssertionError("%s ignored SIGTERM for %ss" % (self.what, timeout))
        self._close_log()
        return rc

    def stop(self, timeout=15):
        """Best-effort teardown: SIGTERM, then SIGKILL."""
        if self.alive():
            try:
                self.terminate(timeout)
            except AssertionError:
                pass
        self._close_log()

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, limit=20000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return "(no log)"
        return data[-limit:].decode("utf-8", "replace")
