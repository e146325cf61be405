"""The binary under test, found one way by every suite: $ORCH_BIN, else
build/orch at the repository root (the static build scripts/setup.sh makes).
ctest sets ORCH_BIN to the binary of the tree it runs in."""

import functools
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
DEFAULT_BIN = os.path.join(REPO_ROOT, "build", "orch")


def orch_bin():
    """Absolute path of the binary under test (it may not exist)."""
    return os.path.abspath(os.environ.get("ORCH_BIN") or DEFAULT_BIN)


@functools.lru_cache(maxsize=None)
def _sanitized(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def binary_is_sanitized():
    """True for an AddressSanitizer build (build-asan/): ASan keeps freed
    memory in quarantine, so its RSS says nothing about buffering."""
    return _sanitized(orch_bin())
