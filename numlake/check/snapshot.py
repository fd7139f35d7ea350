"""Read-only snapshots of the check index, published atomically after each successful run.

DuckDB lets one process write a database file and nobody else open it meanwhile, so the
check service never answers from the warehouse while `numlake run` rebuilds it. Instead,
at the end of each successful run, `publish` reads the warehouse once (read-only) and
writes one compact Parquet file, one row per number with a tenure::

    <home>/snapshots/<stamp>/index.parquet   msisdn BIGINT (sorted), sha256_prefix BIGINT,
                                             open_start, last_end, first_event, coverage DATE,
                                             tenures INTEGER (see rules.py and index.py for
                                             their meaning; older snapshots also have hash_rank)
    <home>/snapshots/<stamp>/arrays/*.npy    the same, as the reader's in-memory numpy arrays
                                             (loading is a copy: a 10M-number index loads in
                                             well under a second, where decoding Parquet takes ~2 s)
    <home>/snapshots/<stamp>/meta.json       as_of, built_at, published_at, numbers, format
    <home>/snapshots/<stamp>/.lock           readers hold a shared flock while reading
    <home>/snapshots/CURRENT                 the stamp in force (replaced with os.replace)

Readers (the CLI and the server) follow CURRENT; the server polls it and swaps its
in-memory index without a restart. A publish removes every other snapshot it can lock
exclusively, i.e. that no reader is reading at that moment.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from numlake.check import rules, snapshot_layers
from numlake.check.index import CheckIndex, hash_prefix
from numlake.china_time import TZ_NAME
from numlake.crashpoints import crash_point
from numlake.errors import UsageError
from numlake.msisdn import SHA256_RE, SQL_VALID, normalize
from numlake.paths import Home
from numlake.warehouse_reads import connect_read_only

if TYPE_CHECKING:  # DuckDB and pyarrow are imported where used: one CLI answer needs neither
    import duckdb
    import pyarrow as pa

FORMAT = "numlake-check-index/1"
INDEX_FILE = "index.parquet"
META_FILE = "meta.json"
ARRAYS_DIR = "arrays"
LOCK_FILE = ".lock"
POINTER = "CURRENT"
DUCKDB_CONFIG = {"threads": 2, "memory_limit": "4GB"}

_FALLBACK_INPUTS = {
    "first_event_date": "first_event_date",
    "coverage_start": "coverage_start",
    "first_start": "first_start",
}
# One hash per row of each mart the index is built from: a number's fingerprint is the XOR of its
# rows' hashes, and the XOR over a whole mart tells an incremental publish whether it saw every
# change (snapshot_delta.py). The same expressions serve the full publish and the check.
TENURE_ROW_HASH = "hash(cast(msisdn as varchar), tenure_seq, start_time, end_time)"
FIRST_EVENT_ROW_HASH = "hash('first event', cast(msisdn as varchar), first_event_time, first_source_coverage_start)"
# One row per number with any row in the two marts: what RULES 6 needs of it (rules.py explains
# each column, and what stands in for a first event or coverage start the marts lack), its
# fingerprint, and whether it belongs in the index (a valid number with a tenure). The rows of both
# marts are grouped once (one aggregation of their union, cheaper than aggregating the tenures and
# joining the first events). `{where}` restricts both marts to some numbers (an incremental publish).
NUMBERS_SQL = """
with mart_rows as (
    select cast(msisdn as varchar) as msisdn, 1 as tenure, cast(start_time as date) as start_date,
        cast(end_time as date) as end_date, end_time is null as open, null::date as first_event_date,
        null::date as coverage_start, {tenure_hash} as h
    from {tenures}{where}
    union all
    select cast(msisdn as varchar), null, null, null, false, cast(first_event_time as date),
        cast(first_source_coverage_start as date), {first_event_hash}
    from {first_events}{where}
),
per_number as (
    select
        msisdn,
        min(case when open then start_date end) as open_start,
        max(end_date) as last_end,
        min(start_date) as first_start,
        cast(count(tenure) as integer) as tenures,  -- a count's state is cheaper than a sum's
        max(first_event_date) as first_event_date,
        max(coverage_start) as coverage_start,
        bit_xor(h) as fp
    from mart_rows
    group by msisdn
)
select
    msisdn,
    tenures > 0 and {valid} as indexed,
    open_start,
    last_end,
    {first_event} as first_event,
    {coverage} as coverage,
    tenures,
    fp
