"""The accounting check counts a batch file's records once and keeps the counts by the file's
path, size and mtime (ingestion/checks.py, COUNTS_CACHE): what it says must not depend on the
cache, except that unchanged files are not read again."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pytest

from ingestion.checks import COUNTS_CACHE, accounting_violations
from ingestion.pipeline import ingest
from numlake.paths import Home

simulate = pytest.importorskip("numlake.simulate.core").simulate


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("acc")
    landing, registry = root / "landing", root / "registry.yaml"
    simulate(landing, registry, start=dt.date(2025, 1, 1), days=3, scale=0.01, seed=5, faults=False)
    home = Home(root / "home")
    assert ingest(home, landing, registry).violations == []
    return home


def _cache(home: Home):
    return home.ingest_state.parent / COUNTS_CACHE


def _a_lifecycle_batch(home: Home):
    return sorted((home.lake / "lifecycle").glob("*/*.parquet"))[0]


def _rewrite(path, sql: str) -> None:
    """Rewrite a Parquet file through DuckDB with `sql` over its rows (`t`), and give it a new mtime."""
    st = path.stat()
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{path}')")
    con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_the_cache_is_written_and_then_trusted_for_unchanged_files_only(lake):
    home = lake
    _cache(home).unlink(missing_ok=True)
    assert accounting_violations(home) == []
    assert _cache(home).is_file()
    counted = duckdb.sql(f"SELECT count(DISTINCT path) FROM read_parquet('{_cache(home)}')").fetchall()[0][0]
    assert counted == len(list(home.lake.glob("*/*/*.parquet"))) + len(list(home.lake.glob("_rejects/*/*/*.parquet")))

    # the cache is what is read for a file at the same size and mtime: a count changed in it shows
    batch = _a_lifecycle_batch(home)
    saved = _cache(home).read_bytes()
    con = duckdb.connect()
    con.execute(f"CREATE TABLE c AS SELECT * FROM read_parquet('{_cache(home)}')")
    con.execute("UPDATE c SET n = n + 1 WHERE rowid = (SELECT min(rowid) FROM c WHERE path = ?)", [str(batch)])
    con.execute(f"COPY c TO '{_cache(home)}' (FORMAT parquet)")
    assert any("lake holds" in v for v in accounting_violations(home))
    _cache(home).write_bytes(saved)
    assert accounting_violations(home) == []


def test_a_rewritten_or_removed_batch_file_is_counted_again(lake, tmp_path):
    home = lake
    assert accounting_violations(home) == []  # cache in place
    batch = _a_lifecycle_batch(home)
    keep = tmp_path / "keep.parquet"
    keep.write_bytes(batch.read_bytes())
    st = batch.stat()
    try:
        _rewrite(batch, "SELECT * FROM t LIMIT (SELECT count(*) - 1 FROM t)")
        problems = accounting_violations(home)
        assert len(problems) == 1 and "lake holds" in problems[0], problems
        batch.unlink()
        problems = accounting_violations(home)
        assert problems and all("lake holds" in p for p in problems), problems
    finally:
        batch.write_bytes(keep.read_bytes())
        os.utime(batch, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert accounting_violations(home) == []


def test_an_unreadable_cache_is_only_not_used(lake):
    home = lake
    _cache(home).write_bytes(b"not parquet at all")
    assert accounting_violations(home) == []
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{_cache(home)}')").fetchall()[0][0] > 0
