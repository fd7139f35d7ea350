"""Pull mode in Dagster: fetch the pull sources' deliveries before ingestion reads the landing area.

`pull_deliveries` runs first in every pipeline run (the 06:00 schedule and the runs of the
`new_deliveries` sensor included); the `pull_sources` sensor runs it on its own interval
(job `numlake_pull`), after which `new_deliveries` notices what arrived. Each pull source has
an asset check that fails, with its reason, while its latest fetch attempt failed; a failing
source never fails the step, so every other source is fetched and ingested as usual.
The fetch itself is plain Python (`ingestion.pull`, docs/PULL.md); no credential reaches
Dagster: run config and metadata hold source ids, counts, reasons and urls without secrets.
"""

import re

import dagster as dg

from numlake import env
from numlake.msisdn import mask_text
from orchestration.metadata import iso_duration, table
from orchestration.resources import NumlakeResource
from orchestration.settings import Settings

PULL_KEY = dg.AssetKey(["landing", "pulled"])
PULL_JOB = "numlake_pull"
PULL_SENSOR = "pull_sources"
PULL_INTERVAL_S = env.number("NUMLAKE_PULL_INTERVAL_S", 900)

PULL_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("source", "string"),
        dg.TableColumn("outcome", "string", description="ok or failed: the last attempt of this run"),
        dg.TableColumn("reason", "string", description="INTERCHANGE 5 reason of a failure"),
        dg.TableColumn("detail", "string"),
        dg.TableColumn("tries", "int", description="attempts in this run (retries after a passing failure)"),
        dg.TableColumn("files", "int", description="data files copied into the landing area"),
        dg.TableColumn("bytes", "int"),
        dg.TableColumn("remote_files", "int", description="complete deliveries listed on the server"),
        dg.TableColumn("seconds", "float"),
        dg.TableColumn("url", "string"),
    ]
)


class PullConfig(dg.Config):
    sources: list[str] = []
    """Pull sources to fetch; empty means every source with a `pull` entry."""


def check_name(source_id: str) -> str:
    return "pull_" + re.sub(r"[^a-z0-9]+", "_", source_id.lower())


def pull_source_ids(settings: Settings) -> list[str]:
    """The registry's pull sources; none when the registry is missing (it is refused before any run)."""
    from ingestion.pull.config import load_pull_entries

    try:
        return list(load_pull_entries(settings.registry))
    except Exception:
        return []


def report_rows(report) -> list[dict]:
    rows = []
    for sid, tries in sorted(report.attempts.items()):
        last = tries[-1]
        # every record carries every column (Dagster refuses a table whose records differ in keys)
        rows.append(
            {
                "source": mask_text(sid),
                "outcome": last.outcome,
                "reason": last.reason or "",
                "detail": last.detail or "",
                "tries": len(tries),
                "files": sum(a.files for a in tries),
                "bytes": sum(a.bytes for a in tries),
                "remote_files": last.remote_files,
                "seconds": round(sum(a.duration_s for a in tries), 3),
                "url": last.url,
            }
        )
    return rows


def build_pull_asset(source_ids: list[str]) -> dg.AssetsDefinition:
    specs = [
        dg.AssetCheckSpec(
            check_name(s),
            asset=PULL_KEY,
            description=f"The latest fetch of {s} from its SFTP server succeeded (INTERCHANGE 5).",
        )
        for s in source_ids
    ]

    @dg.asset(key=PULL_KEY, group_name="pull", kinds={"sftp"}, check_specs=specs, pool="landing_puller")
    def pull_deliveries(context: dg.AssetExecutionContext, config: PullConfig, numlake: NumlakeResource):
        """Fetch new and changed deliveries of every pull source from its own SFTP server into the
        landing area (data file, then control file; only deliveries whose control file exists on
        the server). A source that fails has its reason in `per_source` and a failed check."""
        from ingestion.pull.ledger import source_status
        from ingestion.pull.run import pull

        settings = numlake.settings
        report = pull(
            settings.home,
            settings.registry,
            settings.landing,
            sources=config.sources or None,
            run_id=context.run.run_id,
            skip_unregistered=True,  # `numlake run --source` may name an unregistered landing folder
        )
        for sid, a in sorted(report.failed.items()):
            context.log.warning(mask_text(f"pull {sid} failed: {a.reason}: {a.detail}"))
        yield dg.MaterializeResult(
            metadata={
                "sources": len(report.attempts),
                "sources_failed": len(report.failed),
                "failed": dg.MetadataValue.json({s: a.reason for s, a in sorted(report.failed.items())}),
                "files_fetched": report.files,
                "bytes_fetched": report.bytes,
                "per_source": table(report_rows(report), PULL_SCHEMA),
                "duration_s": round(report.seconds, 3),
                "duration": iso_duration(report.seconds),
            }
        )
        status = {r["source_id"]: r for r in source_status(settings.home)}
        for sid in source_ids:
            st = status.get(sid)
            ok = st is None or st.get("outcome") == "ok"
            yield dg.AssetCheckResult(
                check_name=check_name(sid),
                passed=ok,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "outcome": (st or {}).get("outcome") or "never pulled",
                    "reason": (st or {}).get("reason"),
                    "detail": (st or {}).get("detail"),
                    "failing_since": (st or {}).get("failing_since"),
                    "last_ok": (st or {}).get("last_ok"),
                },
            )

    return pull_deliveries


@dg.sensor(
    name=PULL_SENSOR,
    job_name=PULL_JOB,
    minimum_interval_seconds=PULL_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fetches the pull sources' servers on its own interval ($NUMLAKE_PULL_INTERVAL_S, "
    "default 15 min); the new_deliveries sensor then ingests what arrived.",
)
def pull_sources(context: dg.SensorEvaluationContext, numlake: NumlakeResource):
    if not pull_source_ids(numlake.settings):
        return dg.SkipReason("no source of the registry has a pull entry")
    active = context.instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=PULL_JOB,
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    if active:
        return dg.SkipReason("the previous pull is still queued or running")
    return dg.RunRequest(tags={"numlake/trigger": "pull_sensor"})


def defs(settings: Settings) -> dg.Definitions:
    pull_job = dg.define_asset_job(
        PULL_JOB,
        selection=dg.AssetSelection.groups("pull"),
        description="Fetch the pull sources into the landing area (no ingestion).",
    )
    return dg.Definitions(assets=[build_pull_asset(pull_source_ids(settings))], jobs=[pull_job], sensors=[pull_sources])
