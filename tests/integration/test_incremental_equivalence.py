"""Ten successive `numlake run`s, deliveries arriving day by day, publish what a build from empty
publishes (issue 17, target 1): every table of schema `marts` and the check snapshot's answers.

A small simulated world (faults on: partial deliveries superseded by their `_02`, gaps, late
sources, rejected records) restricted to the sources its faults touch, so the runs stay cheap.
Its deliveries reach the landing area one business date per run, and besides:

- one source's deliveries of three dates are held back and arrive together four runs late;
- twice, a redelivery (`_02`) of an already loaded lifecycle file withdraws a third of its records;
- the simulator's later wave (control files of PENDING deliveries, identical redeliveries) arrives
  in two parts. Its conflicting redeliveries are left out: a home built from empty never saw the
  bytes they conflict with, so it would rightly load them.

At checkpoints the same landing area is built from empty in another home (a first build is a
full refresh of every incremental model and a full snapshot publish) and both homes must agree.
The world is seed 11 at scale 0.01; `NUMLAKE_EQUIV_SEED` and `NUMLAKE_EQUIV_SCALE` run the same
scenario on another world (a world nobody tuned for: e.g. seeds 3 and 29 at scale 0.03 passed on
6 Dec 2026, BENCHMARKS.md).
Ingestion's own bookkeeping of when and in which run a file was decided (`first_seen_at`,
`decided_at`, `run_id`, `load_order`) and when a row was written (`built_at`, `replay_batch`)
differ between the homes by construction and are not compared.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from lake_builder import replayed_files_disagree

from numlake.check import snapshot
from numlake.paths import Home

pytestmark = pytest.mark.slow

NUMLAKE = Path(sys.executable).parent / "numlake"
DAYS = 12
RUNS = 10
CHECKPOINTS = {4, 7, 10}
LATE_RUN, LATE_DATES = 7, (3, 4, 5)  # a source's deliveries of dates d3..d5 arrive with run 7
WITHDRAW = {5: 1, 8: 5}  # run -> the date index of the lifecycle file a redelivery cuts down
WAVE = {8: 9, 10: DAYS - 1}  # run -> the later wave's files up to this date index
SEED = os.environ.get("NUMLAKE_EQUIV_SEED", "11")
SCALE = os.environ.get("NUMLAKE_EQUIV_SCALE", "0.01")
VOLATILE = {"built_at", "replay_batch", "first_seen_at", "decided_at", "run_id", "load_order"}


def business_date(path: Path) -> str | None:
    parts = path.name.split(".")[0].split("_")
    return parts[-2] if len(parts) >= 4 and parts[-2].isdigit() else None


def simulate(root: Path) -> tuple[Path, Path, Path]:
    """The world, its registry cut down to the sources that carry a fault, and the later wave."""
    subprocess.run(
        [str(NUMLAKE), "simulate", "--landing", str(root / "landing"), "--registry-out", str(root / "registry.yaml")]
        + ["--scale", SCALE, "--days", str(DAYS), "--seed", SEED],
        check=True,
        capture_output=True,
    )
    summary = json.loads((root / "simulation_summary.json").read_text())
    wave = root / "landing_redeliveries"
    faulty = {p.relative_to(wave).parts[0] for p in wave.rglob("*") if p.is_file()}
    faulty |= {p.parts[-3] for p in (root / "landing").rglob("*_0[2-9].*")}
    faulty |= {g["source_id"] for g in summary["files"].get("gap_list", [])}
    faulty |= set(summary["files"].get("late_sources", {}))
    registry = yaml.safe_load((root / "registry.yaml").read_text(encoding="utf-8"))
    kept = [s for s in registry["sources"] if s["id"] in faulty or s["kind"] == "portal"]
    (root / "registry.yaml").write_text(yaml.safe_dump({"sources": kept}, allow_unicode=True), encoding="utf-8")
    return root / "landing", root / "registry.yaml", wave


def plain_csv_sources(registry: Path) -> dict[str, bool]:
    """Sources whose files are plain utf-8 csv (easy to cut down by hand): id -> has a header line."""
    return {
        s["id"]: s["header"] != "none"
        for s in yaml.safe_load(registry.read_text(encoding="utf-8"))["sources"]
        if s["format"] == "csv" and s["compression"] == "none" and s["encoding"] == "utf-8" and s["kind"] != "portal"
    }


def withdraw_records(landing: Path, candidates: dict[str, bool], date: str) -> str:
    """Redeliver one candidate's lifecycle file of `date` (delivered once, as `_01`) as `_02`
    with a third of its records gone."""
    for source in candidates:
        delivered = [p for p in (landing / source / "lifecycle").glob(f"*_{date}_*") if not p.name.endswith(".ctl")]
        if len(delivered) == 1 and f"_{date}_01." in delivered[0].name:
            break
    else:
        raise AssertionError(f"no source delivered its lifecycle file of {date} exactly once")
    first, has_header = delivered[0], candidates[source]
    lines = [x for x in first.read_bytes().split(b"\n") if x]
    head, records = (lines[:1], lines[1:]) if has_header else ([], lines)
    kept = [r for i, r in enumerate(records) if i % 3 != 1]
    body = b"\n".join(head + kept) + b"\n"
    second = first.with_name(first.name.replace(f"_{date}_01.", f"_{date}_02."))
    second.write_bytes(body)
    iso = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    ctl = {"rows": len(kept), "md5": hashlib.md5(body).hexdigest(), "business_date": iso}
    Path(str(second) + ".ctl").write_text(json.dumps(ctl))
    return second.name


def arrive(src: Path, landing: Path, keep) -> None:
    """Hard-link the files `keep` accepts into the landing area (control files after their data)."""
    files = sorted((p for p in src.rglob("*") if p.is_file() and keep(p)), key=lambda p: p.name.endswith(".ctl"))
    for p in files:
        if p.name.startswith("."):
            continue
        q = landing / p.relative_to(src)
        q.parent.mkdir(parents=True, exist_ok=True)
        if not q.exists():
            os.link(p, q)


def numlake_run(home: Path, landing: Path, registry: Path, what: str) -> None:
    proc = subprocess.run(
        [str(NUMLAKE), "run", "--home", str(home), "--landing", str(landing), "--registry", str(registry)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"{what}: {proc.stderr[-3000:]}"


def marts(warehouse: Path) -> dict[str, list]:
    """Every table of schema marts, rows sorted, without the columns of when and by which run."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
        for (name,) in tables:
            cols = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = 'marts' "
                    "and table_name = ? order by ordinal_position",
                    [name],
                ).fetchall()
                if c not in VOLATILE
            ]
            rows = con.execute(f"select {', '.join(cols)} from marts.{name}").fetchall()
            out[name] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


