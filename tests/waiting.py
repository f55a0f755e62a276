"""Waiting in tests for something another thread or process does, bounded in time."""

from __future__ import annotations

import time


def eventually(check, timeout: float, every: float = 0.02):
    """`check()`'s first truthy value within `timeout` seconds, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    return None


def wait_until(check, timeout: float, what: str, every: float = 0.1):
    """`check()`'s first truthy value; an assertion error naming `what` when none comes within `timeout`."""
    value = eventually(check, timeout, every)
    if not value:
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
    return value
