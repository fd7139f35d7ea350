"""Killing a real ``python -m ingestion`` at each named crash point (numlake.crashpoints), then
running it again, converges to the same ledger, lake and quarantine as one uninterrupted run:
nothing lost, nothing doubled. Kills at random moments are an extra on top."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingestion.checks import accounting_violations
from numlake.crashpoints import ENV, POINTS
from numlake.paths import Home
from tests.support.ingestion import lake_rows, source, write_delivery, write_registry

ROOT = Path(__file__).resolve().parents[2]
# when, by which run, and which batch file holds a delivery (batches follow the groups of the
# run that loaded them) may differ; outcomes, counts, load order and lake content may not
VOLATILE = {"first_seen_at", "decided_at", "run_id", "lake_stem"}


def build_landing(landing: Path, registry: Path) -> None:
    rnd = random.Random(7)
    srcs = [
        source("CM-GD"),
        source("CT-SC", delimiter="|", header="none", compression="gzip"),
        source("CU-NAT", format="jsonl", codes="zh"),
        source("MV-017", encoding="gb18030", header="zh"),
    ]
    write_registry(registry, srcs)
    for s in srcs:
        for day in range(6):
            d = dt.date(2025, 3, 1) + dt.timedelta(days=day)
            n = rnd.randint(200, 3000)
            recs = [
                {
                    "event_id": f"{s.id}-{rnd.randint(0, 6000)}",
                    "msisdn": f"139{rnd.randint(0, 10**8 - 1):08d}",
                    "event_type": rnd.choice(["ACTIVATE", "SUSPEND", "RESUME", "CANCEL", "BOGUS"]),
                    "event_time": f"2025-03-0{day + 1}T{rnd.randint(0, 23):02d}:00:00",
                    "subscriber_id": "s",
                }
                for _ in range(n)
            ]
            write_delivery(landing, s, "lifecycle", d, 1, recs)
            if day % 3 == 1:
                write_delivery(landing, s, "lifecycle", d, 2, recs[: n // 2])
        write_delivery(landing, s, "lifecycle", dt.date(2025, 3, 9), 1, [], rows=3)


def snapshot(home: Home) -> dict:
    files = sorted(
        tuple(sorted((k, str(v)) for k, v in r.items() if k not in VOLATILE)) for r in lake_rows(home, "file_loads")
    )
    lake = {}
    for what in ("lifecycle", "rejects"):
        lake[what] = sorted(tuple(str(v) for v in r.values()) for r in lake_rows(home, what))
    quarantine = sorted(str(p.relative_to(home.quarantine)) for p in home.quarantine.rglob("*") if p.is_file())
    return {"files": files, "lake": lake, "quarantine": quarantine}


def run_cli(
    home: Home, landing: Path, registry: Path, kill_after: float | None = None, crash_at: str | None = None
) -> int:
    """One `python -m ingestion`; `crash_at` makes it SIGKILL itself at that named point
    (numlake.crashpoints), `kill_after` kills it from outside after that many seconds."""
    cmd = [
        sys.executable,
        "-m",
        "ingestion",
        "--home",
        str(home.root),
        "--landing",
        str(landing),
        "--registry",
        str(registry),
        "--lock-timeout",
        "60",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMLAKE_INGEST_GROUP_FILES="4")  # many commit points
    env.pop(ENV, None)
    if crash_at:
        env[ENV] = crash_at
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if kill_after is None:
        out, err = proc.communicate(timeout=600)
        if not crash_at:
            assert proc.returncode == 0, err.decode()
        return proc.returncode
    time.sleep(kill_after)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode


@pytest.fixture(scope="module")
def crash_world(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("crash")
    landing, registry = tmp_path / "landing", tmp_path / "registry.yaml"
    build_landing(landing, registry)
    reference = Home(tmp_path / "reference")
    t0 = time.monotonic()
    run_cli(reference, landing, registry)
    expected = snapshot(reference)
    assert expected["lake"]["lifecycle"] and expected["lake"]["rejects"] and expected["quarantine"]
    return tmp_path, landing, registry, expected, time.monotonic() - t0


INGEST_POINTS = [p for p in POINTS if p.startswith("ingest.")]
# the n-th time a point is reached: groups of 4 files give many commits, so the later hits
# fall between groups that already committed
HITS = {"ingest.after_lake_write": (1, 3), "ingest.after_commit": (1, 4), "ingest.after_cleanup": (2,)}


@pytest.mark.slow
@pytest.mark.parametrize("point,nth", [(p, n) for p in INGEST_POINTS for n in HITS.get(p, (1,))])
def test_killing_ingest_at_each_crash_point_converges_to_the_uninterrupted_result(crash_world, point, nth):
    tmp_path, landing, registry, expected, _ = crash_world
    crashed = Home(tmp_path / f"crashed-{point}-{nth}")
    assert run_cli(crashed, landing, registry, crash_at=f"{point}:{nth}") == -signal.SIGKILL, (
        f"{point} was not reached {nth} time(s)"
    )
    # a crash while recovering, then a clean run
    assert run_cli(crashed, landing, registry, crash_at="ingest.after_reconcile") == -signal.SIGKILL
    run_cli(crashed, landing, registry)
    assert snapshot(crashed) == expected, f"killed at {point}:{nth}, the lake diverged"
    assert accounting_violations(crashed) == []


@pytest.mark.slow
def test_killing_ingest_at_random_moments_converges_to_the_uninterrupted_result(crash_world):
    # an addition to the named points: kills timed from outside land wherever they land (on a
    # busy machine a run may finish first, which is no failure)
    tmp_path, landing, registry, expected, duration = crash_world
    rnd = random.Random(int(os.environ.get("CRASH_SEED", "11")))
    for trial, frac in enumerate((0.4, 0.7, 0.93)):
        crashed = Home(tmp_path / f"random{trial}")
        run_cli(crashed, landing, registry, duration * rnd.uniform(frac - 0.08, frac + 0.05))
        run_cli(crashed, landing, registry, duration * rnd.uniform(0.3, 0.9))  # a crash while recovering
        run_cli(crashed, landing, registry)
        assert snapshot(crashed) == expected, f"trial {trial} diverged"
        assert accounting_violations(crashed) == []


def test_a_cli_ingest_refuses_while_a_pipeline_run_holds_the_home(tmp_path):
    # `python -m ingestion` under a running `numlake run` loaded files between its ingest and its
    # dbt build, and that build's accounting test failed (a black-box crash run, bb13)
    from ingestion.lock import exclusive

    landing, registry = tmp_path / "landing", tmp_path / "registry.yaml"
    write_registry(registry, [source("CM-GD")])
    write_delivery(landing, source("CM-GD"), "lifecycle", dt.date(2025, 3, 1), 1, [])
    home = Home(tmp_path / "home")
    cmd = [sys.executable, "-m", "ingestion", "--home", str(home.root), "--landing", str(landing)]
    cmd += ["--registry", str(registry), "--lock-timeout", "0"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with exclusive(home.lock_file, 0, "held by the test"):
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        f"ingestion: error: another numlake run is using {home.root}; wait for it or pass --lock-timeout SECONDS"
    ]
    assert not home.lake.exists() or not any(home.lake.rglob("*.parquet"))
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
