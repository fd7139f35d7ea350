"""Dagster as a platform team deploys it: storage on a real PostgreSQL, the daemon, the run queue.

One daemon (`dagster-daemon run`, a process of the test) serves the deployment's workspace
(orchestration/deploy/) against a throw-away PostgreSQL cluster on 127.0.0.1, on the spec's
sample deliveries. The sensor notices them and its run goes through the queue to success; then
two runs submitted together never hold the warehouse at once: the second waits in the queue.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.servers import log_tail, stop_process

pytestmark = [pytest.mark.scale, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 1500


@pytest.fixture(scope="module")
def deployment(postgres_server, tmp_path_factory):
    """A samples world, a Dagster home prepared from orchestration/deploy/, and its daemon running."""
    from orchestration.deploy.__main__ import prepare

    root = tmp_path_factory.mktemp("deploy")
    landing = root / "landing"
    shutil.copytree(FIXTURES / "samples", landing, ignore=shutil.ignore_patterns("README.md", "expected.json"))
    dagster_home = prepare(root / "dagster-cluster")
    env = dict(os.environ)
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "NUMLAKE_DAGSTER_PG_URL": postgres_server.sqlalchemy_url(
                postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
            ),
            "NUMLAKE_HOME": str(root / "home"),
            "NUMLAKE_LANDING": str(landing),
            "NUMLAKE_REGISTRY": str(FIXTURES / "samples_registry.yaml"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    log = root / "daemon.log"
    with open(log, "wb") as fh:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(dagster_home / "workspace.yaml")],
            cwd=root,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    world = {
        "root": root,
        "env": env,
        "dagster_home": dagster_home,
        "daemon": daemon,
        "log": log,
        "home": root / "home",
    }
    yield world
    stop_process(daemon, grace=30)


def _instance(world):
    from dagster import DagsterInstance

    os.environ["NUMLAKE_DAGSTER_PG_URL"] = world["env"]["NUMLAKE_DAGSTER_PG_URL"]
    return DagsterInstance.from_config(str(world["dagster_home"]))


def _wait(world, predicate, what: str, timeout: float = RUN_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert world["daemon"].poll() is None, f"dagster-daemon exited: {log_tail(world['log'], 5)}"
        found = predicate()
        if found:
            return found
        time.sleep(3)
    pytest.fail(f"timed out waiting for {what}: {log_tail(world['log'], 5)}")


def test_the_deployment_definitions_load_with_the_multiprocess_executor(deployment, monkeypatch):
    from orchestration.definitions import PIPELINE_JOB
    from orchestration.deploy.definitions import build_deployment_definitions
    from orchestration.settings import Settings

    for key in ("NUMLAKE_HOME", "NUMLAKE_LANDING", "NUMLAKE_REGISTRY"):
        monkeypatch.setenv(key, deployment["env"][key])
    defs = build_deployment_definitions(Settings.resolve())
    job = defs.resolve_job_def(PIPELINE_JOB)
    assert job.executor_def.name == "multiprocess"
    assert defs.resolve_sensor_def("new_deliveries") and defs.resolve_schedule_def("daily_0600_china")


def test_the_instance_keeps_runs_events_and_schedules_in_postgres(deployment):
    instance = _instance(deployment)
    try:
        names = {
            type(s).__name__ for s in (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
        }
        assert names == {"PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage"}
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    finally:
        instance.dispose()


def test_the_sensor_ticks_and_its_run_completes_through_the_daemon_queue(deployment):
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.scheduler.instigation import InstigatorType, TickStatus

    instance = _instance(deployment)
    try:

        def sensor_run():
            runs = instance.get_runs(RunsFilter(tags={"numlake/trigger": "sensor"}))
            return runs[0] if runs and runs[0].status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE) else None

        run = _wait(deployment, sensor_run, "the sensor's run")
        assert run.status == DagsterRunStatus.SUCCESS, log_tail(deployment["log"], 5)
        kinds = {e.dagster_event.event_type_value for e in instance.all_logs(run.run_id) if e.dagster_event}
        assert "PIPELINE_ENQUEUED" in kinds or "RUN_ENQUEUED" in kinds  # it went through the queue
        state = next(
            s
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if s.name == "new_deliveries"
        )
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        assert any(t.status == TickStatus.SUCCESS and run.run_id in t.run_ids for t in ticks)
    finally:
        instance.dispose()
    import duckdb

    con = duckdb.connect(str(deployment["home"] / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from marts.file_loads").fetchone()[0] > 0
    finally:
        con.close()


def test_a_second_concurrent_run_waits_in_the_queue_for_the_single_writer(deployment):
    from dagster import DagsterRunStatus

    from orchestration.definitions import PIPELINE_JOB

    run_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for run_id in run_ids:
        launched = subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "launch",
                "-w",
                str(deployment["dagster_home"] / "workspace.yaml"),
                "-j",
                PIPELINE_JOB,
                "--run-id",
                run_id,
                "--tags",
                json.dumps({"numlake/trigger": "test"}),
            ],
            env=deployment["env"],
            cwd=deployment["root"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert launched.returncode == 0, launched.stderr[-2000:]
    instance = _instance(deployment)
    try:
        seen_waiting = []

        def both_done():
            records = {r.dagster_run.run_id: r for r in instance.get_run_records() if r.dagster_run.run_id in run_ids}
            statuses = {rid: rec.dagster_run.status for rid, rec in records.items()}
            if DagsterRunStatus.STARTED in statuses.values() and DagsterRunStatus.QUEUED in statuses.values():
                seen_waiting.append(statuses)
            done = all(s in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE) for s in statuses.values())
            return records if len(records) == 2 and done else None

        records = _wait(deployment, both_done, "two queued runs")
        assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records.values())
        first, second = sorted(records.values(), key=lambda r: r.start_time)
        assert second.start_time >= first.end_time  # never two runs holding the writer pools at once
    finally:
        instance.dispose()
