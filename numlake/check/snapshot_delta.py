"""Publishing the check snapshot: in full, or after one more day only the numbers touched.

A full publish reads every row of `marts.number_tenures` and `marts.number_first_events` (10 M
numbers: seconds of aggregation, SHA-256 and writing 0.7 GB). One more business day changes a few
ten thousand numbers, so an incremental publish reads only these and writes a layered snapshot
(snapshot_layers.py): the previous base hard-linked, and a delta of every number changed since it.

Which numbers changed: the marts rebuild the history of a replayed number with a new
`replay_batch` (dbt_project/macros/replay_batches.sql), so the rows with a batch above the one
recorded at the previous publish are the numbers replayed since; a source whose coverage start
moved (marts.source_coverage) changes its numbers' first-event rows in place, so they are read
too. A number whose every record was withdrawn has no new batch (its rows are deleted): the replay
notes it (WITHDRAWN_TABLE, on DuckDB) and it is read again by name. Whatever else has no new batch —
the same number on Spark, a `--full-refresh` that restarted the batches — is caught by fingerprints: each row
of both marts hashes to 64 bits (snapshot.TENURE_ROW_HASH, FIRST_EVENT_ROW_HASH), a number's
fingerprint is the XOR of its rows' (kept per index row in `fingerprints.npy` and the delta, and
for the numbers with rows but no index row in `others.json`), and after merging, the XOR of every
fingerprint must equal the XOR of the marts, which DuckDB computes in one scan. On a mismatch the
same XOR per block of 100 numbers finds the blocks that differ, their numbers are read again, and
the check is repeated; if it still fails, or too much changed, the snapshot is published in full.
So an incremental snapshot holds what a full one would (the test compares them, array by array).

`as_of` is not in any index row (RULES 6 compares dates only with tenures and first events): a
day that moves it changes the snapshot's meta, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from numlake.check import snapshot
from numlake.check.index import CheckIndex
from numlake.check.snapshot_full import (
    OTHERS,
    publish_full,
    snapshot_meta,
    u64,
    write_others,
    xor,
    xor_ints,
)
from numlake.check.snapshot_layers import ARRAYS_DIR, DELTA_DIR, FINGERPRINTS, INDEX_FILE, VALUES, Delta
from numlake.paths import Home

STATE_VERSION = 1
BLOCK = 100  # numbers per block of the fingerprint check
MAX_DELTA = 0.10  # a delta past this share of the base (and past MIN_DELTA) is merged by a full publish
MIN_DELTA = 1000
BLOCK_SQL = f"coalesce(try_cast(msisdn as bigint) // {BLOCK}, -1)"
# The replay's note of the numbers it dropped for withdrawn records, with the batch after its own
# (dbt_project/macros/replay_batches.sql, `withdrawn_numbers`).
WITHDRAWN_TABLE = "intermediate.int_number_events__replayed__withdrawn"


@dataclass
class Rows:
    """Numbers read again from the warehouse: their index rows (sorted) and fingerprints, and the
    numbers that have rows but no index row (`others`, fingerprint by msisdn text)."""

    msisdn: np.ndarray
    cols: dict[str, np.ndarray]
    others: dict[str, int] = field(default_factory=dict)


@dataclass
class Layers:
    """A snapshot's state as an incremental publish sees it."""

    base: CheckIndex
    base_fp: np.ndarray
    delta: Delta
    others: dict[str, int]


