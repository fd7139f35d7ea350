"""One ingest at a time per home: an fcntl lock on ``<home>/ingest/.lock``.

The kernel releases the lock when the holder dies, so a killed ingest never leaves a stale
lock behind. A second ingest waits up to `timeout` seconds, then refuses with a one-line
error instead of touching the lake.
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from numlake.errors import UsageError
from numlake.paths import Home


def lock_path(home: Home) -> Path:
    return home.ingest_state.parent / ".lock"


@contextmanager
def ingest_lock(home: Home, timeout: float) -> Iterator[None]:
    path = lock_path(home)
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
                    raise UsageError(
                        f"another ingest is running on {home.root} (waited {timeout:g}s for {path}); try again later"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