from per_number
"""
# The first 60 bits of a number's SHA-256 (index.hash_prefix) from its msisdn text.
SHA_PREFIX_SQL = "cast(('0x' || left(sha256(msisdn), 15)) as bigint)"
# The index rows (INDEX COLUMNS of index.py) of NUMBERS_SQL's result `{numbers}`.
INDEX_SQL = """
select
    cast(msisdn as bigint) as msisdn,
    {sha_prefix} as sha256_prefix,
    open_start, last_end, first_event, coverage, tenures{extra}
from {numbers}
where indexed
""".replace("{sha_prefix}", SHA_PREFIX_SQL)
# A full publish reads every number once: the index rows first, sorted by msisdn on DuckDB's
# threads (Arrow's sort is single-threaded and took twice the CPU), dates as days since 1970 with
# index.py's sentinels (a zero-copy transfer into the numpy arrays), then the numbers that have
# rows but no index row (`other`, msisdn null). `{numbers}` is NUMBERS_SQL.
FULL_SQL = """
select
    case when indexed then cast(msisdn as bigint) end as msisdn,
    case when indexed then {sha_prefix} end as sha256_prefix,
    cast(coalesce(open_start - date '1970-01-01', {no_open}) as integer) as open_start,
    cast(coalesce(last_end - date '1970-01-01', {no_end}) as integer) as last_end,
    cast(first_event - date '1970-01-01' as integer) as first_event,
    cast(coverage - date '1970-01-01' as integer) as coverage,
    tenures, fp,
    case when not indexed then msisdn end as other
from ({numbers})
order by msisdn nulls last
""".replace("{sha_prefix}", SHA_PREFIX_SQL)
MARTS = ("marts.number_tenures", "marts.number_first_events")


class SnapshotError(UsageError):
    """No snapshot and no warehouse to answer from, or a warehouse the index cannot be built from."""


def _connect(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with explicit limits and no progress bar (stdout carries answers)."""
    import duckdb

    try:
        if path is None:
            con = duckdb.connect(config=DUCKDB_CONFIG)
        else:
            con = connect_read_only(path)
    except duckdb.Error as e:
        raise SnapshotError(f"cannot open the warehouse {path} read-only: {str(e).splitlines()[0]}") from None
    con.execute("set enable_progress_bar = false")
    # RULES: dates are CST dates. Marts hold naive CST timestamps (LAKE.md), which this leaves
    # alone; should a mart ever hold TIMESTAMPTZ, its casts to DATE still give the CST date.
    con.execute(f"set TimeZone = '{TZ_NAME}'")
    return con


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _warehouse_as_of(con) -> tuple[str, str | None]:
    import duckdb

    try:
        rows = con.execute("select as_of, built_at from marts.platform_status limit 1").fetchall()
        row = rows[0] if rows else None
    except duckdb.Error as e:
        raise SnapshotError(f"warehouse has no readable marts.platform_status: {str(e).splitlines()[0]}") from None
    if not row or row[0] is None:
        raise SnapshotError("warehouse marts.platform_status has no as_of: nothing has been loaded")
    as_of = row[0].isoformat() if hasattr(row[0], "isoformat") else str(row[0])[:10]
    built_at = row[1].isoformat() if hasattr(row[1], "isoformat") else (str(row[1]) if row[1] else None)
    return as_of, built_at


def check_marts(con) -> None:
    """SnapshotError (one line) unless the warehouse has the marts the index is built from."""
    import duckdb

    for table in MARTS:
        try:
            con.execute(f"select * from {table} limit 0")
        except duckdb.Error:
            raise SnapshotError(f"warehouse has no {table}: run the pipeline first") from None


def numbers_sql(where: str = "") -> str:
    """NUMBERS_SQL over the marts, both restricted by `where` (a SQL condition on their rows)."""
    return NUMBERS_SQL.format(
        tenures=MARTS[0],
        first_events=MARTS[1],
        where=f" where {where}" if where else "",
        tenure_hash=TENURE_ROW_HASH,
        first_event_hash=FIRST_EVENT_ROW_HASH,
        valid=SQL_VALID.format(x="msisdn"),
        first_event=rules.fallback_sql("first_event", _FALLBACK_INPUTS),
        coverage=rules.fallback_sql("coverage", _FALLBACK_INPUTS),
    )


