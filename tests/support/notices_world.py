"""Small published worlds for the notice tests: a warehouse with the check's marts and the portal's
intermediate tables (organisations, segments, adoption intervals), published as a check snapshot.

Each call replaces the warehouse's marts and portal tables and publishes a new snapshot, as one
pipeline run would. The staging views' lineage (business date of every orgs and segments report)
accumulates instead, as the lake does: each call delivers its orgs and segments as reports of its
as_of, and `deliver` adds the reports of other days that one run loads at once.
"""

from __future__ import annotations

import duckdb

from numlake.check import snapshot
from numlake.paths import Home
from tests.support.check_warehouse import build_warehouse, first_events_from_tenures

PORTAL_DDL = """
create schema if not exists intermediate;
create or replace table intermediate.int_orgs__deduplicated (
    org_id varchar, org_name varchar, org_type varchar, joined_date date);
create or replace table intermediate.int_segments__deduplicated (
    segment varchar, segment_type varchar, source_id varchar, opened_date date);
create or replace table intermediate.int_adoption__versioned (
    org_id varchar, org_type varchar, segment varchar, status varchar, valid_from timestamp, valid_to timestamp);
"""
LINEAGE_DDL = """
create schema if not exists staging;
create table if not exists staging.stg_lake__orgs (
    org_id varchar, org_type varchar, joined_date date, business_date date, seq integer, line_no integer,
    load_order bigint);
create table if not exists staging.stg_lake__segments (
    segment varchar, segment_type varchar, source_id varchar, opened_date date, business_date date, seq integer,
    line_no integer, load_order bigint);
"""


def tenure(msisdn: str, start: str, end: str | None = None, seq: int = 1, sub: str = "s1") -> dict:
    return {
        "msisdn": msisdn,
        "tenure_seq": seq,
        "subscriber_id": sub,
        "start_time": f"{start} 09:00:00",
        "end_time": f"{end} 09:00:00" if end else None,
        "end_reason": "CANCEL" if end else None,
        "is_reassignment": seq > 1,
    }


def deliver(home: Home, day: str, orgs=(), segments=()) -> None:
    """Reports of the business date `day` in the staging lineage (orgs, segments as in publish_world),
    loaded after every report before them."""
    home.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(home.warehouse))
    try:
        con.execute(LINEAGE_DDL)
        order = con.execute(
            "select coalesce(max(load_order), 0) + 1 from (select load_order from staging.stg_lake__orgs "
            "union all select load_order from staging.stg_lake__segments)"
        ).fetchone()[0]
        for line, (org_id, org_type, joined) in enumerate(orgs, 1):
            con.execute(
                "insert into staging.stg_lake__orgs values (?, ?, ?, ?, 1, ?, ?)",
                [org_id, org_type, joined, day, line, order],
            )
        for line, (seg, seg_type, source_id, opened) in enumerate(segments, 1):
            con.execute(
                "insert into staging.stg_lake__segments values (?, ?, ?, ?, ?, 1, ?, ?)",
                [seg, seg_type, source_id, opened, day, line, order + 1],
            )
    finally:
        con.close()


def publish_world(
    home: Home,
    tenures: list[dict],
    as_of: str,
    orgs=(),
    segments=(),
    adoption=(),
    coverage_start: str = "2020-01-01",
    publish: bool = True,
) -> None:
    """orgs: (org_id, org_type, joined_date); segments: (segment, type, source_id, opened_date);
    adoption: (org_id, segment, status, valid_from, valid_to or None). `publish=False` leaves the
    snapshot to the caller (a run's `check_snapshot` step)."""
    deliver(home, as_of, orgs, segments)
    build_warehouse(home.warehouse, tenures, first_events_from_tenures(tenures, {"CM-GD": coverage_start}), as_of)
    con = duckdb.connect(str(home.warehouse))
    try:
        con.execute(PORTAL_DDL)
        for org_id, org_type, joined in orgs:
            con.execute(
                "insert into intermediate.int_orgs__deduplicated values (?, ?, ?, ?)",
                [org_id, f"name of {org_id}", org_type, joined],
            )
        for seg, seg_type, source_id, opened in segments:
            con.execute(
                "insert into intermediate.int_segments__deduplicated values (?, ?, ?, ?)",
                [seg, seg_type, source_id, opened],
            )
        types = {o[0]: o[1] for o in orgs}
        for org_id, seg, status, start, end in adoption:
            con.execute(
                "insert into intermediate.int_adoption__versioned values (?, ?, ?, ?, ?, ?)",
                [org_id, types.get(org_id), seg, status, start, end],
            )
    finally:
        con.close()
    if publish:
        snapshot.publish(home)
