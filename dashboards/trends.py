"""Weekly trends of a source's data quality over its whole history: is it getting better?

Weeks are ISO weeks (Monday first) of the business date, so a backfill ingested at once still
spreads over the weeks it reports. Rejection rate = records rejected / records read in the
week's loaded files (declared = loaded + rejected, INTERCHANGE 4). Lateness uses the arrival
rule of ``dashboards.queries.lateness`` (one rule, one place): the share of first deliveries
that arrived after a later business date of their feed, and how late they were.
"""

from __future__ import annotations

import pandas as pd

from dashboards.data import Warehouse
from dashboards.queries import arrivals


def _empty(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def weekly_rejection_rate(wh: Warehouse, as_of) -> pd.DataFrame:
    """Per source and week: rows_read, rows_rejected, rate (null for a week with nothing read)."""
    cols = ("source_id", "week", "files", "rows_read", "rows_rejected", "rate")
    t = "marts.file_loads"
    if as_of is None or not wh.has(t, "source_id", "business_date", "outcome", "rows_loaded", "rows_rejected"):
        return _empty(*cols)
    return wh.df(
        f"""
        select source_id, date_trunc('week', business_date)::date as week, count(*) as files,
               sum(rows_loaded + rows_rejected) as rows_read, sum(rows_rejected) as rows_rejected,
               sum(rows_rejected) / nullif(sum(rows_loaded + rows_rejected), 0) as rate
        from {t}
        where outcome = 'LOADED' and business_date is not null and business_date <= ?::date
        group by all order by 1, 2""",
        [as_of],
    )


def weekly_lateness(wh: Warehouse, as_of) -> pd.DataFrame:
    """Per source and week: first deliveries, how many were late, their share, mean and max days late."""
    cols = ("source_id", "week", "files", "late", "late_share", "mean_days_late", "max_days_late")
    if as_of is None or not wh.has("marts.file_loads", "source_id", "feed", "business_date", "seq", "first_seen_at"):
        return _empty(*cols)
    return wh.df(
        f"""
        select source_id, date_trunc('week', business_date)::date as week, count(*) as files,
               count(*) filter (where days_late > 0) as late,
               count(*) filter (where days_late > 0) / count(*) as late_share,
               avg(days_late) filter (where days_late > 0) as mean_days_late, max(days_late) as max_days_late
        from {arrivals(wh)} where business_date <= ?::date
        group by all order by 1, 2""",
        [as_of],
    )
