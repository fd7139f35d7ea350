"""The check snapshot's full publish, and what it shares with the incremental one (snapshot_delta.py).

A full publish reads every number of `marts.number_tenures` and `marts.number_first_events` in one
DuckDB query (snapshot.FULL_SQL: 10 M numbers, ~7 s of aggregation, SHA-256 and sorting on this
machine's two cores), then writes the new base's files on three threads: the Parquet file encoded
straight from DuckDB's rows, the index arrays written chunk by chunk, and the hash order sorted.
"""

from __future__ import annotations

import functools
import json
import operator
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from numlake.check import snapshot
from numlake.check.index import hash_order
from numlake.check.rules import NO_END, NO_OPEN
from numlake.check.snapshot_layers import ARRAYS_DIR, FINGERPRINTS, INDEX_FILE, VALUES, date_column
from numlake.host import SlicedFile, save_npy, save_npy_parts
from numlake.paths import Home

if TYPE_CHECKING:
    import pyarrow as pa

OTHERS = "others.json"
# DuckDB threads for the full read. A hash aggregation is split into as many partitions as the next
# power of two of its threads: with 2 threads the grouping of 10 M numbers ran in two partitions and
# took ~1 s longer on two cores than with 4 (BENCHMARKS.md, "Snapshot publish").
FULL_READ_THREADS = max(4, os.cpu_count() or 1)


def column_chunks(column, dtype) -> list[np.ndarray]:
    """An Arrow column without nulls as numpy arrays, one per chunk (views where the type matches)."""
    return [np.asarray(c.to_numpy(zero_copy_only=False), dtype=dtype) for c in column.chunks]


def column_array(column, dtype) -> np.ndarray:
    """An Arrow column without nulls as one numpy array (chunk by chunk: no pandas)."""
    parts = column_chunks(column, dtype)
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def u64(column) -> np.ndarray:
    return column_array(column, np.uint64)


def xor(values) -> int:
    return int(np.bitwise_xor.reduce(np.asarray(values, dtype=np.uint64))) if len(values) else 0


def xor_ints(values) -> int:
    return functools.reduce(operator.xor, values, 0)


# The index's Parquet file: dictionaries only where values repeat (dates, counts; trying one for
# the unique numbers and hashes cost a fifth of the encoding), the sorted numbers as deltas. No
# `hash_rank`: readers of a snapshot take the hash order from its arrays (index.py reads the ranks of
# snapshots published before 7 Dec 2026, which have them).
PARQUET_OPTIONS = {
    "compression": "snappy",
    "row_group_size": 1 << 20,
    "use_dictionary": ["open_start", "last_end", "first_event", "coverage", "tenures"],
    "column_encoding": {"msisdn": "DELTA_BINARY_PACKED"},
}


def publish_full(home: Home, con, as_of: str, built_at: str | None, state: dict, reason: str) -> Path:
    """Publish every number of the warehouse open on `con` as a new base (snapshot_delta.publish
    decides when; `state` is its incremental state, `reason` why this publish is full)."""
    from concurrent.futures import ThreadPoolExecutor

    rows, rest = _read_all(con)
    # numpy sorts and Arrow encodes without the GIL: the Parquet file is encoded straight from the
    # rows DuckDB returned while the index arrays are copied out of them and sorted by hash
    with ThreadPoolExecutor(2) as pool:

        def write(tmp: Path, stamp: str) -> dict:
            parquet = pool.submit(_write_parquet, tmp / INDEX_FILE, rows)  # synced as it is written
            try:
                base_fp, others = _write_arrays(tmp, rows, rest, pool)
                write_others(tmp, others)
            finally:
                parquet.result()  # never leave it writing into a folder about to be removed; its error is the publish's
            base = {"base": stamp, "base_numbers": len(rows), "base_fp": base_fp}
            return snapshot_meta(as_of, built_at, len(rows), "full", reason, 0, {**state, **base})

        return snapshot.commit_snapshot(home, write)


