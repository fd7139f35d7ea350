"""Ingestion agrees, file by file and rejection by rejection, with the independent ground truth
that ``numlake simulate`` writes for its faulty deliveries (every quarantine reason, pending
files, redeliveries, rejected records)."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from ingestion.checks import accounting_violations
from ingestion.pipeline import ingest
from numlake.paths import Home

simulate = pytest.importorskip("numlake.simulate.core").simulate


@pytest.mark.slow
def test_a_simulated_landing_area_is_accounted_for_exactly_as_the_truth_says(tmp_path):
    landing, registry = tmp_path / "sim" / "landing", tmp_path / "sim" / "registry.yaml"
    simulate(landing, registry, start=dt.date(2025, 1, 1), days=12, scale=0.02, seed=3, faults=True)
    truth = tmp_path / "sim" / "simulation_truth"
    home = Home(tmp_path / "home")
    r = ingest(home, landing, registry)
    assert r.violations == [] and accounting_violations(home) == []
    con = duckdb.connect()
    cols = "source_id, feed, business_date, seq, file_name, outcome, reason, rows_declared, rows_loaded, rows_rejected"
    diff = con.execute(f"""
        (SELECT {cols} FROM '{truth}/file_loads.parquet'
         EXCEPT SELECT {cols} FROM '{home.lake}/_meta/file_loads.parquet')
        UNION ALL
        (SELECT {cols} FROM '{home.lake}/_meta/file_loads.parquet'
         EXCEPT SELECT {cols} FROM '{truth}/file_loads.parquet')
    """).fetchall()
    assert diff == []
    reasons = {x[0] for x in con.execute(f"SELECT reason FROM '{truth}/file_loads.parquet'").fetchall()}
    assert len(reasons - {None}) >= 6, "the simulation should exercise most quarantine reasons"
    rejects = f"'{home.lake}/_rejects/**/*.parquet'"
    diff = con.execute(f"""
        (SELECT file_name, line_no, reason FROM '{truth}/rejected_records.parquet'
         EXCEPT SELECT file_name, line_no, reason FROM {rejects})
        UNION ALL
        (SELECT file_name, line_no, reason FROM {rejects}
         EXCEPT SELECT file_name, line_no, reason FROM '{truth}/rejected_records.parquet')""").fetchall()
    assert diff == []

    later = landing.parent / "landing_redeliveries"
    if later.is_dir():  # the redeliveries: completions, supersedes, conflicting re-uploads
        shutil.copytree(later, landing, dirs_exist_ok=True)
        r2 = ingest(home, landing, registry)
        assert r2.violations == [] and accounting_violations(home) == []
        assert ingest(home, landing, registry).files_processed == 0
