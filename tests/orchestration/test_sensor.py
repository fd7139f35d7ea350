"""The new-deliveries sensor asks for runs of exactly the sources that have new complete deliveries."""

import shutil

import dagster as dg

from orchestration.settings import Settings


def _evaluate(defs, cursor=None):
    sensor = defs.resolve_sensor_def("new_deliveries")
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"numlake": defs.resources["numlake"]}
        )
        return sensor.evaluate_tick(ctx)


def test_sensor_requests_a_run_for_every_source_with_new_deliveries_then_none_once_ingested(samples_world):
    from ingestion.pipeline import ingest
    from orchestration.definitions import build_definitions

    s = Settings.resolve(samples_world["home"], samples_world["landing"], samples_world["registry"])
    defs = build_definitions(s)
    first = _evaluate(defs)
    assert len(first.run_requests) == 1
    sources = first.run_requests[0].run_config["ops"]["ingest_deliveries"]["config"]["sources"]
    assert sources == sorted(["CM-GD", "CT-SC", "CU-NAT", "MV-017", "PORTAL"])

    ingest(s.home, s.landing, s.registry)
    assert not _evaluate(defs, cursor=first.cursor).run_requests

    # A new delivery of one source: a run for that source only.
    src = samples_world["landing"] / "CT-SC" / "lifecycle"
    for name in ("CT-SC_lifecycle_20250301_01.txt.gz", "CT-SC_lifecycle_20250301_01.txt.gz.ctl"):
        new = name.replace("20250301", "20250302")
        shutil.copy(src / name, src / new)
    ctl = src / "CT-SC_lifecycle_20250302_01.txt.gz.ctl"
    ctl.write_text(ctl.read_text().replace("2025-03-01", "2025-03-02"))
    third = _evaluate(defs, cursor=first.cursor)
    assert [r.run_config["ops"]["ingest_deliveries"]["config"]["sources"] for r in third.run_requests] == [["CT-SC"]]


def test_a_failed_run_is_run_again_after_a_back_off_that_grows_with_each_failure(samples_world, monkeypatch):
    """A reviewer killed the object store during a sensor-started run: every later tick said
    "already requested a run for these deliveries", and nothing ran until someone launched one."""
    import time

    from dagster._core.test_utils import create_run_for_test

    from ingestion.pipeline import ingest
    from orchestration.definitions import build_definitions
    from orchestration.defs import automation

    s = Settings.resolve(samples_world["home"], samples_world["landing"], samples_world["registry"])
    defs = build_definitions(s)
    ingest(s.home, s.landing, s.registry)  # nothing pending: only a failure can ask for a run
    sensor = defs.resolve_sensor_def("new_deliveries")
    now = time.time()
    with dg.instance_for_test() as instance:

        def tick(at: float):
            monkeypatch.setattr(automation, "_now", lambda: at)
            ctx = dg.build_sensor_context(instance=instance, resources={"numlake": defs.resources["numlake"]})
            return sensor.evaluate_tick(ctx).run_requests

        def run(status):
            return create_run_for_test(instance, job_name=automation.PIPELINE_JOB, status=status).run_id

        assert tick(now) == []
        first = run(dg.DagsterRunStatus.FAILURE)
        assert tick(now + 10) == [], "not before its back-off"
        [again] = tick(now + automation.RETRY_BASE_S + 10)
        assert again.run_key == f"retry:{first}"
        assert again.run_config["ops"]["ingest_deliveries"]["config"]["sources"] == []
        second = run(dg.DagsterRunStatus.FAILURE)  # the retry failed too: twice the wait
        assert tick(now + automation.RETRY_BASE_S + 10) == []
        assert [r.run_key for r in tick(now + 2 * automation.RETRY_BASE_S + 10)] == [f"retry:{second}"]
        assert len(tick(now + 10 * automation.RETRY_CAP_S)) == 1, "the wait is capped"
        run(dg.DagsterRunStatus.STARTED)
        assert tick(now + 10 * automation.RETRY_CAP_S) == [], "a run is under way"
        run(dg.DagsterRunStatus.SUCCESS)
        assert tick(now + 10 * automation.RETRY_CAP_S) == [], "the last run succeeded"
