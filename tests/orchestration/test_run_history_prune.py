"""`numlake run` keeps Dagster's newest finished runs and deletes the older ones, with their events
and their SQLite databases (orchestration/run_history.py): a daily home no longer grows by ~2.3 MB
of run history a day, for ever (a black-box run of 112 daily runs, bb14)."""

from __future__ import annotations

import os
import uuid

import pytest

from numlake.errors import UsageError
from orchestration.run_history import DEFAULT_KEEP_RUNS, KEEP_RUNS_ENV, keep_runs, prune_runs
from tests.orchestration.test_run_history_pool import _event


def _runs(instance, statuses) -> list[str]:
    """One run per status, oldest first, each with an asset event in its own database."""
    from dagster import DagsterRun

    ids = []
    for i, status in enumerate(statuses):
        run_id = str(uuid.uuid4())
        instance.add_run(DagsterRun(job_name="pipeline", run_id=run_id, status=status))
        instance.store_event(_event(run_id, i))
        ids.append(run_id)
    return ids


def test_the_oldest_finished_runs_beyond_the_kept_ones_go_with_their_events_and_databases(instance):
    from dagster import AssetKey, DagsterRunStatus

    S = DagsterRunStatus
    statuses = [S.STARTED, S.SUCCESS, S.FAILURE, S.SUCCESS, S.CANCELED, S.SUCCESS, S.SUCCESS]
    ids = _runs(instance, statuses)
    shard = instance.event_log_storage.path_for_shard
    assert all(os.path.exists(shard(r)) for r in ids)

    deleted = prune_runs(instance, keep=3, at_most=2)  # five finished runs are past the newest three
    assert deleted == [ids[1], ids[2]]  # the oldest first, no more than asked
    deleted = prune_runs(instance, keep=3)
    assert deleted == [ids[3]]
    assert prune_runs(instance, keep=3) == []

    left = set(instance.get_run_ids())
    assert left == {ids[0], ids[4], ids[5], ids[6]}  # a run still going is never touched
    with instance.event_log_storage.index_connection() as conn:
        indexed = {r[0] for r in conn.exec_driver_sql("select distinct run_id from event_logs").fetchall()}
    assert indexed == left
    for run_id in ids[1:4]:
        assert not os.path.exists(shard(run_id))
    assert len(instance.all_logs(ids[6])) == 1
    # the asset's latest materialization is the newest run's, still there
    latest = instance.get_latest_materialization_event(AssetKey(["asset", "6"]))
    assert latest is not None and latest.run_id == ids[6]


def test_keeping_zero_keeps_every_run(instance):
    from dagster import DagsterRunStatus

    ids = _runs(instance, [DagsterRunStatus.SUCCESS] * 3)
    assert prune_runs(instance, keep=0) == []
    assert set(instance.get_run_ids()) == set(ids)


def test_how_many_runs_to_keep_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(KEEP_RUNS_ENV, raising=False)
    assert keep_runs() == DEFAULT_KEEP_RUNS
    monkeypatch.setenv(KEEP_RUNS_ENV, "30")
    assert keep_runs() == 30
    monkeypatch.setenv(KEEP_RUNS_ENV, "0")
    assert keep_runs() == 0
    for bad in ("-1", "ten", "1.5"):
        monkeypatch.setenv(KEEP_RUNS_ENV, bad)
        with pytest.raises(UsageError, match=f"^{KEEP_RUNS_ENV} must be a whole number"):
            keep_runs()
