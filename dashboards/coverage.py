"""What every registered source was expected to deliver, and what it did: silence counts.

The marts know only what arrived: ``source_freshness`` has no row for a source that never
delivered, and a heatmap drawn from ``file_loads`` has no row for it either. Here the registry
(``dim_sources``) and the feeds each kind of source delivers (INTERCHANGE 1, one rule in
``ingestion.registry.FEEDS_BY_KIND``) give the expected rows, and a registered source's window
starts at the platform's first business date: the registry records no registration date, so
that is the earliest day a source can be known to owe deliveries (docs/DASHBOARDS.md).
"""

from __future__ import annotations

import pandas as pd

from dashboards.data import Warehouse
from ingestion.feeds import DAILY_FEEDS
from ingestion.registry import FEEDS_BY_KIND

_DAILY = "(" + ", ".join(f"'{f}'" for f in DAILY_FEEDS) + ")"


def _empty(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def expected_feeds(sources: pd.DataFrame) -> pd.DataFrame:
    """One row per registered source and feed its kind delivers: source_id, feed, daily."""
    rows = [
        (s, feed, feed in DAILY_FEEDS)
        for s, kind in zip(sources["source_id"], sources["kind"])
        for feed in FEEDS_BY_KIND.get(str(kind), ())
    ]
    return pd.DataFrame(rows, columns=["source_id", "feed", "daily"])


def platform_start(wh: Warehouse, as_of) -> object:
    """The platform's first business date: the earliest business date of a registered source's file."""
    if as_of is None or not wh.has("marts.file_loads", "source_id", "business_date"):
        return None
    row = wh.con.execute(
        """
        select min(business_date) from marts.file_loads
        where business_date <= ?::date and source_id in (select source_id from dim_sources)""",
        [as_of],
    ).fetchone()
    return row[0] if row and row[0] is not None else as_of


def silent_sources(wh: Warehouse, sources: pd.DataFrame) -> pd.DataFrame:
    """Registered sources with no file at all in the ledger (not even a quarantined one): source_id."""
    if not len(sources):
        return _empty("source_id")
    seen: set = set()
    if wh.has("marts.file_loads", "source_id"):
        seen = set(wh.df("select distinct source_id from marts.file_loads")["source_id"])
    return sources.loc[~sources["source_id"].isin(seen), ["source_id"]].reset_index(drop=True)


def freshness(wh: Warehouse, sources: pd.DataFrame, as_of, start) -> pd.DataFrame:
    """``source_freshness`` with every expected daily feed that never loaded anything.

    The mart may already hold a row per registered source and feed (null dates when nothing
    loaded); older marts hold only feeds that loaded, and the registry's expected daily feeds fill
    the rest. A never-loaded daily feed has no coverage start or latest date, `never` is true and
    `days_behind` counts from the day before the platform's first business date (silence since
    registration): the mart's own `days_behind` when it has one (the same rule, written in dbt).
    A sparse feed that never delivered owes nothing and is left out.
    """
    t = "marts.source_freshness"
    cols = ["source_id", "feed", "coverage_start", "latest_business_date", "gap_days", "days_behind", "daily", "never"]
    if wh.has(t, "source_id", "feed", "coverage_start", "latest_business_date"):
        gap = "gap_days" if wh.has(t, "gap_days") else "null as gap_days"
        daily = "coalesce(is_daily, feed in " + _DAILY + ")" if wh.has(t, "is_daily") else f"feed in {_DAILY}"
        mart_behind = wh.has(t, "days_behind")  # today's mart says it (silence included): its rule wins
        behind = "days_behind" if mart_behind else "?::date - latest_business_date as days_behind"
        known = wh.df(
            f"""
            select source_id, feed, coverage_start, latest_business_date, {gap}, {behind}, {daily} as daily,
                   latest_business_date is null as never
            from {t}""",
            [] if mart_behind else [as_of],
        )
        known = known[~(known["never"].astype(bool) & ~known["daily"].astype(bool))]
    else:
        mart_behind, known = False, _empty(*cols)
    expected = expected_feeds(sources)
    expected = expected.loc[expected["daily"].astype(bool)]  # a sparse feed owes nothing on a quiet day
    if len(known):
        expected = expected.merge(known[["source_id", "feed"]], how="left", indicator=True)
        expected = expected[expected["_merge"] == "left_only"].drop(columns="_merge")
    silence = (pd.Timestamp(as_of) - pd.Timestamp(start)).days + 1 if as_of is not None and start is not None else None
    missing = expected.assign(
        coverage_start=None, latest_business_date=None, gap_days=None, days_behind=silence, never=True
    )
    frame = (
        pd.concat([known.astype(object), missing[cols].astype(object)], ignore_index=True) if len(missing) else known
    )
    if not len(frame):
        return _empty(*cols)
    frame["never"] = frame["never"].astype(bool)
    if not mart_behind:
        frame.loc[frame["never"], "days_behind"] = silence
    frame["days_behind"] = pd.to_numeric(frame["days_behind"], errors="coerce")
    frame = frame.sort_values(
        ["daily", "days_behind", "source_id", "feed"],
        ascending=[False, False, True, True],
        na_position="first",
        kind="stable",
    )
    return frame[cols].reset_index(drop=True)


def freshness_grid(wh: Warehouse, as_of, start) -> pd.DataFrame:
    """One state per registered source and business date, from the platform's first date to `as_of`.

    3 every daily feed the source's kind delivers was loaded, 2 some were, 1 only quarantined or
    pending files, 0 nothing. A source whose kind has no daily feed (the portal) has a cell only
    where it delivered, unless it never delivered anything: then every day is missing. Sources
    outside the registry (unknown_source) are left out.
    """
    cols = ("source_id", "business_date", "state")
    if as_of is None or start is None:
        return _empty(*cols)
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
