"""Ingestion's own DuckDB state: the ledger of data files and the event-id index.

``event_keys`` holds a key of the ``event_id`` of every record of every currently LOADED
lifecycle delivery (with its ledger ``file_id``), for ``duplicate_id``: the 128-bit md5 of
``source_id NUL event_id`` (``EVENT_KEY_SQL``). A fixed-width key joins and stores several
times faster than the two strings, md5 is the same in every DuckDB version (the index outlives
upgrades), and two different ids sharing a key is as likely as a random 128-bit collision.

Only ingestion opens this file (``Home.ingest_state``). Every decision about a data file is
committed in one transaction together with the event-id keys it adds or withdraws, after its
Parquet files are renamed into place; see ``ingestion.pipeline`` for the crash argument.
Readers that must not wait for a running ingest use the exports under ``lake/_meta``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from numlake.china_time import CST

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS file_ids START 1;
CREATE TABLE IF NOT EXISTS files (
    file_id BIGINT NOT NULL,
    rel VARCHAR NOT NULL,
    is_conflict BOOLEAN NOT NULL,
    source_id VARCHAR, feed VARCHAR, file_name VARCHAR, business_date DATE, seq INTEGER,
    outcome VARCHAR NOT NULL, reason VARCHAR, detail VARCHAR,
    rows_declared INTEGER, rows_loaded INTEGER NOT NULL, rows_rejected INTEGER NOT NULL,
    md5 VARCHAR, size_bytes BIGINT,
    seen_size BIGINT, seen_mtime_ns BIGINT, ctl_size BIGINT, ctl_mtime_ns BIGINT, dialect_fp VARCHAR,
    first_seen_at TIMESTAMP, decided_at TIMESTAMP, load_order BIGINT, run_id VARCHAR,
    lake_stem VARCHAR
);
CREATE TABLE IF NOT EXISTS event_keys (k UHUGEINT NOT NULL, file_id BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
    files_processed INTEGER, records_loaded BIGINT, records_rejected BIGINT, violations INTEGER
);
"""

# the event-id key of a record of source `s` with id `i` (SQL expressions); a source id never
# holds a NUL, so the pair is unambiguous
EVENT_KEY_SQL = "md5_number({s} || chr(0) || {i})"


def now_cst() -> dt.datetime:
    """Naive CST wall time, the convention of every timestamp the platform stores."""
    return dt.datetime.now(CST).replace(tzinfo=None, microsecond=0)


def connect(path: Path, *, threads: int = 2, memory_limit: str = "4GB") -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), config={"threads": threads, "memory_limit": memory_limit})
    con.execute("SET enable_progress_bar = false")
    tmp = path.parent / "duckdb_tmp"
    con.execute(f"SET temp_directory = '{tmp.as_posix()}'")
    con.execute("SET preserve_insertion_order = true")
    con.execute(SCHEMA)
    _migrate(con)
    return con


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Homes written before the event-id index was keyed hold ``event_ids`` (source, id, file)."""
    old = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'event_ids'"
    ).fetchall()[0][0]
    if old:
        con.execute("BEGIN")
        con.execute(
            f"INSERT INTO event_keys SELECT {EVENT_KEY_SQL.format(s='source_id', i='event_id')}, file_id FROM event_ids"
        )
        con.execute("DROP TABLE event_ids")
        con.execute("COMMIT")
