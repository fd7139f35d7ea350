"""`numlake run` reads Dagster's schema migrations once (orchestration/run_history.py::one_migration_scan)."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from dagster import DagsterInstance
from dagster._core.storage.sql import get_alembic_config

from orchestration.run_history import one_migration_scan


def test_the_migration_scripts_are_read_once_while_the_instance_opens_and_alembic_is_restored(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    built = []
    original = ScriptDirectory.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ScriptDirectory, "__init__", counting)
    config = get_alembic_config("dagster/_core/storage/sql.py")
    with one_migration_scan():
        first = DagsterInstance.get()  # new databases: each storage stamps and checks its schema
        first.dispose()
        again = DagsterInstance.from_config(str(tmp_path))  # existing ones: each checks again
        assert again.get_runs() == []
        again.dispose()
        assert ScriptDirectory.from_config(config) is ScriptDirectory.from_config(config)
    assert len(built) == 1
    assert ScriptDirectory.from_config(config) is not ScriptDirectory.from_config(config)
