"""`numlake run` keeps one engine per SQLite database of its Dagster run history for the length of a
run (orchestration/run_history.py): every event is still stored and readable by another instance,
no more than `keep` engines stay open, and Dagster's own method is back afterwards."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

from orchestration.run_history import pool_event_log_connections


def _event(run_id: str, i: int):
    from dagster import AssetKey, AssetMaterialization
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry

    ev = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="pipeline",
        step_key="step",
        event_specific_data=StepMaterializationData(AssetMaterialization(asset_key=AssetKey(["asset", str(i)]))),
    )
    return EventLogEntry(
        error_info=None,
        level=20,
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=ev,
        job_name="pipeline",
        step_key="step",
    )


def test_events_of_many_runs_are_stored_through_a_bounded_set_of_engines(instance, monkeypatch):
    import sqlalchemy
    from dagster import AssetKey, DagsterInstance

    created = []
    real = sqlalchemy.create_engine

    def counting(*args, **kwargs):
        created.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(sqlalchemy, "create_engine", counting)
    storage = instance.event_log_storage
    restore = pool_event_log_connections(instance, keep=2)
    assert "_connect" in storage.__dict__
    runs = [str(uuid.uuid4()) for _ in range(4)]
    for _ in range(3):  # each run's database used again after others: evicted engines come back
        for run_id in runs:
            for i in range(5):
                instance.handle_new_event(_event(run_id, i))
    open_engines = len(created)
    restore()
    assert "_connect" not in storage.__dict__, "Dagster's own method is back"
    # the index's engine, and one for each time a run's database came back after two others: 1 + 4 x 3
    assert open_engines <= 13, f"one engine per database in use, not one per connection ({open_engines})"
    other = DagsterInstance.get()  # another instance, Dagster's own storage
    try:
        for run_id in runs:
            assert len(other.all_logs(run_id)) == 15
        assert len(other.get_latest_materialization_events([AssetKey(["asset", "4"])])) == 1
    finally:
        other.dispose()


def test_dagsters_own_connections_without_the_pool_make_an_engine_each_time(instance, monkeypatch):
    """What the pool saves (so the test above can fail): Dagster alone creates an engine per connection."""
    import sqlalchemy

    created = []
    real = sqlalchemy.create_engine
    monkeypatch.setattr(sqlalchemy, "create_engine", lambda *a, **k: created.append(a[0]) or real(*a, **k))
    import dagster._core.storage.event_log.sqlite.sqlite_event_log as sqlite_event_log

    monkeypatch.setattr(sqlite_event_log, "create_engine", sqlalchemy.create_engine)
    run_id = str(uuid.uuid4())
    for i in range(10):
        instance.handle_new_event(_event(run_id, i))
    assert len(created) >= 20


def test_other_storages_are_left_alone():
    storage = SimpleNamespace(_connect=lambda shard: None)
    restore = pool_event_log_connections(SimpleNamespace(event_log_storage=storage))
    restore()
    assert "_connect" in storage.__dict__ and storage._connect("x") is None
