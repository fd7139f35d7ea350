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
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator


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
