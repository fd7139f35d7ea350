"""Warehouses with just the marts the check service reads, for tests and the benchmark
(benchmarks/check.py): small hand-written ones, and large synthetic ones.

The real marts come from dbt; building these three tables directly lets the check service be
tested on exact, hand-written histories (and on the spec's samples) without running the
pipeline.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from numlake.check.snapshot import DUCKDB_CONFIG
from numlake.paths import Home

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
                [
                    t["msisdn"],
                    t.get("tenure_seq", 1),
                    t.get("subscriber_id", "s"),
                    t["start_time"],
                    t.get("end_time"),
                    t.get("end_reason"),
                    t.get("start_source_id", "CM-GD"),
                    bool(t.get("is_reassignment", False)),
                ],
            )
        for f in first_events:
            con.execute(
                "insert into marts.number_first_events values (?, ?, ?, ?)",
                [
                    f["msisdn"],
                    f["first_event_time"],
                    f.get("first_source_id", "CM-GD"),
                    f["first_source_coverage_start"],
                ],
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


BASE = 13_000_000_000
STRIDE = 7  # numbers spread over 130..., 131..., keeping every one valid


def build_synthetic_warehouse(home: Home, numbers: int, seed: int = 7) -> dict:
    """A warehouse with `numbers` numbers: per number 1 (70 %), 2 (22 %) or 3 (8 %) tenures."""
    home.root.mkdir(parents=True, exist_ok=True)
    if home.warehouse.exists():
        home.warehouse.unlink()
    con = duckdb.connect(str(home.warehouse), config=DUCKDB_CONFIG)
    con.execute("set enable_progress_bar = false")
    con.execute(MARTS_DDL)
    con.execute(f"select setseed({seed / 100})")
    con.execute(f"""
        create temp table n as
        select i, msisdn, k,
               -- the last tenure starts by 2024-11: some numbers start after their source's
               -- coverage start, most long before it (onboarding snapshot)
               timestamp '2012-01-01 00:00:00' + to_days(cast(floor(random() * (4700 - (k - 1) * 700)) as integer))
                   + to_seconds(cast(floor(random() * 86400) as integer)) as first_start,
               random() < 0.85 as last_open,
               random() < 0.5 as implicit_gap
        from (
            select i, cast({BASE} + i * {STRIDE} as varchar) as msisdn,
                   case when r < 0.70 then 1 when r < 0.92 then 2 else 3 end as k
            from (select i, random() as r from range({numbers}) t(i))
        )
    """)
    con.execute("""
        insert into marts.number_tenures
        select msisdn, j, 's' || i || '-' || j,
               first_start + to_days((j - 1) * 700) as start_time,
               case when j < k
                    then first_start + to_days((j - 1) * 700 + (case when implicit_gap then 700 else 500 end))
                    when last_open then null
                    else first_start + to_days((j - 1) * 700 + 400) end as end_time,
               case when j < k then (case when implicit_gap then 'IMPLICIT' else 'CANCEL' end)
                    when last_open then null else 'RECYCLE' end,
               'CM-GD', j > 1
        from n, range(1, 4) r(j) where j <= k
    """)
    con.execute("""
        insert into marts.number_first_events
        select msisdn, first_start, 'CM-GD', date '2024-01-01' - to_days(cast(i % 400 as integer)) from n
    """)
    con.execute("insert into marts.platform_status values (date '2025-06-30', current_timestamp)")
    tenures = con.execute("select count(*) from marts.number_tenures").fetchone()[0]
    con.close()
    return {"numbers": numbers, "tenures": tenures}
