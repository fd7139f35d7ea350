"""Writing a group's loaded deliveries into the lake, and removing lake files no delivery holds.

docs/LAKE.md: one Parquet file of records and one of rejections per feed and group
(``lake/<feed>/batches/<stem>.parquet``), named after the load orders they hold. Files are
renamed into place before the ledger commit; the count of every file is checked against the
group's tally, so the accounting invariant holds by construction.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from ingestion import lake
from ingestion.delivery import Delivery
from ingestion.feeds import FEEDS
from ingestion.objectstore import LakeRoot
from ingestion.staging import Staging, v_name
from ingestion.validate import lit


def count_and_write(staging: Staging, lake_root: LakeRoot, items: list[Delivery]) -> None:
    """Count loaded and rejected records per delivery; write the loaded ones' batch files."""
    con = staging.con
    by_idx = {it.idx: it for it in items}
    for feed in sorted(staging.feeds()):
        for fidx, ld, rj in con.execute(
            f"SELECT fidx, count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL) "
            f"FROM {v_name(feed)} GROUP BY fidx"
        ).fetchall():
            by_idx[fidx].loaded, by_idx[fidx].rejected = ld, rj
    final = [it for it in items if it.outcome == "LOADED"]
    for it in final:
        if it.loaded + it.rejected != it.rec["rows_declared"]:
            raise RuntimeError(
                f"{it.c.file_name}: {it.loaded} loaded + {it.rejected} rejected records "
                f"but {it.rec['rows_declared']} declared"
            )
    for feed in sorted({it.c.feed_dir for it in final}):
        write_batches(con, lake_root, feed, [it for it in final if it.c.feed_dir == feed])


def write_batches(con: duckdb.DuckDBPyConnection, lake_root: LakeRoot, feed: str, items: list[Delivery]) -> None:
    """One Parquet file of records and one of rejections for all of the group's loaded
    deliveries of `feed`, named after their load orders; a delivery without any record is in
    neither."""
    held = [it for it in items if it.loaded + it.rejected]
    if not held:
        return
    stem = f"{lake.BATCH_DIR}/g{min(it.load_order for it in held):010d}-{max(it.load_order for it in held):010d}"
    for it in held:
        it.lake_stem = stem
    fmap = pa.table(
        {
            "fidx": pa.array([it.idx for it in held], pa.int32()),
            "source_id": pa.array([it.c.source_dir for it in held], pa.string()),
            "file_name": pa.array([it.c.file_name for it in held], pa.string()),
            "business_date": pa.array([it.parsed.business_date for it in held], pa.date32()),
            "seq": pa.array([it.parsed.seq for it in held], pa.int32()),
            "load_order": pa.array([it.load_order for it in held], pa.int64()),
        }
    )
    fields = ", ".join(f.name for f in FEEDS[feed])
    con.register("fmap", fmap)
    try:
        for kind, cols, cond, want, final in (
            (
                "data",
                f"m.source_id, m.file_name, m.business_date, m.seq, v.line_no::INTEGER AS line_no, "
                f"m.load_order, {fields}",
                "reason IS NULL",
                sum(it.loaded for it in held),
                lake.data_path,
            ),
            (
                "rejects",
                f"m.source_id, {lit(feed)} AS feed, m.file_name, m.business_date, m.seq, "
                f"v.line_no::INTEGER AS line_no, v.reason, v.raw",
                "reason IS NOT NULL",
                sum(it.rejected for it in held),
                lake.rejects_path,
            ),
        ):
            if not want:
                continue
            dest = final(lake_root, feed, None, stem)
            lake.copy_to_parquet(
                con, f"SELECT {cols} FROM {v_name(feed)} v JOIN fmap m USING (fidx) WHERE v.{cond}", dest
            )
            n = lake.num_rows(dest)
            if n != want:
                raise RuntimeError(f"{feed} {kind} batch {stem}: {n} rows written, {want} expected")
    finally:
        con.unregister("fmap")


def remove_unreferenced(con: duckdb.DuckDBPyConnection, lake_root: LakeRoot, stems: set[tuple[str, str, str]]) -> None:
    """Delete the lake files of (feed, source, stem) batches no LOADED delivery is in any more
    (their records are withdrawn; while another delivery of a batch is still loaded the file
    stays, and readers skip the withdrawn rows by the ledger)."""
    for feed, source_id, stem in sorted(stems):
        if lake.is_batch(stem):
            n = con.execute(
                "SELECT count(*) FROM files WHERE outcome = 'LOADED' AND feed = ? AND lake_stem = ?", [feed, stem]
            ).fetchall()[0][0]
        else:
            n = con.execute(
                "SELECT count(*) FROM files WHERE outcome = 'LOADED' AND feed = ? AND source_id = ? AND lake_stem = ?",
                [feed, source_id, stem],
            ).fetchall()[0][0]
        if n == 0:
            for p in (
                lake.data_path(lake_root, feed, source_id, stem),
                lake.rejects_path(lake_root, feed, source_id, stem),
            ):
                if p.exists():
                    p.unlink()
