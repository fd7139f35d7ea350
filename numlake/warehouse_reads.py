"""Read-only connections to the DuckDB warehouse: one configuration for every reader, and one
open database for all the readers of a run.

A daily build leaves a few MB of write-ahead log behind (the dbt process ends without a
checkpoint; the next run checkpoints while it ingests, orchestration/dbt_warm_tuning.py), and
every read-only open replays that log into memory: 0.07-0.18 s at a year of history, once each
for the check snapshot, the dashboards, the freshness checks and the notices. DuckDB lets the
connections of one process share one open database when they open the same file with the same
configuration. Inside :func:`shared_reads` (the whole of `numlake run`, orchestration/runner.py)
the first reader's database is kept open until the scope ends, so the later readers' opens
cost nothing and find the marts they read already cached.

Only readers that run after the build may open the warehouse inside the scope: while the kept
database is open, another process cannot take the file's write lock, so a build started inside
the scope after a read would fail on that lock. Every reader must use :func:`connect_read_only`:
DuckDB refuses a second configuration for a file that is already open in the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The readers' limits: two threads (the machine's cores), a memory cap well under the host's.
READ_ONLY_CONFIG = {"threads": 2, "memory_limit": "4GB"}

_lock = threading.Lock()
_kept: dict[str, object] | None = None  # absolute path -> the connection that keeps it open; None: not sharing


def connect_read_only(path: str | Path):
    """A read-only connection to the DuckDB file at `path` (raises duckdb.Error as connect does).
    Inside :func:`shared_reads`, the file's database stays open until the scope ends."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True, config=dict(READ_ONLY_CONFIG))
    with _lock:
        key = os.path.abspath(path)
        if _kept is not None and key not in _kept:
            # a connection of its own: closing `con` closes its cursors, not this
            _kept[key] = duckdb.connect(str(path), read_only=True, config=dict(READ_ONLY_CONFIG))
    return con


@contextmanager
def shared_reads() -> Iterator[None]:
    """Keep each warehouse opened read-only inside the scope open until it ends (see the module's
    docstring for who may read inside it). Nested scopes share the outermost one."""
    global _kept
    with _lock:
        outermost = _kept is None
        if outermost:
            _kept = {}
    try:
        yield
    finally:
        if outermost:
            with _lock:
                kept, _kept = _kept or {}, None
            for con in kept.values():
                try:
                    con.close()
                except Exception:  # closing a read-only database cannot lose anything
                    pass
