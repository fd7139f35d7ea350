"""China Standard Time (UTC+8, no daylight saving): the clock of business dates, of every stored
timestamp (naive CST wall time) and of every time a person reads (INTERCHANGE 2.3)."""

from __future__ import annotations

from datetime import timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
# the same zone by name, for DuckDB's `TimeZone` setting and Dagster's schedules
TZ_NAME = "Asia/Shanghai"


def shown(iso: str | None) -> str | None:
    """A stored ISO time (UTC, with its offset) as people and organisations read it: in CST.
    None, or text that is not an ISO time, is returned as it is."""
    from datetime import datetime

    if not iso:
        return iso
    try:
        t = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return t.astimezone(CST).isoformat() if t.tzinfo is not None else iso
