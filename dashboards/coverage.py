"""What every registered source was expected to deliver, and what it did: silence counts.

``file_loads`` knows only what arrived, so a heatmap drawn from it has no row for a source that
never delivered. dbt's ``source_freshness`` has a row per registered source and feed its kind
delivers (the feed map ingestion exports, INTERCHANGE 1), with its silence and the platform's
first business date: the registry records no registration date, so that is the earliest day a
source can be known to owe deliveries (docs/DASHBOARDS.md). Nothing here computes them again.
"""

from __future__ import annotations

import pandas as pd

from dashboards.data import Warehouse
from ingestion.feeds import DAILY_FEEDS

_DAILY = "(" + ", ".join(f"'{f}'" for f in DAILY_FEEDS) + ")"


def _empty(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


_MART = "marts.source_freshness"
HEATMAP_DAYS = 365  # the freshness heatmap's business dates, counted back from as_of


def expected_feeds(wh: Warehouse) -> pd.DataFrame:
    """One row per registered source and feed its kind delivers: source_id, feed, daily.

    dbt's ``source_freshness`` holds them (a row per registered source and expected feed, empty
    until the first delivery), from the feed map ingestion exports (INTERCHANGE 1)."""
    if not wh.has(_MART, "source_id", "feed", "is_daily", "is_registered"):
        return _empty("source_id", "feed", "daily")
    return wh.df(f"select source_id, feed, is_daily as daily from {_MART} where is_registered")


def platform_start(wh: Warehouse, as_of) -> object:
    """The platform's first business date (dbt's ``source_freshness.platform_start``), else ``as_of``."""
    if as_of is None or not wh.has(_MART, "platform_start"):
        return as_of
    row = wh.one(f"select min(platform_start) from {_MART}")
    return row[0] if row and row[0] is not None else as_of


def silent_sources(wh: Warehouse, sources: pd.DataFrame) -> pd.DataFrame:
    """Registered sources with no file at all in the ledger (not even a quarantined one): source_id."""
    if not len(sources):
        return _empty("source_id")
    seen: set = set()
    if wh.has("marts.file_loads", "source_id"):
        seen = set(wh.df("select distinct source_id from marts.file_loads")["source_id"])
    return sources.loc[~sources["source_id"].isin(seen), ["source_id"]].reset_index(drop=True)


def freshness(wh: Warehouse) -> pd.DataFrame:
    """``source_freshness`` as the pages show it: every daily feed, and the sparse feeds that loaded.

    Every figure is the mart's own (dbt computes gaps, ``days_behind`` and the silence of a daily
    feed that never loaded, counted from the platform's first business date); a sparse feed that
    never delivered owes nothing and is left out. Daily feeds first, the most behind first.
    """
    cols = ["source_id", "feed", "coverage_start", "latest_business_date", "gap_days", "days_behind", "daily", "never"]
    if not wh.has(_MART, "source_id", "feed", "latest_business_date", "gap_days", "days_behind", "is_registered"):
        return _empty(*cols)
    frame = wh.df(
        f"""
        select source_id, feed, coverage_start, latest_business_date, gap_days, days_behind, is_daily as daily,
               latest_business_date is null as never
        from {_MART}
        where is_registered and (is_daily or latest_business_date is not null)"""
    )
    if not len(frame):
        return _empty(*cols)
    frame["never"] = frame["never"].astype(bool)
    frame["days_behind"] = pd.to_numeric(frame["days_behind"], errors="coerce")
    frame = frame.sort_values(
        ["daily", "days_behind", "source_id", "feed"],
        ascending=[False, False, True, True],
        na_position="first",
        kind="stable",
    )
    return frame[cols].reset_index(drop=True)


def freshness_grid(wh: Warehouse, as_of, start) -> pd.DataFrame:
    """One state per registered source and business date, from the platform's first date to `as_of`,
    at most the latest ``HEATMAP_DAYS``: the page stays the same size year after year, and a file
    dated in year 1 (INTERCHANGE sets no lower bound) cannot make it millions of cells.

    3 every daily feed the source's kind delivers was loaded, 2 some were, 1 only quarantined or
    pending files, 0 nothing. A source whose kind has no daily feed (the portal) has a cell only
    where it delivered, unless it never delivered anything: then every day is missing. Sources
    outside the registry (unknown_source) are left out.
    """
    cols = ("source_id", "business_date", "state")
    if as_of is None or start is None:
        return _empty(*cols)
    start = max(pd.Timestamp(start), pd.Timestamp(as_of) - pd.Timedelta(days=HEATMAP_DAYS - 1)).date()
    has_loads = wh.has("marts.file_loads", "source_id", "feed", "business_date", "outcome")
    fl = (
        """select source_id, feed, business_date as d, outcome from marts.file_loads
             where business_date is not null and business_date <= ?::date"""
        if has_loads
        else "select null::varchar as source_id, null::varchar as feed, null::date as d, null::varchar as outcome "
        "where ?::date is null"
    )
    return wh.df(
        f"""
        with fl as ({fl}),
        expected as (select * from dim_expected_feeds),
        src as (
            select d.source_id,
                   greatest((select count(*) from expected e where e.source_id = d.source_id and e.daily),
                            (select count(distinct feed) from fl where fl.source_id = d.source_id
                             and fl.feed in {_DAILY})) as daily_feeds,
                   not exists (select 1 from fl where fl.source_id = d.source_id) as silent
            from dim_sources d),
        per_day as (
            select source_id, d,
                   count(distinct feed) filter (where outcome = 'LOADED' and feed in {_DAILY}) as loaded_daily,
                   count(*) filter (where outcome = 'LOADED') as loaded_any,
                   count(*) filter (where outcome in ('QUARANTINED', 'PENDING')) as refused
            from fl group by all),
        cells as (
            select s.source_id, s.daily_feeds, s.silent,
                   unnest(generate_series(?::date, ?::date, interval 1 day))::date as d
            from src s)
        select c.source_id, c.d as business_date,
               case when c.silent then 0
                    when c.daily_feeds = 0 then
                        case when p.loaded_any > 0 then 3 when p.refused > 0 then 1 end
                    when coalesce(p.loaded_daily, 0) >= c.daily_feeds then 3
                    when coalesce(p.loaded_daily, 0) > 0 then 2
                    when coalesce(p.refused, 0) > 0 then 1
                    else 0 end as state
        from cells c left join per_day p using (source_id, d)
        where state is not null order by 1, 2""",
        [as_of, start, as_of],
    )
