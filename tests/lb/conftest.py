"""pytest fixtures of the `orch lb` tests; the backends, the Lb process and
the raw clients they use are in orch_test.lb.

  backends   backends(n, prefix="b", host="127.0.0.1") -> n started Backends
  lb         lb(routes, threads=2) -> a running Lb on that routes file,
             stopped (SIGTERM, checked for sanitizer reports) at teardown
  raw_backend
             raw_backend(serve) -> a started RawBackend: a listening socket
             whose every connection is handed to serve(RawConn) on a thread
             of its own, for backends that misbehave on purpose
  usage      usage(pid) -> Usage(rss_kib, user, system): VmRSS and the CPU
             seconds spent in user space and in the kernel, from /proc

The binary is $ORCH_BIN, else build/orch (tests/conftest.py checks it).
"""
import collections
import os
import socket
import threading

import pytest

from orch_test.lb import Backend, Lb
from orch_test.net import free_port


@pytest.fixture
def backends():
    made = []

    def make(n=1, prefix="b", host="127.0.0.1"):
        out = [Backend(f"{prefix}{len(made) + i}", host) for i in range(n)]
        made.extend(out)
        return out

    yield make
    for b in made:
        try:
            b.stop()
        except Exception:
            pass


@pytest.fixture
def lb(tmp_path):
    started = []

    def start(routes, threads=2):
        inst = Lb(tmp_path, routes, threads)
        started.append(inst)
        return inst

    yield start
    for inst in started:
        inst.stop()


class RawConn:
    """One connection to a RawBackend: the socket, and the bytes read past
    the last head."""

    def __init__(self, sock):
        self.sock = sock
        self.rest = b""

    def read_head(self):
        """The next request head, CRLF CRLF included (None at EOF); what
        came after it stays in self.rest."""
        data = self.rest
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, self.rest = data.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n"


class RawBackend:
    """A backend that is only a socket: serve(RawConn) does what the test
    needs (a raw echo of the request, a flood of interim responses) and the
    socket is closed when it returns or when the backend stops."""

    def __init__(self, serve):
        self.port = free_port()
        self.serve = serve
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.lock = threading.Lock()
        self.open = set()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.stopped:
                    sock.close()
                    return
                self.open.add(sock)
            threading.Thread(target=self._run, args=(sock,), daemon=True).start()

    def _run(self, sock):
        try:
            self.serve(RawConn(sock))
        except OSError:
            pass
        finally:
            with self.lock:
                self.open.discard(sock)
            sock.close()

    def stop(self):
        with self.lock:
            self.stopped = True
            socks = list(self.open)
        self.listener.close()
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def raw_backend():
    made = []

    def make(serve):
        b = RawBackend(serve)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


Usage = collections.namedtuple("Usage", "rss_kib user system")


@pytest.fixture
def usage():
    def read(pid):
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        with open(f"/proc/{pid}/stat") as f:
            # the fields after the command name, which may hold spaces
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return Usage(rss, int(fields[11]) / tick, int(fields[12]) / tick)

    return read
