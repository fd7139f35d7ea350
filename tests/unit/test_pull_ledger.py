"""The note of an attempt in progress (`<home>/pull/open/<source>.json`): what the next pull records
for an attempt whose process died, and that an attempt is never recorded twice."""

from __future__ import annotations

from ingestion.pull.ledger import append_attempt, clear_open, mark_open, read_attempts, take_orphan
from numlake.paths import Home

NOTE = {"started_at": "2026-12-06T09:00:00+08:00", "run_id": "r1", "try": 2, "url": "sftp://127.0.0.1/out"}


def test_an_attempt_that_died_unrecorded_is_recorded_once_by_the_next_pull(tmp_path):
    home = Home(tmp_path)
    assert take_orphan(home, "CM-GD") is None
    mark_open(home, "CM-GD", NOTE)
    row = take_orphan(home, "CM-GD")
    assert {k: row[k] for k in ("started_at", "run_id", "try", "url", "outcome", "reason")} == {
        **NOTE,
        "outcome": "failed",
        "reason": "transfer_interrupted",
    }
    assert take_orphan(home, "CM-GD") is None  # the note is gone


def test_an_attempt_whose_line_was_written_before_the_process_died_is_not_recorded_again(tmp_path):
    home = Home(tmp_path)
    mark_open(home, "CM-GD", NOTE)
    append_attempt(home, {**NOTE, "source_id": "CM-GD", "outcome": "ok", "started_at": "2026-12-06T09:00:01+08:00"})
    assert take_orphan(home, "CM-GD") is None  # died between its ledger line and removing the note
    assert len(read_attempts(home)) == 1


def test_a_cleared_or_torn_note(tmp_path):
    home = Home(tmp_path)
    mark_open(home, "CM-GD", NOTE)
    clear_open(home, "CM-GD")
    assert take_orphan(home, "CM-GD") is None
    mark_open(home, "CT-SC", NOTE)
    (tmp_path / "pull" / "open" / "CT-SC.json").write_text('{"started_at": "2026-')
    row = take_orphan(home, "CT-SC")
    assert row["reason"] == "transfer_interrupted" and row["started_at"] is None
