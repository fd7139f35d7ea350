"""End to end on a simulated country: `numlake simulate` -> `numlake run` (which publishes the
check snapshot) -> `numlake check --file` and the HTTP bulk API, against RULES 6 evaluated on
the simulator's own ground-truth tenures."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from numlake.check import snapshot
from numlake.check.keys import KeyStore
from numlake.check.server import create_app
from numlake.msisdn import sha256_hex
from numlake.paths import Home

ROOT = Path(__file__).resolve().parents[2]


def numlake(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "numlake", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def truth_answer(tenures: list[dict], d: dt.date) -> str:
    """RULES 6 yes/no from ground-truth tenures (for dates where the platform has coverage)."""
    for t in tenures:
        if t["start_time"].date() <= d and t["end_time"] is None:
            return "no"
    return "yes"


@pytest.mark.slow
def test_check_answers_on_a_simulated_world_follow_the_ground_truth(tmp_path):
    home = Home(tmp_path / "home")
    numlake("simulate", "--home", str(home.root), "--scale", "0.01", "--days", "10")
    numlake("run", "--home", str(home.root))
    summary = json.loads((home.root / "simulation_summary.json").read_text())
    assert snapshot.current_stamp(home), "numlake run did not publish a check snapshot"
    index = snapshot.load_index(home)
    assert index.meta["source"] == "snapshot" and index.as_of == summary["as_of"]

    truth: dict[str, list[dict]] = {}
    for t in pq.read_table(home.root / "simulation_truth" / "tenures.parquet").to_pylist():
        truth.setdefault(t["msisdn"], []).append(t)
    rnd = random.Random(1)
    numbers = rnd.sample(sorted(truth), min(400, len(truth)))
    as_of = dt.date.fromisoformat(summary["as_of"])
    rows = []
    for n in numbers:
        for d in (as_of, as_of - dt.timedelta(days=rnd.randrange(0, 12)), dt.date(rnd.randrange(2005, 2025), 6, 1)):
            rows.append((rnd.choice([n, sha256_hex(n), "+86 " + n]), d.isoformat(), n))
    rows.append(("19999999999", summary["as_of"], None))

    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["msisdn", "since"])
        w.writerows((q, d) for q, d, _ in rows)
    numlake("check", "--file", str(src), "--out", str(out), "--home", str(home.root))
    with open(out, newline="") as f:
        got = list(csv.DictReader(f))
    assert len(got) == len(rows)

    _, token = KeyStore(home).create("E2E")
    with TestClient(create_app(home, reload_interval=0), client=("127.0.0.1", 1)) as client:
        api = client.post(
            "/v1/reassigned/bulk",
            headers={"X-API-Key": token},
            json={"items": [{"msisdn": q, "since": d} for q, d, _ in rows]},
        ).json()["results"]

    checked = {"yes": 0, "no": 0, "no_data": 0}
    for (q, d, n), file_row, api_row in zip(rows, got, api):
        assert file_row["query"] == q == api_row["query"]
        assert file_row["answer"] == api_row["answer"] and file_row["as_of"] == summary["as_of"]
        checked[file_row["answer"]] += 1
        if n is None:
            assert file_row["answer"] == "no_data"
            continue
        ends = [t["end_time"].date().isoformat() for t in truth[n] if t["end_time"] is not None]
        assert (file_row["last_disconnect_date"] or None) == (max(ends) if ends else None), (n, d)
        if d == summary["as_of"]:  # every loaded event is on or before as_of: never unknown
            assert file_row["answer"] != "no_data", (n, d)
        if file_row["answer"] != "no_data":
            assert file_row["answer"] == truth_answer(truth[n], dt.date.fromisoformat(d)), (n, d)
    assert checked["no"] > 0 and checked["no_data"] > 0