def _index_sql(con) -> str:
    check_marts(con)
    return INDEX_SQL.format(numbers=f"({numbers_sql()})", extra="")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for p in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        else:
            _fsync_dir(p)
    _fsync_dir(folder)


def _write_pointer(snapshots: Path, stamp: str) -> None:
    tmp = snapshots / (POINTER + ".tmp")
    with open(tmp, "w") as f:
        f.write(stamp + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, snapshots / POINTER)
    _fsync_dir(snapshots)


def _new_stamp(snapshots: Path) -> str:
    while True:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        if not (snapshots / stamp).exists():
            return stamp
        time.sleep(0.001)


def commit_snapshot(home: Home, write: Callable[[Path, str], dict]) -> Path:
    """Make a new snapshot folder and switch CURRENT to it: `write(folder, stamp)` fills a temp
    folder and returns its meta; the folder is fsynced, renamed to its stamp, and only then named
    by CURRENT. A crash at any point leaves CURRENT on a whole snapshot, the old or the new one."""
    snapshots = home.snapshots
    snapshots.mkdir(parents=True, exist_ok=True)
    stamp = _new_stamp(snapshots)
    tmp = snapshots / f".{stamp}.tmp"
    tmp.mkdir()
    try:
        meta = write(tmp, stamp)
        meta = {
            "format": FORMAT,
            "stamp": stamp,
            **meta,
            "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
        (tmp / LOCK_FILE).touch()
        _fsync_tree(tmp)  # CURRENT must never point at files a crash could leave half-written
        final = snapshots / stamp
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(snapshots)
    crash_point("snapshot.after_write")
    _write_pointer(snapshots, stamp)
    crash_point("snapshot.after_publish")
    collect_garbage(home)
    return final


def publish(home: Home, *, full: bool = False) -> Path:
    """Publish the check index of the warehouse (opened read-only) and switch CURRENT to it.

    Called by `numlake run` after a successful dbt build, once the warehouse is closed. After
    one more day only the numbers whose rows changed are read, on top of the previous snapshot
    (snapshot_delta.py); the whole index is rebuilt when there is no previous snapshot to build
    on, the marts or this code changed, the delta grew past a tenth of the index, a check fails,
    or `full` is set. Either way the snapshot answers exactly as a full one would. Returns the new
    snapshot's folder. Raises SnapshotError (one line) when the warehouse is missing or lacks
    the marts.
    """
    from numlake.check import snapshot_delta

    if not home.warehouse.exists():
        raise SnapshotError(f"no warehouse at {home.warehouse}: run the pipeline first")
    con = _connect(home.warehouse)
    try:
        as_of, built_at = _warehouse_as_of(con)
        check_marts(con)
        return snapshot_delta.publish(home, con, as_of, built_at, full=full)
    finally:
        con.close()


def current_stamp(home: Home) -> str | None:
    """The stamp CURRENT points to, or None when nothing was ever published."""
    try:
        stamp = (home.snapshots / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    return stamp or None


@contextmanager
def reading(snapshot_dir: Path):
    """Hold a shared lock on a snapshot while reading it, so a publish does not remove it."""
    fd = os.open(snapshot_dir / LOCK_FILE, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield snapshot_dir
    finally:
        os.close(fd)


def collect_garbage(home: Home) -> list[str]:
    """Remove every snapshot but CURRENT that no reader holds; leftover temp folders after an hour."""
    keep = current_stamp(home)
    removed = []
    if not home.snapshots.is_dir():
        return removed
    for d in sorted(home.snapshots.iterdir()):
        if not d.is_dir() or d.name == keep:
            continue
        if d.name.startswith("."):
            if time.time() - d.stat().st_mtime > 3600:
                shutil.rmtree(d, ignore_errors=True)
            continue
        try:
            fd = os.open(d / LOCK_FILE, os.O_RDONLY)
        except FileNotFoundError:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d.name)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d.name)
        finally:
            os.close(fd)
    return removed


def _filter_for(queries: Iterable[object]) -> str | None:
    """A WHERE clause selecting just the rows these queries can hit (None: none can)."""
    numbers, prefixes = set(), set()
    for q in queries:
        if isinstance(q, int) and not isinstance(q, bool):
            q = str(q)
        if not isinstance(q, str):
            continue
        n = normalize(q)
        if n:
            numbers.add(int(n))
        elif len(q) == 64 and SHA256_RE.match(q.lower()):
            prefixes.add(hash_prefix(q.lower()))
    parts = []
    if numbers:
        parts.append("msisdn in (" + ",".join(map(str, sorted(numbers))) + ")")
    if prefixes:
        parts.append("sha256_prefix in (" + ",".join(map(str, sorted(prefixes))) + ")")
    return " or ".join(parts) if parts else None


def _read_table(con, source_sql: str, only: list | None) -> pa.Table:
    sql = f"select * from ({source_sql})"
    if only is not None:
        where = _filter_for(only)
        sql += f" where {where}" if where else " where false"
    return con.sql(sql).to_arrow_table()


def load_current(home: Home, only: list | None = None, mmap: bool | None = None) -> CheckIndex | None:
    """The CURRENT snapshot as an index; None if none. With `only` (the queries to come) the arrays
    are memory-mapped, not copied: one answer reads a few pages and imports neither DuckDB nor
    pyarrow, whatever the size of the snapshot. `mmap=True` maps them in any case (the server: its
    worker processes then share one copy in the page cache). A snapshot without arrays is read from
    its Parquet file (just the rows `only` can hit, when given)."""
    if mmap is None:
        mmap = only is not None
    for _ in range(5):
        stamp = current_stamp(home)
        if stamp is None:
            return None
        d = home.snapshots / stamp
        try:
            with reading(d):
                meta = json.loads((d / META_FILE).read_text())
                meta["source"] = "snapshot"
                if (d / snapshot_layers.DELTA_DIR).is_dir():
                    return snapshot_layers.load_layered(d, meta, mmap=mmap)
                if (d / ARRAYS_DIR).is_dir():
                    return CheckIndex.from_arrays(d / ARRAYS_DIR, meta["as_of"], meta, mmap=mmap)
                table = _read_snapshot_parquet(d, only)
        except FileNotFoundError:
            continue  # switched and collected between reading CURRENT and opening it
        except (ValueError, KeyError, OSError) as e:
            raise SnapshotError(_unreadable(d, e)) from None
        if table is not None:
            return _index_of_table(d, table, meta)
    raise SnapshotError(f"the check snapshot under {home.snapshots} keeps changing; retry")


def _unreadable(d: Path, e: BaseException) -> str:
    return f"check snapshot {d} is unreadable: {str(e).splitlines()[0] if str(e) else e!r}"


def _index_of_table(d: Path, table: pa.Table, meta: dict) -> CheckIndex:
    import pyarrow as pa

    try:
        return CheckIndex(table, meta["as_of"], meta)
    except (ValueError, KeyError, pa.ArrowException) as e:
        raise SnapshotError(f"check snapshot {d} is unusable: {e}") from None


def _read_snapshot_parquet(d: Path, only: list | None) -> pa.Table | None:
    """The Parquet file of a snapshot (an older one, without arrays); None when it vanished."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if only is None:
            return pq.read_table(d / INDEX_FILE)
        con = _connect()
        try:
            return _read_table(con, f"select * from read_parquet({_sql_str(d / INDEX_FILE)})", only)
        finally:
            con.close()
    except (FileNotFoundError, duckdb.IOException):
        return None
    except (pa.ArrowException, duckdb.Error) as e:
        raise SnapshotError(_unreadable(d, e)) from None


def load_from_warehouse(home: Home, only: list | None = None) -> CheckIndex:
    """Build the index straight from the warehouse, read-only (fallback when nothing is published)."""
    con = _connect(home.warehouse)
    try:
        as_of, built_at = _warehouse_as_of(con)
        table = _read_table(con, _index_sql(con), only)
    finally:
        con.close()
    return CheckIndex(table, as_of, {"source": "warehouse", "as_of": as_of, "built_at": built_at, "stamp": None})


def load_index(home: Home, only: list | None = None, mmap: bool | None = None) -> CheckIndex:
    """What the CLI and server answer from: CURRENT snapshot, else the warehouse, else an error."""
    index = load_current(home, only, mmap)
    if index is not None:
        return index
    if home.warehouse.exists():
        return load_from_warehouse(home, only)
    raise SnapshotError(
        f"nothing to answer from: no check snapshot under {home.snapshots} and no warehouse at "
        f"{home.warehouse} (run `numlake run` first)"
    )


# SQL readers of a snapshot's rows (the notices) and the comparison of two snapshots (the tests):
# one place for what a layered snapshot holds (snapshot_layers.py).
index_relation_sql = snapshot_layers.index_relation_sql
differences = snapshot_layers.differences
