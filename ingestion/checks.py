"""Checks over what ingestion published, for Dagster asset checks and the CLI.

They read only the lake (``lake/_meta`` exports and the batch Parquet files), never
the ingestion state database, so they run while another process holds it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from ingestion.feeds import FEEDS
from ingestion.ledger import accounting_violations as ledger_accounting_violations
from ingestion.objectstore import LakeRoot, is_remote, lake_root, register
from numlake.paths import Home

# The per-file counts of the lake's batch files, by path, size and mtime (a local lake only):
# a batch file is never rewritten (docs/LAKE.md), so a daily check counts the records of the
# day's new files and reads the year's others from here (0.2 s of a year's 8.3 M lifecycle
# records, BENCHMARKS.md). A file whose size or mtime changed is counted again.
COUNTS_CACHE = "lake_counts.parquet"
_NO_COUNTS = (
    "SELECT NULL::VARCHAR AS source_id, NULL::VARCHAR AS file_name, NULL::BIGINT AS load_order, "
    "0::BIGINT AS n, NULL::VARCHAR AS kind LIMIT 0"
)


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    con.execute("SET enable_progress_bar = false")
    return con


def _file_loads(root: LakeRoot) -> LakeRoot | None:
    p = root / "_meta" / "file_loads.parquet"
    return p if p.exists() else None


def accounting_violations(home: Home) -> list[str]:
    """INTERCHANGE 4's invariant checked end to end against the files in the lake.

    Per LOADED file: declared = loaded + rejected, and the lake holds exactly `rows_loaded`
    records and `rows_rejected` rejections for it; files not LOADED have 0/0 and nothing in
    the lake; no lake record belongs to a file the ledger does not list as LOADED.
    """
    root = lake_root(home)
    fl = _file_loads(root)
    if fl is None:
        return []
    con = _con()
    register(con, root)
    try:
        con.execute(f"CREATE TEMP VIEW fl AS SELECT * FROM read_parquet('{fl.as_posix()}')")
        out = ledger_accounting_violations(con, "fl")
        if is_remote(root):
            counts = _globbed_counts(root)
        else:
            _count_files(con, Path(root), Path(home.ingest_state).parent / COUNTS_CACHE)
            counts = "SELECT source_id, file_name, load_order, n, kind FROM lake_counts"
        # a batch file may still hold the records of a delivery superseded since it was written
        # (docs/LAKE.md): those are withdrawn, not orphans; records of no delivery the ledger
        # ever loaded (or of another load of it) are
        rows = con.execute(f"""
            WITH c AS ({counts}),
            seen AS (SELECT source_id, file_name, load_order, outcome FROM fl
                     WHERE outcome IN ('LOADED', 'SUPERSEDED')),
            ledger AS (SELECT source_id, file_name, load_order, rows_loaded, rows_rejected FROM fl
                       WHERE outcome='LOADED'),
            got AS (SELECT l.source_id, l.file_name, l.rows_loaded, l.rows_rejected,
                           coalesce((SELECT sum(n) FROM c WHERE c.kind = 'loaded' AND c.source_id = l.source_id
                                     AND c.file_name = l.file_name AND c.load_order = l.load_order), 0) AS loaded,
                           coalesce((SELECT sum(n) FROM c WHERE c.kind = 'rejected' AND c.source_id = l.source_id
                                     AND c.file_name = l.file_name), 0) AS rejected
                    FROM ledger l),
            orphans AS (SELECT c.source_id, c.file_name, sum(n) FILTER (WHERE kind = 'loaded') AS loaded,
                               sum(n) FILTER (WHERE kind = 'rejected') AS rejected FROM c
                        WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.source_id = c.source_id
                                          AND s.file_name = c.file_name
                                          AND (c.kind = 'rejected' OR s.load_order = c.load_order))
                        GROUP BY ALL)
            SELECT source_id, file_name, rows_loaded, rows_rejected, loaded, rejected, false FROM got
            WHERE rows_loaded <> loaded OR rows_rejected <> rejected
            UNION ALL
            SELECT source_id, file_name, NULL, NULL, coalesce(loaded, 0), coalesce(rejected, 0), true FROM orphans
            ORDER BY 1, 2""").fetchall()
        for _src, name, rl, rr, kl, kr, orphan in rows:
            if orphan:
                out.append(f"{name}: {kl} loaded and {kr} rejected records in the lake but no LOADED ledger row")
            else:
                out.append(f"{name}: ledger says {rl} loaded/{rr} rejected, lake holds {kl}/{kr}")
        return out
    finally:
        con.close()


def _batch_files(root: Path) -> list[tuple[Path, str]]:
    """Every batch file of a local lake, with `loaded` or `rejected`."""
    out = []
    for feed in FEEDS:
        out += [(p, "loaded") for p in sorted((root / feed).glob("*/*.parquet"))]
        out += [(p, "rejected") for p in sorted((root / "_rejects" / feed).glob("*/*.parquet"))]
    return out


def _count_sql(paths: list[str], kind: str) -> str:
    """Per file of `paths` (its `path`): its records per (source_id, file_name, load_order)."""
    files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    order = "load_order" if kind == "loaded" else "NULL::BIGINT AS load_order"
    return (
        f"SELECT filename AS path, source_id, file_name, {order}, count(*) AS n, '{kind}' AS kind "
        f"FROM read_parquet([{files}], filename = true) GROUP BY ALL"
    )


def _globbed_counts(root: LakeRoot) -> str:
    """The counts of an object-store lake, read whole by glob (no cache: its files are not stat'ed)."""
    parts = []
    for feed in FEEDS:
        if list((root / feed).glob("*/*.parquet")):
            g = (root / feed / "*" / "*.parquet").as_posix()
            parts.append(
                f"SELECT source_id, file_name, load_order, count(*) AS n, 'loaded' AS kind "
                f"FROM read_parquet('{g}') GROUP BY ALL"
            )
        if list((root / "_rejects" / feed).glob("*/*.parquet")):
            g = (root / "_rejects" / feed / "*" / "*.parquet").as_posix()
            parts.append(
                f"SELECT source_id, file_name, NULL::BIGINT AS load_order, count(*) AS n, "
                f"'rejected' AS kind FROM read_parquet('{g}') GROUP BY ALL"
            )
    return " UNION ALL ".join(parts) if parts else _NO_COUNTS


def _count_files(con: duckdb.DuckDBPyConnection, root: Path, cache: Path) -> None:
    """TEMP TABLE lake_counts: per batch file of a local lake, its records per (source_id,
    file_name, load_order), read from the file when `cache` has no counts of it at its present
    size and mtime, else from `cache`; then `cache` is rewritten with the lake's present files
    (atomically; a cache that cannot be read or written is only not used)."""
    files = []
    for p, kind in _batch_files(root):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        files.append((str(p), st.st_size, st.st_mtime_ns, kind))
    con.execute("CREATE TEMP TABLE lake_files (path VARCHAR, size BIGINT, mtime_ns BIGINT, kind VARCHAR)")
    if files:
        con.executemany("INSERT INTO lake_files VALUES (?, ?, ?, ?)", files)
    con.execute(
        "CREATE TEMP TABLE lake_counts (path VARCHAR, size BIGINT, mtime_ns BIGINT, source_id VARCHAR, "
        "file_name VARCHAR, load_order BIGINT, n BIGINT, kind VARCHAR)"
    )
    cached = False
    if cache.is_file():
        try:
            con.execute(
                "INSERT INTO lake_counts SELECT c.path, c.size, c.mtime_ns, c.source_id, c.file_name, "
                "c.load_order, c.n, c.kind FROM read_parquet(?) AS c "
                "SEMI JOIN lake_files AS f USING (path, size, mtime_ns, kind)",
                [str(cache)],
            )
            cached = True
        except duckdb.Error:  # unreadable or of another shape: counted afresh
            con.execute("DELETE FROM lake_counts")
    done = {r[0] for r in con.execute("SELECT DISTINCT path FROM lake_counts").fetchall()}
    todo: dict[str, list[str]] = {"loaded": [], "rejected": []}
    for path, _size, _mtime, kind in files:
        if path not in done:
            todo[kind].append(path)
    for kind, paths in todo.items():
        if paths:
            con.execute(
                f"INSERT INTO lake_counts SELECT c.path, f.size, f.mtime_ns, c.source_id, c.file_name, "
                f"c.load_order, c.n, c.kind FROM ({_count_sql(paths, kind)}) AS c "
                f"JOIN lake_files AS f USING (path)"
            )
    if not cached or any(todo.values()) or len(done) < len(files):
        tmp = cache.with_name(f".{cache.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            con.execute("COPY lake_counts TO '" + tmp.as_posix().replace("'", "''") + "' (FORMAT parquet)")
            os.replace(tmp, cache)
        except (OSError, duckdb.Error):
            pass
        finally:
            tmp.unlink(missing_ok=True)
