"""Dagster definitions for numlake: ingestion -> dbt warehouse -> dashboards and check snapshot.

`numlake ui` runs `dagster dev -m orchestration.dagster_entry`, which builds them from the
environment set by `Settings.apply_env`; the CLI builds the same definitions in-process.
"""
from __future__ import annotations

import dagster as dg

from orchestration.defs.ingestion import accounting_invariant, ingest_deliveries, new_deliveries_sensor_factory, source_freshness
from orchestration.defs.publish import SCHEDULE_CRON, SCHEDULE_TZ
from orchestration.settings import Settings

PIPELINE_JOB = "numlake_pipeline"
INGEST_JOB = "numlake_ingest"


def build_ingestion_definitions(settings: Settings) -> dg.Definitions:
    """Ingestion alone, for `numlake ingest`: no dbt manifest to load, so a run with nothing new
    costs Dagster's start-up and the ledger comparison, not the warehouse's definitions."""
    settings.apply_env()
    ingest_job = dg.define_asset_job(INGEST_JOB, selection=dg.AssetSelection.groups("ingestion"),
                                     description="Ingestion only: landing area -> Parquet lake and ledger.")
    return dg.Definitions(assets=[ingest_deliveries], asset_checks=[accounting_invariant, source_freshness],
                          jobs=[ingest_job], executor=dg.in_process_executor)


def build_definitions(settings: Settings) -> dg.Definitions:
    from orchestration.defs.dbt import build_dbt_assets
    from orchestration.defs.publish import build_publish_assets

    settings.apply_env()
    warehouse_models, dbt_resource = build_dbt_assets(settings.home)
    publish_assets = build_publish_assets(list(warehouse_models.keys))
    pipeline_job = dg.define_asset_job(PIPELINE_JOB, selection=dg.AssetSelection.all(),
                                       description="Ingest every new delivery, rebuild the warehouse, "
                                                   "publish dashboards and the check snapshot.")
    ingest_job = dg.define_asset_job(INGEST_JOB, selection=dg.AssetSelection.groups("ingestion"),
                                     description="Ingestion only: landing area -> Parquet lake and ledger.")
    schedule = dg.ScheduleDefinition(
        name="daily_0600_china", job=pipeline_job, cron_schedule=SCHEDULE_CRON, execution_timezone=SCHEDULE_TZ,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Safety net: the full pipeline every day at 06:00 China time.",
    )
    return dg.Definitions(
        assets=[ingest_deliveries, warehouse_models, *publish_assets],
        asset_checks=[accounting_invariant, source_freshness],
        jobs=[pipeline_job, ingest_job],
        schedules=[schedule],
        sensors=[new_deliveries_sensor_factory(PIPELINE_JOB)],
        resources={"dbt": dbt_resource},
        executor=dg.in_process_executor,
    )

