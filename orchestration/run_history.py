"""Dagster's SQLite run history, made cheaper for the runs of this process.

Dagster's SQLite event log (`SqliteEventLogStorage`, one database per run plus an index) creates a
SQLAlchemy engine for every connection it opens and disposes it right after: a daily run stores
~600 events (one per step, per materialization and per dbt test's asset check, ~190 of them
"planned" before the first step starts) on ~1,600 such engines. Measured on this machine, 600
events cost 2.0 s of CPU that way and 0.45 s with one engine per database. `numlake run` gives its
instance's event log one engine per database for the length of the run (the index and the most
recent run databases, at most `keep`), then puts Dagster's own method back and disposes them, so
a long-lived process (`numlake serve --loop`) holds no engines between runs. Nothing else changes:
the same databases, the same statements and transactions, under Dagster's own lock; other
processes (the web UI, the daemon) read them as before. Storages other than Dagster's SQLite
event log (PostgreSQL) are left alone.

It also keeps that history bounded: `prune_runs` deletes the finished runs beyond the newest
`NUMLAKE_KEEP_RUNS` (default 100) after each run, on any storage.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator

from numlake import env


def pool_event_log_connections(instance, keep: int = 4) -> Callable[[], None]:
    """Give `instance`'s SQLite event log one engine per database until the returned function is
    called (which disposes them and restores Dagster's own `_connect`)."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
        SQLITE_BUSY_TIMEOUT_SECONDS,
        SqliteEventLogStorage,
    )
    from sqlalchemy import create_engine

    storage = instance.event_log_storage
    needed = ("_connect", "_db_lock", "_initdb", "_initialized_dbs", "conn_string_for_shard")
    if type(storage) is not SqliteEventLogStorage or not all(hasattr(storage, a) for a in needed):
        return lambda: None
    engines: OrderedDict = OrderedDict()

    @contextlib.contextmanager
    def connect(shard: str) -> Iterator:
        with storage._db_lock:
            engine = engines.pop(shard, None)
            if engine is None:
                engine = create_engine(
                    storage.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
                )
                if shard not in storage._initialized_dbs:
                    storage._initdb(engine)
                    storage._initialized_dbs.add(shard)
            engines[shard] = engine  # the most recently used last
            while len(engines) > keep:
                engines.popitem(last=False)[1].dispose()
            with engine.connect() as conn, conn.begin():
                yield conn

    storage._connect = connect  # shadows the method for this storage object only

    def restore() -> None:
        with storage._db_lock:
            if storage.__dict__.get("_connect") is connect:
                del storage._connect
            while engines:
                engines.popitem()[1].dispose()

    return restore


@contextlib.contextmanager
def one_migration_scan() -> Iterator[None]:
    """Read Dagster's schema migrations once for the length of the block.

    Each of Dagster's SQLite storages checks its database against the newest migration when it
    opens (`check_alembic_revision`), and a run's new event database is stamped the same way; each
    check builds alembic's `ScriptDirectory` afresh and loads every migration script to find the
    newest (~100 files): 0.4 s of every `numlake run` before its first step. The scripts are part
    of the installed Dagster and do not change while a process runs, so here the directory is
    built once per script location and shared; alembic's own method is put back afterwards."""
    from alembic.script import ScriptDirectory

    original = ScriptDirectory.__dict__["from_config"]
    built: dict = {}

    def from_config(cls, config):
        key = (cls, config.get_main_option("script_location"))
        if key not in built:
            built[key] = original.__func__(cls, config)
        return built[key]

    ScriptDirectory.from_config = classmethod(from_config)
    try:
        yield
    finally:
        ScriptDirectory.from_config = original


KEEP_RUNS_ENV = "NUMLAKE_KEEP_RUNS"
DEFAULT_KEEP_RUNS = 100
PRUNE_AT_MOST = 10  # per run: a home with a long history is trimmed over its next runs


def keep_runs() -> int:
    """How many finished runs Dagster keeps (`NUMLAKE_KEEP_RUNS`; 0 keeps every run)."""
    return env.number(KEEP_RUNS_ENV, DEFAULT_KEEP_RUNS)


def prune_runs(instance, keep: int, at_most: int = PRUNE_AT_MOST) -> list[str]:
    """Delete the oldest finished runs beyond the newest `keep` (at most `at_most` of them), with
    their events and, on SQLite, their run database. Returns the ids deleted.

    Each run's history costs ~2.3 MB in Dagster's SQLite storage (its own database and the asset
    events it mirrors into the index), so a daily platform's home grew by ~0.8 GB a year. The
    lake's own ledger, `logs/runs.jsonl` and the run logs keep what a run did; Dagster keeps its
    recent runs for the UI and the operations page (the latest 30). A run still going (from the
    UI, say) is never touched: only SUCCESS, FAILURE and CANCELED runs count."""
    from dagster import DagsterRunStatus, RunsFilter

    if keep <= 0:
        return []
    finished = RunsFilter(statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED])
    old = instance.get_run_ids(filters=finished)[keep:]  # newest first
    shard_path = getattr(instance.event_log_storage, "path_for_shard", None)
    deleted = []
    for run_id in reversed(old[-at_most:] if at_most else old):
        instance.delete_run(run_id)
        if shard_path is not None:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(shard_path(run_id) + suffix)
            getattr(instance.event_log_storage, "_initialized_dbs", set()).discard(run_id)
        deleted.append(run_id)
    return deleted
