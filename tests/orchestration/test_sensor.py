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
