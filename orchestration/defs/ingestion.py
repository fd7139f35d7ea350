"""Ingestion assets: every delivery of every registered source into the Parquet lake.

One multi-asset writes the five feed folders of the lake and the ledger in one pass per
source, because a delivery's outcome (supersede, duplicate ids, quarantine) is decided per
source across feeds' shared ledger. Per-source status, retries and backfills come from the
`sources` run config: the sensor launches runs for exactly the sources with new complete
deliveries, `numlake ingest --source X` re-runs one, and each materialisation carries a
per-source table of outcomes.
"""

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

from orchestration.settings import Settings

FEEDS = ("lifecycle", "complaints", "segments", "orgs", "adoption")
FEED_KEYS = {f: dg.AssetKey(["lake", f]) for f in FEEDS}
LEDGER_KEY = dg.AssetKey(["lake", "file_loads"])
REJECTS_KEY = dg.AssetKey(["lake", "rejected_records"])
SOURCES_KEY = dg.AssetKey(["lake", "sources"])


class IngestConfig(dg.Config):
    sources: list[str] = []
    """Source ids to ingest; empty means every folder in the landing area."""


def _terminal_progress():
    """A `progress(done, total)` printer when the CLI runs on a terminal (NUMLAKE_PROGRESS=1), else None."""
    if os.environ.get("NUMLAKE_PROGRESS") != "1":
        return None
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 1.0:
            last[0] = now
            end = "\n" if done == total else ""
            print(f"\r  ingestion: {done}/{total} files", end=end, file=sys.__stderr__, flush=True)

    return progress


def _per_source_table(result) -> dg.MetadataValue:
    rows = []
    for src, counts in sorted(getattr(result, "per_source", {}).items()):
        rows.append({"source": src, **{k: int(v) for k, v in dict(counts).items()}})
    return dg.MetadataValue.json(rows)


@dg.multi_asset(
    name="ingest_deliveries",
    group_name="ingestion",
    specs=[
        dg.AssetSpec(FEED_KEYS[f], description=f"Parquet lake of the `{f}` feed: one file per LOADED delivery "
                     "(docs/LAKE.md).", kinds={"parquet"})
        for f in FEEDS
    ] + [
        dg.AssetSpec(LEDGER_KEY, description="Ledger: one row per data file seen, with its outcome, reason "
                     "and row counts.", kinds={"parquet"}),
        dg.AssetSpec(REJECTS_KEY, description="Every rejected record of a loaded file, with its reason and "
                     "raw text.", kinds={"parquet"}),
        dg.AssetSpec(SOURCES_KEY, description="The source registry in force at the last ingest.", kinds={"parquet"}),
    ],
    can_subset=False,
    pool="lake_writer",
)
def ingest_deliveries(context: dg.AssetExecutionContext, config: IngestConfig):
    """Read complete deliveries (data file + control file) from the landing area, decide each
    file's outcome, load or reject every record, and account for all of them (INTERCHANGE 4)."""
    from ingestion.pipeline import ingest

    settings = Settings.resolve().validate()
    result = ingest(settings.home, settings.landing, settings.registry,
                    sources=config.sources or None, run_id=context.run_id, progress=_terminal_progress())
    common = {
        "files_processed": int(getattr(result, "files_processed", 0)),
        "records_loaded": int(getattr(result, "records_loaded", 0)),
        "records_rejected": int(getattr(result, "records_rejected", 0)),
        "outcomes": dg.MetadataValue.json(dict(getattr(result, "totals", {}))),
        "per_source": _per_source_table(result),
        "sources_selected": dg.MetadataValue.json(config.sources or "all"),
        "duration_s": float(getattr(result, "duration", 0.0)),
    }
    for f in FEEDS:
        yield dg.MaterializeResult(asset_key=FEED_KEYS[f], metadata={"files_processed": common["files_processed"]})
    yield dg.MaterializeResult(asset_key=LEDGER_KEY, metadata=common)
    yield dg.MaterializeResult(asset_key=REJECTS_KEY, metadata={"records_rejected": common["records_rejected"]})
    yield dg.MaterializeResult(asset_key=SOURCES_KEY)


@dg.asset_check(asset=LEDGER_KEY, description="Per LOADED file: rows declared = rows loaded + rows rejected; "
                "files not LOADED have no loaded or rejected records.", blocking=True)
def accounting_invariant(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    from ingestion.checks import accounting_violations

    settings = Settings.resolve()
    problems = accounting_violations(settings.home)
    return dg.AssetCheckResult(passed=not problems, metadata={
        "violations": len(problems), "first": dg.MetadataValue.json(problems[:20])})


@dg.asset_check(asset=LEDGER_KEY, description="Every source's daily feeds are delivered without gaps "
                "up to the latest business date of the platform.")
def source_freshness(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    from ingestion.checks import freshness

    rows = freshness(Settings.resolve().home)
    gaps = [r for r in rows if r.get("gaps")]
    return dg.AssetCheckResult(
        passed=not gaps,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"feeds": len(rows), "feeds_with_gaps": len(gaps),
                  "with_gaps": dg.MetadataValue.json([{k: str(v) for k, v in r.items()} for r in gaps[:50]])},
    )


def new_deliveries_sensor_factory(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(name="new_deliveries", job_name=job_name, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Notices new complete deliveries (data + control file) and runs the pipeline "
                           "for exactly the sources that have them.")
    def new_deliveries(context: dg.SensorEvaluationContext):
        from ingestion.pipeline import pending_work

        settings = Settings.resolve()
        if not settings.landing.is_dir() or not settings.registry.is_file():
            return dg.SkipReason(f"landing {settings.landing} or registry {settings.registry} missing")
        pending = {s: n for s, n in pending_work(settings.landing, settings.registry, settings.home).items() if n}
        if not pending:
            return dg.SkipReason("no new complete deliveries")
        key = hashlib.sha256(json.dumps(sorted(pending.items())).encode()).hexdigest()[:16]
        if key == context.cursor:
            return dg.SkipReason("already requested a run for these deliveries")
        context.update_cursor(key)
        return dg.RunRequest(
            run_key=key,
            run_config={"ops": {"ingest_deliveries": {"config": {"sources": sorted(pending)}}}},
            tags={"numlake/trigger": "sensor", "numlake/sources": ",".join(sorted(pending))[:200]},
        )

    return new_deliveries


def registry_path_hint() -> Path:
    return Settings.resolve().registry
