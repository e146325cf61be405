"""What the machine must have for a test to run.

A test the environment cannot run (not root, a tool missing, a kernel
feature absent, a verb the binary lacks) is skipped on a developer's
machine and fails under CI (CI=true in the environment): CI must run every
test, so a gap in its setup shows up as a failure, not as a quiet skip.

  require(condition, reason)    inside a test or fixture
  requires(condition, reason)   the same as a mark: a decorator or
                                pytestmark (tests/conftest.py applies it)
  require_tools(*names)         require() that each program is on PATH

Skips that depend on the test's own parameters or on the build under test
(ORCH_STATIC, a sanitizer build, another CPU architecture) stay plain
pytest.skip: CI is not expected to provide those.
"""

import os
import shutil

import pytest


def in_ci():
    return os.environ.get("CI") == "true"


def require(condition, reason):
    """Nothing when condition holds; else skip, or fail under CI=true."""
    __tracebackhide__ = True  # report the caller's line
    if condition:
        return
    if in_ci():
        pytest.fail("CI=true and this machine cannot run the test: %s" % reason,
                    pytrace=False)
    pytest.skip(reason)


def requires(condition, reason):
    """require() as a mark, checked when the test is set up."""
    return pytest.mark.requires(bool(condition), reason)


def require_tools(*names):
    __tracebackhide__ = True
    missing = [n for n in names if not shutil.which(n)]
    require(not missing, "%s not installed" % ", ".join(missing))


def require_root(reason="needs root"):
    __tracebackhide__ = True
    require(os.geteuid() == 0, reason)


def mark_directory(items, directory, condition, reason):
    """Adds requires(condition, reason) to every collected test below
    directory (a conftest's pytest_collection_modifyitems sees the items of
    every suite in the run, not only its own)."""
    if condition:
        return
    mark = requires(False, reason)
    prefix = os.path.join(str(directory), "")
    for item in items:
        if str(item.fspath).startswith(prefix):
            item.add_marker(mark)
