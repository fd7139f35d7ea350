"""Reading a layered check snapshot: a base index and a delta of the numbers changed since.

An incremental publish (snapshot_delta.py) does not rewrite the ten million rows of the index
after one more day: the new snapshot folder hard-links the previous base (its arrays, its
Parquet file and its fingerprints, never modified in place) and adds a small sorted delta::

    <stamp>/arrays/*.npy, index.parquet, fingerprints.npy   the base (hard links)
    <stamp>/delta/arrays/*.npy                              the changed numbers, as index arrays
    <stamp>/delta/gone.npy, fp.npy                          per delta row: no tenure any more; fingerprint
    <stamp>/delta/index.parquet                             the delta rows with a `gone` column

A number is looked up in the delta first, then in the base (`LayeredIndex`); SQL readers (the
notices) read the union through `index_relation_sql`. `materialize` merges the two layers into
the arrays a full publish writes, and `differences` compares two snapshots that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numlake.check import rules
from numlake.check.index import ARRAYS, CheckIndex, Resolved, hash_order
from numlake.host import save_npy

DELTA_DIR = "delta"
ARRAYS_DIR = "arrays"
INDEX_FILE = "index.parquet"
FINGERPRINTS = "fingerprints.npy"
VALUES = ("sha_prefix", "open_start", "last_end", "first_event", "coverage", "tenures")
INDEX_COLUMNS = ("msisdn", "sha256_prefix", "open_start", "last_end", "first_event", "coverage", "tenures")


@dataclass
class Delta:
    """Rows of the numbers changed since the base, sorted by msisdn: their index values, their
    fingerprint (`cols["fp"]`) and whether they lost every tenure (`gone`: the base row is void)."""

    msisdn: np.ndarray
    cols: dict[str, np.ndarray]
    gone: np.ndarray
    index: CheckIndex | None = None  # as read from a snapshot, with its saved hash order

    def __len__(self) -> int:
        return len(self.msisdn)

    @classmethod
    def empty(cls) -> Delta:
        cols = {name: np.zeros(0, np.int64 if name == "sha_prefix" else np.int32) for name in VALUES}
        cols["fp"] = np.zeros(0, np.uint64)
        return cls(np.zeros(0, np.int64), cols, np.zeros(0, bool))

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> Delta:
        index = CheckIndex.from_arrays(folder / ARRAYS_DIR, "", mmap=mmap)
        mode = "r" if mmap else None
        cols = {name: getattr(index, name) for name in VALUES}
        cols["fp"] = np.load(folder / "fp.npy", mmap_mode=mode)
        return cls(index.msisdn, cols, np.load(folder / "gone.npy", mmap_mode=mode), index)

    def as_index(self) -> CheckIndex:
        """The delta as an index of its own (its hash order sorts its rows by hash prefix)."""
        if self.index is not None:
            return self.index
        index = CheckIndex.__new__(CheckIndex)
        index.as_of, index.meta, index.msisdn = "", {}, self.msisdn
        for name in VALUES:
            setattr(index, name, self.cols[name])
        index.hash_order = np.argsort(index.sha_prefix, kind="stable").astype(np.int64)
        index.hash_sorted = index.sha_prefix[index.hash_order]
        return index

    def save(self, folder: Path) -> None:
        import pyarrow.parquet as pq

        index = self.as_index()
        index.save_arrays(folder / ARRAYS_DIR)
        save_npy(folder / "gone.npy", self.gone)
        save_npy(folder / "fp.npy", self.cols["fp"])
        table = arrow_table(index).append_column("gone", _pa().array(self.gone))
        pq.write_table(table, folder / INDEX_FILE, compression="snappy")


def date_column(days: np.ndarray):
    """Days since 1970 (int32) as an Arrow date column, the sentinels null; the days are not copied
    (an Arrow compute `if_else` took 0.6 s at 10 M numbers)."""
    pa = _pa()
    void = (days == rules.NO_OPEN) | (days == rules.NO_END)
    return pa.array(days, mask=void if void.any() else None).cast(pa.date32())


def _pa():
    import pyarrow as pa

    return pa


def arrow_table(index: CheckIndex):
    """The Parquet columns of a snapshot (INDEX_COLUMNS) from index arrays (a full publish writes the
    same columns straight from DuckDB's rows, snapshot_full._write_parquet)."""
    pa = _pa()
    cols = {"msisdn": pa.array(index.msisdn), "sha256_prefix": pa.array(index.sha_prefix)}
    for name in ("open_start", "last_end", "first_event", "coverage"):
        cols[name] = date_column(np.asarray(getattr(index, name), dtype=np.int32))
    cols["tenures"] = pa.array(np.asarray(index.tenures, dtype=np.int32))
    return pa.table(cols)


class LayeredIndex(CheckIndex):
    """A base index with a delta on top: what an incremental snapshot answers from, exactly as
    the merged index would (`tests/integration/test_check_snapshot_incremental.py`)."""

    def __init__(self, base: CheckIndex, delta: Delta, as_of: str, meta: dict | None = None):
        self.base, self.delta, self.as_of, self.meta = base, delta, as_of, dict(meta or {})
        self.delta_index = delta.as_index() if len(delta) else None
        self._len: int | None = self.meta.get("numbers")

    def __len__(self) -> int:
        if self._len is None:
            in_base = self.base._row_of_number(np.asarray(self.delta.msisdn)) >= 0
            self._len = (
                len(self.base) + int(np.sum(~in_base & ~self.delta.gone)) - int(np.sum(in_base & self.delta.gone))
            )
        return self._len

    def _delta_row(self, number: int) -> int:
        d = self.delta.msisdn
        pos = int(np.searchsorted(d, number))
        return pos if pos < len(d) and int(d[pos]) == number else -1

    def _one(self, number: int):
        if self.delta_index is None:
            return self.base._one(number)
        row = self._delta_row(number)
        if row < 0:
            return self.base._one(number)
        return None if self.delta.gone[row] else self.delta_index._values(row)

    def _number_of_hash(self, digest: str) -> int:
        # the base's number, even if the delta has it gone (`_one` says so); else a number new in the delta
        number = self.base._number_of_hash(digest)
        if not number and self.delta_index is not None:
            number = self.delta_index._number_of_hash(digest)
        return number

    def resolve(self, queries) -> Resolved:
        res = self.base.resolve(queries)
        if self.delta_index is None:
            return res
        rows, numbers = res.row.copy(), res.number.copy()
        missing = [i for i, k in enumerate(res.kind) if k == "hash" and rows[i] < 0]
        if missing:  # a number new since the base is found by its hash in the delta only
            found = self.delta_index.resolve([queries[i] for i in missing])
            numbers[missing] = found.number
        has = np.flatnonzero(numbers > 0)
        drow = self.delta_index._row_of_number(numbers[has])
        hit = drow >= 0
        at, drow = has[hit], drow[hit]
        gone = np.asarray(self.delta.gone)[drow]
        rows[at] = len(self.base) + drow
        rows[at[gone]] = -1
        for i in at[gone].tolist():
            if res.kind[i] == "hash":  # a full index would not know this hash at all
                numbers[i] = 0
        return Resolved(rows, numbers, res.kind)

    def _take(self, rows: np.ndarray) -> tuple:
        if self.delta_index is None:
            return self.base._take(rows)
        nb = len(self.base)
        in_delta = rows >= nb
        b = self.base._take(np.where(in_delta, 0, rows)) if nb else None
        d = self.delta_index._take(np.where(in_delta, rows - nb, 0))
        if b is None:
            return d
        return tuple(np.where(in_delta, dv, bv) for bv, dv in zip(b, d, strict=True))


def load_layered(folder: Path, meta: dict, mmap: bool) -> LayeredIndex:
    base = CheckIndex.from_arrays(folder / ARRAYS_DIR, meta["as_of"], meta, mmap=mmap)
    return LayeredIndex(base, Delta.load(folder / DELTA_DIR, mmap=mmap), meta["as_of"], meta)


def materialize(index: CheckIndex) -> CheckIndex:
    """The index a full publish would write for the same numbers: base and delta merged."""
    if not isinstance(index, LayeredIndex) or index.delta_index is None:
        return index.base if isinstance(index, LayeredIndex) else index
    base, delta = index.base, index.delta
    keep = np.ones(len(base), dtype=bool)
    rows = base._row_of_number(np.asarray(delta.msisdn))
    keep[rows[rows >= 0]] = False
    live = ~np.asarray(delta.gone)
    msisdn = np.concatenate([np.asarray(base.msisdn)[keep], np.asarray(delta.msisdn)[live]])
    order = np.argsort(msisdn, kind="stable")
    out = CheckIndex.__new__(CheckIndex)
    out.as_of, out.meta, out.msisdn = index.as_of, dict(index.meta), msisdn[order]
    for name in VALUES:
        both = np.concatenate([np.asarray(getattr(base, name))[keep], np.asarray(delta.cols[name])[live]])
        setattr(out, name, both[order])
    out.hash_order = hash_order(out.sha_prefix)
    out.hash_sorted = out.sha_prefix[out.hash_order]
    return out


def index_relation_sql(index_file: Path) -> str:
    """A SQL relation of a snapshot's index rows (INDEX_COLUMNS) for DuckDB readers: its Parquet
    file, or for a layered snapshot the base's rows not overridden by the delta plus the delta's
    live rows."""
    index_file = Path(index_file)
    delta = index_file.parent / DELTA_DIR / INDEX_FILE
    cols = ", ".join(INDEX_COLUMNS)
    if not delta.exists():
        return f"(select {cols} from read_parquet({_sql_str(index_file)}))"
    return (
        f"(select {cols} from read_parquet({_sql_str(index_file)}) "
        f"where msisdn not in (select msisdn from read_parquet({_sql_str(delta)})) "
        f"union all select {cols} from read_parquet({_sql_str(delta)}) where not gone)"
    )


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two published snapshot folders, as a full publish would see them:
    every index array (layers merged), the Parquet rows through `index_relation_sql`, `as_of` and
    the count of numbers. Empty when they answer every query alike. Used by the equivalence tests."""
    import json

    import duckdb

    out = []
    metas = [json.loads((Path(f) / "meta.json").read_text()) for f in (a, b)]
    for key in ("as_of", "numbers"):
        if metas[0].get(key) != metas[1].get(key):
            out.append(f"meta {key}: {metas[0].get(key)!r} != {metas[1].get(key)!r}")
    merged = [materialize(_load(Path(f), m)) for f, m in zip((a, b), metas, strict=True)]
    for name in ARRAYS:
        x, y = (np.asarray(getattr(m, name)) for m in merged)
        if x.shape != y.shape or not np.array_equal(x, y):
            out.append(f"array {name} differs")
    con = duckdb.connect()
    try:
        ra, rb = (index_relation_sql(Path(f) / INDEX_FILE) for f in (a, b))
        n = con.execute(
            f"select count(*) from ((select * from {ra} except all select * from {rb}) "
            f"union all (select * from {rb} except all select * from {ra}))"
        ).fetchone()[0]
    finally:
        con.close()
    if n:
        out.append(f"index rows: {n} differ")
    return out


def _load(folder: Path, meta: dict) -> CheckIndex:
    if (folder / DELTA_DIR).is_dir():
        return load_layered(folder, meta, mmap=True)
    return CheckIndex.from_arrays(folder / ARRAYS_DIR, meta["as_of"], meta, mmap=True)
