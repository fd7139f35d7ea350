"""The ledger of data files (``files`` in ``<home>/ingest/state.duckdb``): its rows, how they are
written, and the accounting invariant of INTERCHANGE 4 over them.

One row per data file the platform has seen (plus one per conflicting redelivery), read and
written by column name. A group's decisions are committed in one transaction together with
the event-id keys they add and the ``SUPERSEDED`` rows of the deliveries they replace; see
``ingestion.pipeline`` for why that ordering makes a crash harmless.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import duckdb
import pyarrow as pa

from ingestion import lake, state
from ingestion.discover import Candidate, parse_name
from ingestion.feeds import UNIQUE_ID
from ingestion.registry import Source, feed_map
from ingestion.staging import v_name
from numlake.msisdn import masked_logger

if TYPE_CHECKING:
    from ingestion.context import RunContext
    from ingestion.delivery import Delivery

log = masked_logger("numlake.ingestion")

OUTCOMES = ("LOADED", "PENDING", "QUARANTINED", "SUPERSEDED")

LEDGER_SCHEMA = pa.schema(
    [
        ("file_id", pa.int64()),
        ("rel", pa.string()),
        ("is_conflict", pa.bool_()),
        ("source_id", pa.string()),
        ("feed", pa.string()),
        ("file_name", pa.string()),
        ("business_date", pa.date32()),
        ("seq", pa.int32()),
        ("outcome", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("rows_declared", pa.int32()),
        ("rows_loaded", pa.int32()),
        ("rows_rejected", pa.int32()),
        ("md5", pa.string()),
        ("size_bytes", pa.int64()),
        ("seen_size", pa.int64()),
        ("seen_mtime_ns", pa.int64()),
        ("ctl_size", pa.int64()),
        ("ctl_mtime_ns", pa.int64()),
        ("dialect_fp", pa.string()),
        ("first_seen_at", pa.timestamp("us")),
        ("decided_at", pa.timestamp("us")),
        ("load_order", pa.int64()),
        ("run_id", pa.string()),
        ("lake_stem", pa.string()),
    ]
)

# the columns a scan needs to decide what to do about a file (the whole row costs twice as
# much on a year of deliveries)
SCAN_COLUMNS = (
    "rel",
    "file_id",
    "outcome",
    "md5",
    "seen_size",
    "seen_mtime_ns",
    "ctl_size",
    "ctl_mtime_ns",
    "dialect_fp",
    "first_seen_at",
    "load_order",
)

FILE_LOADS_SQL = """
SELECT source_id, feed, business_date, seq, file_name, outcome, reason,
       rows_declared, rows_loaded, rows_rejected,
       rel AS path, md5, size_bytes, first_seen_at, decided_at, load_order, run_id, detail, lake_stem