def _read_all(con) -> tuple[pa.Table, pa.Table]:
    """Every number of the marts in one read (snapshot.FULL_SQL): the index rows sorted by msisdn,
    and the numbers with rows but no index row (`other`, `fp`)."""
    con.execute(f"set threads = {FULL_READ_THREADS}")
    try:
        table = con.sql(
            snapshot.FULL_SQL.format(numbers=snapshot.numbers_sql(), no_open=int(NO_OPEN), no_end=int(NO_END))
        ).to_arrow_table()
    finally:
        con.execute(f"set threads = {snapshot.DUCKDB_CONFIG['threads']}")
    n = len(table) - table.column("msisdn").null_count  # the index rows come first (nulls last)
    rows = table.slice(0, n)
    for name in ("first_event", "coverage"):
        if rows.column(name).null_count:
            raise ValueError(f"check index: column {name} has nulls")
    return rows, table.slice(n)


def _write_parquet(path: Path, rows: pa.Table) -> None:
    """The index's Parquet file from the rows of FULL_SQL: `arrow_table`'s columns, the dates'
    sentinels as nulls."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {"msisdn": rows.column("msisdn"), "sha256_prefix": rows.column("sha256_prefix")}
    for name in ("open_start", "last_end", "first_event", "coverage"):
        cols[name] = pa.chunked_array(
            [date_column(days) for days in column_chunks(rows.column(name), np.int32)], pa.date32()
        )
    cols["tenures"] = rows.column("tenures")
    with SlicedFile(path, fsync=True) as f:
        pq.write_table(pa.table(cols), f, **PARQUET_OPTIONS)


# The index arrays (CheckIndex.save_arrays' files) a full publish writes straight from FULL_SQL's
# columns, and their types; `sha_prefix` and the hash order are written from one array.
ARRAY_COLUMNS = {
    "msisdn": ("msisdn", np.int64),
    **{name: (name, np.int32) for name in VALUES[1:]},
}


def _write_arrays(tmp: Path, rows: pa.Table, rest: pa.Table, pool) -> tuple[int, dict[str, int]]:
    """The index arrays and fingerprints of FULL_SQL's rows, written chunk by chunk as DuckDB
    returned them (CheckIndex.save_arrays' files, not copied into arrays first); the hash order is
    sorted on `pool` meanwhile. Returns the XOR of the fingerprints, and the fingerprints of the
    numbers without an index row."""
    sha_prefix = column_array(rows.column("sha256_prefix"), np.int64)
    order = pool.submit(hash_order, sha_prefix)
    folder = tmp / ARRAYS_DIR
    folder.mkdir()
    for name, (column, dtype) in ARRAY_COLUMNS.items():
        save_npy_parts(folder / f"{name}.npy", column_chunks(rows.column(column), dtype), dtype, fsync=True)
    save_npy(folder / "sha_prefix.npy", sha_prefix, fsync=True)
    fp = column_chunks(rows.column("fp"), np.uint64)
    save_npy_parts(tmp / FINGERPRINTS, fp, np.uint64, fsync=True)
    others = {
        str(m): int(h) for m, h in zip(rest.column("other").to_pylist(), rest.column("fp").to_pylist(), strict=True)
    }
    by_hash = order.result()
    save_npy(folder / "hash_order.npy", by_hash, fsync=True)
    save_npy(folder / "hash_sorted.npy", sha_prefix[by_hash], fsync=True)
    return xor_ints(xor(part) for part in fp), others


def snapshot_meta(as_of, built_at, numbers, kind, reason, delta, state, **more) -> dict:
    return {
        "as_of": as_of,
        "built_at": built_at,
        "numbers": numbers,
        "kind": kind,
        "reason": reason,
        "delta_numbers": delta,
        **more,
        "incremental": state,
    }


def write_others(folder: Path, others: dict[str, int]) -> None:
    (folder / OTHERS).write_text(json.dumps(others, separators=(",", ":"), sort_keys=True))
