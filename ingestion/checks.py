"""Checks over what ingestion published, for Dagster asset checks and the CLI.

They read only the lake (``lake/_meta`` exports and the batch Parquet files), never
the ingestion state database, so they run while another process holds it.
"""

from __future__ import annotations

import duckdb

from ingestion.feeds import FEEDS
from ingestion.ledger import accounting_violations as ledger_accounting_violations
from ingestion.objectstore import LakeRoot, lake_root, register
from numlake.paths import Home


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
        parts = []
        for feed in FEEDS:
            g = root / feed / "*" / "*.parquet"
            if list((root / feed).glob("*/*.parquet")):
                parts.append(
                    f"SELECT source_id, file_name, load_order, count(*) AS n, 'loaded' AS kind "
                    f"FROM read_parquet('{g.as_posix()}') GROUP BY ALL"
                )
            g = root / "_rejects" / feed / "*" / "*.parquet"
            if list((root / "_rejects" / feed).glob("*/*.parquet")):
                parts.append(
                    f"SELECT source_id, file_name, NULL::BIGINT AS load_order, count(*) AS n, "
                    f"'rejected' AS kind FROM read_parquet('{g.as_posix()}') GROUP BY ALL"
                )
        counts = (
            " UNION ALL ".join(parts)
            if parts
            else (
                "SELECT NULL::VARCHAR AS source_id, NULL::VARCHAR AS file_name, NULL::BIGINT AS load_order, "
                "0::BIGINT AS n, NULL::VARCHAR AS kind LIMIT 0"
            )
        )
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
