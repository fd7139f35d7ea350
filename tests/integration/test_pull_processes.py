"""`numlake pull` as processes: killed at a crash point, or two at once, the landing area never holds a partial file.

The kills are deterministic (numlake.crashpoints: the process SIGKILLs itself at a named
point), and the two concurrent pulls are judged by their result, not by how they overlapped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingestion.pull.ledger import read_attempts
from tests.support.sshd import assert_landing_is_complete_copies, pull_world_fixture  # noqa: F401 - fixture

NUMLAKE = str(Path(sys.executable).parent / "numlake")


def numlake_pull(w, env: dict | None = None, wait: bool = True):
    cmd = [NUMLAKE, "pull", "--home", str(w.home.root), "--landing", str(w.landing), "--registry", str(w.registry)]
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "NUMLAKE_PULL_RETRIES": "0", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if wait:
        proc.communicate(timeout=120)
    return proc


def test_a_pull_killed_mid_file_leaves_only_complete_files_and_the_next_pull_finishes(pull_world):
    w = pull_world
    w.add_source("CM-GD")
    killed = numlake_pull(w, {"NUMLAKE_CRASH_AT": "pull.mid_file:2", "NUMLAKE_PULL_CHUNK_BYTES": "64"})
    assert killed.returncode == -9
    assert_landing_is_complete_copies(w, "CM-GD")
    assert len(w.landing_files("CM-GD")) < 4
    assert read_attempts(w.home) == []  # the killed process could not record its attempt ...
    again = numlake_pull(w)
    assert again.returncode == 0, again.stderr
    assert len(w.landing_files("CM-GD")) == 4
    assert_landing_is_complete_copies(w, "CM-GD")
    # ... the next pull did, before its own (INTERCHANGE 5: every fetch attempt is recorded)
    lines = read_attempts(w.home)
    assert [(a["source_id"], a["outcome"], a["reason"], a["try"]) for a in lines] == [
        ("CM-GD", "failed", "transfer_interrupted", 1),
        ("CM-GD", "ok", None, 1),
    ]
    assert lines[0]["started_at"] <= lines[1]["started_at"] and "ended before recording it" in lines[0]["detail"]
    assert numlake_pull(w).returncode == 0
    assert len(read_attempts(w.home)) == 3  # a pull after a clean one finds no attempt to record for it


def test_a_pull_killed_between_data_and_control_file_is_completed_by_the_next(pull_world):
    w = pull_world
    w.add_source("CU-NAT")
    killed = numlake_pull(w, {"NUMLAKE_CRASH_AT": "pull.after_data", "NUMLAKE_PULL_FILES_PER_CONNECTION": "1"})
    assert killed.returncode == -9
    files = w.landing_files("CU-NAT")
    assert len(files) == 1 and not files[0].endswith(".ctl")  # a data file alone: pending for ingestion
    assert_landing_is_complete_copies(w, "CU-NAT")
    assert numlake_pull(w).returncode == 0
    assert len(w.landing_files("CU-NAT")) == 4
    assert_landing_is_complete_copies(w, "CU-NAT")


def test_two_pulls_at_once_fetch_each_delivery_once_and_never_write_a_corrupt_copy(pull_world):
    w = pull_world
    for sid in ("CM-GD", "CU-NAT", "CT-SC"):
        w.add_source(sid)
    first, second = numlake_pull(w, wait=False), numlake_pull(w, wait=False)
    for proc in (first, second):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    for sid in ("CM-GD", "CU-NAT", "CT-SC"):
        assert_landing_is_complete_copies(w, sid)
    deliveries = sum(
        len([f for f in w.landing_files(s) if not f.endswith(".ctl")]) for s in ("CM-GD", "CU-NAT", "CT-SC")
    )
    assert sum(a["files"] for a in read_attempts(w.home)) == deliveries
    assert len(read_attempts(w.home)) == 6  # each pull recorded an attempt per source
