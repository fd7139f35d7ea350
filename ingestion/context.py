"""What every step of one ingest run needs to know, passed explicitly.

A :class:`RunContext` is built once per run by :func:`ingestion.pipeline.ingest` and handed
to the modules that decide, write and record deliveries; it holds nothing else, so a
function's signature says what it reads (the landing area, the registry, the ledger
connection) and what it records (``decided``, the next load order).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingestion.objectstore import LakeRoot
from ingestion.registry import Source
from numlake.paths import Home


@dataclass
class RunContext:
    home: Home
    landing: Path
    registry: dict[str, Source]
    run_id: str
    con: duckdb.DuckDBPyConnection
    # ledger file_id -> (source folder, outcome) of every file decided in this run, final outcome last
    decided: dict[int, tuple[str, str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    load_order: int = 0  # the highest load order handed out so far (INTERCHANGE 4: first wins in load order)
    # the lake root: <home>/lake, or the object store of ingestion.objectstore (resolved once per run)
    lake: LakeRoot | None = None

    def __post_init__(self) -> None:
        if self.lake is None:
            self.lake = self.home.lake

    def next_load_order(self) -> int:
        self.load_order += 1
        return self.load_order

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Seconds spent per phase of the group processing, summed over groups (debug log)."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t
