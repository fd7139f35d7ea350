"""The readers' shared warehouse (numlake/warehouse_reads.py): kept open inside the scope only."""

import subprocess
import sys

import duckdb
import pytest

from numlake.warehouse_reads import connect_read_only, shared_reads

# another process taking the write lock, as the next build's dbt process does
WRITE = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('insert into t values (2)')"


def _warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table t (x integer); insert into t values (1)")
    con.close()
    return path


def _writable_by_another_process(path) -> bool:
    return subprocess.run([sys.executable, "-c", WRITE, str(path)], capture_output=True).returncode == 0


def test_outside_the_scope_a_closed_reader_keeps_nothing_open(tmp_path):
    path = _warehouse(tmp_path)
    con = connect_read_only(path)
    assert con.execute("select count(*) from t").fetchone() == (1,)
    con.close()
    assert _writable_by_another_process(path)


def test_inside_the_scope_the_first_open_is_kept_until_the_scope_ends(tmp_path):
    path = _warehouse(tmp_path)
    with shared_reads():
        with shared_reads():  # a nested scope does not end the outer one
            first = connect_read_only(path)
            first.close()
        # still open: a build in another process cannot take the write lock now
        assert not _writable_by_another_process(path)
        second = connect_read_only(path)
        assert second.execute("select count(*) from t").fetchone() == (1,)
        second.close()
        # a reader with another configuration is refused while the database is open here
        with pytest.raises(duckdb.Error):
            duckdb.connect(str(path), read_only=True, config={"threads": 1})
    assert _writable_by_another_process(path)
    con = connect_read_only(path)
    assert con.execute("select count(*) from t").fetchone() == (2,)
    con.close()


def test_the_scope_ends_on_an_error_too(tmp_path):
    path = _warehouse(tmp_path)
    with pytest.raises(RuntimeError), shared_reads():
        connect_read_only(path).close()
        raise RuntimeError("a step failed")
    assert _writable_by_another_process(path)
