"""Pure helpers that shape what the platform team reads in Dagster's asset and check metadata.

Dates and times are ISO strings (`2025-04-14`, `2025-04-14T06:00:03+08:00`), durations are
seconds and ISO 8601 durations (`PT12.5S`): never Python reprs such as `datetime.date(…)`.
Kept apart from the asset functions so that each shape is unit-tested without running Dagster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import dagster as dg

from numlake.msisdn import mask_text

OUTCOMES = ("LOADED", "QUARANTINED", "PENDING", "SUPERSEDED")


def iso(value: object) -> object:
    """A date or time as its ISO string; anything else unchanged (None stays None)."""
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value


def iso_duration(seconds: float) -> str:
    """Seconds as an ISO 8601 duration, e.g. 75.25 -> 'PT1M15.2S'."""
    whole_minutes, rest = divmod(max(0.0, float(seconds)), 60.0)
    hours, minutes = divmod(int(whole_minutes), 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{rest:.1f}S"


PER_SOURCE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("source", "string", description="source id (folder of the landing area)"),
        dg.TableColumn("files", "int", description="data files decided in this run"),
        *(dg.TableColumn(o, "int", description=f"files whose outcome in this run is {o}") for o in OUTCOMES),
        dg.TableColumn("records_loaded", "int"),
        dg.TableColumn("records_rejected", "int"),
        dg.TableColumn("first_business_date", "string", description="ISO date, earliest delivery decided"),
        dg.TableColumn("last_business_date", "string", description="ISO date, latest delivery decided"),
        dg.TableColumn("decided_from", "string", description="ISO time of the source's first decision"),
        dg.TableColumn("decided_to", "string", description="ISO time of the source's last decision"),
        dg.TableColumn("seconds", "float", description="decided_to - decided_from: the source's share of the run"),
    ]
)


def per_source_rows(by_source: Mapping[str, Mapping[str, int]], ledger: Iterable[Mapping]) -> list[dict]:
    """One row per source decided in this run: outcome counts from the ingest result, records,
    business dates and decision times from this run's ledger rows (`source_id`, `business_date`,
    `rows_loaded`, `rows_rejected`, `decided_at`)."""
    from_ledger: dict[str, list[Mapping]] = {}
    for row in ledger:
        from_ledger.setdefault(row["source_id"], []).append(row)
    out = []
    for source in sorted(by_source):
        counts = by_source[source]
        rows = from_ledger.get(source, [])
        dates = sorted(r["business_date"] for r in rows if r.get("business_date") is not None)
        times = sorted(r["decided_at"] for r in rows if r.get("decided_at") is not None)
        out.append(
            {
                "source": mask_text(source),  # a folder's name: whatever a source chose
                "files": int(sum(counts.values())),
                **{o: int(counts.get(o, 0)) for o in OUTCOMES},
                "records_loaded": int(sum(r.get("rows_loaded") or 0 for r in rows)),
                "records_rejected": int(sum(r.get("rows_rejected") or 0 for r in rows)),
                "first_business_date": iso(dates[0]) if dates else None,
                "last_business_date": iso(dates[-1]) if dates else None,
                "decided_from": iso(times[0]) if times else None,
                "decided_to": iso(times[-1]) if times else None,
                "seconds": round((times[-1] - times[0]).total_seconds(), 3) if len(times) > 1 else 0.0,
            }
        )
    return out


def table(rows: list[dict], schema: dg.TableSchema) -> dg.TableMetadataValue:
    """Rows as a Dagster table; every value is a plain string, number, bool or None. Every record has
    every column (Dagster refuses records with different fields): a missing value is None."""
    names = [c.name for c in schema.columns]
    return dg.MetadataValue.table(
        records=[dg.TableRecord({n: iso(r.get(n)) for n in names}) for r in rows],
        schema=schema,
    )


FAILING_SOURCES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("source", "string"),
        dg.TableColumn("problem", "string", description="gaps, behind, or never delivered"),
        dg.TableColumn("gap_days", "int", description="business dates without a loaded delivery (RULES 5)"),
        dg.TableColumn("days_behind", "int", description="as_of minus the latest loaded business date"),
        dg.TableColumn("coverage_start", "string", description="ISO date"),
        dg.TableColumn("latest_business_date", "string", description="ISO date"),
    ]
)


def failing_sources(freshness_rows: Iterable[Mapping]) -> list[dict]:
    """The rows of `marts.source_freshness` (one feed) that a platform engineer must act on:
    gaps inside the covered period, a latest delivery before `as_of`, or nothing ever loaded
    from a registered source."""
    out = []
    for r in freshness_rows:
        problems = []
        if r.get("coverage_start") is None:
            problems.append("never delivered")
        if (r.get("gap_days") or 0) > 0:
            problems.append("gaps")
        if (r.get("days_behind") or 0) > 0:
            problems.append("behind")
        if problems:
            out.append(
                {
                    "source": mask_text(r["source_id"]),
                    "problem": ", ".join(problems),
                    "gap_days": r.get("gap_days"),
                    "days_behind": r.get("days_behind"),
                    "coverage_start": iso(r.get("coverage_start")),
                    "latest_business_date": iso(r.get("latest_business_date")),
                }
            )
    return sorted(out, key=lambda r: r["source"])
