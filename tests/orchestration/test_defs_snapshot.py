"""The whole Dagster definitions, and the shape of the metadata the platform team reads, match a
snapshot: a renamed field (the ingestion asset once read `per_source` from a result that had
`by_source`, and showed an empty table for months) fails here instead of in front of a user.

When a change is intended (a new asset, check or metadata field), regenerate the snapshot and
review its diff:

    NUMLAKE_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/orchestration/test_defs_snapshot.py
"""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from orchestration.settings import Settings

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "definitions.json"
UPDATE = os.environ.get("NUMLAKE_UPDATE_SNAPSHOTS") == "1"


def _key(k) -> str:
    return k.to_user_string()


def definitions_snapshot(defs: dg.Definitions) -> dict:
    """Asset keys with group, kinds and upstream keys; checks; jobs with their assets; schedules;
    sensors; resources."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=_key):
        node = graph.get(key)
        assets[_key(key)] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "deps": sorted(_key(p) for p in node.parent_keys),
        }
    jobs = {}
    for job in sorted(defs.jobs, key=lambda j: j.name):
        resolved = defs.resolve_job_def(job.name)
        jobs[job.name] = sorted(_key(k) for k in resolved.asset_layer.executable_asset_keys)
    return {
        "assets": assets,
        "asset_checks": sorted(_key(k.asset_key) + ":" + k.name for k in graph.asset_check_keys),
        "jobs": jobs,
        "schedules": {
            s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
            for s in defs.schedules
        },
        "sensors": {s.name: {"job": s.job_name} for s in defs.sensors},
        "resources": sorted(defs.resources),
    }


def _shape(value) -> object:
    """What a metadata value is, not what it holds: its kind, and a table's columns."""
    if isinstance(value, dg.TableMetadataValue):
        return {"table": [f"{c.name}:{c.type}" for c in value.schema.columns]}
    return type(value).__name__


def metadata_snapshot(instance: dg.DagsterInstance, run_id: str) -> dict:
    """Metadata keys and kinds of every numlake (not dbt) materialisation and check of a run."""
    out: dict[str, dict] = {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None:
            continue
        if ev.event_type_value == "ASSET_MATERIALIZATION":
            mat = ev.event_specific_data.materialization
            if mat.asset_key.path[0] in ("lake", "check_snapshot", "dashboard_site"):
                out["asset " + _key(mat.asset_key)] = {k: _shape(v) for k, v in sorted(mat.metadata.items())}
        elif ev.event_type_value == "ASSET_CHECK_EVALUATION":
            ev_data = ev.event_specific_data
            name = _key(ev_data.asset_key) + ":" + ev_data.check_name
            if not name.startswith(("marts/", "staging/", "intermediate/")) or "delivered" in name:
                out["check " + name] = {k: _shape(v) for k, v in sorted(ev_data.metadata.items())}
    return dict(sorted(out.items()))


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """The spec's samples through `numlake run`'s in-process path, once for this module."""
    import shutil

    from orchestration.runner import run_pipeline

    root = tmp_path_factory.mktemp("snapshot")
    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    shutil.copytree(fixtures / "samples", root / "landing", ignore=shutil.ignore_patterns("README.md", "expected.json"))
    settings = Settings.resolve(root / "home", root / "landing", fixtures / "samples_registry.yaml")
    summary = run_pipeline(settings)
    assert summary.success, summary.failures
    return settings, summary.run_id


def test_the_definitions_and_their_metadata_match_the_snapshot(pipeline_run):
    from orchestration.definitions import build_definitions

    settings, run_id = pipeline_run
    defs = build_definitions(settings)
    with dg.DagsterInstance.get() as instance:
        got = {"definitions": definitions_snapshot(defs), "metadata": metadata_snapshot(instance, run_id)}
    if UPDATE or not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    want = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert got == want, "definitions changed: if intended, run NUMLAKE_UPDATE_SNAPSHOTS=1 (see this module's docstring)"


def test_the_ledger_shows_one_row_per_source_with_outcomes_and_iso_dates(pipeline_run):
    settings, run_id = pipeline_run
    with dg.DagsterInstance.get() as instance:
        mat = instance.fetch_materializations(dg.AssetKey(["lake", "file_loads"]), limit=1).records[0]
    meta = mat.asset_materialization.metadata
    rows = {r.data["source"]: r.data for r in meta["per_source"].records}
    assert sorted(rows) == ["CM-GD", "CT-SC", "CU-NAT", "MV-017", "PORTAL"]
    assert all(
        r["files"] == sum(r.get(o, 0) for o in ("LOADED", "QUARANTINED", "PENDING", "SUPERSEDED"))
        for r in rows.values()
    )
    assert sum(r["files"] for r in rows.values()) == meta["files_processed"].value
    assert all(isinstance(r["last_business_date"], str) and len(r["last_business_date"]) == 10 for r in rows.values())
    assert meta["duration_s"].value > 0
    assert meta["duration"].value.startswith("PT")


def test_freshness_checks_list_failing_sources_with_iso_dates_not_python_reprs(pipeline_run):
    settings, run_id = pipeline_run
    with dg.DagsterInstance.get() as instance:
        evaluations = [
            e.dagster_event.event_specific_data
            for e in instance.all_logs(run_id)
            if e.dagster_event
            and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
            and "delivered_daily" in e.dagster_event.event_specific_data.check_name
        ]
    assert sorted(e.check_name for e in evaluations) == [
        "complaints_delivered_daily_without_gaps",
        "lifecycle_delivered_daily_without_gaps",
    ]
    for e in evaluations:
        text = json.dumps({k: str(v.value) for k, v in e.metadata.items()})
        assert "datetime.date(" not in text
        for record in e.metadata["failing_sources"].records:
            assert all(not isinstance(v, (list, dict)) for v in record.data.values())


def test_the_run_left_the_dbt_docs_of_this_project_in_the_home(pipeline_run):
    from orchestration.dbt_support import docs_current, project_fingerprint

    settings, _ = pipeline_run
    index = settings.home.dbt_docs / "index.html"
    assert "dbt" in index.read_text(encoding="utf-8")[:5000].lower()
    assert docs_current(settings.home, project_fingerprint())
    # the unit tests' rows in the docs hold numbers of the valid shape: masked (RULES 7)
    from dashboards.privacy import find_full_numbers

    assert find_full_numbers(index.read_text(encoding="utf-8")) == []
