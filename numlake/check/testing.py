"""Small warehouses with just the marts the check service reads, for tests and the benchmark.

The real marts come from dbt; building these three tables directly lets the check service be
tested on exact, hand-written histories (and on the spec's samples) without running the
pipeline.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from numlake.check.snapshot import DUCKDB_CONFIG

MARTS_DDL = """
create schema if not exists marts;
create or replace table marts.number_tenures (
    msisdn varchar, tenure_seq integer, subscriber_id varchar, start_time timestamp,
    end_time timestamp, end_reason varchar, start_source_id varchar, is_reassignment boolean
);
create or replace table marts.number_first_events (
    msisdn varchar, first_event_time timestamp, first_source_id varchar,
    first_source_coverage_start date
);
create or replace table marts.platform_status (as_of date, built_at timestamp);
"""


def build_warehouse(path: Path, tenures: list[dict], first_events: list[dict], as_of: str) -> Path:
    """Write a warehouse holding exactly these tenures, first events and as_of (replacing any)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), config=DUCKDB_CONFIG)
    try:
        con.execute(MARTS_DDL)
        for t in tenures:
            con.execute(
                "insert into marts.number_tenures values (?, ?, ?, ?, ?, ?, ?, ?)",
                [t["msisdn"], t.get("tenure_seq", 1), t.get("subscriber_id", "s"), t["start_time"],
                 t.get("end_time"), t.get("end_reason"), t.get("start_source_id", "CM-GD"),
                 bool(t.get("is_reassignment", False))],
            )
        for f in first_events:
            con.execute(
                "insert into marts.number_first_events values (?, ?, ?, ?)",
                [f["msisdn"], f["first_event_time"], f.get("first_source_id", "CM-GD"),
                 f["first_source_coverage_start"]],
            )
        con.execute("insert into marts.platform_status values (?, current_timestamp)", [as_of])
    finally:
        con.close()
    return path


def first_events_from_tenures(tenures: list[dict], coverage_start: dict[str, str]) -> list[dict]:
    """First events as the marts would derive them when each number's first event starts a tenure."""
    first: dict[str, dict] = {}
    for t in sorted(tenures, key=lambda t: (t["msisdn"], str(t["start_time"]))):
        if t["msisdn"] not in first:
            src = t.get("start_source_id", "CM-GD")
            first[t["msisdn"]] = {
                "msisdn": t["msisdn"],
                "first_event_time": t["start_time"],
                "first_source_id": src,
                "first_source_coverage_start": coverage_start[src],
            }
    return list(first.values())
