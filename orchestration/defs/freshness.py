"""Per-feed freshness of every source, as asset checks on the `source_freshness` mart.

Gaps, coverage start and how far behind `as_of` a source is are computed once, by dbt
(`marts.source_freshness`); these checks only read that mart after it is built, one check per
daily feed, listing the sources that need the platform team (gaps inside the covered period,
behind `as_of`, or never delivered since registration). Sparse feeds (segments, orgs,
adoption) arrive when something changes, so silence there is not a failure.
"""

import dagster as dg

from ingestion.feeds import DAILY_FEEDS
from numlake.warehouse_reads import connect_read_only
from orchestration.metadata import FAILING_SOURCES_SCHEMA, failing_sources, iso, table
from orchestration.resources import NumlakeResource
from orchestration.settings import Settings

MART = "source_freshness"


def check_name(feed: str) -> str:
    return f"{feed}_delivered_daily_without_gaps"


def read_freshness(settings: Settings) -> tuple[object, list[dict]]:
    """`as_of` and the rows of `marts.source_freshness`, read-only from the warehouse."""
    con = connect_read_only(settings.home.warehouse)
    try:
        # read to the end (fetchall): DuckDB refuses the next statement while a streamed result is unfinished
        rows = con.execute("select as_of from marts.platform_status limit 1").fetchall()
        as_of = rows[0] if rows else None
        cur = con.execute(
            "select * from marts.source_freshness where is_registered or coverage_start is not null "
            "order by source_id, feed"
        )
        names = [d[0] for d in cur.description]
        return (as_of[0] if as_of else None), [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def build_freshness_checks(mart_key: dg.AssetKey) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(
            check_name(f),
            asset=mart_key,
            description=(
                f"Every registered source delivered its `{f}` feed for every business date from its coverage "
                "start up to as_of (a quarantined or pending day is a gap); the failing sources are listed."
            ),
        )
        for f in DAILY_FEEDS
    ]

    @dg.multi_asset_check(specs=specs, name="source_freshness_checks", can_subset=True)
    def source_freshness_checks(context: dg.AssetCheckExecutionContext, numlake: NumlakeResource):
        as_of, rows = read_freshness(numlake.settings)
        selected = {k.name for k in context.selected_asset_check_keys}
        for feed in DAILY_FEEDS:
            if check_name(feed) not in selected:
                continue
            feed_rows = [r for r in rows if r["feed"] == feed]
            failing = failing_sources(feed_rows)
            yield dg.AssetCheckResult(
                asset_key=mart_key,
                check_name=check_name(feed),
                passed=not failing,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "as_of": iso(as_of),
                    "sources": len(feed_rows),
                    "sources_failing": len(failing),
                    "failing_sources": table(failing, FAILING_SOURCES_SCHEMA),
                },
            )

    return source_freshness_checks


def defs(settings: Settings, warehouse_keys: list[dg.AssetKey]) -> dg.Definitions:
    (mart_key,) = [k for k in warehouse_keys if k.path[-1] == MART]
    return dg.Definitions(asset_checks=[build_freshness_checks(mart_key)])
