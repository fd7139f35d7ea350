"""DuckDB's spill files of processes that ended with os._exit (numlake/spill.py): a real spill by
a real process, removed once the process is gone, kept while it runs, and swept by ingestion."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ingestion.pipeline import ingest
from numlake.paths import Home
from numlake.spill import remove_stale_spill
from tests.support.ingestion import source, write_delivery, write_registry

# spills a sort of ~3 M rows under a 64 MB memory limit, prints its spill files, then waits for
# stdin to close and ends as numlake's processes end: os._exit, without closing the database.
# No progress bar: DuckDB prints one on stdout for a statement over 2 s (a busy machine's sort).
SPILLER = textwrap.dedent(
    """
    import os, sys, duckdb
    con = duckdb.connect(sys.argv[1], config={"memory_limit": "64MB", "threads": 1})
    con.execute("set enable_progress_bar = false")
    con.execute("create or replace table t as select range i, md5(range::varchar) s from range(3000000)")
    con.execute("create temp table x as select * from t order by s")
    print(" ".join(sorted(os.listdir(sys.argv[1] + ".tmp"))), flush=True)
    sys.stdin.read()
    os._exit(0)
    """
)


def _spiller(db: Path) -> tuple[subprocess.Popen, list[str]]:
    p = subprocess.Popen(
        [sys.executable, "-c", SPILLER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    files = p.stdout.readline().split()
    assert any(f.startswith(f"duckdb_temp_{p.pid}_") for f in files), files
    return p, files


def test_a_live_process_keeps_its_spill_files_and_they_go_once_it_is_gone(tmp_path):
    db = tmp_path / "w.duckdb"
    p, files = _spiller(db)
    try:
        assert remove_stale_spill(db) == 0  # its owner still runs
        assert sorted(os.listdir(f"{db}.tmp")) == files
    finally:
        p.stdin.close()
        p.wait(timeout=60)
    assert sorted(os.listdir(f"{db}.tmp")) == files  # os._exit left them behind
    assert sum(os.path.getsize(f"{db}.tmp/{f}") for f in files) > 1 << 20
    assert remove_stale_spill(db) == len(files)
    assert os.listdir(f"{db}.tmp") == []


def test_a_reused_process_number_does_not_keep_old_files_and_others_are_left_alone(tmp_path):
    folder = tmp_path / "w.duckdb.tmp"
    folder.mkdir()
    parent = os.getppid()  # a live process started before now
    reused = folder / f"duckdb_temp_{parent}_0_storage_DEFAULT-0.tmp"
    reused.write_bytes(b"x")
    os.utime(reused, (time.time() - 10**8, time.time() - 10**8))  # written long before it started
    current = folder / f"duckdb_temp_{parent}_1_owner"
    current.write_bytes(b"")  # written after it started: its own
    mine = folder / f"duckdb_temp_{os.getpid()}_0_owner"
    mine.write_bytes(b"")
    other = folder / "notes.txt"
    other.write_text("not DuckDB's")
    assert remove_stale_spill(tmp_path / "w.duckdb") == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted([current.name, mine.name, other.name])
    assert remove_stale_spill(tmp_path / "absent.duckdb") == 0


def test_ingestion_sweeps_the_spill_files_its_state_database_was_left_with(tmp_path):
    home = Home(tmp_path / "home")
    src = source("CM-GD")
    rec = {"event_id": "E1", "msisdn": "13800000001", "event_type": "ACTIVATE", "subscriber_id": "u"}
    recs = [{**rec, "event_time": "2025-03-01T08:00:00"}]
    write_delivery(tmp_path / "landing", src, "lifecycle", dt.date(2025, 3, 1), 1, recs)
    write_registry(tmp_path / "registry.yaml", [src])
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    folder = Path(f"{home.ingest_state}.tmp")
    folder.mkdir(parents=True)
    (folder / f"duckdb_temp_{dead}_0_storage_DEFAULT-0.tmp").write_bytes(b"\0" * 4096)
    result = ingest(home, tmp_path / "landing", tmp_path / "registry.yaml")
    assert result.records_loaded == 1
    assert not any(p.name.startswith(f"duckdb_temp_{dead}_") for p in folder.iterdir())


def test_a_minimum_age_keeps_recent_files_of_processes_this_host_does_not_see(tmp_path):
    folder = tmp_path / "w.duckdb.tmp"
    folder.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    recent = folder / f"duckdb_temp_{int(gone.stdout)}_0_owner"
    recent.write_bytes(b"")
    old = folder / f"duckdb_temp_{int(gone.stdout)}_0_storage_DEFAULT-0.tmp"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_spill(tmp_path / "w.duckdb", min_age_s=3600) == 1
    assert [p.name for p in folder.iterdir()] == [recent.name]
    assert remove_stale_spill(tmp_path / "w.duckdb") == 1
