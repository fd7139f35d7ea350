"""Pull mode in Dagster: the pull asset runs before ingestion, reports per source,
and fails only a failing source's check."""

from __future__ import annotations

import dagster as dg

from orchestration.settings import Settings
from tests.support.sshd import pull_world_fixture  # noqa: F401 - fixture


def _defs(w):
    from orchestration.defs import ingestion, pull
    from orchestration.resources import NumlakeResource

    settings = Settings.resolve(w.home.root, w.landing, w.registry)
    return dg.Definitions.merge(
        pull.defs(settings),
        ingestion.defs(settings),
        dg.Definitions(resources={"numlake": NumlakeResource.from_settings(settings)}, executor=dg.in_process_executor),
    )


def test_the_pull_step_runs_before_ingestion_and_fails_only_the_failing_sources_check(pull_world):
    w = pull_world
    w.add_source("CU-NAT")
    w.add_source("CM-GD", host_key=" ".join(w.server.host_key.split()[:1]) + " " + _other_key(w))
    defs = _defs(w)
    job = dg.define_asset_job("all", selection=dg.AssetSelection.all())
    defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("all").execute_in_process(instance=instance, raise_on_error=False)
        steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
        assert steps.index("landing__pulled") < steps.index("ingest_deliveries")
        assert result.success
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert checks["pull_cu_nat"].passed and not checks["pull_cm_gd"].passed
        assert checks["pull_cm_gd"].metadata["reason"].value == "host_key_mismatch"
        mat = next(
            m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(["landing", "pulled"])
        )
        meta = mat.materialization.metadata
        assert meta["sources_failed"].value == 1
        rows = {r.data["source"]: r.data for r in meta["per_source"].value.records}
        assert rows["CU-NAT"]["outcome"] == "ok" and rows["CM-GD"]["reason"] == "host_key_mismatch"
    assert len(w.landing_files("CU-NAT")) == 4 and w.landing_files("CM-GD") == []


def _other_key(w) -> str:
    from ingestion.pull.sshd import generate_keypair

    return generate_keypair(w.base / "other-host-key").split()[1]


def test_the_pull_sensor_asks_for_a_pull_run_only_when_some_source_has_a_pull_entry(pull_world):
    from orchestration.defs.pull import PULL_JOB

    w = pull_world
    w.write_registry()
    sensor = _defs(w).resolve_sensor_def("pull_sources")
    with dg.instance_for_test() as instance:
        none = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=_resources(w)))
        assert not none.run_requests
        w.add_source("CU-NAT")
        sensor = _defs(w).resolve_sensor_def("pull_sources")
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=_resources(w)))
        assert len(tick.run_requests) == 1 and sensor.job_name == PULL_JOB


def _resources(w) -> dict:
    from orchestration.resources import NumlakeResource

    return {"numlake": NumlakeResource.from_settings(Settings.resolve(w.home.root, w.landing, w.registry))}
