"""`numlake run` relaxes SQLite's fsyncs for its own Dagster run history only (orchestration/runner.py)."""

from __future__ import annotations

import sqlalchemy as sa

from orchestration.runner import _relax_sqlite_sync


def synchronous(path) -> int:
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as con:
            return con.execute(sa.text("PRAGMA synchronous")).scalar()
    finally:
        engine.dispose()


def test_databases_under_the_homes_dagster_folder_get_synchronous_normal_and_others_keep_full(tmp_path):
    dagster_home, elsewhere = tmp_path / "home" / "dagster", tmp_path / "other"
    (dagster_home / "storage").mkdir(parents=True)
    elsewhere.mkdir()
    _relax_sqlite_sync(dagster_home)
    _relax_sqlite_sync(dagster_home)  # a second run in the same process adds no second listener
    assert synchronous(dagster_home / "storage" / "run.db") == 1  # NORMAL
    assert synchronous(elsewhere / "x.db") == 2  # FULL, SQLite's default
    (tmp_path / "home" / "dagster-old").mkdir()
    assert synchronous(tmp_path / "home" / "dagster-old" / "y.db") == 2  # a sibling whose name starts alike
