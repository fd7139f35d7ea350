"""When the pipeline runs: the full-pipeline job, its daily schedule and the new-deliveries sensor.

The schedule's time of day lives in `SCHEDULE_CRON` only; `next_scheduled_run` reads it from
there, so the operations page can never announce another hour than the one Dagster runs.
"""

import hashlib
import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from numlake.china_time import TZ_NAME
from orchestration.resources import NumlakeResource

PIPELINE_JOB = "numlake_pipeline"
SCHEDULE_NAME = "daily_0600_china"
SCHEDULE_CRON = "0 6 * * *"
SCHEDULE_TZ = TZ_NAME


def next_daily_run(cron: str, tz: str, now: datetime) -> datetime:
    """The next tick after `now` of a daily cron string `M H * * *` in time zone `tz`."""
    fields = cron.split()
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"] or not (fields[0].isdigit() and fields[1].isdigit()):
        raise ValueError(f"not a daily cron string 'M H * * *': {cron!r}")
    local = now.astimezone(ZoneInfo(tz))
    nxt = local.replace(hour=int(fields[1]), minute=int(fields[0]), second=0, microsecond=0)
    if nxt <= local:
        nxt += timedelta(days=1)
    return nxt


def next_scheduled_run(now: datetime | None = None) -> str:
    """ISO time of the schedule's next tick (China time)."""
    return next_daily_run(SCHEDULE_CRON, SCHEDULE_TZ, now or datetime.now(ZoneInfo(SCHEDULE_TZ))).isoformat()


pipeline_job = dg.define_asset_job(
    PIPELINE_JOB,
    selection=dg.AssetSelection.all(),
    description="Ingest every new delivery, rebuild the warehouse, publish dashboards and the check snapshot.",
)

daily_schedule = dg.ScheduleDefinition(
    name=SCHEDULE_NAME,
    job=pipeline_job,
    cron_schedule=SCHEDULE_CRON,
    execution_timezone=SCHEDULE_TZ,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Safety net: the full pipeline every day (see the cron string, China time).",
)


# a failed pipeline run is run again after 5 min, 10 min, 20 min, ... at most an hour apart
RETRY_BASE_S = 300.0
RETRY_CAP_S = 3600.0
_FINISHED_BAD = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _now() -> float:
    return time.time()


def failed_run_to_retry(instance: dg.DagsterInstance, now: float) -> str | None:
    """The id of the latest pipeline run when it failed (or was cancelled) and its back-off has
    passed: `RETRY_BASE_S` doubled per failure since the last success, at most `RETRY_CAP_S`.
    None while a run is queued or running, after a success, or before the back-off ends."""
    records = instance.get_run_records(dg.RunsFilter(job_name=PIPELINE_JOB), limit=12)
    if not records or records[0].dagster_run.status not in _FINISHED_BAD:
        return None
    streak = next((i for i, r in enumerate(records) if r.dagster_run.status not in _FINISHED_BAD), len(records))
    latest = records[0]
    ended = latest.end_time or latest.update_timestamp.timestamp()
    if now - ended < min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (streak - 1)):
        return None
    return latest.dagster_run.run_id


@dg.sensor(
    name="new_deliveries",
    job=pipeline_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Notices new complete deliveries (data + control file) and runs the pipeline "
    "for exactly the sources that have them; runs a failed pipeline run again, with back-off.",
)
def new_deliveries(context: dg.SensorEvaluationContext, numlake: NumlakeResource):
    """A run for the sources with new complete deliveries (once per set of them), else, when the
    latest pipeline run failed, one more run of every source once its back-off has passed: a
    store or warehouse that failed a run (its deliveries undecided, or decided but the warehouse
    half built) is rebuilt without waiting for the next delivery or the daily schedule."""
    from ingestion.pipeline import pending_work

    settings = numlake.settings
    if not settings.landing.is_dir() or not settings.registry.is_file():
        return dg.SkipReason(f"landing {settings.landing} or registry {settings.registry} missing")
    pending = {s: n for s, n in pending_work(settings.landing, settings.registry, settings.home).items() if n}
    key = hashlib.sha256(json.dumps(sorted(pending.items())).encode()).hexdigest()[:16] if pending else None
    if key is not None and key != context.cursor:
        context.update_cursor(key)
        return dg.RunRequest(
            run_key=key,
            run_config={"ops": {"ingest_deliveries": {"config": {"sources": sorted(pending)}}}},
            tags={"numlake/trigger": "sensor", "numlake/sources": ",".join(sorted(pending))[:200]},
        )
    failed = failed_run_to_retry(context.instance, _now())
    if failed is not None:
        return dg.RunRequest(
            run_key=f"retry:{failed}",  # once per failed run: its own failure starts the next back-off
            run_config={"ops": {"ingest_deliveries": {"config": {"sources": []}}}},
            tags={"numlake/trigger": "sensor-retry", "numlake/retry_of": failed},
        )
    if key is not None:
        return dg.SkipReason("already requested a run for these deliveries")
    return dg.SkipReason("no new complete deliveries")


def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[pipeline_job], schedules=[daily_schedule], sensors=[new_deliveries])
