"""The Dagster layer loads, wires ingestion to dbt to publishing, and schedules what the team expects."""

from datetime import UTC

import dagster as dg
import pytest

from orchestration.defs.automation import next_daily_run, next_scheduled_run
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


def test_the_next_run_follows_the_cron_string_not_a_second_copy_of_the_hour():
    from datetime import datetime, timedelta, timezone

    utc_evening = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)  # 07:30 on 2 March in China
    assert next_daily_run("15 4 * * *", "Asia/Shanghai", utc_evening).isoformat() == "2025-03-03T04:15:00+08:00"
    assert next_daily_run("15 9 * * *", "Asia/Shanghai", utc_evening) == datetime(
        2025, 3, 2, 9, 15, tzinfo=timezone(timedelta(hours=8))
    )
    with pytest.raises(ValueError, match="daily cron"):
        next_daily_run("0 6 * * 1", "Asia/Shanghai", utc_evening)
