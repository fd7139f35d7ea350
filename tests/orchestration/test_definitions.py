"""The Dagster layer loads, wires ingestion to dbt to publishing, and schedules what the team expects."""
import dagster as dg
import pytest

from orchestration.defs.publish import next_scheduled_run
from orchestration.settings import Settings


@pytest.fixture
def defs(samples_world):
    from orchestration.definitions import build_definitions

    s = Settings.resolve(samples_world["home"], samples_world["landing"], samples_world["registry"])
    return build_definitions(s)


def test_definitions_load_with_jobs_schedule_and_sensor(defs):
    assert {j.name for j in defs.jobs} >= {"numlake_pipeline", "numlake_ingest"}
    schedule = defs.resolve_schedule_def("daily_0600_china")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    assert defs.resolve_sensor_def("new_deliveries") is not None


def test_lineage_runs_from_ingestion_assets_through_dbt_to_publishing(defs):
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"lake/lifecycle", "lake/file_loads", "check_snapshot", "dashboard_site"} <= keys
    # some dbt model reads the lifecycle lake asset (sources.yml meta.dagster.asset_key)
    children = {k.to_user_string() for k in graph.get(dg.AssetKey(["lake", "lifecycle"])).child_keys}
    assert children, "no dbt model depends on lake/lifecycle"


def test_next_scheduled_run_is_the_next_six_oclock_china_time():
    from datetime import datetime, timedelta, timezone

    cst = timezone(timedelta(hours=8))
    assert next_scheduled_run(datetime(2025, 3, 1, 5, 59, tzinfo=cst)).startswith("2025-03-01T06:00")
    assert next_scheduled_run(datetime(2025, 3, 1, 6, 0, tzinfo=cst)).startswith("2025-03-02T06:00")
