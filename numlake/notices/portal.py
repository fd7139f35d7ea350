"""What the portal's feeds say, read once per raising run from the warehouse (read-only).

The segment notices of RULES 8.2 need the registered organisations (INTERCHANGE 3.4, latest
report of each org_id), each segment's latest report (3.3) and which organisations support a
segment at the end of `opened_date` + 30 days (3.5, RULES 4). dbt already computes each of
these in one intermediate model (`int_orgs__deduplicated`, `int_segments__deduplicated`,
`int_adoption__versioned`); this module only reads them, so the rules stay in one place.

RULES 8.2 is told by data time, not by run (docs/NOTICES.md): the notices must not depend on how
many days one run loads. So it also reads the lineage dbt keeps in the staging views: the business
date of the earliest loaded `orgs` report listing each organisation (when it was registered) and,
per segment, the report that was latest at the end of each business date (the history a platform
loading one day per run would have seen, oldest first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from numlake.warehouse_reads import connect_read_only

REMINDER_DAYS = 30
TABLES = {
    "orgs": "int_orgs__deduplicated",
    "segments": "int_segments__deduplicated",
    "adoption": "int_adoption__versioned",
}
LINEAGE = {"orgs": "stg_lake__orgs", "segments": "stg_lake__segments"}
# The report latest at the end of each business date: int_segments__deduplicated's order
# (business_date, seq, load_order, line_no: the latest wins) applied within one business date.
DAILY_SEGMENTS_SQL = """
select segment, cast(business_date as varchar), segment_type, source_id, cast(opened_date as varchar)
from (
    select *
    from {segments}
    where segment is not null and business_date is not null
    qualify row_number() over (
        partition by segment, business_date
        order by seq desc, load_order desc, line_no desc
    ) = 1
)
where opened_date is not null
order by segment, business_date
"""


@dataclass
class Portal:
    as_of: str | None = None
    orgs: dict[str, dict] = field(default_factory=dict)  # org_id -> {org_type, joined_date}
    segments: dict[str, dict] = field(default_factory=dict)  # segment -> {segment_type, source_id, opened_date}
    supported_at_reminder: set[tuple[str, str]] = field(default_factory=set)  # (org_id, segment)
    # org_id -> business date of the earliest loaded orgs report listing it (registered from then)
    registered: dict[str, str] = field(default_factory=dict)
    # segment -> [{business_date, segment_type, source_id, opened_date}], the latest report of each
    # business date, oldest first (the first is when the segment first appeared)
    history: dict[str, list[dict]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _locate(con, name: str) -> str | None:
    rows = con.execute(
        "select table_schema from information_schema.tables where table_name = ? "
        "order by table_schema = 'intermediate' desc, table_schema",
        [name],
    ).fetchall()
    return f'"{rows[0][0]}"."{name}"' if rows else None


def load_portal(warehouse: Path) -> Portal:
    """The portal's state as of the warehouse; an empty Portal when there is no warehouse yet."""
    portal = Portal()
    if not Path(warehouse).exists():
        portal.missing.append("warehouse")
        return portal
    con = connect_read_only(warehouse)
    try:
        con.execute("set enable_progress_bar = false")
        # read to the end (fetchall): DuckDB refuses the next statement while a streamed result is unfinished
        rows = con.execute("select cast(as_of as varchar) from marts.platform_status limit 1").fetchall()
        portal.as_of = rows[0][0] if rows else None
        tables = {k: _locate(con, v) for k, v in TABLES.items()}
        portal.missing = [TABLES[k] for k, v in tables.items() if v is None]
        if tables["orgs"]:
            for org_id, org_type, joined in con.execute(
                f"select org_id, org_type, cast(joined_date as varchar) from {tables['orgs']} where org_id is not null"
            ).fetchall():
                portal.orgs[org_id] = {"org_type": org_type, "joined_date": joined}
        if tables["segments"]:
            for seg, seg_type, source_id, opened in con.execute(
                f"select segment, segment_type, source_id, cast(opened_date as varchar) from {tables['segments']} "
                "where segment is not null and opened_date is not null"
            ).fetchall():
                portal.segments[seg] = {"segment_type": seg_type, "source_id": source_id, "opened_date": opened}
        _load_lineage(con, portal)
        if tables["adoption"] and tables["segments"] and portal.as_of:
            # supported at the end of opened_date + 30: the interval in force at the next midnight
            rows = con.execute(f"""
                select distinct a.org_id, a.segment
                from {tables["adoption"]} a
                join {tables["segments"]} s on s.segment = a.segment
                where a.status = 'SUPPORTED'
                  and a.valid_from < cast(s.opened_date + interval {REMINDER_DAYS + 1} day as timestamp)
                  and (a.valid_to is null
                       or a.valid_to >= cast(s.opened_date + interval {REMINDER_DAYS + 1} day as timestamp))
            """).fetchall()
            portal.supported_at_reminder = {(o, s) for o, s in rows}
    finally:
        con.close()
    return portal


def _load_lineage(con, portal: Portal) -> None:
    """`registered` and `history` from the staging views; a warehouse without them (a hand-built
    one) leaves both empty, and every organisation then counts as registered from the start."""
    views = {k: _locate(con, v) for k, v in LINEAGE.items()}
    if views["orgs"]:
        portal.registered = dict(
            con.execute(
                f"select org_id, cast(min(business_date) as varchar) from {views['orgs']} "
                "where org_id is not null and business_date is not null group by org_id"
            ).fetchall()
        )
    if views["segments"]:
        for seg, day, seg_type, source_id, opened in con.execute(
            DAILY_SEGMENTS_SQL.format(segments=views["segments"])
        ).fetchall():
            portal.history.setdefault(seg, []).append(
                {"business_date": day, "segment_type": seg_type, "source_id": source_id, "opened_date": opened}
            )