FROM files ORDER BY source_id, feed, business_date NULLS LAST, seq NULLS LAST, file_name, file_id
"""

# INTERCHANGE 4's accounting invariant as a filter over ledger rows (the `files` table or the
# ``file_loads`` export): declared = loaded + rejected per LOADED file, 0/0 for every other file
ACCOUNTING_VIOLATIONS_SQL = (
    "SELECT file_name, outcome, rows_declared, rows_loaded, rows_rejected FROM {table} "
    "WHERE (outcome='LOADED' AND (rows_declared IS NULL OR rows_declared <> rows_loaded + rows_rejected)) "
    "OR (outcome<>'LOADED' AND (rows_loaded<>0 OR rows_rejected<>0)) ORDER BY 1"
)


def accounting_violations(con: duckdb.DuckDBPyConnection, table: str = "files") -> list[str]:
    """One line per ledger row of `table` that breaks the accounting invariant."""
    return [
        f"{name}: {outcome} with declared {decl}, loaded {ld}, rejected {rj}"
        for name, outcome, decl, ld, rj in con.execute(ACCOUNTING_VIOLATIONS_SQL.format(table=table)).fetchall()
    ]


class HeldDelivery(NamedTuple):
    """A LOADED or SUPERSEDED ledger row of a business date that a group also delivers."""

    source_id: str
    feed: str
    business_date: dt.date
    seq: int
    file_id: int
    file_name: str
    outcome: str
    lake_stem: str | None
    rows_rejected: int


def scan_rows(con: duckdb.DuckDBPyConnection, rels: list[str] | None = None) -> dict[str, dict]:
    """Ledger rows (SCAN_COLUMNS) by the file's path relative to the landing area; of the files
    `rels` names, when given."""
    if rels is None:
        cur = con.execute(f"SELECT {', '.join(SCAN_COLUMNS)} FROM files WHERE NOT is_conflict")
        return {r[0]: dict(zip(SCAN_COLUMNS, r)) for r in cur.fetchall()}
    if not rels:
        return {}
    con.register("scan_rels", pa.table({"r": pa.array(rels, pa.string())}))
    try:
        cur = con.execute(
            f"SELECT {', '.join(SCAN_COLUMNS)} FROM files WHERE NOT is_conflict AND rel IN (SELECT r FROM scan_rels)"
        )
        return {r[0]: dict(zip(SCAN_COLUMNS, r)) for r in cur.fetchall()}
    finally:
        con.unregister("scan_rels")


def settled_stats(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """``rel -> (seen_size, seen_mtime_ns)`` of the LOADED and SUPERSEDED files, for
    :func:`ingestion.discover.scan` to leave out the unchanged ones."""
    t = con.sql(
        "SELECT rel, seen_size, seen_mtime_ns FROM files "
        "WHERE NOT is_conflict AND outcome IN ('LOADED', 'SUPERSEDED') "
        "AND seen_size IS NOT NULL AND seen_mtime_ns IS NOT NULL"
    ).to_arrow_table()
    return dict(
        zip(t.column("rel").to_pylist(), zip(t.column("seen_size").to_pylist(), t.column("seen_mtime_ns").to_pylist()))
    )


def held_deliveries(con: duckdb.DuckDBPyConnection, keys: set[tuple]) -> dict[tuple, list[HeldDelivery]]:
    """LOADED and SUPERSEDED rows per (source, feed, business date) of `keys`."""
    if not keys:
        return {}
    t = pa.table(
        {"s": [k[0] for k in keys], "f": [k[1] for k in keys], "d": pa.array([k[2] for k in keys], pa.date32())}
    )
    con.register("gkeys", t)
    try:
        rows = con.execute(
            f"SELECT {', '.join(HeldDelivery._fields)} "
            "FROM files JOIN gkeys ON source_id = s AND feed = f AND business_date = d "
            "WHERE NOT is_conflict AND outcome IN ('LOADED', 'SUPERSEDED')"
        ).fetchall()
    finally:
        con.unregister("gkeys")
    out: dict[tuple, list[HeldDelivery]] = {}
    for r in map(HeldDelivery._make, rows):
        out.setdefault((r.source_id, r.feed, r.business_date), []).append(r)
    return out


def name_bd_seq(file_name: str) -> tuple[dt.date | None, int | None]:
    """Business date and sequence for the ledger, also of a name that does not parse (None)."""
    p = parse_name(file_name)
    return (p.business_date, p.seq) if p else (None, None)


def load_key(c: Candidate) -> tuple:
    """Load order within a run: business date, sequence, then source and name (stable)."""
    bd, seq = name_bd_seq(c.file_name)
    return (bd or dt.date.max, seq if seq is not None else 99, c.source_dir, c.feed_dir, c.file_name)


def base_row(run_id: str, c: Candidate, row: dict | None, src: Source | None) -> dict:
    """A ledger row for deciding `c` anew, keeping what the earlier row (if any) fixed."""
    bd, seq = name_bd_seq(c.file_name)
    now = state.now_cst()
    return {
        "file_id": row["file_id"] if row else None,
        "rel": c.rel,
        "is_conflict": False,
        "source_id": c.source_dir,
        "feed": c.feed_dir,
        "file_name": c.file_name,
        "business_date": bd,
        "seq": seq,
        "outcome": None,
        "reason": None,
        "detail": None,
        "rows_declared": None,
        "rows_loaded": 0,
        "rows_rejected": 0,
        "md5": None,
        "size_bytes": c.size,
        "seen_size": c.size,
        "seen_mtime_ns": c.mtime_ns,
        "ctl_size": c.ctl_size,
        "ctl_mtime_ns": c.ctl_mtime_ns,
        "dialect_fp": src.fingerprint if src else None,
        "first_seen_at": row["first_seen_at"] if row else now,
        "decided_at": now,
        "load_order": row["load_order"] if row else None,
        "run_id": run_id,
        "lake_stem": None,
    }


def write_row(con: duckdb.DuckDBPyConnection, rec: dict) -> int:
    """Insert `rec` (a new file_id when it has none) or update its row; returns the file_id."""
    cols = [k for k in rec if not k.startswith("_")]
    if rec.get("file_id") is None:
        rec["file_id"] = con.execute("SELECT nextval('file_ids')").fetchall()[0][0]
        con.execute(
            f"INSERT INTO files ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", [rec[k] for k in cols]
        )
    else:
        sets = ", ".join(f"{k}=?" for k in cols if k != "file_id")
        con.execute(
            f"UPDATE files SET {sets} WHERE file_id=?", [rec[k] for k in cols if k != "file_id"] + [rec["file_id"]]
        )
    return rec["file_id"]


def note_seen(con: duckdb.DuckDBPyConnection, c: Candidate, file_id: int) -> None:
    """Remember the stat data of a file whose bytes did not change what it is."""
    con.execute(
        "UPDATE files SET seen_size=?, seen_mtime_ns=?, ctl_size=?, ctl_mtime_ns=? WHERE file_id=?",
        [c.size, c.mtime_ns, c.ctl_size, c.ctl_mtime_ns, file_id],
    )


def apply_touches(ctx: RunContext, touch: list[tuple[Candidate, dict | None, str]]) -> None:
    """Ledger bookkeeping that needs no file contents: a new data file without its control
    file (``new_pending``), a quarantined one being uploaded again (``to_pending``), a pending
    one that grew (``touch``)."""
    if not touch:
        return
    now = state.now_cst()
    con = ctx.con
    con.execute("BEGIN")
    for c, row, action in touch:
        if action == "new_pending":
            bd, seq = name_bd_seq(c.file_name)
            con.execute(
                "INSERT INTO files (file_id, rel, is_conflict, source_id, feed, file_name, business_date, seq, "
                "outcome, rows_loaded, rows_rejected, size_bytes, seen_size, seen_mtime_ns, first_seen_at, "
                "decided_at, run_id) VALUES (nextval('file_ids'), ?, false, ?, ?, ?, ?, ?, 'PENDING', 0, 0, ?, ?, ?, "
                "?, ?, ?)",
                [
                    c.rel,
                    c.source_dir,
                    c.feed_dir,
                    c.file_name,
                    bd,
                    seq,
                    c.size,
                    c.size,
                    c.mtime_ns,
                    now,
                    now,
                    ctx.run_id,
                ],
            )
            fid = con.execute("SELECT currval('file_ids')").fetchall()[0][0]
            ctx.decided[fid] = (c.source_dir, "PENDING")
        elif action == "to_pending":
            con.execute(
                "UPDATE files SET outcome='PENDING', reason=NULL, detail=NULL, rows_declared=NULL, md5=NULL, "
                "size_bytes=?, seen_size=?, seen_mtime_ns=?, ctl_size=NULL, ctl_mtime_ns=NULL, decided_at=?, "
                "run_id=? WHERE file_id=?",
                [c.size, c.size, c.mtime_ns, now, ctx.run_id, row["file_id"]],
            )
            ctx.decided[row["file_id"]] = (c.source_dir, "PENDING")
        else:
            con.execute(
                "UPDATE files SET size_bytes=?, seen_size=?, seen_mtime_ns=? WHERE file_id=?",
                [c.size, c.size, c.mtime_ns, row["file_id"]],
            )
    con.execute("COMMIT")


def commit_group(ctx: RunContext, items: list[Delivery], staged_feeds: set[str]) -> set[tuple[str, str, str]]:
    """One transaction: every delivery's final row, the SUPERSEDED rows of the ledger deliveries
    they replace (their event-id keys withdrawn) and the event-id keys of the loaded ones.
    Returns the (feed, source, lake stem) of the replaced deliveries, whose lake files may now
    be unreferenced."""
    con = ctx.con
    now = state.now_cst()
    old_ids = [it.rec["file_id"] for it in items if it.rec["file_id"] is not None]
    new = [it for it in items if it.rec["file_id"] is None]
    replaced = [r for it in items for r in it.supersedes_ledger]
    con.execute("BEGIN")
    try:
        if new:
            ids = [r[0] for r in con.execute(f"SELECT nextval('file_ids') FROM range({len(new)})").fetchall()]
            for it, fid in zip(new, ids):
                it.rec["file_id"] = fid
        for it in items:
            rec = it.rec
            rec["decided_at"] = now
            if it.outcome == "LOADED":
                rec.update(
                    outcome="LOADED",
                    rows_loaded=it.loaded,
                    rows_rejected=it.rejected,
                    load_order=it.load_order,
                    lake_stem=it.lake_stem,
                )
            elif it.outcome == "SUPERSEDED":
                rec.update(outcome="SUPERSEDED", rows_loaded=0, rows_rejected=0, load_order=it.load_order)
        if replaced:
            for it in items:
                for r in it.supersedes_ledger:
                    con.execute(
                        "UPDATE files SET outcome='SUPERSEDED', rows_loaded=0, rows_rejected=0, "
                        "decided_at=?, run_id=?, detail=? WHERE file_id=?",
                        [now, ctx.run_id, f"replaced by {it.c.file_name}", r.file_id],
                    )
            if any(r.feed in UNIQUE_ID for r in replaced):
                con.execute(f"DELETE FROM event_keys WHERE file_id IN ({', '.join(str(r.file_id) for r in replaced)})")
        if old_ids:
            con.execute(f"DELETE FROM files WHERE file_id IN ({', '.join(map(str, old_ids))})")
        recs = [it.rec for it in items]
        con.register("recs", pa.table({f.name: pa.array([r[f.name] for r in recs], f.type) for f in LEDGER_SCHEMA}))
        try:
            con.execute("INSERT INTO files BY NAME SELECT * FROM recs")
        finally:
            con.unregister("recs")
        for feed in UNIQUE_ID:
            final = [it for it in items if it.outcome == "LOADED" and it.c.feed_dir == feed]
            if not final or feed not in staged_feeds:
                continue
            con.register(
                "fids",
                pa.table(
                    {
                        "fidx": pa.array([it.idx for it in final], pa.int32()),
                        "file_id": pa.array([it.rec["file_id"] for it in final], pa.int64()),
                    }
                ),
            )
            try:
                con.execute(
                    f"INSERT INTO event_keys SELECT v.k, m.file_id FROM {v_name(feed)} v "
                    f"JOIN fids m USING (fidx) WHERE v.k IS NOT NULL"
                )
            finally:
                con.unregister("fids")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    for it in items:
        for r in it.supersedes_ledger:
            ctx.decided[r.file_id] = (r.source_id, "SUPERSEDED")
            log.info("%s superseded by %s", r.file_name, it.c.file_name)
        ctx.decided[it.rec["file_id"]] = (it.c.source_dir, it.outcome)
        if it.outcome == "LOADED":
            log.info("%s: LOADED %d records, %d rejected", it.c.file_name, it.loaded, it.rejected)
    return {(it.c.feed_dir, r.source_id, r.lake_stem) for it in items for r in it.supersedes_ledger if r.lake_stem}


def seen_path(home) -> Path:
    """The last run's stat data of every file (``pending_work`` reads it, never the state DB)."""
    return home.ingest_state.parent / "seen.parquet"