def published(home: Path) -> Path:
    h = Home.resolve(str(home))
    stamp = snapshot.current_stamp(h)
    assert stamp, f"no snapshot published in {home}"
    return h.snapshots / stamp


def test_ten_daily_runs_publish_the_marts_and_snapshot_of_a_build_from_empty(tmp_path):
    world, registry, wave = simulate(tmp_path / "world")
    dates = sorted({d for p in world.rglob("*.ctl") if (d := business_date(p))})
    assert len(dates) == DAYS
    csv_sources = plain_csv_sources(registry)
    late = next(iter(csv_sources))
    cut = {s: h for s, h in csv_sources.items() if s != late}
    sources = {s["id"] for s in yaml.safe_load(registry.read_text(encoding="utf-8"))["sources"]}
    landing, inc = tmp_path / "landing", tmp_path / "incremental"
    held = {dates[i] for i in LATE_DATES}
    withdrawn = []
    for run in range(1, RUNS + 1):
        due = dates[run + 1]

        def keep(p: Path, due=due, run=run) -> bool:
            rel = p.relative_to(world).parts
            d = business_date(p)
            if rel[0] not in sources or d is None or d > due:
                return False
            return not (rel[0] == late and d in held and run < LATE_RUN)

        arrive(world, landing, keep)
        if run in WITHDRAW:
            withdrawn.append(withdraw_records(landing, cut, dates[WITHDRAW[run]]))
        if run in WAVE:
            limit = dates[WAVE[run]]
            arrive(
                wave,
                landing,
                lambda p, limit=limit: (
                    p.relative_to(wave).parts[0] in sources
                    and (business_date(p) or "0") <= limit
                    and not (landing / p.relative_to(wave)).exists()  # conflicting (or identical) redeliveries
                ),
            )
        numlake_run(inc, landing, registry, f"run {run}")
        if run not in CHECKPOINTS:
            continue
        full = tmp_path / f"from-empty-{run}"
        # the dbt docs site shows the project, not rows: borrowed, so this build skips `dbt docs generate`
        if (inc / "dbt" / "docs").is_dir():
            shutil.copytree(inc / "dbt" / "docs", full / "dbt" / "docs")
        numlake_run(full, landing, registry, f"run {run}, from empty")
        got, want = marts(inc / "warehouse.duckdb"), marts(full / "warehouse.duckdb")
        assert got.keys() == want.keys()
        for table in want:
            assert got[table] == want[table], f"run {run}: marts.{table} differs from a build from empty"
        assert snapshot.differences(published(inc), published(full)) == [], f"run {run}: the check snapshot differs"
        assert replayed_files_disagree(inc / "warehouse.duckdb") == [], f"run {run}: the replay's file table"
        shutil.rmtree(full)

    con = duckdb.connect(str(inc / "warehouse.duckdb"), read_only=True)
    try:
        outcomes = dict(
            con.execute(
                "select file_name, outcome from marts.file_loads where file_name in (?, ?)",
                [n.replace("_02.", "_01.") for n in withdrawn][:2],
            ).fetchall()
        )
        late_loaded = con.execute(
            "select count(*) from marts.file_loads where source_id = ? and outcome = 'LOADED' "
            "and strftime(business_date, '%Y%m%d') in (?, ?, ?)",
            [late, *sorted(held)],
        ).fetchone()[0]
    finally:
        con.close()
    assert set(outcomes.values()) == {"SUPERSEDED"}, "the cut-down redeliveries must have superseded their _01"
    assert late_loaded >= 3, "the held-back deliveries must have loaded when they arrived"
