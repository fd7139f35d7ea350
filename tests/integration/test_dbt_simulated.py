"""On a simulated world, the published tenures and findings equal the simulator's ground truth.

`numlake simulate` writes, beside the deliveries, its own replay of RULES 1-2 over exactly the
records that load (`simulation_truth/`), written independently of the dbt models; `numlake run`
ingests the world and builds the warehouse. Every tenure and finding must agree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

NUMLAKE = [sys.executable, "-m", "numlake"]
TENURE_COLS = "msisdn, tenure_seq, subscriber_id, start_time, end_time, end_reason, start_source_id, is_reassignment"
FINDING_COLS = "rule, msisdn, source_id, event_id, event_time"


def _run(args: list[str]) -> None:
    proc = subprocess.run(NUMLAKE + args, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


@pytest.mark.slow
def test_tenures_and_findings_equal_the_simulators_ground_truth(tmp_path):
    home = tmp_path / "home"
    _run(["simulate", "--home", str(home), "--days", "60", "--scale", "0.03", "--seed", "5"])
    _run(["run", "--home", str(home), "--landing", str(home / "landing"), "--registry", str(home / "registry.yaml")])
    truth = home / "simulation_truth"
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        for cols, mart, file in (
            (TENURE_COLS, "number_tenures", "tenures"),
            (FINDING_COLS, "rule_findings", "rule_findings"),
        ):
            want = set(con.execute(f"select {cols} from read_parquet('{truth / file}.parquet')").fetchall())
            got = set(con.execute(f"select {cols} from marts.{mart}").fetchall())
            assert want, f"the simulated world has no {file}"
            assert sorted(want - got)[:5] == [] and sorted(got - want)[:5] == [], mart
    finally:
        con.close()