def warehouse_state(con) -> dict:
    """What the next publish compares to decide whether it may build on this one."""
    import duckdb

    cols = con.execute(
        "select table_name, column_name, data_type from duckdb_columns() where schema_name = 'marts' "
        "and table_name in ('number_tenures', 'number_first_events') order by all"
    ).fetchall()
    batch = None
    if sum(1 for _, c, _ in cols if c == "replay_batch") == 2:
        batch = con.execute(
            "select greatest((select coalesce(max(replay_batch), 0) from marts.number_tenures), "
            "(select coalesce(max(replay_batch), 0) from marts.number_first_events))"
        ).fetchall()[0][0]
    try:
        rows = con.execute("select source_id, coverage_start from marts.source_coverage").fetchall()
        coverage = {str(s): str(d) for s, d in rows}
    except duckdb.Error:
        coverage = None
    code = "\n".join(
        [str(STATE_VERSION), snapshot.FORMAT, duckdb.__version__, snapshot.numbers_sql(), snapshot.INDEX_SQL, BLOCK_SQL]
    )
    return {
        "version": STATE_VERSION,
        "code": hashlib.sha256(code.encode()).hexdigest()[:16],
        "schema": hashlib.sha256(repr(cols).encode()).hexdigest()[:16],
        "replay_batch": None if batch is None else int(batch),
        "coverage": coverage,
    }


def _why_not_incremental(prev: dict | None, now: dict) -> str | None:
    if prev is None:
        return "no previous snapshot to build on"
    if prev.get("version") != STATE_VERSION or prev.get("code") != now["code"]:
        return "the snapshot code changed"
    if prev.get("schema") != now["schema"]:
        return "the marts' columns changed"
    if now["replay_batch"] is None or prev.get("replay_batch") is None:
        return "the marts have no replay_batch"
    if now["replay_batch"] < prev["replay_batch"]:
        return "the replay batches restarted (a full refresh)"
    return None


def publish(home: Home, con, as_of: str, built_at: str | None, full: bool = False) -> Path:
    """Publish the warehouse open on `con`: incrementally when the CURRENT snapshot allows it,
    else in full (the reason is in the new snapshot's meta)."""
    state = warehouse_state(con)
    prev_dir, prev_meta = _current(home)
    if full:
        reason = "asked for a full publish"
    elif prev_meta is not None and "incremental" not in prev_meta:
        reason = "the previous snapshot was published without the incremental state"
    else:
        reason = _why_not_incremental((prev_meta or {}).get("incremental"), state)
    if reason is None:
        result = _publish_incremental(home, con, prev_dir, prev_meta, as_of, built_at, state)
        if isinstance(result, Path):
            return result
        reason = result
    return publish_full(home, con, as_of, built_at, state, reason)


def _current(home: Home) -> tuple[Path | None, dict | None]:
    stamp = snapshot.current_stamp(home)
    if stamp is None:
        return None, None
    folder = home.snapshots / stamp
    try:
        return folder, json.loads((folder / snapshot.META_FILE).read_text())
    except (OSError, ValueError):
        return None, None


def _others(con, table: str) -> dict[str, int]:
    return {str(m): int(h) for m, h in con.execute(f"select msisdn, fp from {table} where not indexed").fetchall()}


def withdrawn_numbers(con, batch: int) -> np.ndarray:
    """The numbers the replay noted, with a batch after `batch`, as dropped because their records
    were withdrawn (WITHDRAWN_TABLE): a number whose every record was withdrawn leaves no row in
    the marts, so they are read again by name; without the table (the Spark engine, an older
    warehouse) only the fingerprint check finds them, by a scan of every row per block."""
    import duckdb

    try:
        found = con.execute(f"select distinct msisdn from {WITHDRAWN_TABLE} where replay_batch > ?", [batch]).fetchall()
    except duckdb.Error:
        return np.zeros(0, np.int64)
    numbers = {int(m) for (m,) in found if isinstance(m, str) and m.isdigit() and str(int(m)) == m}
    return np.array(sorted(numbers), dtype=np.int64)


def _read_rows(con, where: str) -> Rows:
    """The NUMBERS_SQL rows of the numbers whose mart rows match `where`."""
    con.execute(f"create or replace temp table changed as {snapshot.numbers_sql(where)}")
    table = con.sql(snapshot.INDEX_SQL.format(numbers="changed", extra=", fp") + " order by msisdn").to_arrow_table()
    others = _others(con, "changed")
    con.execute("drop table changed")
    fp = u64(table.column("fp"))
    index = CheckIndex(table.drop_columns(["fp"]), "")
    cols = {name: getattr(index, name) for name in VALUES}
    cols["fp"] = fp
    return Rows(index.msisdn, cols, others)


