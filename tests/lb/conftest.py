"""pytest fixtures of the `orch lb` tests; the backends, the Lb process and
the raw clients they use are in orch_test.lb.

  backends   backends(n, prefix="b", host="127.0.0.1") -> n started Backends
  lb         lb(routes, threads=2) -> a running Lb on that routes file,
             stopped (SIGTERM, checked for sanitizer reports) at teardown

The binary is $ORCH_BIN, else build/orch (tests/conftest.py checks it).
"""
import pytest

from orch_test.lb import Backend, Lb


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
