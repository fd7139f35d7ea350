"""The SQL behind every page: aggregates computed in DuckDB, answered as small pandas frames.

Each function takes a ``Warehouse`` (with the ``dim_sources`` frame registered) and returns a
frame whose columns the figure builders or tables expect. A missing table answers an empty
frame; a missing optional column answers NULLs. Per-source data is queried once for all
sources and split in Python, so ~105 carrier pages cost a handful of queries, not hundreds.
"""

from __future__ import annotations

import pandas as pd

from dashboards.data import Warehouse
from ingestion.feeds import DAILY_FEEDS

_DAILY = "(" + ", ".join(f"'{f}'" for f in DAILY_FEEDS) + ")"


def _opt(wh: Warehouse, table: str, column: str, alias: str | None = None, prefix: str = "") -> str:
    name = alias or column
    return f"{prefix}{column} as {name}" if wh.has(table, column) else f"null as {name}"


def _empty(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def complaints_monthly(wh: Warehouse) -> pd.DataFrame:
    """National complaints per month and category (RULES 4).

    `days_to_resolve` is the mean of the per-source medians weighted by `resolved`: the marts
    keep no individual complaints, so a true national median cannot be rebuilt here.
    """
    t = "marts.monthly_complaints"
    cols = ("month", "category", "received", "resolved", "open_at_end", "on_recent_reassignment", "days_to_resolve")
    if not wh.has(t, "month", "category", "received"):
        return _empty(*cols)

    def s(c):
        return f"sum({c})" if wh.has(t, c) else "null"

    med = (
        "sum(median_days_to_resolve * resolved)"
        " / nullif(sum(resolved) filter (where median_days_to_resolve is not null), 0)"
        if wh.has(t, "median_days_to_resolve", "resolved")
        else "null"
    )
    return wh.df(f"""
        select month, category, sum(received) as received, {s("resolved")} as resolved,
               {s("open_at_end")} as open_at_end, {s("on_recent_reassignment")} as on_recent_reassignment,
               {med} as days_to_resolve
        from {t} group by month, category order by month, category""")


def complaints_by_carrier(wh: Warehouse) -> pd.DataFrame:
    if not wh.has("marts.monthly_complaints", "month", "source_id", "received"):
        return _empty("month", "carrier", "received")
    return wh.df("""
        select c.month, coalesce(d.carrier, '?') as carrier, sum(c.received) as received
        from marts.monthly_complaints c left join dim_sources d using (source_id)
        group by all order by 1, 2""")


def complaints_by_province(wh: Warehouse, as_of) -> pd.DataFrame:
    """Complaints received in the 12 months up to `as_of`, per province (national sources excluded)."""
    if as_of is None or not wh.has("marts.monthly_complaints", "month", "source_id", "received"):
        return _empty("province", "value")
    return wh.df(
        """
        select d.province, sum(c.received) as value
        from marts.monthly_complaints c join dim_sources d using (source_id)
        where c.month > ?::date - interval 12 month and c.month <= ?::date and d.province <> 'NAT'
        group by all""",
        [as_of, as_of],
    )


WARMUP_DAYS = 90


def _warmup_ends(wh: Warehouse) -> str | None:
    """SQL of (source_id, warmup_end): each source's lifecycle coverage start + the 90-day freeze."""
    if not wh.has("marts.source_freshness", "source_id", "feed", "coverage_start"):
        return None
    return (
        f"select source_id, min(coverage_start) + interval {WARMUP_DAYS} day as warmup_end "
        "from marts.source_freshness where feed = 'lifecycle' group by source_id"
    )


def warmup_periods(wh: Warehouse) -> pd.DataFrame:
    """Per carrier: the earliest coverage start and the latest warm-up end of its sources."""
    cols = ("carrier", "coverage_start", "warmup_end", "sources")
    if not wh.has("marts.source_freshness", "source_id", "feed", "coverage_start"):
        return _empty(*cols)
    return wh.df(f"""
        select coalesce(d.carrier, '?') as carrier, min(f.coverage_start) as coverage_start,
               max(f.coverage_start + interval {WARMUP_DAYS} day)::date as warmup_end, count(*) as sources
        from marts.source_freshness f left join dim_sources d using (source_id)
        where f.feed = 'lifecycle' group by all order by 1""")


def number_rates_by_carrier(wh: Warehouse) -> pd.DataFrame:
    """Recycle and reassignment rates per month and carrier, both over numbers in service at month start.

    A source's months that start before its warm-up ends (coverage start + 90 days: nothing can
    be reassigned before the freeze has run) are left out, so the first months do not jump.
    """
    t = "marts.monthly_number_stats"
    if not wh.has(t, "month", "carrier", "in_service_start", "recycled", "reassignments"):
        return _empty("month", "carrier", "recycle_rate", "reassignment_rate")
    ends = _warmup_ends(wh) if wh.has(t, "source_id") else None
    join = f"left join ({ends}) w using (source_id)" if ends else ""
    past = "(w.warmup_end is null or s.month >= w.warmup_end)" if ends else "true"
    return wh.df(f"""
        select s.month, s.carrier,
               sum(s.recycled) filter (where {past})
                   / nullif(sum(s.in_service_start) filter (where {past}), 0) as recycle_rate,
               sum(s.reassignments) filter (where {past})
                   / nullif(sum(s.in_service_start) filter (where {past}), 0) as reassignment_rate
        from {t} s {join} group by all order by 1, 2""")


def number_rates_by_province(wh: Warehouse, as_of) -> pd.DataFrame:
    """Recycle and reassignment rates over the 12 months up to `as_of`, per province, each source's
    warm-up left out as in `number_rates_by_carrier`; `first_month`, `last_month` and `months` say
    which months that really is (the same on every row)."""
    t = "marts.monthly_number_stats"
    cols = ("province", "recycle_rate", "reassignment_rate", "first_month", "last_month", "months")
    if as_of is None or not wh.has(t, "month", "province", "in_service_start", "recycled", "reassignments"):
        return _empty(*cols)
    ends = _warmup_ends(wh) if wh.has(t, "source_id") else None
    join = f"left join ({ends}) w using (source_id)" if ends else ""
    past = "and (w.warmup_end is null or s.month >= w.warmup_end)" if ends else ""
    return wh.df(
        f"""
        with used as (
            select s.* from {t} s {join}
            where s.month > ?::date - interval 12 month and s.month <= ?::date and s.province <> 'NAT' {past})
        select province,
               sum(recycled) / nullif(sum(in_service_start), 0) as recycle_rate,
               sum(reassignments) / nullif(sum(in_service_start), 0) as reassignment_rate,
               (select strftime(min(month), '%Y-%m') from used) as first_month,
               (select strftime(max(month), '%Y-%m') from used) as last_month,
               (select count(distinct month) from used) as months
        from used group by all""",
        [as_of, as_of],
    )


def findings_by_month(wh: Warehouse) -> pd.DataFrame:
    if not wh.has("marts.rule_findings", "rule", "event_time"):
        return _empty("month", "rule", "findings")
    return wh.df("""
        select date_trunc('month', event_time)::date as month, rule, count(*) as findings
        from marts.rule_findings group by all order by 1, 2""")


def months_covered(wh: Warehouse, table: str, as_of) -> tuple[str, str, int] | None:
    """First and last month with data among the 12 months up to `as_of`, and how many there are."""
    if as_of is None or not wh.has(table, "month"):
        return None
    row = wh.one(
        f"""
        select strftime(min(month), '%Y-%m'), strftime(max(month), '%Y-%m'), count(distinct month) from {table}
        where month > ?::date - interval 12 month and month <= ?::date""",
        [as_of, as_of],
    )
    return (row[0], row[1], int(row[2])) if row and row[0] else None


def findings_by_national_source(wh: Warehouse) -> pd.DataFrame:
    """Findings per national source (province NAT: CU, CBN, MVNOs) and rule, kept apart from provinces."""
    if not wh.has("marts.rule_findings", "rule", "source_id"):
        return _empty("source_id", "rule", "findings")
    return wh.df("""
        select f.source_id, f.rule, count(*) as findings
        from marts.rule_findings f join dim_sources d using (source_id)
        where d.province = 'NAT' group by all order by 1, 2""")


def findings_by(wh: Warehouse, group: str) -> pd.DataFrame:
    """Findings per carrier or province (via the finding's source) and rule."""
    if not wh.has("marts.rule_findings", "rule", "source_id"):
        return _empty(group, "rule", "findings")
    return wh.df(f"""
        select coalesce(d.{group}, '?') as {group}, f.rule, count(*) as findings
        from marts.rule_findings f left join dim_sources d using (source_id)
        group by all order by 1, 2""")


def latest_findings(wh: Warehouse, limit: int = 25) -> pd.DataFrame:
    """The most recent findings; the number is masked before it leaves SQL's hands."""
    cols = ("event_time", "rule", "source_id", "msisdn", "event_id")
    if not wh.has("marts.rule_findings", *cols):
        return _empty(*cols)
    frame = wh.df(f"""
        select event_time, rule, source_id, msisdn, event_id from marts.rule_findings
        order by event_time desc, source_id, event_id limit {int(limit)}""")
    from numlake.msisdn import mask

    frame["msisdn"] = [mask(m) for m in frame["msisdn"]]
    return frame


def segment_adoption(wh: Warehouse) -> pd.DataFrame:
    t = "marts.segment_adoption"
    cols = [
        "segment",
        "org_type",
        "opened_date",
        "segment_type",
        "source_id",
        "orgs_total",
        "supported_30d",
        "supported_90d",
        "supported_180d",
        "supported_now",
        "days_to_half",
        "verification_complaints",
    ]
    if not wh.has(t, "segment", "org_type"):
        return _empty(*cols)
    select = ", ".join(c if wh.has(t, c) else f"null as {c}" for c in cols)
    return wh.df(f"select {select} from {t} order by segment, org_type")


def laggard_orgs(wh: Warehouse, as_of, limit: int = 20) -> pd.DataFrame:
    """Organisations supporting the fewest segments open for at least 90 days at `as_of`.

    The marts publish adoption per segment and org type only; the per-organisation reports are
    found by their columns (docs/LAKE.md shapes) in the warehouse. Without them: empty frame.
    """
    cols = ("org_id", "org_name", "org_type", "unsupported", "mature_segments", "segments_missing")
    orgs = wh.find(("org_id", "org_name", "org_type"), ("org",))
    reports = wh.find(("org_id", "segment", "status", "checked_time"), ("adoption",))
    if as_of is None or not orgs or not reports or not wh.has("marts.segment_adoption", "segment", "opened_date"):
        return _empty(*cols)
    order = "(checked_time, load_order, line_no)" if wh.has(reports, "load_order", "line_no") else "checked_time"
    frame = wh.try_df(
        f"""
        with seg as (
            select distinct segment from marts.segment_adoption
            where opened_date <= ?::date - interval 90 day),
        org as (
            select org_id, any_value(org_name) as org_name, any_value(org_type) as org_type
            from {orgs} group by org_id),
        latest as (
            select org_id, segment, arg_max(status, {order}) as status
            from {reports} where checked_time < ?::date + interval 1 day group by all)
        select o.org_id, o.org_name, o.org_type,
               count(*) filter (where coalesce(l.status, 'UNSUPPORTED') <> 'SUPPORTED') as unsupported,
               count(*) as mature_segments,
               string_agg(s.segment, ', ' order by s.segment)
                   filter (where coalesce(l.status, 'UNSUPPORTED') <> 'SUPPORTED') as segments_missing
        from org o cross join seg s
        left join latest l on l.org_id = o.org_id and l.segment = s.segment
        group by all having unsupported > 0
        order by unsupported desc, o.org_id limit {int(limit)}""",
        [as_of, as_of],
    )
    return frame if frame is not None else _empty(*cols)


# The daily deliveries chart of a source page shows its latest business dates only: a carrier
# fixes recent deliveries, and a chart of every date would grow by a bar a day for years (and the
# site's build with it, issue 17). The weekly trends and the gaps table keep the whole history.
DELIVERY_CHART_DAYS = 120


def deliveries_by_outcome(wh: Warehouse) -> pd.DataFrame:
    """Data files per source, business date and outcome, for the source's latest
    DELIVERY_CHART_DAYS business dates (counted back from its own latest)."""
    if not wh.has("marts.file_loads", "source_id", "business_date", "outcome"):
        return _empty("source_id", "business_date", "outcome", "files")
    return wh.df(f"""
        select source_id, business_date, outcome, count(*) as files from marts.file_loads
        where business_date is not null group by source_id, business_date, outcome
        qualify business_date > max(business_date) over (partition by source_id) - {DELIVERY_CHART_DAYS}
        order by 1, 2, 3""")


def delivery_gaps(wh: Warehouse, as_of) -> pd.DataFrame:
    """Runs of business dates without a loaded delivery of a daily feed, per source and feed.

    Computed once, in dbt (`marts.delivery_gaps`, from `int_feed_days__missed`): from a feed's
    first loaded date up to `as_of`; a run that reaches `as_of` means the source is behind.
    `refused` counts quarantined or pending files for those dates.
    """
    cols = ("source_id", "feed", "first_day", "last_day", "days", "refused", "to_as_of")
    if as_of is None or not wh.has("marts.delivery_gaps", *cols):
        return _empty(*cols)
    return wh.df(f"select {', '.join(cols)} from marts.delivery_gaps order by 1, 2, 3")


ARRIVALS = """
    select * from (
        select source_id, feed, file_name, business_date, seq, first_seen_at, outcome,
               greatest(coalesce(max(business_date) over (
                   partition by source_id, feed order by first_seen_at, business_date, seq
                   rows between unbounded preceding and 1 preceding) - business_date, 0), 0) as days_late
        from marts.file_loads
        where business_date is not null and first_seen_at is not null and outcome <> 'PENDING')
    where seq = 1"""


def arrivals(wh: Warehouse) -> str:
    """ARRIVALS, run once per warehouse connection: three queries read it, each a window over
    every data file the ledger holds (~77,000 at a year)."""
    return wh.once("numlake_arrivals", ARRIVALS)


def lateness(wh: Warehouse) -> pd.DataFrame:
    """How many days behind its feed each delivery arrived.

    A delivery is late when a later business date of the same source and feed had already been
    seen before it; `days_late` is that latest date minus its own. Only first deliveries
    (sequence 01) are judged, a redelivery is late by nature; a PENDING file is still
    uploading and moves no frontier. Measured on arrival order,
    not on the wall clock, so a backfill that ingests a year at once counts nothing as late
    while a file that turns up after its successors does (INTERCHANGE 2.2).
    """
    if not wh.has("marts.file_loads", "source_id", "feed", "business_date", "seq", "first_seen_at"):
        return _empty("source_id", "days_late", "files")
    return wh.df(f"""
        select source_id, days_late, count(*) as files from {arrivals(wh)} group by all order by 1, 2""")


def late_files(wh: Warehouse, limit: int = 15) -> pd.DataFrame:
    cols = ("source_id", "file_name", "feed", "business_date", "first_seen_at", "days_late", "outcome")
    if not wh.has("marts.file_loads", "source_id", "feed", "business_date", "seq", "first_seen_at", "file_name"):
        return _empty(*cols)
    return wh.df(f"""
        select {", ".join(cols)} from {arrivals(wh)} where days_late > 0
        qualify row_number() over (partition by source_id order by days_late desc, file_name) <= {int(limit)}
        order by source_id, days_late desc, file_name""")


def refused_files(
    wh: Warehouse, outcomes: tuple[str, ...] = ("QUARANTINED", "PENDING"), per_source: int | None = None
) -> pd.DataFrame:
    """Quarantined and pending files, newest business date first."""
    t = "marts.file_loads"
    cols = (
        "source_id",
        "feed",
        "business_date",
        "file_name",
        "outcome",
        "reason",
        "detail",
        "first_seen_at",
        "decided_at",
    )
    if not wh.has(t, "source_id", "feed", "business_date", "file_name", "outcome", "reason"):
        return _empty(*cols)
    wanted = ", ".join(f"'{o}'" for o in outcomes)
    qualify = (
        f"qualify row_number() over (partition by source_id order by business_date desc nulls first, "
        f"file_name) <= {int(per_source)}"
        if per_source
        else ""
    )
    return wh.df(f"""
        select source_id, feed, business_date, file_name, outcome, reason, {_opt(wh, t, "detail")},
               {_opt(wh, t, "first_seen_at")}, {_opt(wh, t, "decided_at")}
        from {t} where outcome in ({wanted}) {qualify}
        order by business_date desc nulls first, source_id, file_name""")


def refused_counts(wh: Warehouse) -> pd.DataFrame:
    if not wh.has("marts.file_loads", "outcome", "reason"):
        return _empty("outcome", "reason", "files", "sources")
    return wh.df("""
        select outcome, coalesce(reason, '') as reason, count(*) as files, count(distinct source_id) as sources
        from marts.file_loads where outcome in ('QUARANTINED', 'PENDING') group by all order by files desc, 1, 2""")


def rejection_counts(wh: Warehouse) -> pd.DataFrame:
    if not wh.has("marts.rejected_records", "source_id", "feed", "reason"):
        return _empty("source_id", "feed", "reason", "rejected")
    return wh.df("""
        select source_id, feed, reason, count(*) as rejected from marts.rejected_records
        group by all order by 1, 4 desc, 2, 3""")


def rejection_examples(wh: Warehouse, per_reason: int = 2) -> pd.DataFrame:
    """The first records (by file and line) rejected for each source, feed and reason; raw is masked later."""
    cols = ("source_id", "feed", "reason", "file_name", "line_no", "raw")
    if not wh.has("marts.rejected_records", *cols):
        return _empty(*cols)
    return wh.df(f"""
        select source_id, feed, reason, file_name, line_no, raw from marts.rejected_records
        qualify row_number() over (partition by source_id, feed, reason order by file_name, line_no)
            <= {int(per_reason)}
        order by 1, 2, 3, 4, 5""")


def accounting(wh: Warehouse) -> pd.DataFrame:
    """Per source and feed: files by outcome and the record accounting of loaded files (INTERCHANGE 4)."""
    t = "marts.file_loads"
    cols = (
        "source_id",
        "feed",
        "files",
        "loaded_files",
        "quarantined",
        "pending",
        "superseded",
        "rows_declared",
        "rows_loaded",
        "rows_rejected",
        "unbalanced_files",
        "rejected_records",
    )
    if not wh.has(t, "source_id", "feed", "outcome", "rows_declared", "rows_loaded", "rows_rejected"):
        return _empty(*cols)
    rejected = (
        "left join (select source_id, feed, count(*) as n from marts.rejected_records group by all) r "
        "using (source_id, feed)"
        if wh.has("marts.rejected_records", "source_id", "feed")
        else ""
    )
    return wh.df(f"""
        with a as (
            select source_id, feed, count(*) as files,
                   count(*) filter (where outcome = 'LOADED') as loaded_files,
                   count(*) filter (where outcome = 'QUARANTINED') as quarantined,
                   count(*) filter (where outcome = 'PENDING') as pending,
                   count(*) filter (where outcome = 'SUPERSEDED') as superseded,
                   coalesce(sum(rows_declared) filter (where outcome = 'LOADED'), 0) as rows_declared,
                   coalesce(sum(rows_loaded) filter (where outcome = 'LOADED'), 0) as rows_loaded,
                   coalesce(sum(rows_rejected) filter (where outcome = 'LOADED'), 0) as rows_rejected,
                   count(*) filter (where outcome = 'LOADED' and
                       rows_declared is distinct from rows_loaded + rows_rejected) as unbalanced_files
            from {t} group by all)
        select a.*, {"coalesce(r.n, 0)" if rejected else "null"} as rejected_records
        from a {rejected} order by 1, 2""")


def ingest_runs(wh: Warehouse, limit: int = 20) -> pd.DataFrame:
    """Ingestion runs seen in the ledger, for when the orchestration layer passes no run history."""
    t = "marts.file_loads"
    cols = ("run_id", "start", "end", "duration_s", "status", "files")
    if not wh.has(t, "run_id", "first_seen_at", "decided_at"):
        return _empty(*cols)
    return wh.df(f"""
        select run_id, min(decided_at) as start, max(decided_at) as "end",
               date_diff('millisecond', min(decided_at), max(decided_at)) / 1000.0 as duration_s,
               'ingested' as status, count(*) as files
        from {t} where run_id is not null group by run_id order by start desc, run_id limit {int(limit)}""")