def _union(a: Rows, b: Rows) -> Rows:
    """Rows of both reads (of the same warehouse: a number read twice has the same row)."""
    msisdn, first = np.unique(np.concatenate([a.msisdn, b.msisdn]), return_index=True)
    cols = {name: np.concatenate([a.cols[name], b.cols[name]])[first] for name in a.cols}
    return Rows(msisdn, cols, {**a.others, **b.others})


def _load_layers(folder: Path) -> Layers:
    base = CheckIndex.from_arrays(folder / ARRAYS_DIR, "", mmap=True)
    base_fp = np.load(folder / FINGERPRINTS, mmap_mode="r")
    delta = Delta.load(folder / DELTA_DIR) if (folder / DELTA_DIR).is_dir() else Delta.empty()
    others = json.loads((folder / OTHERS).read_text())
    return Layers(base, base_fp, delta, others)


def _in_blocks(msisdn: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """The numbers of sorted `msisdn` that fall in these blocks."""
    lo = np.searchsorted(msisdn, blocks * BLOCK)
    hi = np.searchsorted(msisdn, (blocks + 1) * BLOCK)
    if not len(lo):
        return np.zeros(0, np.int64)
    return np.asarray(msisdn)[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])]


def _block_of(text: str) -> int:
    return int(text) // BLOCK if text.isdigit() else -1


def merge(layers: Layers, rows: Rows, bad_blocks: np.ndarray | None = None, reread: np.ndarray | None = None) -> Layers:
    """The layers after the numbers of `rows` (and every number of `bad_blocks`, read again in full,
    and the numbers of `reread`, read again whether or not they still have rows) replaced what the
    previous snapshot knew of them."""
    base, delta = layers.base, layers.delta
    # numbers that now have rows but no index row (a text that only reads as a number is not one)
    removed = [np.array([int(k) for k in rows.others if k.isdigit() and str(int(k)) == k], dtype=np.int64)]
    if reread is not None:
        removed.append(np.asarray(reread, dtype=np.int64))
    if bad_blocks is not None and len(bad_blocks):
        removed += [_in_blocks(base.msisdn, bad_blocks), _in_blocks(delta.msisdn, bad_blocks)]
    removed = np.setdiff1d(np.concatenate(removed), rows.msisdn)
    changed = np.union1d(rows.msisdn, removed)
    keep = ~np.isin(delta.msisdn, changed)
    # a number read again whose row is the base's, fingerprint included, needs no delta row
    brow = base._row_of_number(rows.msisdn)
    b = np.maximum(brow, 0)
    same = brow >= 0
    if len(base):
        for name in VALUES:
            same &= np.asarray(getattr(base, name))[b] == rows.cols[name]
        same &= np.asarray(layers.base_fp)[b] == rows.cols["fp"]
    fresh = ~same
    grow = base._row_of_number(removed)
    gone_numbers, gone_rows = removed[grow >= 0], grow[grow >= 0]
    parts_msisdn = [np.asarray(delta.msisdn)[keep], rows.msisdn[fresh], gone_numbers]
    order = np.argsort(np.concatenate(parts_msisdn), kind="stable")
    cols = {}
    for name in (*VALUES, "fp"):
        gone_values = _gone_values(name, base, gone_rows)
        cols[name] = np.concatenate([np.asarray(delta.cols[name])[keep], rows.cols[name][fresh], gone_values])[order]
    gone = np.concatenate(
        [np.asarray(delta.gone)[keep], np.zeros(int(fresh.sum()), bool), np.ones(len(gone_rows), bool)]
    )
    new_delta = Delta(np.concatenate(parts_msisdn)[order], cols, gone[order])
    others = {}
    if layers.others:
        touched = {str(int(n)) for n in changed}
        bad = set() if bad_blocks is None else set(bad_blocks.tolist())
        others = {k: v for k, v in layers.others.items() if k not in touched and _block_of(k) not in bad}
    others.update(rows.others)
    return Layers(base, layers.base_fp, new_delta, others)


