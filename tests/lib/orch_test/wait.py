"""Polling for a condition, with a deadline."""

import time


def wait_until(predicate, timeout=10.0, interval=0.05):
    """Polls predicate until it returns something true or timeout seconds
    pass; returns its last value (true, or false on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def wait_for(predicate, timeout=20.0, interval=0.1, what="condition"):
    """wait_until that raises AssertionError (naming what, with the last
    value) when the time is up."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    last = predicate()
    if last:
        return last
    raise AssertionError("timed out after %ss waiting for %s (last: %r)"
                         % (timeout, what, last))
