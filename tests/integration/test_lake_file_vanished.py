"""A lake file deleted by hand (or a lake moved to object storage without its files, docs/SCALE.md):
ingestion loads its deliveries again from the landing area under new load numbers (docs/LAKE.md),
and the next `numlake run` must publish what a build from empty publishes. Before, the incremental
models kept the old records beside the reloaded ones and every later build failed its
`assert_lake_rows_match_the_ledger` test, leaving the warehouse stale for good."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from test_incremental_equivalence import NUMLAKE, marts, numlake_run, published

from numlake.check import snapshot
from numlake.paths import Home

pytestmark = pytest.mark.slow


def test_a_vanished_lake_file_is_loaded_again_and_the_warehouse_follows(tmp_path):
    world = tmp_path / "world"
    subprocess.run(
        [str(NUMLAKE), "simulate", "--landing", str(world / "landing"), "--registry-out", str(world / "registry.yaml")]
        + ["--scale", "0.005", "--days", "3", "--seed", "23", "--faults", "off"],
        check=True,
        capture_output=True,
    )
    landing, registry, home = world / "landing", world / "registry.yaml", tmp_path / "home"
    numlake_run(home, landing, registry, "first run")
    batches = sorted((home / "lake" / "lifecycle" / "batches").glob("*.parquet"))
    assert batches, "the world must put some lifecycle deliveries into a batch file"
    batches[0].unlink()

    numlake_run(home, landing, registry, "the run after the deletion")
    assert not Home(home).rebuild_request.exists(), "the request is done with once dbt built from scratch"
    numlake_run(home, landing, registry, "the run after that")

    fresh = tmp_path / "from-empty"
    shutil.copytree(home / "dbt" / "docs", fresh / "dbt" / "docs")  # borrowed: no `dbt docs generate` here
    numlake_run(fresh, landing, registry, "from empty")
    got, want = marts(home / "warehouse.duckdb"), marts(fresh / "warehouse.duckdb")
    assert got.keys() == want.keys()
    for table in want:
        assert got[table] == want[table], f"marts.{table} differs from a build from empty"
    assert snapshot.differences(published(home), published(fresh)) == []