def _gone_values(name: str, base: CheckIndex, rows: np.ndarray) -> np.ndarray:
    if name == "sha_prefix":
        return np.asarray(base.sha_prefix)[rows]
    if name == "fp":
        return np.zeros(len(rows), np.uint64)
    fill = {"open_start": snapshot.rules.NO_OPEN, "last_end": snapshot.rules.NO_END}.get(name, 0)
    return np.full(len(rows), fill, np.int32)


def expected_fingerprint(base_total: int, layers: Layers) -> int:
    """The XOR of every fingerprint the layers hold: what the marts must hash to."""
    d = layers.delta
    brow = layers.base._row_of_number(np.asarray(d.msisdn))
    overridden = xor(np.asarray(layers.base_fp)[brow[brow >= 0]])
    live = xor(np.asarray(d.cols["fp"])[~np.asarray(d.gone)])
    return base_total ^ overridden ^ live ^ xor_ints(layers.others.values())


def marts_fingerprint(con) -> int:
    row = con.execute(
        f"select (select coalesce(bit_xor({snapshot.TENURE_ROW_HASH}), 0) from {snapshot.MARTS[0]}), "
        f"(select coalesce(bit_xor({snapshot.FIRST_EVENT_ROW_HASH}), 0) from {snapshot.MARTS[1]})"
    ).fetchall()[0]
    return int(row[0]) ^ int(row[1])


def bad_blocks(con, layers: Layers) -> np.ndarray:
    """Blocks of BLOCK numbers whose fingerprint in the marts is not the one the layers hold."""
    wh = con.execute(
        f"select blk, bit_xor(h) as h from (select {BLOCK_SQL} as blk, {snapshot.TENURE_ROW_HASH} as h "
        f"from {snapshot.MARTS[0]} union all select {BLOCK_SQL}, {snapshot.FIRST_EVENT_ROW_HASH} "
        f"from {snapshot.MARTS[1]}) group by blk"
    ).fetchnumpy()
    base, d = layers.base, layers.delta
    bblk = np.asarray(base.msisdn) // BLOCK
    starts = np.flatnonzero(np.r_[True, bblk[1:] != bblk[:-1]]) if len(bblk) else np.zeros(0, np.int64)
    brow = base._row_of_number(np.asarray(d.msisdn))
    live = ~np.asarray(d.gone)
    okeys = list(layers.others)
    blocks = [
        bblk[starts],
        np.asarray(d.msisdn)[brow >= 0] // BLOCK,
        np.asarray(d.msisdn)[live] // BLOCK,
        np.array([_block_of(k) for k in okeys], dtype=np.int64),
        np.asarray(wh["blk"], dtype=np.int64),
    ]
    values = [
        np.bitwise_xor.reduceat(np.asarray(layers.base_fp), starts) if len(starts) else np.zeros(0, np.uint64),
        np.asarray(layers.base_fp)[brow[brow >= 0]],
        np.asarray(d.cols["fp"])[live],
        np.array([layers.others[k] for k in okeys], dtype=np.uint64),
        np.asarray(wh["h"], dtype=np.uint64),
    ]
    keys, inverse = np.unique(np.concatenate(blocks), return_inverse=True)
    acc = np.zeros(len(keys), np.uint64)
    np.bitwise_xor.at(acc, inverse, np.concatenate(values).astype(np.uint64))
    return keys[acc != 0]