def export(ctx: RunContext) -> None:
    """Publish the ledger (``lake/_meta/file_loads.parquet``), the registry
    (``lake/_meta/sources.parquet``), the feeds each kind delivers (``lake/_meta/feeds.parquet``)
    and the stat data of every file (``seen_path``)."""
    con = ctx.con
    meta = lake.meta_dir(ctx.lake)
    lake.copy_to_parquet(con, FILE_LOADS_SQL, meta / "file_loads.parquet")
    names = [
        "source_id",
        "name",
        "kind",
        "carrier",
        "province",
        "format",
        "encoding",
        "delimiter",
        "header",
        "codes",
        "time_format",
        "compression",
    ]
    con.execute(f"CREATE OR REPLACE TEMP TABLE reg ({', '.join(n + ' VARCHAR' for n in names)})")
    if ctx.registry:
        con.executemany(
            f"INSERT INTO reg VALUES ({', '.join('?' for _ in names)})",
            [[row[n] for n in names] for row in (s.as_row() for s in ctx.registry.values())],
        )
    lake.copy_to_parquet(con, "SELECT * FROM reg", meta / "sources.parquet")
    con.execute("CREATE OR REPLACE TEMP TABLE feed_map (kind VARCHAR, feed VARCHAR, is_daily BOOLEAN)")
    con.executemany("INSERT INTO feed_map VALUES (?, ?, ?)", [list(r.values()) for r in feed_map()])
    lake.copy_to_parquet(con, "SELECT * FROM feed_map", meta / "feeds.parquet")
    lake.copy_to_parquet(
        con,
        "SELECT rel, outcome, seen_size, seen_mtime_ns, ctl_size, ctl_mtime_ns, dialect_fp, md5 "
        "FROM files WHERE NOT is_conflict",
        seen_path(ctx.home),
    )
