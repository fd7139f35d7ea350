"""`numlake ingest|run --source` names a registered source or a landing folder; anything else is
a one-line usage error before Dagster starts (it was ~60 lines of Dagster traceback, exit 1)."""

import subprocess
import sys
from pathlib import Path

import pytest

NUMLAKE = str(Path(sys.executable).parent / "numlake")


@pytest.mark.parametrize("command", ["ingest", "run"])
def test_an_unknown_source_is_refused_in_one_line_with_exit_2(samples_world, command):
    args = [
        "--home",
        str(samples_world["home"]),
        "--landing",
        str(samples_world["landing"]),
        "--registry",
        str(samples_world["registry"]),
    ]
    done = subprocess.run([NUMLAKE, command, *args, "--source", "NOPE"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"numlake: error: unknown source 'NOPE': not in the registry and no folder in {samples_world['landing']}"
    ]
    assert not (samples_world["home"] / "dagster").exists() or not any((samples_world["home"] / "logs").glob("run-*"))


@pytest.mark.slow
def test_run_limited_to_an_unregistered_folder_quarantines_it_and_pulls_nothing(samples_world):
    """The pull step shares the run's selection: an unregistered landing folder has nothing to
    fetch, and must not fail the pull step (which would skip ingestion): its delivery is refused
    as `unknown_source`, as in a run of every source."""
    import duckdb

    landing = samples_world["landing"]
    src = next((landing / "CM-GD" / "lifecycle").glob("*_01.csv"))
    dst = landing / "XX-UNREG" / "lifecycle"
    dst.mkdir(parents=True)
    name = src.name.replace("CM-GD", "XX-UNREG")
    (dst / name).write_bytes(src.read_bytes())
    (dst / (name + ".ctl")).write_bytes(Path(str(src) + ".ctl").read_bytes())
    args = [
        "--home",
        str(samples_world["home"]),
        "--landing",
        str(landing),
        "--registry",
        str(samples_world["registry"]),
    ]
    done = subprocess.run([NUMLAKE, "run", *args, "--source", "XX-UNREG"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    ledger = samples_world["home"] / "lake" / "_meta" / "file_loads.parquet"
    rows = duckdb.sql(f"select source_id, outcome, reason from read_parquet('{ledger}')").fetchall()
    assert rows == [("XX-UNREG", "QUARANTINED", "unknown_source")]
