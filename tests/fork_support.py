"""Run a check in a forked child (as an RQ work horse is) and read back what it reports."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest


def in_forked_child(report: Callable[[], str], timeout: float = 60) -> str:
    """`report()` runs in the child; its string comes back. The child leaves with os._exit,
    so pytest's teardown never runs twice."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, report().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail("the forked child hung")
        time.sleep(0.05)
    with os.fdopen(read_end) as pipe:
        return pipe.read()