def _publish_incremental(home: Home, con, prev_dir: Path, prev_meta: dict, as_of, built_at, state) -> Path | str:
    """The new snapshot built on `prev_dir`, or the reason it must be published in full."""
    t0 = time.perf_counter()
    prev = prev_meta["incremental"]
    try:
        layers = _load_layers(prev_dir)
    except (OSError, ValueError, KeyError) as e:
        return f"the previous snapshot is unreadable ({type(e).__name__})"
    where = f"replay_batch > {int(prev['replay_batch'])}"
    moved = _moved_sources(prev.get("coverage"), state["coverage"])
    if moved:
        con.execute("create or replace temp table moved_sources (source_id varchar)")
        con.executemany("insert into moved_sources values (?)", [[s] for s in sorted(moved)])
        con.execute(
            "create or replace temp table moved_numbers as select distinct cast(msisdn as varchar) as msisdn "
            f"from {snapshot.MARTS[1]} where first_source_id in (select source_id from moved_sources)"
        )
        where += " or cast(msisdn as varchar) in (select msisdn from moved_numbers)"
    rows = _read_rows(con, where)
    withdrawn = withdrawn_numbers(con, int(prev["replay_batch"]))
    merged = merge(layers, rows, reread=withdrawn)
    total = marts_fingerprint(con)
    blocks = np.zeros(0, np.int64)
    if expected_fingerprint(prev["base_fp"], merged) != total:
        blocks = bad_blocks(con, merged)
        if len(_in_blocks(layers.base.msisdn, blocks)) > _max_delta(layers):
            return f"the fingerprint check found {len(blocks)} blocks changed outside the replay batches"
        con.execute("create or replace temp table bad_blocks as select unnest(?::bigint[]) as blk", [blocks.tolist()])
        rows = _union(rows, _read_rows(con, f"{BLOCK_SQL} in (select blk from bad_blocks)"))
        merged = merge(layers, rows, blocks, reread=withdrawn)
        if expected_fingerprint(prev["base_fp"], merged) != total:
            return "the fingerprint check failed after reading the changed blocks again"
    if len(merged.delta) > _max_delta(layers):
        return f"the delta reached {len(merged.delta)} numbers (over a tenth of the base): merged in full"
    numbers = _live_numbers(merged)
    new_state = {**state, **{k: prev[k] for k in ("base", "base_numbers", "base_fp")}}

    def write(tmp: Path, stamp: str) -> dict:
        _link_base(prev_dir, tmp)
        (tmp / DELTA_DIR).mkdir()
        merged.delta.save(tmp / DELTA_DIR)
        write_others(tmp, merged.others)
        return snapshot_meta(
            as_of, built_at, numbers, "incremental", None, len(merged.delta), new_state,
            read_numbers=len(rows.msisdn) + len(rows.others), checked_blocks=len(blocks),
            prepare_seconds=round(time.perf_counter() - t0, 3),
        )  # fmt: skip

    return snapshot.commit_snapshot(home, write)


def _max_delta(layers: Layers) -> float:
    return max(MAX_DELTA * len(layers.base), MIN_DELTA)


def _moved_sources(before: dict | None, now: dict | None) -> set[str]:
    if before is None or now is None:
        return set()
    return {s for s in set(before) | set(now) if before.get(s) != now.get(s)}


def _live_numbers(layers: Layers) -> int:
    d = layers.delta
    in_base = layers.base._row_of_number(np.asarray(d.msisdn)) >= 0
    gone = np.asarray(d.gone)
    return len(layers.base) + int(np.sum(~in_base & ~gone)) - int(np.sum(in_base & gone))


def _link_base(prev: Path, tmp: Path) -> None:
    """Hard-link the base's files (never written after their first publish, so sharing is safe
    and the garbage collection of an old snapshot only drops a name)."""
    (tmp / ARRAYS_DIR).mkdir()
    names = [Path(ARRAYS_DIR) / p.name for p in (prev / ARRAYS_DIR).iterdir()] + [Path(INDEX_FILE), Path(FINGERPRINTS)]
    for name in names:
        os.link(prev / name, tmp / name)
