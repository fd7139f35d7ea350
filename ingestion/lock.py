"""Exclusive fcntl locks on files of the home: one ingest at a time (``<home>/ingest/.lock``),
and, through the same function, one pipeline run at a time (``<home>/.run.lock``, taken by
``orchestration.runner``).

The kernel releases the lock when the holder dies, so a killed process never leaves a stale
lock behind. A second process waits up to `timeout` seconds, then refuses with a one-line
error instead of touching the lake or the warehouse.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from numlake.errors import UsageError
from numlake.paths import Home

_held: set[str] = set()  # the lock files this process holds now


def holds(path: Path) -> bool:
    """Whether this process holds the lock on `path` (inside :func:`exclusive`)."""
    return os.path.abspath(path) in _held


def lock_path(home: Home) -> Path:
    return home.ingest_state.parent / ".lock"


@contextmanager
def exclusive(path: Path, timeout: float, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing; it records the holder's pid);
    after waiting `timeout` seconds for another holder, raise UsageError(`busy`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UsageError(busy) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _held.add(os.path.abspath(path))
        try:
            yield
        finally:
            _held.discard(os.path.abspath(path))
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def ingest_lock(home: Home, timeout: float) -> Iterator[None]:
    path = lock_path(home)
    return exclusive(
        path, timeout, f"another ingest is running on {home.root} (waited {timeout:g}s for {path}); try again later"
    )
